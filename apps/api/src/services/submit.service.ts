import {
  type DatasetRepository,
  DEFAULT_WEBHOOK_EVENTS,
  assertOwned,
  type JobRepository,
  type JobRow,
  type PoolClient,
  type KeyRing,
  type Logger,
  type ModelRepository,
  NotFoundError,
  type QueueSet,
  RateLimitedError,
  type Task,
  UnauthorizedError,
  UnprocessableError,
  type UserRepository,
  ValidationError,
  CLASSIFICATION_OUTPUTS,
  REGRESSION_OUTPUTS,
  enqueue,
  sha256Hex,
  toJobResource,
} from '@tabpfn-jobs/shared';
import { type FeatureColumns, type Settings, modelPath } from '@tabpfn-jobs/tabpfn';
import { type CsvOrigin, inCsvTerms } from './csv-locations.js';
import { checkTestLimits, checkTrainLimits, checkTrainShape, encodeTest, encodeTrain, shapeOf } from './dataset-encoding.js';
import type { Idempotency, StoredResponse } from './idempotency.js';
import type { TabPFNFor } from './upstream.js';

export interface FitInput {
  /** Rows from a JSON body, or columns from a CSV upload (kept column-wise to bound memory). */
  features: unknown[][] | FeatureColumns;
  target: unknown[];
  task?: Task;
  feature_names?: string[];
  /** CSV uploads: where the rows came from, so errors name the line and column. */
  csv?: CsvOrigin;
  categorical_features?: (number | string)[];
  model?: string;
  config?: Record<string, unknown>;
  description?: string;
  webhook_url?: string;
  webhook_events?: string[];
}

export interface PredictInput {
  features: unknown[][];
  /** Column names from a CSV header; JSON rows are positional. */
  feature_names?: string[];
  csv?: CsvOrigin;
  output_type?: string;
  quantiles?: number[];
  config?: Record<string, unknown>;
  webhook_url?: string;
  webhook_events?: string[];
}

export interface SubmitOptions {
  idempotencyKey?: string;
  requestHash: string;
}

export interface SubmitServiceDeps {
  jobs: JobRepository;
  models: ModelRepository;
  datasets: DatasetRepository;
  users: UserRepository;
  idempotency: Idempotency;
  keyRing: KeyRing;
  tabpfnFor: TabPFNFor;
  queues: QueueSet;
  logger: Logger;
  maxInflightJobs: number;
  predictCacheTtlSeconds: number;
  /** Refuses webhook targets the operator does not allow (SSRF guard); throws a 422 naming webhook_url. */
  checkWebhookUrl: (url: string) => Promise<void>;
  jobAttempts: number;
  /** Deliveries for jobs born final (a predict served from cache); the worker records all others. */
  webhooks: {
    record(tx: PoolClient, job: JobRow, event: 'job.succeeded'): Promise<string | null>;
    enqueue(ids: (string | null)[]): Promise<void>;
  };
}

const canonical = (v: unknown) =>
  JSON.stringify(v, (_k, val) =>
    val && typeof val === 'object' && !Array.isArray(val) ? Object.fromEntries(Object.entries(val).sort()) : val,
  );

/** Infers the task when the caller does not say: strings and booleans classify; numbers regress unless they look like a few class ids. */
function inferTask(targetType: string, classes: unknown[]): Task {
  if (targetType !== 'number') return 'classification';
  const integral = classes.every((c) => Number.isInteger(c));
  return integral && classes.length <= 10 ? 'classification' : 'regression';
}

export function createSubmitService(deps: SubmitServiceDeps) {
  // Upstream's limits are server settings, not per account: one copy per process for an hour (as
  // tabpfn-client caches them), so a submit does not look up and decrypt the user's token for them.
  let settings: { value: Settings | null; until: number } | undefined;
  async function settingsFor(userId: string): Promise<Settings | null> {
    if (settings && settings.until > Date.now()) return settings.value;
    const user = await deps.users.findById(userId);
    // Deleted after this request authenticated: its key went with it.
    if (!user) throw new UnauthorizedError('account_deleted', 'The account was deleted while this request ran.');
    const token = deps.keyRing.decrypt(user.tabpfn_token_ciphertext, user.id);
    const value = await deps
      .tabpfnFor(token)
      .getSettings(AbortSignal.timeout(3_000))
      .catch(() => null);
    // A failed fetch is retried after a minute rather than an hour.
    settings = { value, until: Date.now() + (value ? 3_600_000 : 60_000) };
    return value;
  }

  function refuseOver(active: number): void {
    if (active >= deps.maxInflightJobs) {
      throw new RateLimitedError(
        'too_many_inflight_jobs',
        `This account has ${active} queued or running jobs; the limit is ${deps.maxInflightJobs}. Retry when some finish.`,
        5,
      );
    }
  }

  /** A cheap count before any work, so a full account is refused before its body is encoded. */
  async function checkInflight(userId: string): Promise<void> {
    refuseOver(await deps.jobs.countActive(userId));
  }

  /**
   * Last step of the submit's transaction, after its job row is written: counts the account's active
   * jobs (its own included) under the account's submit lock, so concurrent submits cannot all pass
   * the early count and overshoot. Only the count and the commit are serialised per account, and no
   * row lock is taken while waiting for it (a racing account deletion cannot deadlock with it).
   */
  async function confirmInflight(userId: string, tx: PoolClient): Promise<void> {
    await deps.jobs.lockAccountSubmits(userId, tx);
    refuseOver((await deps.jobs.countActive(userId, tx)) - 1);
  }

  async function checkWebhook(input: { webhook_url?: string; webhook_events?: string[] }): Promise<void> {
    if (input.webhook_url) await deps.checkWebhookUrl(input.webhook_url);
    else if (input.webhook_events) throw new ValidationError([{ field: 'webhook_events', message: 'needs webhook_url' }]);
  }

  async function enqueueAfterCommit(type: 'fit' | 'predict', jobId: string): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    try {
      // With Redis down BullMQ can wait for a connection indefinitely; the job is safe in Postgres.
      await Promise.race([
        enqueue(deps.queues, type, { jobId }, { jobId, attempts: deps.jobAttempts, backoff: { type: 'upstream' } }),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('enqueue timed out')), 2_000);
        }),
      ]);
    } catch (err) {
      // The job is safe in Postgres; the reconciler enqueues it once Redis answers again.
      deps.logger.warn({ job_id: jobId, err: (err as Error).message }, 'enqueue failed; left for the reconciler');
    } finally {
      clearTimeout(timer);
    }
  }

  function accepted(job: Parameters<typeof toJobResource>[0], extra: Record<string, unknown> = {}): StoredResponse {
    return { status: 202, headers: { Location: `/v1/jobs/${job.id}` }, body: { ...toJobResource(job), ...extra } };
  }

  return {
    async submitFit(userId: string, input: FitInput, opts: SubmitOptions) {
      const idem = { userId, endpoint: 'POST /v1/models/fit', key: opts.idempotencyKey, requestHash: opts.requestHash };
      const repeat = await deps.idempotency.stored(idem);
      if (repeat) return repeat;
      await checkInflight(userId);
      await checkWebhook(input);
      const settings = await settingsFor(userId);
      const shape = shapeOf(input.features);
      checkTrainShape(settings, shape.nRows, shape.nCols);
      const { x, y } = inCsvTerms(input.csv, input.feature_names ?? [], () => encodeTrain(input.features, input.target, input.feature_names));
      const task = input.task ?? inferTask(y.type, y.classes);
      if (task === 'regression' && y.type !== 'number') {
        throw new ValidationError([{ field: 'target', message: 'regression needs numeric target values' }]);
      }
      if (task === 'classification' && y.classes.length < 2) {
        throw new ValidationError([{ field: 'target', message: 'classification needs at least 2 distinct classes' }]);
      }
      let path: string | undefined;
      try {
        path = modelPath(input.model, task);
      } catch (err) {
        throw new ValidationError([{ field: 'model', message: (err as Error).message.replace(/^model: /, '') }]);
      }
      if (task === 'regression' && input.config?.balance_probabilities !== undefined) {
        throw new ValidationError([{ field: 'config.balance_probabilities', message: 'applies to classification only' }]);
      }
      const names = x.columns.map((c) => c.name);
      const categorical = (input.categorical_features ?? []).map((c, i) => {
        // By index or by name; a form field can only send text, so "3" is column 3 unless a column is named "3".
        const idx = typeof c === 'number' ? c : names.includes(c) ? names.indexOf(c) : /^\d+$/.test(c) ? Number(c) : -1;
        if (idx < 0 || idx >= names.length)
          throw new ValidationError([{ field: `categorical_features[${i}]`, message: `no such column: ${c}` }]);
        return idx;
      });
      checkTrainLimits(settings, x, y, task === 'classification');

      const config = input.config ?? {};
      const fitKey = sha256Hex(
        canonical({ task, model: input.model ?? null, path: path ?? null, config, categorical, x: x.hash, y: y.hash, names }),
      );
      const out = await deps.idempotency.run(
        idem,
        async (tx) => {
          const dataset = await deps.datasets.insert(
            {
              userId,
              kind: 'train',
              contentHash: sha256Hex(`${x.hash}:${y.hash}`),
              x: x.bytes,
              y: y.bytes,
              nRows: x.nRows,
              nCols: x.nCols,
              columns: x.columns,
              targetType: y.type,
            },
            tx,
          );
          const model = await deps.models.insert(
            {
              userId,
              task,
              modelName: input.model ?? null,
              datasetId: dataset.id,
              fitKey,
              nSamples: x.nRows,
              nFeatures: x.nCols,
              featureNames: names,
              featureTypes: x.columns.map((c) => c.type),
              classes: task === 'classification' ? y.classes : null,
              targetType: y.type,
              config,
              categoricalFeatures: categorical.length ? categorical : null,
              description: input.description ?? null,
            },
            tx,
          );
          const job = await deps.jobs.insert(
            {
              userId,
              type: 'fit',
              modelId: model.id,
              datasetId: dataset.id,
              params: { task, model: input.model ?? null, config, categorical_features: categorical.length ? categorical : null },
              nRows: x.nRows,
              webhookUrl: input.webhook_url ?? null,
              webhookEvents: input.webhook_url ? (input.webhook_events ?? DEFAULT_WEBHOOK_EVENTS) : null,
            },
            tx,
          );
          await confirmInflight(userId, tx);
          return { ...accepted(job), afterCommit: () => enqueueAfterCommit('fit', job.id) };
        },
      );
      if (!out.replayed) await out.afterCommit?.();
      return out;
    },

    async submitPredict(userId: string, modelId: string, input: PredictInput, opts: SubmitOptions) {
      const idem = { userId, endpoint: `POST /v1/models/${modelId}/predict`, key: opts.idempotencyKey, requestHash: opts.requestHash };
      const repeat = await deps.idempotency.stored(idem);
      if (repeat) return repeat;
      const [found] = await Promise.all([deps.models.findById(modelId), checkInflight(userId)]);
      const model = assertOwned(found, userId, 'model');
      if (model.status === 'failed')
        throw new UnprocessableError('model_fit_failed', 'The model failed to fit; fit it again.', { extra: { model_error: model.error } });
      await checkWebhook(input);
      const allowed: readonly string[] = model.task === 'classification' ? CLASSIFICATION_OUTPUTS : REGRESSION_OUTPUTS;
      const outputType = input.output_type ?? (model.task === 'classification' ? 'preds' : 'mean');
      if (!allowed.includes(outputType)) {
        throw new ValidationError([
          { field: 'output_type', message: `"${outputType}" is not valid for ${model.task}; use one of ${allowed.join(', ')}` },
        ]);
      }
      if (input.quantiles && outputType !== 'quantiles')
        throw new ValidationError([{ field: 'quantiles', message: 'only with output_type "quantiles"' }]);
      if (model.task === 'regression' && input.config?.balance_probabilities !== undefined) {
        throw new ValidationError([{ field: 'config.balance_probabilities', message: 'applies to classification only' }]);
      }
      let rows = input.features;
      if (input.feature_names) {
        // CSV: match columns by name, in the model's order; extra columns (e.g. the target) are dropped.
        const missing = model.feature_names.filter((n) => !input.feature_names!.includes(n));
        if (missing.length)
          throw new ValidationError([{ field: 'file', message: `missing columns the model was fitted on: ${missing.join(', ')}` }]);
        const order = model.feature_names.map((n) => input.feature_names!.indexOf(n));
        rows = rows.map((r) => order.map((i) => r[i]));
      }
      const settings = await settingsFor(userId);
      checkTestLimits(settings, shapeOf(rows), model.n_samples, outputType);
      const x = inCsvTerms(input.csv, model.feature_names, () => encodeTest(rows, model.feature_names, model.feature_types));

      const quantiles = outputType === 'quantiles' ? (input.quantiles ?? [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]) : undefined;
      const config = input.config ?? {};
      const params = { output_type: outputType, ...(quantiles ? { quantiles } : {}), config };
      const cacheKey = sha256Hex(canonical({ model: model.id, fit: model.fit_key, x: x.hash, params }));
      const cached =
        deps.predictCacheTtlSeconds > 0 ? await deps.jobs.findCached(userId, cacheKey, deps.predictCacheTtlSeconds) : undefined;

      const out = await deps.idempotency.run(
        idem,
        async (tx) => {
          // A ready model stays ready (until deleted, which the job's foreign key catches); only a
          // pending one can change under us, so only then lock it against the fit finishing.
          const locked = model.status === 'ready' ? model : await deps.models.findForShare(model.id, tx);
          if (!locked) throw new NotFoundError('model_not_found', 'No such model.');
          if (locked.status === 'failed') throw new UnprocessableError('model_fit_failed', 'The model failed to fit; fit it again.');
          const dataset = cached
            ? null
            : await deps.datasets.insert(
                {
                  userId,
                  kind: 'test',
                  contentHash: x.hash,
                  x: x.bytes,
                  y: null,
                  nRows: x.nRows,
                  nCols: x.nCols,
                  columns: x.columns,
                  targetType: null,
                },
                tx,
              );
          const job = await deps.jobs
            .insert(
              {
                userId,
                type: 'predict',
                modelId: model.id,
                datasetId: dataset?.id ?? cached?.dataset_id ?? null,
                params,
                cacheKey,
                nRows: x.nRows,
                webhookUrl: input.webhook_url ?? null,
                webhookEvents: input.webhook_url ? (input.webhook_events ?? DEFAULT_WEBHOOK_EVENTS) : null,
                ...(cached ? { cachedResult: cached.result } : {}),
              },
              tx,
            )
            .catch((err) => {
              // The model was deleted after we read it (ready models are not locked).
              if ((err as { constraint?: string }).constraint === 'jobs_model_id_fkey') throw new NotFoundError('model_not_found', 'No such model.');
              throw err;
            });
          // A predict served from cache is born final: it never counts as in flight.
          if (!cached) await confirmInflight(userId, tx);
          if (cached) {
            const delivery = await deps.webhooks.record(tx, job, 'job.succeeded');
            return { ...accepted(job), afterCommit: () => deps.webhooks.enqueue([delivery]) };
          }
          // A predict on a model still fitting is parked: the fit handler enqueues it when the fit ends.
          const enqueueNow = locked.status === 'ready';
          return { ...accepted(job), afterCommit: enqueueNow ? () => enqueueAfterCommit('predict', job.id) : undefined };
        },
      );
      if (!out.replayed) await out.afterCommit?.();
      return out;
    },
  };
}

export type SubmitService = ReturnType<typeof createSubmitService>;
