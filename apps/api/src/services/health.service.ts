import { type Pool, type Redis, pendingMigrations, pingPostgres, pingRedis } from '@tabpfn-jobs/shared';

export interface ReadinessReport {
  ready: boolean;
  checks: Record<'postgres' | 'redis' | 'migrations', { ok: boolean; error?: string }>;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

export function createHealthService(deps: { pool: Pool; redis: Redis; timeoutMs?: number }) {
  const timeoutMs = deps.timeoutMs ?? 2_000;
  return {
    async readiness(): Promise<ReadinessReport> {
      const [pg, redis] = await Promise.allSettled([
        withTimeout(pingPostgres(deps.pool), timeoutMs, 'postgres'),
        withTimeout(pingRedis(deps.redis, timeoutMs), timeoutMs, 'redis'),
      ]);
      const checks: ReadinessReport['checks'] = {
        postgres: pg.status === 'fulfilled' ? { ok: true } : { ok: false, error: String(pg.reason?.message ?? pg.reason) },
        redis: redis.status === 'fulfilled' ? { ok: true } : { ok: false, error: String(redis.reason?.message ?? redis.reason) },
        migrations: { ok: false, error: 'postgres unavailable' },
      };
      if (checks.postgres.ok) {
        try {
          const pending = await withTimeout(pendingMigrations(deps.pool), timeoutMs, 'postgres');
          checks.migrations = pending.length ? { ok: false, error: `pending: ${pending.join(', ')}` } : { ok: true };
        } catch (err) {
          checks.migrations = { ok: false, error: (err as Error).message };
        }
      }
      return { ready: Object.values(checks).every((c) => c.ok), checks };
    },
  };
}

export type HealthService = ReturnType<typeof createHealthService>;
