import { ValidationError } from '@tabpfn-jobs/shared';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Opaque keyset cursor over (created_at, id). */
export function encodeCursor(row: { created_at: Date; id: string }): string {
  return Buffer.from(`${row.created_at.toISOString()}|${row.id}`).toString('base64url');
}

export function decodeCursor(cursor: string | undefined): { createdAt: Date; id: string } | undefined {
  if (!cursor) return undefined;
  const [ts, id, ...rest] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const createdAt = new Date(ts ?? '');
  // Only what encodeCursor writes: an ISO timestamp that round-trips (so Postgres can hold it) and a UUID.
  const validTime = !Number.isNaN(createdAt.getTime()) && createdAt.getUTCFullYear() >= 1970 && createdAt.getUTCFullYear() <= 9999 && createdAt.toISOString() === ts;
  if (!id || rest.length || !validTime || !UUID.test(id)) {
    throw new ValidationError([{ field: 'cursor', message: 'is not a cursor this API returned' }]);
  }
  return { createdAt, id };
}
