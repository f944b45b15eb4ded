import type { KeyRing } from '@tabpfn-jobs/shared/crypto';
import type { PoolClient } from '@tabpfn-jobs/shared/db';
import { DEFAULT_WEBHOOK_EVENTS, assertOwned } from '@tabpfn-jobs/shared/domain';
import { NotFoundError, RateLimitedError, UnprocessableError, ValidationError } from '@tabpfn-jobs/shared/errors';
import type { CreatedJob, JobLifecycle } from '@tabpfn-jobs/shared/jobs';
import { toJobResource } from '@tabpfn-jobs/shared/mappers';
import type { DatasetRepository, JobRepository, JobRow, ModelRepository, ModelRow, UserRepository } from '@tabpfn-jobs/shared/repositories';
import { type FitInput, type FitPlan, planFit } from './fit-plan.js';
import type { Idempotency, StoredResponse } from './idempotency.js';
import { DEFAULT_MAX_PREDICT_ROWS, type PredictInput, type PredictPlan, checkPredictRequest, planPredict } from './predict-plan.js';
import { type TestSetIntake, createTestSetIntake } from './test-set-intake.js';
import { createSettingsReader } from './submit-settings.js';
import type { TabPFNFor } from './upstream.js';

export type { FitInput } from './fit-plan.js';
export type { PredictInput } from './predict-plan.js';

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
  /** Creates jobs and, after commit, enqueues or announces them. */
  lifecycle: Pick<JobLifecycle, 'create' | 'submitted'>;
  maxInflightJobs: number;
  /** MAX_PREDICT_ROWS: rows one predict may carry (the worker splits them to upstream's per-call limits). */
  maxPredictRows?: number;
  predictCacheTtlSeconds: number;
  /** Refuses webhook targets the operator does not allow (SSRF guard); throws a 422 naming webhook_url. */
  checkWebhookUrl: (url: string) => Promise<void>;
}

type Webhook = { webhook_url?: string; webhook_events?: string[] };

function refuseOver(deps: Pick<SubmitServiceDeps, 'maxInflightJobs'>, active: number): void {
  if (active >= deps.maxInflightJobs) {
    throw new RateLimitedError(
      'too_many_inflight_jobs',
      `This account has ${active} queued or running jobs; the limit is ${deps.maxInflightJobs}. Retry when some finish.`,
      5,
    );
  }
}

/**
 * Last step of the submit's transaction, after its job row is written: counts the account's active
 * jobs (its own included) under the account's submit lock, so concurrent submits cannot all pass
 * the early count and overshoot. Only the count and the commit are serialised per account, and no
 * row lock is taken while waiting for it (a racing account deletion cannot deadlock with it).
 */
async function confirmInflight(deps: SubmitServiceDeps, userId: string, tx: PoolClient): Promise<void> {
  await deps.jobs.lockAccountSubmits(userId, tx);
  refuseOver(deps, (await deps.jobs.countActive(userId, tx)) - 1);
}

async function checkWebhook(deps: SubmitServiceDeps, input: Webhook): Promise<void> {
  if (input.webhook_url) await deps.checkWebhookUrl(input.webhook_url);
  else if (input.webhook_events) throw new ValidationError([{ field: 'webhook_events', message: 'needs webhook_url' }]);
}

const webhookOf = (input: Webhook) => ({
  webhookUrl: input.webhook_url ?? null,
  webhookEvents: input.webhook_url ? (input.webhook_events ?? DEFAULT_WEBHOOK_EVENTS) : null,
});

function accepted(job: JobRow): StoredResponse {
  return { status: 202, headers: { Location: `/v1/jobs/${job.id}` }, body: toJobResource(job) };
}

type Persisted = { response: StoredResponse; created: CreatedJob };

/** Inside the submit's transaction: the training set, the model, the fit job, then the in-flight count. */
async function persistFit(deps: SubmitServiceDeps, tx: PoolClient, userId: string, plan: FitPlan, input: FitInput): Promise<Persisted> {
  const dataset = await deps.datasets.insert({ userId, ...plan.dataset }, tx);
  const model = await deps.models.insert({ userId, datasetId: dataset.id, ...plan.model }, tx);
  const created = await deps.lifecycle.create(tx, {
    userId,
    type: 'fit',
    modelId: model.id,
    datasetId: dataset.id,
    params: plan.params,
    nRows: plan.dataset.nRows,
    ...webhookOf(input),
  });
  await confirmInflight(deps, userId, tx);
  return { response: accepted(created.job), created };
}

/** The test set: inserted whole, or (streamed in parts) completed now that its job is written with it. */
async function storeTestSet(deps: SubmitServiceDeps, tx: PoolClient, userId: string, plan: PredictPlan): Promise<{ id: string }> {
  const parts = plan.parts;
  if (!parts) return deps.datasets.insert({ userId, ...plan.dataset }, tx);
  await deps.datasets.completeParts(parts.datasetId, { nRows: parts.nRows, nParts: parts.nParts, contentHash: parts.contentHash, sizeBytes: parts.sizeBytes }, tx);
  return { id: parts.datasetId };
}

/** Inside the submit's transaction: the test set (unless served from cache), the predict job, then the in-flight count. */
async function persistPredict(
  deps: SubmitServiceDeps,
  tx: PoolClient,
  req: { userId: string; model: ModelRow; plan: PredictPlan; input: PredictInput; cached: JobRow | undefined },
): Promise<Persisted> {
  const { userId, model, plan, cached } = req;
  // A ready model stays ready (until deleted, which the job's foreign key catches); only a
  // pending one can change under us, so only then lock it against the fit finishing.
  const locked = model.status === 'ready' ? model : await deps.models.findForShare(model.id, tx);
  if (!locked) throw new NotFoundError('model_not_found', 'No such model.');
  if (locked.status === 'failed') throw new UnprocessableError('model_fit_failed', 'The model failed to fit; fit it again.');
  const dataset = cached ? null : await storeTestSet(deps, tx, userId, plan);
  // Parts streamed in for a predict served from cache are not needed.
  if (cached && plan.parts) await deps.datasets.delete(plan.parts.datasetId, tx);
  const created = await deps.lifecycle
    .create(tx, {
      userId,
      type: 'predict',
      modelId: model.id,
      datasetId: dataset?.id ?? cached?.dataset_id ?? null,
      params: plan.params,
      cacheKey: plan.cacheKey,
      nRows: plan.dataset.nRows,
      ...webhookOf(req.input),
      ...(cached ? { cachedResult: cached.result } : {}),
      // A predict on a model still fitting is parked: the fit's end releases it.
      parked: locked.status !== 'ready',
    })
    .catch((err) => {
      // The model was deleted after we read it (ready models are not locked).
      if ((err as { constraint?: string }).constraint === 'jobs_model_id_fkey')
        throw new NotFoundError('model_not_found', 'No such model.');
      throw err;
    });
  // A predict served from cache is born final: it never counts as in flight.
  if (!cached) await confirmInflight(deps, userId, tx);
  return { response: accepted(created.job), created };
}

/**
 * Submits fits and predicts: a repeat of an Idempotency-Key replays its first answer; then the cheap
 * refusals (in-flight cap, webhook URL), upstream's settings, the pure plan (fit-plan.ts,
 * predict-plan.ts), one transaction that writes it, and after commit the job is enqueued or announced.
 */
export function createSubmitService(deps: SubmitServiceDeps) {
  const settingsFor = createSettingsReader(deps);
  /** A cheap count before any work, so a full account is refused before its body is encoded. */
  const checkInflight = async (userId: string) => refuseOver(deps, await deps.jobs.countActive(userId));
  /** The account's model, if a predict may use it (not failed), and the account under its in-flight cap. */
  async function predictableModel(userId: string, modelId: string): Promise<ModelRow> {
    const [found] = await Promise.all([deps.models.findById(modelId), checkInflight(userId)]);
    const model = assertOwned(found, userId, 'model');
    if (model.status === 'failed')
      throw new UnprocessableError('model_fit_failed', 'The model failed to fit; fit it again.', { extra: { model_error: model.error } });
    return model;
  }
  async function submitted(out: { response: StoredResponse & { replayed: boolean }; created?: CreatedJob }) {
    if (out.created) await deps.lifecycle.submitted(out.created);
    return out.response;
  }

  return {
    async submitFit(userId: string, input: FitInput, opts: SubmitOptions) {
      const idem = { userId, endpoint: 'POST /v1/models/fit', key: opts.idempotencyKey, requestHash: opts.requestHash };
      const repeat = await deps.idempotency.stored(idem);
      if (repeat) return repeat;
      await checkInflight(userId);
      await checkWebhook(deps, input);
      const plan = planFit(input, await settingsFor(userId));
      return submitted(await deps.idempotency.run(idem, (tx) => persistFit(deps, tx, userId, plan, input)));
    },

    /**
     * A CSV predict about to stream in: the refusals that need no body (model, in-flight cap) first,
     * then an intake that validates, encodes and stores the rows as they arrive.
     */
    async openPredictUpload(userId: string, modelId: string, idempotencyKey?: string): Promise<TestSetIntake> {
      // A repeat of a stored request replays its first answer (submitPredict), even when the cap is
      // now full or the model has failed since: only the model's columns are needed to read it.
      const repeat = await deps.idempotency.known({ userId, endpoint: `POST /v1/models/${modelId}/predict`, key: idempotencyKey });
      const model = repeat ? assertOwned(await deps.models.findById(modelId), userId, 'model') : await predictableModel(userId, modelId);
      return createTestSetIntake(deps, { userId, model, maxRows: deps.maxPredictRows ?? DEFAULT_MAX_PREDICT_ROWS });
    },

    async submitPredict(userId: string, modelId: string, input: PredictInput, opts: SubmitOptions) {
      const idem = { userId, endpoint: `POST /v1/models/${modelId}/predict`, key: opts.idempotencyKey, requestHash: opts.requestHash };
      const repeat = await deps.idempotency.stored(idem);
      if (repeat) {
        if (input.testSet?.kind === 'parts') await deps.datasets.delete(input.testSet.datasetId);
        return repeat;
      }
      const model = await predictableModel(userId, modelId);
      await checkWebhook(deps, input);
      // A bad request is refused before settings are looked up (planPredict repeats these checks; they are cheap).
      checkPredictRequest(model, input);
      const plan = planPredict(model, input, await settingsFor(userId), { maxRows: deps.maxPredictRows });
      const ttl = deps.predictCacheTtlSeconds;
      const cached = ttl > 0 ? await deps.jobs.findCached(userId, plan.cacheKey, ttl) : undefined;
      return submitted(await deps.idempotency.run(idem, (tx) => persistPredict(deps, tx, { userId, model, plan, input, cached })));
    },
  };
}

export type SubmitService = ReturnType<typeof createSubmitService>;
