import { ValidationError } from '@tabpfn-jobs/shared/errors';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** UTC, 3 to 6 fractional digits: Postgres keeps microseconds, and a cursor must too, or rows inside the page's last millisecond are skipped. */
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3,6}Z$/;

/** Opaque keyset cursor over (created_at, id); `page_key` is created_at as the repositories' lists return it. */
export function encodeCursor(row: { page_key: string; id: string }): string {
  return Buffer.from(`${row.page_key}|${row.id}`).toString('base64url');
}

export function decodeCursor(cursor: string | undefined): { pageKey: string; id: string } | undefined {
  if (!cursor) return undefined;
  const [ts, id, ...rest] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  // Only what encodeCursor writes: a real UTC timestamp Postgres can hold, and a UUID.
  const year = Number(ts?.slice(0, 4));
  const date = new Date(ts ?? '');
  // Round-trips to the second, so an impossible date (Feb 30, which Date rolls over) is refused too.
  const valid = !!ts && TIMESTAMP.test(ts) && !Number.isNaN(date.getTime()) && date.toISOString().slice(0, 19) === ts.slice(0, 19) && year >= 1970 && year <= 9999;
  if (!id || rest.length || !valid || !UUID.test(id)) {
    throw new ValidationError([{ field: 'cursor', message: 'is not a cursor this API returned' }]);
  }
  return { pageKey: ts, id };
}
