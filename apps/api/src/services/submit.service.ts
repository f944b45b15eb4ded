import type { KeyRing } from '@tabpfn-jobs/shared/crypto';
import type { Queryable } from '@tabpfn-jobs/shared/db';
import { DEFAULT_WEBHOOK_EVENTS, assertOwned } from '@tabpfn-jobs/shared/domain';
import { NotFoundError, RateLimitedError, UnprocessableError, ValidationError } from '@tabpfn-jobs/shared/errors';
import type { CreatedJob, JobLifecycle } from '@tabpfn-jobs/shared/jobs';
import { toJobResource } from '@tabpfn-jobs/shared/mappers';
import { ATTR, annotateActiveSpan, inSpan } from '@tabpfn-jobs/shared/tracing';
import { ActiveJobCapReached, type DatasetRepository, type JobRepository, type JobRow, type ModelRepository, type UserRepository } from '@tabpfn-jobs/shared/repositories';
import { type FitInput, type FitPlan, planFit } from './fit-plan.js';
import { type FitUpload, isFitUpload, receiveFitUpload } from './fit-upload.js';
import type { Idempotency, StoredResponse } from './idempotency.js';
import { DEFAULT_MAX_PREDICT_ROWS, type PredictInput, type PredictPlan, checkPredictRequest, planPredict } from './predict-plan.js';
import { type TestSetIntake, createTestSetIntake } from './test-set-intake.js';
import { createSettingsReader } from './submit-settings.js';
import { type ReadyModelCache, type SubmitModel, createReadyModelCache } from './ready-model-cache.js';
import type { TabPFNFor } from './upstream.js';
import { crc32cBase64 } from '@tabpfn-jobs/tabpfn';

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
  /** Ready models already read by this process (shared with model deletion, which evicts). */
  readyModels?: ReadyModelCache;
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
 * The job row's insert, admitted under the in-flight cap: the insert itself checks the account's kept
 * count of active jobs and locks it to the commit (job.repository.ts), so concurrent submits cannot all
 * pass the early count and overshoot; over the cap it is refused here with the count it found.
 */
async function admitted<T>(insert: Promise<T>, deps: SubmitServiceDeps): Promise<T> {
  return insert.catch((err) => {
    if (err instanceof ActiveJobCapReached) refuseOver(deps, err.active);
    throw err;
  });
}

/** Requests at most this big (rows × columns) skip the count before their encoding: it costs more than encoding them. */
const EARLY_CAP_CHECK_CELLS = 10_000;

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
async function persistFit(deps: SubmitServiceDeps, tx: Queryable, userId: string, plan: FitPlan, input: FitInput): Promise<Persisted> {
  // A CSV train set stored as cells while it streamed in is completed; anything else is inserted.
  const dataset = plan.parts
    ? await deps.datasets.completeCells(plan.parts.datasetId, plan.parts.complete, tx)
    : await deps.datasets.insert({ userId, ...plan.dataset }, tx);
  const model = await deps.models.insert({ userId, datasetId: dataset.id, ...plan.model }, tx);
  const job = { userId, type: 'fit' as const, modelId: model.id, datasetId: dataset.id, params: plan.params, nRows: plan.dataset.nRows, ...webhookOf(input) };
  const created = await admitted(deps.lifecycle.create(tx, job, { admitUnder: deps.maxInflightJobs }), deps);
  return { response: accepted(created.job), created };
}

/** A streamed test set (stored in parts as it arrived) completed, now that its job is written with it. */
async function completeParts(deps: SubmitServiceDeps, tx: Queryable, parts: NonNullable<PredictPlan['parts']>): Promise<void> {
  await deps.datasets.completeParts(parts.datasetId, { nRows: parts.nRows, nParts: parts.nParts, contentHash: parts.contentHash, sizeBytes: parts.sizeBytes }, tx);
}

/**
 * Whether a predict's persist is one statement (the test set, the job and its admission), so it needs
 * no transaction unless an Idempotency-Key is stored with it: a ready model (nothing to lock), no
 * result served from cache (no outbox row), no parts to complete.
 */
const isOneStatement = (model: SubmitModel, plan: PredictPlan, cached: JobRow | undefined) => model.status === 'ready' && !cached && !plan.parts;

/** Inside the submit's transaction (or as its one statement): the test set (unless served from cache) and the predict job, admitted under the in-flight cap. */
async function persistPredict(
  deps: SubmitServiceDeps,
  tx: Queryable,
  req: { userId: string; model: SubmitModel; plan: PredictPlan; input: PredictInput; cached: JobRow | undefined },
): Promise<Persisted> {
  const { userId, model, plan, cached } = req;
  // A ready model stays ready (until deleted, which the job's foreign key catches); only a
  // pending one can change under us, so only then lock it against the fit finishing.
  const locked = model.status === 'ready' ? model : await deps.models.findForShare(model.id, tx);
  if (!locked) throw new NotFoundError('model_not_found', 'No such model.');
  if (locked.status === 'failed') throw new UnprocessableError('model_fit_failed', 'The model failed to fit; fit it again.');
  const parts = plan.parts;
  if (parts && !cached) await completeParts(deps, tx, parts);
  // Parts streamed in for a predict served from cache are not needed.
  if (parts && cached) await deps.datasets.delete(parts.datasetId, tx);
  const job = {
    userId,
    type: 'predict' as const,
    modelId: model.id,
    datasetId: parts?.datasetId ?? cached?.dataset_id ?? null,
    params: plan.params,
    cacheKey: plan.cacheKey,
    nRows: plan.dataset.nRows,
    ...webhookOf(req.input),
    ...(cached ? { cachedResult: cached.result } : {}),
    // A predict on a model still fitting is parked: the fit's end releases it.
    parked: locked.status !== 'ready',
  };
  // A predict served from cache is born final: it never counts as in flight, and writes no test set.
  const whole = cached || parts ? undefined : { userId, ...plan.dataset };
  const opts = cached ? {} : { admitUnder: deps.maxInflightJobs, ...(whole ? { testSet: whole } : {}) };
  // A test set stored whole goes upstream as these very bytes: the worker may describe it before reading it.
  const digest = whole ? { testSet: { sizeBytes: whole.x.byteLength, crc32c: crc32cBase64(whole.x) } } : {};
  const created = await admitted(deps.lifecycle.create(tx, { ...job, ...digest }, opts), deps).catch((err) => {
    // The model was deleted after we read it (ready models are not locked).
    if ((err as { constraint?: string }).constraint === 'jobs_model_id_fkey') throw new NotFoundError('model_not_found', 'No such model.');
    throw err;
  });
  return { response: accepted(created.job), created };
}

/**
 * Submits fits and predicts: a repeat of an Idempotency-Key replays its first answer; then the cheap
 * refusals (in-flight cap, webhook URL), upstream's settings, the pure plan (fit-plan.ts,
 * predict-plan.ts), one transaction that writes it, and after commit the job is enqueued or announced.
 */
export function createSubmitService(deps: SubmitServiceDeps) {
  const settingsFor = createSettingsReader(deps);
  const readyModels = deps.readyModels ?? createReadyModelCache();
  /** A cheap count before any work, so a full account is refused before its body is encoded. */
  const checkInflight = async (userId: string) => refuseOver(deps, await deps.jobs.countActive(userId));
  async function modelOf(modelId: string): Promise<SubmitModel | undefined> {
    const hit = readyModels.get(modelId);
    if (hit) return hit;
    const found = await deps.models.findById(modelId);
    if (found) readyModels.remember(found);
    return found;
  }
  /**
   * The account's model, if a predict may use it (not failed), and (`earlyCheck`: before a body
   * worth refusing early is encoded or read) the account under its in-flight cap.
   */
  async function predictableModel(userId: string, modelId: string, earlyCheck = true): Promise<SubmitModel> {
    const [found] = await Promise.all([modelOf(modelId), earlyCheck ? checkInflight(userId) : undefined]);
    const model = assertOwned(found, userId, 'model');
    if (model.status === 'failed')
      throw new UnprocessableError('model_fit_failed', 'The model failed to fit; fit it again.', { extra: { model_error: model.error } });
    return model;
  }
  async function submitted(out: { response: StoredResponse & { replayed: boolean }; created?: CreatedJob }) {
    if (out.created) {
      const { job, parked } = out.created;
      annotateActiveSpan({ [ATTR.jobId]: job.id, [ATTR.modelId]: job.model_id, [ATTR.jobStatus]: job.status, [ATTR.parked]: parked, [ATTR.cached]: job.cached });
      await deps.lifecycle.submitted(out.created);
    }
    annotateActiveSpan({ [ATTR.replayed]: out.response.replayed });
    return out.response;
  }

  const service = {
    /** A JSON fit, or a CSV upload (read into storage first, see fit-upload.ts; its hash is known once it is read). */
    async submitFit(userId: string, request: FitInput | FitUpload, opts: SubmitOptions) {
      const endpoint = 'POST /v1/models/fit';
      const upload = isFitUpload(request)
        ? await receiveFitUpload(deps, { userId, endpoint, idempotencyKey: opts.idempotencyKey, checkInflight }, request)
        : undefined;
      const input = upload?.input ?? (request as FitInput);
      const idem = { userId, endpoint, key: opts.idempotencyKey, requestHash: upload?.requestHash ?? opts.requestHash };
      // What an upload stored goes unless its job is written with it.
      const drop = async () => upload?.abandon();
      const dropAndThrow = async (err: unknown): Promise<never> => {
        await drop();
        throw err;
      };
      const repeat = await deps.idempotency.stored(idem).catch(dropAndThrow);
      if (repeat) return drop().then(() => repeat);
      const plan = await (async () => {
        // An upload was checked before its body was read (receiveFitUpload); the insert's admission is exact anyway.
        if (!upload) await checkInflight(userId);
        await checkWebhook(deps, input);
        return planFit(input, await settingsFor(userId));
      })().catch(dropAndThrow);
      const out = await deps.idempotency.run(idem, (tx) => persistFit(deps, tx, userId, plan, input), { oneStatement: false }).catch(dropAndThrow);
      if (!out.created) await drop();
      return submitted(out);
    },

    /**
     * A CSV predict about to stream in: the refusals that need no body (model, in-flight cap) first,
     * then an intake that validates, encodes and stores the rows as they arrive.
     */
    async openPredictUpload(userId: string, modelId: string, idempotencyKey?: string): Promise<TestSetIntake> {
      // A repeat of a stored request replays its first answer (submitPredict), even when the cap is
      // now full or the model has failed since: only the model's columns are needed to read it.
      const repeat = await deps.idempotency.known({ userId, endpoint: `POST /v1/models/${modelId}/predict`, key: idempotencyKey });
      const model = repeat ? assertOwned(await modelOf(modelId), userId, 'model') : await predictableModel(userId, modelId);
      return createTestSetIntake(deps, { userId, model, maxRows: deps.maxPredictRows ?? DEFAULT_MAX_PREDICT_ROWS });
    },

    async submitPredict(userId: string, modelId: string, input: PredictInput, opts: SubmitOptions) {
      const idem = { userId, endpoint: `POST /v1/models/${modelId}/predict`, key: opts.idempotencyKey, requestHash: opts.requestHash };
      const repeat = await deps.idempotency.stored(idem);
      if (repeat) {
        if (input.testSet?.kind === 'parts') await deps.datasets.delete(input.testSet.datasetId);
        return repeat;
      }
      const cells = input.features.length * (input.features[0]?.length ?? 0);
      const model = await predictableModel(userId, modelId, cells > EARLY_CAP_CHECK_CELLS);
      await checkWebhook(deps, input);
      // A bad request is refused before settings are looked up (planPredict repeats these checks; they are cheap).
      checkPredictRequest(model, input);
      const plan = planPredict(model, input, await settingsFor(userId), { maxRows: deps.maxPredictRows });
      const ttl = deps.predictCacheTtlSeconds;
      const cached = ttl > 0 ? await deps.jobs.findCached(userId, plan.cacheKey, ttl) : undefined;
      const oneStatement = isOneStatement(model, plan, cached);
      return submitted(await deps.idempotency.run(idem, (tx) => persistPredict(deps, tx, { userId, model, plan, input, cached }), { oneStatement }));
    },
  };

  // Each submit is a span: the job row keeps its context (lifecycle.create), so the job's later work joins its trace.
  return {
    ...service,
    submitFit: (userId: string, request: FitInput | FitUpload, opts: SubmitOptions) =>
      inSpan('submit fit', { [ATTR.accountId]: userId, [ATTR.jobType]: 'fit' }, () => service.submitFit(userId, request, opts)),
    submitPredict: (userId: string, modelId: string, input: PredictInput, opts: SubmitOptions) =>
      inSpan('submit predict', { [ATTR.accountId]: userId, [ATTR.jobType]: 'predict', [ATTR.modelId]: modelId }, () =>
        service.submitPredict(userId, modelId, input, opts),
      ),
  };
}

export type SubmitService = ReturnType<typeof createSubmitService>;
