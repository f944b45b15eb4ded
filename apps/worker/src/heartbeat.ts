import { hostname } from 'node:os';
import type { Queryable } from '@tabpfn-jobs/shared/db';
import type { Logger } from '@tabpfn-jobs/shared/logger';

/** Records that this worker process is alive; the reconciler uses it to find dead workers' jobs. */
export function startHeartbeat(deps: { db: Queryable; logger: Logger; workerId: string; intervalMs: number }) {
  const startedAt = new Date();
  const beat = async () => {
    try {
      await deps.db.query(
        `INSERT INTO worker_heartbeats (worker_id, hostname, pid, started_at, seen_at)
         VALUES ($1, $2, $3, $4, now())
         ON CONFLICT (worker_id) DO UPDATE SET seen_at = now()`,
        [deps.workerId, hostname(), process.pid, startedAt],
      );
    } catch (err) {
      deps.logger.warn({ err: (err as Error).message }, 'heartbeat failed');
    }
  };
  void beat();
  const timer = setInterval(beat, deps.intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await deps.db.query('DELETE FROM worker_heartbeats WHERE worker_id = $1', [deps.workerId]).catch(() => undefined);
    },
  };
}
