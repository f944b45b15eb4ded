import { DelayedError, type Job } from 'bullmq';
import type { Pool } from '@tabpfn-jobs/shared/db';
import { type JobError, isFinalStatus } from '@tabpfn-jobs/shared/domain';
import type { Logger } from '@tabpfn-jobs/shared/logger';
import type {
  DatasetRepository,
  DatasetRow,
  JobRepository,
  JobRow,
  ModelRepository,
  ModelRow,
  PredictChunkRepository,
  PredictRun,
} from '@tabpfn-jobs/shared/repositories';
import { type PreparedTestSet, type TabPFNClient, TestSetTooLargeError, TrainSetNotFoundError, modelPath } from '@tabpfn-jobs/tabpfn';
import { type PredictParams, assembleInline, resultHeader, toResult } from '../batch/batch-result.js';
import { ChunkFailedError, runBatch } from '../batch/batch-runner.js';
import { chunkRowsFor } from '../batch/chunk-plan.js';
import { createTestSetReader } from '../batch/test-set-reader.js';
import { tabpfnConfigOf } from './fit.handler.js';
import type { JobHandler } from './handler.js';
import type { JobRunner } from './job-runner.js';
import { type PredictGuess, createPredictHints } from './predict-hints.js';
import { createRefitter } from './refit.js';


export interface PredictHandlerDeps {
  runner: JobRunner;
  pool: Pool;
  jobs: JobRepository;
  models: ModelRepository;
  datasets: DatasetRepository;
  chunks: PredictChunkRepository;
  logger: Logger;
  /** An account's TabPFN token from its sealed form (a run read with its start carries that form). */
  openToken: (user: PredictRun['user']) => string;
  batch: {
    /** Chunks of one batch in flight at once. */
    concurrency: number;
    /** A batch result up to this many rows is inlined in the job; larger ones are streamed from their chunks. */
    inlineRows: number;
    attempts: number;
    backoff: (attemptsMade: number, type?: string, err?: Error) => number;
  };
}

type Loaded = { job: JobRow; client: TabPFNClient; token: string };
/** The reads a run needs besides its job, given the job (see `readAlongside`). */
type Reads = (job: JobRow) => { model: Promise<ModelRow | undefined>; token: Promise<string | undefined>; dataset: Promise<DatasetRow | undefined> };
type SingleCall = { onStage: (stage: string) => void; proceed: Promise<unknown>; prepared?: Promise<PreparedTestSet> };

const CALLS = ['predict', 'upload'] as const;

/** The job ended (or was canceled while queued) before this attempt marked it running: nothing to do. */
class JobEnded extends Error {}

export function createPredictHandler(deps: PredictHandlerDeps): JobHandler<'predict'> {
  const { runner } = deps;
  const refitOnce = createRefitter(deps);
  const hints = createPredictHints();

  /** One upstream predict with the model as it is now; a forgotten train set is re-fitted once and the call repeated. */
  function predictor(loaded: Loaded, model: ModelRow, params: PredictParams, single?: SingleCall) {
    let current = model;
    const call = (m: ModelRow, x: Uint8Array, signal: AbortSignal) =>
      loaded.client.predict(
        {
          fittedTrainSetId: m.upstream_fitted_train_set_id!,
          x,
          task: m.task,
          outputType: params.output_type,
          quantiles: params.quantiles,
          tabpfnConfig: { ...tabpfnConfigOf(m), ...(params.config ?? {}) },
          modelPath: modelPath(m.model_name, m.task),
        },
        { signal, onStage: single?.onStage, proceed: single?.proceed, prepared: single?.prepared },
      );
    return async (x: Uint8Array, signal: AbortSignal): Promise<unknown> => {
      // The model this call used: chunks in flight together all find the same set gone, and each must
      // ask to re-fit *that* set (the first re-fits; the rest find the new set and use it).
      const used = current;
      try {
        return (await call(used, x, signal)).prediction;
      } catch (err) {
        if (!(err instanceof TrainSetNotFoundError)) throw err;
        if (single) runner.setStage(loaded.job.id, 'fitting', 'upstream forgot the train set; re-fitting');
        await runner.waitForLimit(loaded.token, ['fit', 'upload'], signal);
        current = await refitOnce(loaded.client, used, signal);
        return (await call(current, x, signal)).prediction;
      }
    };
  }

  /** A chunk that failed for good: the job fails naming its rows, keeping finished chunks when the caller opted in. */
  async function failChunk(job: JobRow, model: ModelRow, params: PredictParams, err: ChunkFailedError): Promise<void> {
    const stored = params.allow_partial ? (await deps.chunks.ranges(job.id)).length : 0;
    const error: JobError = {
      code: err.exhausted ? 'retries_exhausted' : err.upstream.code,
      message: `Rows ${err.range.start}–${err.range.end - 1} failed${err.exhausted ? ` after ${deps.batch.attempts} attempts` : ''}: ${err.upstream.message}`,
      // As for a single call: after retries ran out, the job may succeed if submitted again later.
      retryable: err.exhausted,
      rows: { start: err.range.start, end: err.range.end },
      ...(err.upstream.traceId ? { trace_id: err.upstream.traceId } : {}),
      ...(err.upstream.status ? { upstream_status: err.upstream.status } : {}),
    };
    await runner.finalize(job.id, stored ? { status: 'failed', error, chunked: true, result: resultHeader(model, params, true) } : { status: 'failed', error });
  }

  /**
   * Predicts the job's rows in one call when they fit, else as a batch; then ends the job. `started` is
   * the job being marked running: a single call's first request overlaps it, a batch waits for it.
   */
  async function predictRows(
    loaded: Loaded,
    model: ModelRow,
    dataset: DatasetRow,
    run: { started: Promise<JobRow | undefined>; prepared?: Promise<PreparedTestSet>; rerun: boolean },
  ): Promise<void> {
    const { job } = loaded;
    const { started, prepared } = run;
    const running = started.then((row) => {
      if (!row) throw new JobEnded();
    });
    running.catch(() => undefined);
    const params = job.params as PredictParams;
    const settings = await loaded.client.getSettings().catch(() => null);
    let chunkRows = chunkRowsFor(settings, { trainRows: model.n_samples, nCols: dataset.n_cols, outputType: params.output_type, modelPath: modelPath(model.model_name, model.task) });
    // A re-run may have stored chunks already: only a first attempt (none started before) can skip looking.
    const stored = run.rerun ? (await deps.chunks.ranges(job.id)).length : 0;
    const whole = dataset.n_parts === 0 && job.n_rows <= chunkRows && stored === 0;
    const single = await runner.withCancel(job.id, async (signal) => {
      if (whole) {
        try {
          const call: SingleCall = { onStage: (stage: string) => runner.setStage(job.id, stage), proceed: running, prepared };
          return { prediction: await predictor(loaded, model, params, call)(dataset.x_bytes!, signal) };
        } catch (err) {
          if (!(err instanceof TestSetTooLargeError) || job.n_rows < 2) throw err;
          chunkRows = Math.min(err.maxRows ?? chunkRows, Math.ceil(job.n_rows / 2));
        }
      }
      await running;
      await runBatch(
        {
          ...deps,
          ...deps.batch,
          reader: createTestSetReader(deps),
          waitForLimit: (s) => runner.waitForLimit(loaded.token, [...CALLS], s),
          report: (p) => runner.report(job.id, p),
          cancelRequested: () => deps.jobs.isCancelRequested(job.id),
        },
        { job, dataset, signal, chunkRows, predict: predictor(loaded, model, params), admitted: !whole },
      );
      return undefined;
    });
    runner.upstreamSucceeded();
    if (single) return void (await runner.finalize(job.id, { status: 'succeeded', result: toResult(model, params, single.prediction) }, undefined, job));
    const result =
      job.n_rows <= deps.batch.inlineRows
        ? { status: 'succeeded' as const, result: await assembleInline(deps.chunks, job.id, model, params) }
        : { status: 'succeeded' as const, result: resultHeader(model, params), chunked: true };
    await runner.finalize(job.id, result, undefined, job);
  }

  /**
   * The job's model, token and test set, read alongside the job when the payload names them. The test
   * set only on the job's first run: one held back by the rate limit comes back often, and its rows
   * (megabytes, maybe) are read when it is let through.
   */
  function readAlongside(ids: { modelId?: string; userId?: string; datasetId?: string }, firstRun: boolean): Reads {
    const model = ids.modelId ? deps.models.findById(ids.modelId) : undefined;
    const token = ids.userId ? runner.readToken(ids.userId) : undefined;
    const dataset = ids.datasetId && firstRun ? deps.datasets.findWithData(ids.datasetId) : undefined;
    for (const read of [model, dataset]) read?.catch(() => undefined);
    return (job: JobRow) => ({
      model: (ids.modelId === job.model_id && model) || deps.models.findById(job.model_id),
      token: (ids.userId === job.user_id && token) || runner.readToken(job.user_id),
      dataset: job.dataset_id ? (ids.datasetId === job.dataset_id && dataset) || deps.datasets.findWithData(job.dataset_id) : Promise.resolve(undefined),
    });
  }

  /** `readAlongside`'s answers, from a run read with its start (one statement). */
  function readsOf(run: PredictRun): Reads {
    const token = Promise.resolve(run.user).then(deps.openToken);
    token.catch(() => undefined); // awaited by `load`
    return () => ({ model: Promise.resolve(run.model), token, dataset: Promise.resolve(run.dataset) });
  }

  /**
   * What the job's reads say: its row, model, client and (pending) test set when it is to run now;
   * undefined when there is nothing to do (ended, gone, its model failed: then it is failed here).
   */
  async function runnableJob(jobId: string, pending: JobRow | undefined, reads: Reads, bullJob: Job, lockToken?: string) {
    if (!pending || isFinalStatus(pending.status)) return undefined;
    const { token, dataset: testSet, ...rest } = reads(pending);
    testSet.catch(() => undefined);
    const model = await rest.model;
    if (!model) return undefined;
    if (model.status === 'pending') {
      // Normally parked until the fit ends; reaching here means a re-enqueue raced the fit.
      await bullJob.moveToDelayed(Date.now() + 2_000, lockToken);
      throw new DelayedError();
    }
    if (model.status === 'failed') {
      await runner.finalize(jobId, {
        status: 'failed',
        error: { code: 'model_fit_failed', message: `The model failed to fit: ${model.error?.message ?? 'unknown error'}`, retryable: false },
      });
      return undefined;
    }
    const loaded = await runner.load(jobId, pending, token);
    return loaded && { loaded, model, testSet };
  }

  /**
   * Admitted under the guessed token's limits, upstream's first request leaves before the job is read;
   * alongside it, one statement starts the job and reads what its run needs (`startPredict`: a job with
   * a webhook is only read, and started as usual).
   */
  async function sendAhead(bullJob: Job, lockToken: string | undefined, jobId: string, guess: PredictGuess) {
    await runner.admit(bullJob, lockToken, jobId, guess.token, [...CALLS]);
    // The statement first: the predict waits for its answer, which takes longer than the prepare's.
    const run = runner.startPredict(jobId, 'uploading');
    const prepared = runner.clientFor(guess.token).prepareTestSet(guess.info);
    prepared.catch(() => undefined); // a failed guess is as if never made (the call prepares again)
    return { prepared, run: await run };
  }

  return async ({ jobId, testSet: described, ...ids }, bullJob: Job, lockToken?: string) => {
    // attemptsStarted counts every run, retries and returns from the rate limit's delay included.
    const firstRun = bullJob.attemptsStarted <= 1;
    const guess = firstRun ? hints.guess(ids, described) : undefined;
    /** The token this job's calls were admitted under, and whether they were then made (see `release`). */
    let admittedAs: string | undefined;
    let ran = false;
    try {
      let prepared: Promise<PreparedTestSet> | undefined;
      let run: PredictRun | undefined;
      if (guess) {
        ({ prepared, run } = await sendAhead(bullJob, lockToken, jobId, guess));
        admittedAs = guess.token;
      }
      const reads = run ? readsOf(run) : readAlongside(ids, firstRun);
      const claimed = run?.started ? run.job : undefined;
      const pending = guess ? run?.job : await deps.jobs.findById(jobId);
      const runnable = await runnableJob(jobId, pending, reads, bullJob, lockToken);
      if (!runnable) return;
      const { loaded, model, testSet } = runnable;
      hints.learn(loaded.job.user_id, loaded.token, model);
      if (admittedAs !== loaded.token) {
        // Not admitted yet, or under a token the account no longer has: its prepare is not ours to use.
        if (admittedAs) runner.release(jobId);
        admittedAs = undefined;
        prepared = undefined;
        await runner.admit(bullJob, lockToken, jobId, loaded.token, [...CALLS]);
        admittedAs = loaded.token;
      }
      ran = true;
      const started = claimed ? Promise.resolve(claimed) : runner.start(loaded.job, 'uploading');
      started.catch(() => undefined);
      const dataset = await testSet;
      if (!dataset || (!dataset.x_bytes && !dataset.n_parts)) {
        if (!(await started)) return;
        throw new Error(`test data of job ${jobId} is gone`);
      }
      try {
        // A claimed row counts this run among its attempts already.
        const rerun = claimed ? claimed.attempts > 1 : loaded.job.attempts > 0;
        await predictRows(loaded, model, dataset, { started, prepared, rerun });
      } catch (err) {
        if (err instanceof JobEnded) return;
        if (!(err instanceof ChunkFailedError)) throw err;
        await failChunk(loaded.job, model, loaded.job.params as PredictParams, err);
      }
    } catch (err) {
      // Held back (parked model, rate limit, open circuit): not an error, the job waits in the queue.
      if (err instanceof DelayedError) throw err;
      ran = true;
      await runner.handleError(bullJob, jobId, err);
    } finally {
      // Admitted ahead of reads that then found nothing to run (or that held it back): nothing was sent for it.
      if (admittedAs && !ran) runner.release(jobId);
    }
  };
}
