import type { Queryable } from '../db/pool.js';

export interface ApiKeyRow {
  id: string;
  user_id: string;
  prefix: string;
  name: string | null;
  created_at: Date;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

const COLUMNS = 'id, user_id, prefix, name, created_at, last_used_at, revoked_at';

export function createApiKeyRepository(pool: Queryable) {
  return {
    async insert(key: { userId: string; digest: Buffer; prefix: string; name?: string | null }, tx: Queryable = pool): Promise<ApiKeyRow> {
      const { rows } = await tx.query<ApiKeyRow>(
        `INSERT INTO api_keys (user_id, digest, prefix, name) VALUES ($1, $2, $3, $4) RETURNING ${COLUMNS}`,
        [key.userId, key.digest, key.prefix, key.name ?? null],
      );
      return rows[0]!;
    },

    /**
     * Locks the owner's row for the rest of `tx`, so two concurrent key creations cannot both pass a
     * count of its active keys, and returns that count.
     */
    async lockAndCountActive(userId: string, tx: Queryable): Promise<number> {
      await tx.query('SELECT 1 FROM users WHERE id = $1 FOR UPDATE', [userId]);
      const { rows } = await tx.query<{ n: number }>('SELECT count(*)::int AS n FROM api_keys WHERE user_id = $1 AND revoked_at IS NULL', [userId]);
      return rows[0]?.n ?? 0;
    },

    /** The per-request lookup: one unique-index probe on the digest. */
    async findByDigest(digest: Buffer, tx: Queryable = pool): Promise<ApiKeyRow | undefined> {
      const { rows } = await tx.query<ApiKeyRow>(`SELECT ${COLUMNS} FROM api_keys WHERE digest = $1`, [digest]);
      return rows[0];
    },

    async listForUser(userId: string, tx: Queryable = pool): Promise<ApiKeyRow[]> {
      const { rows } = await tx.query<ApiKeyRow>(
        `SELECT ${COLUMNS} FROM api_keys WHERE user_id = $1 ORDER BY created_at DESC, id DESC`,
        [userId],
      );
      return rows;
    },

    async findForUser(userId: string, id: string, tx: Queryable = pool): Promise<ApiKeyRow | undefined> {
      const { rows } = await tx.query<ApiKeyRow>(`SELECT ${COLUMNS} FROM api_keys WHERE id = $1 AND user_id = $2`, [id, userId]);
      return rows[0];
    },

    async findById(id: string, tx: Queryable = pool): Promise<ApiKeyRow | undefined> {
      const { rows } = await tx.query<ApiKeyRow>(`SELECT ${COLUMNS} FROM api_keys WHERE id = $1`, [id]);
      return rows[0];
    },

    async revoke(id: string, tx: Queryable = pool): Promise<ApiKeyRow | undefined> {
      const { rows } = await tx.query<ApiKeyRow>(
        `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1 RETURNING ${COLUMNS}`,
        [id],
      );
      return rows[0];
    },

    /** Records use at most once per `minIntervalSeconds`, so hot keys do not write on every request. */
    async touch(id: string, minIntervalSeconds: number, tx: Queryable = pool): Promise<void> {
      await tx.query(
        `UPDATE api_keys SET last_used_at = now()
         WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - make_interval(secs => $2))`,
        [id, minIntervalSeconds],
      );
    },
  };
}

export type ApiKeyRepository = ReturnType<typeof createApiKeyRepository>;
