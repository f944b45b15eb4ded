import type { Queryable } from '../db/pool.js';

export interface IdempotencyRow {
  request_hash: string;
  response_status: number;
  response_headers: Record<string, string>;
  response_body: unknown;
  created_at: Date;
}

/** Stored responses of POSTs sent with an `Idempotency-Key`, kept for 24 h. */
export function createIdempotencyRepository(pool: Queryable) {
  return {
    async find(userId: string, endpoint: string, key: string, tx: Queryable = pool): Promise<IdempotencyRow | undefined> {
      const { rows } = await tx.query<IdempotencyRow>(
        `SELECT request_hash, response_status, response_headers, response_body, created_at FROM idempotency_keys
         WHERE user_id = $1 AND endpoint = $2 AND key = $3 AND created_at > now() - interval '24 hours'`,
        [userId, endpoint, key],
      );
      return rows[0];
    },

    /** Inserts inside the transaction that creates the job; false when the key was taken meanwhile. */
    async insert(
      r: { userId: string; endpoint: string; key: string; requestHash: string; status: number; headers: Record<string, string>; body: unknown },
      tx: Queryable = pool,
    ): Promise<boolean> {
      // An expired row with the same key is replaced.
      await tx.query(
        `DELETE FROM idempotency_keys WHERE user_id = $1 AND endpoint = $2 AND key = $3 AND created_at <= now() - interval '24 hours'`,
        [r.userId, r.endpoint, r.key],
      );
      const { rowCount } = await tx.query(
        `INSERT INTO idempotency_keys (user_id, endpoint, key, request_hash, response_status, response_headers, response_body)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
        [r.userId, r.endpoint, r.key, r.requestHash, r.status, JSON.stringify(r.headers), JSON.stringify(r.body)],
      );
      return (rowCount ?? 0) > 0;
    },

    async deleteExpired(tx: Queryable = pool): Promise<number> {
      const { rowCount } = await tx.query(`DELETE FROM idempotency_keys WHERE created_at <= now() - interval '24 hours'`);
      return rowCount ?? 0;
    },
  };
}

export type IdempotencyRepository = ReturnType<typeof createIdempotencyRepository>;
