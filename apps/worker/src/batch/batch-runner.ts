import type { Pool } from '@tabpfn-jobs/shared/db';
import { withTransaction } from '@tabpfn-jobs/shared/db';
import type { JobProgress } from '@tabpfn-jobs/shared/domain';
import type { Logger } from '@tabpfn-jobs/shared/logger';
import type { DatasetRow, JobRow, PredictChunkRepository } from '@tabpfn-jobs/shared/repositories';
import { TabPFNError, TestSetTooLargeError } from '@tabpfn-jobs/tabpfn';
import { type RowRange, split, uncovered } from './chunk-plan.js';
import type { TestSetReader } from './test-set-reader.js';
import { JobCanceled } from '../handlers/job-runner.js';

/** A chunk that failed for good: the job fails naming its rows. */
export class ChunkFailedError extends Error {
  constructor(
    readonly range: RowRange,
    readonly upstream: TabPFNError,
    readonly exhausted: boolean,
  ) {
    super(`rows ${range.start}–${range.end - 1} failed: ${upstream.message}`);
  }
}

export interface BatchDeps {
  pool: Pool;
  chunks: Pick<PredictChunkRepository, 'store' | 'ranges'>;
  reader: TestSetReader;
  logger: Logger;
  /** Chunks of one job in flight at once (within the token's rate limit). */
  concurrency: number;
  /** Upstream attempts per chunk (JOB_ATTEMPTS). */
  attempts: number;
  /** Delay before a chunk's next attempt (the worker's upstream backoff, honouring Retry-After). */
  backoff: (attemptsMade: number, type?: string, err?: Error) => number;
  /** Waits for the token's rate limit (the runner's `waitForLimit`). */
  waitForLimit: (signal: AbortSignal) => Promise<void>;
  report: (progress: Partial<JobProgress> & { stage: JobProgress['stage'] }) => Promise<void>;
  /**
   * Whether the job's cancel was requested (its row). The api writes that before it answers the
   * cancel, while its broadcast (which aborts `signal`) may reach this process after the answer: a
   * chunk about to start asks the row too, so none starts once the cancel has been acknowledged.
   */
  cancelRequested: () => Promise<boolean>;
}

export interface BatchRun {
  job: JobRow;
  dataset: DatasetRow;
  signal: AbortSignal;
  /** Rows per upstream call from the current settings; shrinks when upstream refuses a chunk as too large. */
  chunkRows: number;
  /** One upstream predict of a chunk's parquet bytes (re-fitting a forgotten train set once). */
  predict: (x: Uint8Array, signal: AbortSignal) => Promise<unknown>;
  /** The job was admitted by the rate limiter for its first call already. */
  admitted: boolean;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });

/**
 * Runs a predict larger than one upstream call as chunks: the rows no stored chunk covers, cut to
 * `chunkRows`, `concurrency` at a time, each rate-limited, retried on its own and stored the moment
 * it is answered (so a crash re-runs only what was not stored). Resolves when every row is covered.
 */
export async function runBatch(deps: BatchDeps, run: BatchRun): Promise<void> {
  const { job, signal } = run;
  const nRows = job.n_rows;
  const stored = await deps.chunks.ranges(job.id);
  let size = run.chunkRows;
  const todo = split(uncovered(stored, nRows), size).map((range) => ({ range, attempt: 0 }));
  const state = { chunksDone: stored.length, chunksTotal: stored.length + todo.length, rowsDone: stored.reduce((s, r) => s + (r.end - r.start), 0) };
  const report = () => deps.report({ stage: 'predicting', chunks_done: state.chunksDone, chunks_total: state.chunksTotal, rows_done: state.rowsDone, rows_total: nRows });
  void report();
  let admitted = run.admitted;
  let failure: unknown;

  async function one(item: { range: RowRange; attempt: number }): Promise<void> {
    const { range } = item;
    if (!admitted) await deps.waitForLimit(signal);
    admitted = false;
    if (signal.aborted) return;
    try {
      const bytes = await deps.reader.bytes(run.dataset, range);
      if (signal.aborted) return;
      if (await deps.cancelRequested()) throw new JobCanceled();
      const prediction = await run.predict(bytes, signal);
      await withTransaction(deps.pool, (tx) => deps.chunks.store(job.id, range.start, range.end, prediction, tx));
      state.chunksDone++;
      state.rowsDone += range.end - range.start;
      void report();
    } catch (err) {
      if (signal.aborted || err instanceof JobCanceled) throw err;
      if (err instanceof TestSetTooLargeError && range.end - range.start > 1) {
        size = Math.max(1, Math.min(err.maxRows ?? size, Math.ceil((range.end - range.start) / 2)));
        const pieces = split([range], size);
        deps.logger.info({ job_id: job.id, rows: range.end - range.start, chunk_rows: size }, 'upstream refused the chunk as too large; splitting it');
        state.chunksTotal += pieces.length - 1;
        todo.unshift(...pieces.map((r) => ({ range: r, attempt: 0 })));
        return;
      }
      if (!(err instanceof TabPFNError)) throw err;
      if (!err.retryable || item.attempt + 1 >= deps.attempts) throw new ChunkFailedError(range, err, err.retryable);
      deps.logger.warn({ job_id: job.id, row_start: range.start, code: err.code, attempt: item.attempt + 1 }, 'chunk failed; will retry');
      await sleep(deps.backoff(item.attempt + 1, 'upstream', err), signal);
      todo.unshift({ range, attempt: item.attempt + 1 });
    }
  }

  async function lane(): Promise<void> {
    while (failure === undefined && !signal.aborted) {
      const item = todo.shift();
      if (!item) return;
      await one(item).catch((err: unknown) => {
        failure ??= err;
      });
    }
  }
  // Lanes idle while another's refused chunk is being split find the new pieces on their next turn.
  while (todo.length && failure === undefined && !signal.aborted) await Promise.all(Array.from({ length: deps.concurrency }, lane));
  if (failure !== undefined) throw failure;
  if (signal.aborted) throw signal.reason ?? new Error('aborted');
  // The job's final write keeps the counters it finds: the last ones must be there first.
  await report();
}
