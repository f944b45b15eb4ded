import type { RedisConnection } from '../redis.js';
import type { JobStatus } from '../domain.js';

/**
 * Lightweight Redis pub/sub between processes: the worker announces final job states (so an api
 * process can answer `Prefer: wait` without polling) and the api announces cancel requests (so the
 * worker running the job aborts its upstream call). Postgres stays the record; a missed message only
 * costs latency, never correctness.
 */
export const jobEventsChannel = (prefix: string) => `${prefix}:job-events`;
export const cancelChannel = (prefix: string) => `${prefix}:job-cancel`;

export async function publishJobFinished(redis: RedisConnection, prefix: string, jobId: string, status: JobStatus): Promise<void> {
  await redis.publish(jobEventsChannel(prefix), JSON.stringify({ jobId, status }));
}

export async function publishCancel(redis: RedisConnection, prefix: string, jobId: string): Promise<void> {
  await redis.publish(cancelChannel(prefix), jobId);
}

/** The broadcasts a process acts on: an api waits for job ends, a worker for cancels. */
export type JobEventKind = 'finishes' | 'cancels';

/**
 * One subscriber connection per process; callers register interest per job id. A process subscribes
 * only to the kinds it acts on (`listen`): every job's end reaching every worker process cost each
 * of them a wake-up per job of the whole deployment, so the fan-out grew with the square of the
 * worker count.
 */
export function createJobEventHub(subscriber: RedisConnection, prefix: string, listen: readonly JobEventKind[] = ['finishes', 'cancels']) {
  const finished = new Map<string, Set<(status: JobStatus) => void>>();
  const cancelHandlers = new Set<(jobId: string) => void>();
  const events = jobEventsChannel(prefix);
  const cancels = cancelChannel(prefix);
  const channels = [...(listen.includes('finishes') ? [events] : []), ...(listen.includes('cancels') ? [cancels] : [])];
  const ready = subscriber.subscribe(...channels).catch(() => undefined);
  subscriber.on('message', (channel: string, message: string) => {
    if (channel === events) {
      try {
        const { jobId, status } = JSON.parse(message) as { jobId: string; status: JobStatus };
        for (const cb of finished.get(jobId) ?? []) cb(status);
      } catch {
        // ignore malformed messages
      }
    } else if (channel === cancels) {
      for (const cb of cancelHandlers) cb(message);
    }
  });

  return {
    ready,
    /** Resolves with the final status, or undefined after `timeoutMs`. */
    waitForFinish(jobId: string, timeoutMs: number, signal?: AbortSignal): { promise: Promise<JobStatus | undefined>; cancel(): void } {
      let cleanup: () => void = () => {};
      const promise = new Promise<JobStatus | undefined>((resolve) => {
        const set = finished.get(jobId) ?? new Set();
        finished.set(jobId, set);
        const done = (status: JobStatus | undefined) => {
          cleanup();
          resolve(status);
        };
        const timer = setTimeout(() => done(undefined), timeoutMs);
        const onAbort = () => done(undefined);
        signal?.addEventListener('abort', onAbort, { once: true });
        set.add(done);
        cleanup = () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          set.delete(done);
          if (!set.size) finished.delete(jobId);
        };
      });
      return { promise, cancel: () => cleanup() };
    },
    onCancel(cb: (jobId: string) => void): () => void {
      cancelHandlers.add(cb);
      return () => cancelHandlers.delete(cb);
    },
    async close(): Promise<void> {
      subscriber.disconnect();
    },
  };
}

export type JobEventHub = ReturnType<typeof createJobEventHub>;
