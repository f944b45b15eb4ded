import { type Pool, pendingMigrations, pingPostgres } from '@tabpfn-jobs/shared/db';
import { type RedisConnection, pingRedis } from '@tabpfn-jobs/shared/redis';

interface Check {
  ok: boolean;
  error?: string;
}

export interface ReadinessReport {
  ready: boolean;
  checks: Record<'postgres' | 'redis' | 'migrations', Check> & { upstream?: Check };
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

/**
 * Whether the TabPFN upstream the workers call answers at all: any HTTP answer below 500 is fine (the
 * root needs no token), a refused connection, a timeout or a 5xx is not. One request at a time, its
 * result kept for `ttlMs`, so probes hitting /ready every second cost upstream nothing noticeable.
 */
export function createUpstreamProbe(opts: { url: string; ttlMs: number; timeoutMs: number }): () => Promise<Check> {
  // Only the origin appears in the report: a URL may carry credentials.
  const origin = new URL(opts.url).origin;
  let cached: { at: number; check: Check } | undefined;
  let inflight: Promise<Check> | undefined;
  const probe = async (): Promise<Check> => {
    try {
      const res = await fetch(opts.url, { signal: AbortSignal.timeout(opts.timeoutMs), redirect: 'manual' });
      await res.body?.cancel().catch(() => undefined);
      return res.status < 500 ? { ok: true } : { ok: false, error: `${origin} answered ${res.status}` };
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const why = (err as Error).name === 'TimeoutError' ? `no answer within ${opts.timeoutMs} ms` : (cause?.code ?? cause?.message ?? (err as Error).message);
      return { ok: false, error: `${origin} unreachable: ${why}` };
    }
  };
  return () => {
    if (cached && Date.now() - cached.at < opts.ttlMs) return Promise.resolve(cached.check);
    inflight ??= probe()
      .then((check) => {
        cached = { at: Date.now(), check };
        return check;
      })
      .finally(() => {
        inflight = undefined;
      });
    return inflight;
  };
}

/** `redisProbeKey`: a key under the prefix, read to check Redis (on a cluster: the master of our slot). */
export function createHealthService(deps: { pool: Pool; redis: RedisConnection; redisProbeKey?: string; timeoutMs?: number; upstream?: () => Promise<Check> }) {
  const timeoutMs = deps.timeoutMs ?? 2_000;
  return {
    async readiness(): Promise<ReadinessReport> {
      const [pg, redis, upstream] = await Promise.allSettled([
        withTimeout(pingPostgres(deps.pool), timeoutMs, 'postgres'),
        withTimeout(pingRedis(deps.redis, timeoutMs, deps.redisProbeKey), timeoutMs, 'redis'),
        deps.upstream ? withTimeout(deps.upstream(), timeoutMs, 'upstream') : undefined,
      ]);
      const checks: ReadinessReport['checks'] = {
        postgres: pg.status === 'fulfilled' ? { ok: true } : { ok: false, error: String(pg.reason?.message ?? pg.reason) },
        redis: redis.status === 'fulfilled' ? { ok: true } : { ok: false, error: String(redis.reason?.message ?? redis.reason) },
        migrations: { ok: false, error: 'postgres unavailable' },
      };
      if (deps.upstream) {
        checks.upstream = upstream.status === 'fulfilled' && upstream.value ? upstream.value : { ok: false, error: String((upstream as PromiseRejectedResult).reason?.message) };
      }
      if (checks.postgres.ok) {
        try {
          const pending = await withTimeout(pendingMigrations(deps.pool), timeoutMs, 'postgres');
          checks.migrations = pending.length ? { ok: false, error: `pending: ${pending.join(', ')}` } : { ok: true };
        } catch (err) {
          checks.migrations = { ok: false, error: (err as Error).message };
        }
      }
      return { ready: Object.values(checks).every((c) => c?.ok), checks };
    },
  };
}

export type HealthService = ReturnType<typeof createHealthService>;
