import type { ApiKeyRow } from '@tabpfn-jobs/shared/repositories';

/** Public shape of an API key: never the digest, and the raw key only at creation. */
export function toApiKey(row: ApiKeyRow) {
  return {
    id: row.id,
    prefix: row.prefix,
    name: row.name,
    created_at: row.created_at.toISOString(),
    last_used_at: row.last_used_at?.toISOString() ?? null,
    revoked_at: row.revoked_at?.toISOString() ?? null,
  };
}
