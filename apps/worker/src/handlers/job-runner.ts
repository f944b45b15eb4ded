import { DelayedError, type Job } from 'bullmq';
import { TabPFNError, type TabPFNClient } from '@tabpfn-jobs/tabpfn';
import type { Breaker } from '../upstream/breaker.js';
import type { CancelRegistry } from './cancel-registry.js';
import { type CallKind, RESTAMP_AFTER_MS, type TokenLimiter } from '../upstream/token-limiter.js';
import type { TokenReader } from '@tabpfn-jobs/shared/crypto';
import type { Queryable } from '@tabpfn-jobs/shared/db';
import { type JobError, isFinalStatus } from '@tabpfn-jobs/shared/domain';
import type { JobLifecycle, JobOutcome } from '@tabpfn-jobs/shared/jobs';
import type { Logger } from '@tabpfn-jobs/shared/logger';
import type { JobRepository, JobRow, ProgressWrite } from '@tabpfn-jobs/shared/repositories';

export interface RunnerDeps {
  jobs: JobRepository;
  /** State changes (start, finish) with their outbox rows, broadcasts and parked predicts. */
  lifecycle: JobLifecycle;
  tabpfnToken: TokenReader;
  tabpfnFor: (token: string) => TabPFNClient;
  logger: Logger;
  /** Running jobs' abort controllers, so a cancel broadcast can stop the upstream call. */
  running: Map<string, AbortController>;
  /** Cancel broadcasts that found no running call yet (see cancel-registry.ts). */
  cancels: CancelRegistry;
  jobAttempts: number;
  limiter: TokenLimiter;
  breaker: Breaker;
  /** Metrics hook (worker/src/metrics.ts): an attempt will be retried. */
  onRetry?: (type: string) => void;
}

export class JobCanceled extends Error {}

/** How long a job stays in a stage before the stage is written (see `setStage`). */
export const STAGE_WRITE_DELAY_MS = 150;

const CANCELED: JobError = { code: 'canceled', message: 'Canceled by the user.', retryable: false };

/** The worker is shutting down past its grace period: the job goes back to the queue untouched. */
export class ReturnedToQueue extends Error {}

/** Aborts every running job's upstream call so it returns to the queue (shutdown past the grace period). */
export function returnRunningJobs(running: Map<string, AbortController>): void {
  for (const controller of running.values()) controller.abort(new ReturnedToQueue('worker shutting down'));
}

export function toJobError(err: unknown): JobError {
  if (err instanceof TabPFNError) {
    return {
      code: err.code,
      message: err.message,
      retryable: err.retryable,
      ...(err.traceId ? { trace_id: err.traceId } : {}),
      ...(err.status ? { upstream_status: err.status } : {}),
    };
  }
  return { code: 'internal_error', message: 'The job failed unexpectedly.', retryable: true };
}

type Progress = ProgressWrite['progress'];

/** How long a progress write waits for others to share its statement (see `createProgressWrites`). */
export const PROGRESS_FLUSH_MS = 100;

/** A stage reported just before the call of that kind is sent (the tabpfn client's onStage). */
const SENDS: Record<string, CallKind> = { uploading: 'upload', fitting: 'fit', predicting: 'predict' };

/**
 * The process's progress writes, coalesced: a write waits up to PROGRESS_FLUSH_MS and leaves with the
 * others due by then in one statement. Eight jobs of 200 ms each write a stage about 40 times a second;
 * one UPDATE and commit each cost the worker and Postgres more CPU than the rest of such a job's
 * statements together. Flushes never overlap, so a job's writes land in the order reported, whichever
 * pool connection carries them; a write replaces the same job's write still waiting. A stage may also
 * wait before it is written (see `setStage`); anything written meanwhile replaces it.
 */
function createProgressWrites(jobs: Pick<JobRepository, 'setProgress'>) {
  const waiting = new Map<string, { progress: Progress; written: Array<() => void> }>();
  const pendingStages = new Map<string, NodeJS.Timeout>();
  let timer: NodeJS.Timeout | undefined;
  let flushing = false;

  function schedule(): void {
    if (timer || flushing || !waiting.size) return;
    timer = setTimeout(flush, PROGRESS_FLUSH_MS);
    timer.unref();
  }
  function flush(): void {
    timer = undefined;
    const batch = [...waiting];
    waiting.clear();
    flushing = true;
    // A failed write is not retried: the next stage or the job's end replaces it.
    void jobs
      .setProgress(batch.map(([id, w]) => ({ id, progress: w.progress })))
      .catch(() => undefined)
      .then(() => {
        flushing = false;
        for (const [, w] of batch) for (const done of w.written) done();
        schedule();
      });
  }
  function dropPendingStage(jobId: string): void {
    clearTimeout(pendingStages.get(jobId));
    pendingStages.delete(jobId);
  }
  function writeProgress(jobId: string, progress: Progress): Promise<void> {
    dropPendingStage(jobId);
    const entry = waiting.get(jobId) ?? { progress, written: [] };
    entry.progress = progress;
    waiting.set(jobId, entry);
    const written = new Promise<void>((resolve) => entry.written.push(resolve));
    schedule();
    return written;
  }
  function writeLater(jobId: string, progress: Progress, delayMs: number): void {
    dropPendingStage(jobId);
    const stageTimer = setTimeout(() => void writeProgress(jobId, progress), delayMs);
    stageTimer.unref();
    pendingStages.set(jobId, stageTimer);
  }
  /** The job has ended: its stage still waiting, and its write not sent yet, are moot. */
  function forget(jobId: string): void {
    dropPendingStage(jobId);
    const entry = waiting.get(jobId);
    waiting.delete(jobId);
    for (const done of entry?.written ?? []) done();
  }
  return { writeProgress, writeLater, dropPendingStage, forget };
}

/**
 * The parts every job handler shares: claiming the job, the user's token, cancellation, final
 * writes (once, with webhook deliveries in the same transaction), and the retry decision.
 */
export function createJobRunner(deps: RunnerDeps) {
  const { writeProgress, writeLater, dropPendingStage, forget } = createProgressWrites(deps.jobs);
  /** The rate limiter's record of each admitted job's calls, moved to when each kind is sent (see `setStage`). */
  const tickets = new Map<string, { token: string; ticket: string; at: number }>();

  /**
   * Ends the job (see the lifecycle's `finish`). A success refused because a cancel was requested
   * (its broadcast did not reach us) ends the job canceled instead.
   */
  async function finalize(
    jobId: string,
    outcome: JobOutcome,
    extra?: (tx: Queryable) => Promise<void>,
    known?: Pick<JobRow, 'type' | 'webhook_url'>,
  ): Promise<JobRow | undefined> {
    forget(jobId);
    tickets.delete(jobId);
    const row = await deps.lifecycle.finish(jobId, outcome, { extra, known });
    if (!row && outcome.status === 'succeeded') {
      const current = await deps.jobs.findById(jobId);
      if (current && !isFinalStatus(current.status) && current.cancel_requested_at) throw new JobCanceled();
    }
    return row;
  }

  return {
    finalize,

    /**
     * The job and its user's TabPFN client, or undefined when there is nothing to do (final, gone,
     * canceled). `known` skips re-reading a job row the handler has just read, `token` a token read
     * already under way (`readToken`, started alongside the handler's other reads).
     */
    async load(
      jobId: string,
      known?: JobRow,
      pendingToken?: Promise<string | undefined>,
    ): Promise<{ job: JobRow; client: TabPFNClient; token: string } | undefined> {
      const job = known ?? (await deps.jobs.findById(jobId));
      if (!job || isFinalStatus(job.status)) return undefined;
      if (job.cancel_requested_at) {
        await finalize(jobId, { status: 'canceled', error: CANCELED });
        return undefined;
      }
      const token = await (pendingToken ?? deps.tabpfnToken(job.user_id));
      if (token === undefined) return undefined;
      return { job, client: deps.tabpfnFor(token), token };
    },

    /**
     * Holds the job back in the queue (without using an attempt) while upstream's circuit is open or
     * this token's share of upstream's rate limits is spent, so the worker slot serves other accounts.
     */
    async admit(bullJob: Job, lockToken: string | undefined, jobId: string, token: string, kinds: CallKind[]): Promise<void> {
      const breakerWait = deps.breaker.admit();
      const admission = breakerWait ? { wait: breakerWait, ticket: '', at: 0 } : await deps.limiter.admit(token, kinds);
      const { wait, ticket, at } = admission;
      if (!wait) return void tickets.set(jobId, { token, ticket, at });
      // Admitted as the half-open trial but held back by the rate limit: let another job be the trial.
      if (!breakerWait) deps.breaker.release();
      const reason = breakerWait ? 'TabPFN is unavailable; waiting before trying again' : "waiting for this token's TabPFN rate limit";
      await writeProgress(jobId, { stage: 'queued', message: reason, retry_in_seconds: Math.ceil(wait / 1000) });
      await bullJob.moveToDelayed(Date.now() + wait, lockToken);
      throw new DelayedError();
    },

    /**
     * An admission whose calls will not be made (the job had ended, or it was admitted under a token it
     * does not use): frees the breaker's trial slot. The limiter keeps counting it, erring towards fewer calls.
     */
    release(jobId: string): void {
      tickets.delete(jobId);
      deps.breaker.release();
    },

    /** The account's TabPFN token, read now so the read overlaps the handler's others (see `load`). */
    readToken(userId: string): Promise<string | undefined> {
      const read = deps.tabpfnToken(userId);
      read.catch(() => undefined); // awaited by `load`, if the job gets that far
      return read;
    },

    /** Marks the job running (idempotent; `job.started` fires only on the first start). */
    start: (job: JobRow, stage: string) => deps.lifecycle.start(job, stage),

    /** `start` for a predict not read yet, with what its run reads (see the lifecycle's `startPredict`). */
    startPredict: (jobId: string, stage: string) => deps.lifecycle.startPredict(jobId, stage),

    /** The TabPFN client of a token (a guessed one too: see predict-hints.ts). */
    clientFor: (token: string) => deps.tabpfnFor(token),

    /** Inside a running job (a re-fit during predict): waits for the token's rate limit in place. */
    async waitForLimit(token: string, kinds: CallKind[], signal: AbortSignal): Promise<void> {
      for (;;) {
        const wait = await deps.limiter.acquire(token, kinds);
        if (!wait) return;
        await new Promise((r) => setTimeout(r, Math.min(wait, 5_000)));
        if (signal.aborted) throw new JobCanceled();
      }
    },

    upstreamSucceeded(): void {
      deps.breaker.success();
    },

    /** Runs `work` with an AbortSignal that a cancel broadcast trips. */
    async withCancel<T>(jobId: string, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
      const controller = new AbortController();
      deps.running.set(jobId, controller);
      // A cancel broadcast that arrived after the job was loaded but before this point found no
      // running call to stop; the registry kept it for us.
      if (deps.cancels.takeEarly(jobId)) controller.abort();
      try {
        return await work(controller.signal);
      } catch (err) {
        if (controller.signal.aborted)
          throw controller.signal.reason instanceof ReturnedToQueue ? controller.signal.reason : new JobCanceled();
        throw err;
      } finally {
        deps.running.delete(jobId);
        tickets.delete(jobId);
      }
    },

    /** A batch's progress (chunks and rows done), in the same per-job order as stage writes. */
    report(jobId: string, progress: Progress): Promise<void> {
      return writeProgress(jobId, progress);
    },

    /**
     * A stage is written once the job has been in it for STAGE_WRITE_DELAY_MS: a short job's stages
     * (uploading, predicting: a millisecond each on a small set) would each cost an UPDATE and a commit
     * on the job's row, twice what the job itself writes, while a stage a poller could see is written.
     * The client reports a stage just before it sends that kind of call: the rate limiter's record of
     * the job's call moves to now (the token limiter's `sent`), at once.
     */
    setStage(jobId: string, stage: string, message?: string, retryInSeconds?: number): void {
      const admitted = tickets.get(jobId);
      const kind = SENDS[stage];
      if (admitted && kind && Date.now() - admitted.at >= RESTAMP_AFTER_MS) {
        void deps.limiter.sent(admitted.token, [kind], admitted.ticket).catch(() => undefined);
      }
      const progress = {
        stage: stage as never,
        ...(message ? { message } : {}),
        ...(retryInSeconds ? { retry_in_seconds: retryInSeconds } : {}),
      };
      writeLater(jobId, progress, STAGE_WRITE_DELAY_MS);
    },

    /**
     * Decides what an error means: cancel → canceled; non-retryable upstream error → failed at once;
     * retryable → rethrow so BullMQ retries with backoff, unless attempts are used up.
     */
    async handleError(bullJob: Job, jobId: string, err: unknown): Promise<void> {
      // Not a failure and not an attempt: straight back to the queue for another worker (BullMQ's
      // force-close cannot end a close already waiting for the job, so the lock would not lapse).
      tickets.delete(jobId);
      if (err instanceof ReturnedToQueue) {
        dropPendingStage(jobId);
        deps.breaker.release();
        await bullJob.moveToDelayed(Date.now(), bullJob.token);
        throw new DelayedError();
      }
      if (err instanceof JobCanceled) {
        deps.breaker.release();
        await finalize(jobId, { status: 'canceled', error: CANCELED });
        return;
      }
      const error = toJobError(err);
      // Any answer from upstream shows it is up; only "unavailable" counts against it; errors of
      // our own say nothing either way but must not keep the half-open trial slot.
      if (error.code === 'tabpfn_unavailable') deps.breaker.failure();
      else if (err instanceof TabPFNError) deps.breaker.success();
      else deps.breaker.release();
      const attempts = bullJob.opts.attempts ?? deps.jobAttempts;
      const last = bullJob.attemptsMade + 1 >= attempts;
      if (!error.retryable) {
        await finalize(jobId, { status: 'failed', error });
        return;
      }
      if (last) {
        const exhausted: JobError = {
          ...error,
          code: 'retries_exhausted',
          message: `Gave up after ${attempts} attempts: ${error.message}`,
        };
        await finalize(jobId, { status: 'failed', error: exhausted });
        return;
      }
      if (error.code === 'internal_error') deps.logger.error({ job_id: jobId, err }, 'job attempt failed unexpectedly');
      else deps.logger.warn({ job_id: jobId, code: error.code, attempt: bullJob.attemptsMade + 1 }, 'job attempt failed; will retry');
      await writeProgress(jobId, { stage: 'queued', message: `retrying after: ${error.message}` });
      deps.onRetry?.(bullJob.name);
      throw err;
    },
  };
}

export type JobRunner = ReturnType<typeof createJobRunner>;
