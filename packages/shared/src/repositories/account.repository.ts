import type { Queryable } from '../db/pool.js';

/** Read models over one account's rows: usage counts and what deleting the account must clean up. */
export function createAccountRepository(pool: Queryable) {
  return {
    async jobCounts(userId: string, tx: Queryable = pool) {
      const { rows } = await tx.query<{ type: string; status: string; n: number; rows: number }>(
        `SELECT type, status, count(*)::int AS n, COALESCE(sum(n_rows), 0)::bigint AS rows
         FROM jobs WHERE user_id = $1 GROUP BY type, status`,
        [userId],
      );
      return rows;
    },

    async modelCount(userId: string, tx: Queryable = pool): Promise<number> {
      const { rows } = await tx.query<{ n: number }>('SELECT count(*)::int AS n FROM models WHERE user_id = $1', [userId]);
      return rows[0]?.n ?? 0;
    },

    async activeJobs(userId: string, tx: Queryable = pool): Promise<{ id: string; type: 'fit' | 'predict'; status: string }[]> {
      const { rows } = await tx.query(
        `SELECT id, type, status FROM jobs WHERE user_id = $1 AND status IN ('queued', 'running')`,
        [userId],
      );
      return rows;
    },

    async upstreamTrainSetIds(userId: string, tx: Queryable = pool): Promise<string[]> {
      const { rows } = await tx.query<{ id: string }>(
        `SELECT DISTINCT upstream_fitted_train_set_id AS id FROM models
         WHERE user_id = $1 AND upstream_fitted_train_set_id IS NOT NULL`,
        [userId],
      );
      return rows.map((r) => r.id);
    },
  };
}

export type AccountRepository = ReturnType<typeof createAccountRepository>;
