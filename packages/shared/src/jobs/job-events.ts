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

/**
 * How long the finished channel stays subscribed after its last waiter: a burst of `Prefer: wait`
 * requests subscribes once, not once per request.
 */
export const FINISHED_LINGER_MS = 10_000;

/**
 * One subscriber connection per process; callers register interest per job id. A process subscribes
 * only to what it listens for, and only while it listens: Redis sends every message of a channel to
 * every subscriber, so a worker that never waits for a job, or an api with no one waiting, would
 * otherwise receive every job's end (and delay the next subscriber's copy).
 */
export function createJobEventHub(subscriber: RedisConnection, prefix: string, opts: { lingerMs?: number } = {}) {
  const finished = new Map<string, Set<(status: JobStatus) => void>>();
  const cancelHandlers = new Set<(jobId: string) => void>();
  const events = jobEventsChannel(prefix);
  const cancels = cancelChannel(prefix);
  const channels = createSubscriptions(subscriber, opts.lingerMs ?? FINISHED_LINGER_MS);
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
    /** Resolves once every channel listened to so far is subscribed. */
    get ready(): Promise<void> {
      return channels.ready();
    },
    /**
     * Resolves with the final status, or undefined after `timeoutMs`. A job's end is seen only once
     * `armed` has resolved (the channel is subscribed): check the job's state after that, not before.
     */
    waitForFinish(
      jobId: string,
      timeoutMs: number,
      signal?: AbortSignal,
    ): { promise: Promise<JobStatus | undefined>; armed: Promise<void>; cancel(): void } {
      let cleanup: () => void = () => {};
      const armed = channels.listen(events);
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
          cleanup = () => {};
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          set.delete(done);
          if (!set.size) finished.delete(jobId);
          channels.unlisten(events);
        };
      });
      return { promise, armed, cancel: () => cleanup() };
    },
    onCancel(cb: (jobId: string) => void): () => void {
      cancelHandlers.add(cb);
      void channels.listen(cancels);
      return () => {
        if (cancelHandlers.delete(cb)) channels.unlisten(cancels, 0);
      };
    },
    async close(): Promise<void> {
      channels.close();
      subscriber.disconnect();
    },
  };
}

/**
 * Reference-counted subscriptions on one connection: the first listener subscribes, and the channel
 * is unsubscribed `lingerMs` after the last one leaves unless another comes. Redis runs a
 * connection's commands in order, so a subscribe sent after an unsubscribe wins.
 */
function createSubscriptions(subscriber: RedisConnection, lingerMs: number) {
  const state = new Map<string, { listeners: number; subscribed: Promise<void>; linger?: NodeJS.Timeout }>();
  // A failed subscribe is retried by ioredis on reconnect (it resubscribes what it was asked for).
  const subscribe = (channel: string) =>
    subscriber.subscribe(channel).then(
      () => undefined,
      () => undefined,
    );
  return {
    listen(channel: string): Promise<void> {
      const s = state.get(channel);
      if (s) {
        s.listeners++;
        clearTimeout(s.linger);
        s.linger = undefined;
        return s.subscribed;
      }
      const subscribed = subscribe(channel);
      state.set(channel, { listeners: 1, subscribed });
      return subscribed;
    },
    unlisten(channel: string, after = lingerMs): void {
      const s = state.get(channel);
      if (!s || --s.listeners > 0) return;
      const drop = () => {
        if (state.get(channel) !== s || s.listeners > 0) return;
        state.delete(channel);
        void subscriber.unsubscribe(channel).catch(() => undefined);
      };
      if (after <= 0) return drop();
      s.linger = setTimeout(drop, after);
      s.linger.unref();
    },
    ready: async (): Promise<void> => {
      await Promise.all([...state.values()].map((s) => s.subscribed));
    },
    close(): void {
      for (const s of state.values()) clearTimeout(s.linger);
      state.clear();
    },
  };
}

export type JobEventHub = ReturnType<typeof createJobEventHub>;
