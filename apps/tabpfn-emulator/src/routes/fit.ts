import { type Response, Router } from 'express';
import { z } from 'zod';
import type { EmulatorState, FittedSet } from '../emulator-state.js';
import { EmulatorHttpError, locals, sendJson, wait } from '../http-helpers.js';
import { KnnClassifier, KnnRegressor, ModelInputError } from '../knn-model.js';
import { injectFaults, rateLimit, requireToken, tagRoute } from '../middleware.js';
import { ownedFitted, tableOf } from './uploads.js';
import { parseBody } from './validation.js';

const taskSchema = z.enum(['classification', 'regression']);
const configSchema = z.record(z.string(), z.unknown());

/** Gen C nests `task_config`; the documented Gen A form is flat. The server accepts both. */
const fitSchema = z
  .object({
    train_set_upload_id: z.string().min(1),
    task_config: z.object({ task: taskSchema, tabpfn_config: configSchema.optional() }).passthrough().optional(),
    task: taskSchema.optional(),
    tabpfn_config: configSchema.optional(),
    tabpfn_systems: z.array(z.string()).optional(),
    thinking_config: configSchema.optional(),
    async_mode: z.boolean().optional(),
  })
  .passthrough()
  .refine((b) => b.task_config !== undefined || b.task !== undefined, { message: 'task_config.task is required', path: ['task_config'] });

const statusSchema = z.object({ fitted_train_set_id: z.string().min(1) }).passthrough();

const MAX_CLASSES = 160;

function quotaGate(state: EmulatorState, token: string): void {
  const refusal = state.usage.check(token, 0);
  if (refusal) {
    throw new EmulatorHttpError(429, refusal.message, 'INSUFFICIENT_QUOTA', {}, { 'retry-after': String(refusal.retryAfterSeconds) });
  }
}

/** Shared with the Gen L `/fit/` route, which hands over the same body built from its query and form. */
export async function createFit(state: EmulatorState, rawBody: unknown, res: Response): Promise<FittedSet> {
  const body = parseBody(fitSchema, rawBody);
  const token = locals(res).token as string;
  const task = body.task_config?.task ?? (body.task as 'classification' | 'regression');
  const tabpfnConfig = body.task_config?.tabpfn_config ?? body.tabpfn_config ?? {};
  const upload = state.uploads.get(body.train_set_upload_id);
  if (!upload || upload.token !== token || upload.kind !== 'train') {
    throw new EmulatorHttpError(404, `Train set upload ${body.train_set_upload_id} not found`, 'NOT_FOUND');
  }
  quotaGate(state, token);
  const x = await tableOf(upload, 'x_train');
  const y = await tableOf(upload, 'y_train');
  if (y.columns.length !== 1)
    throw new EmulatorHttpError(400, `y_train must have exactly one column, got ${y.columns.length}`, 'USER_ERROR');
  if (x.rows.length !== y.rows.length) {
    throw new EmulatorHttpError(400, `X and y must have the same number of samples (${x.rows.length} vs ${y.rows.length})`, 'USER_ERROR');
  }
  if (x.rows.length < 2) throw new EmulatorHttpError(400, 'The train set needs at least 2 rows', 'USER_ERROR');
  const yValues = y.rows.map((r) => r[0] ?? null);
  if (yValues.some((v) => v === null)) throw new EmulatorHttpError(400, 'Input y contains NaN.', 'USER_ERROR');

  const failMessage = locals(res).failFit;
  let model: KnnClassifier | KnnRegressor | undefined;
  if (!failMessage) {
    try {
      model =
        task === 'classification'
          ? new KnnClassifier(x, yValues, { balanceProbabilities: tabpfnConfig.balance_probabilities === true })
          : new KnnRegressor(x, yValues);
    } catch (err) {
      if (err instanceof ModelInputError) throw new EmulatorHttpError(400, err.message, 'USER_ERROR');
      throw err;
    }
    if (model instanceof KnnClassifier && model.classes.length > MAX_CLASSES) {
      throw new EmulatorHttpError(
        400,
        `Number of classes ${model.classes.length} exceeds the maximal number of ${MAX_CLASSES} classes supported by TabPFN.`,
        'USER_ERROR',
      );
    }
  }
  const now = Date.now();
  const fitted: FittedSet = {
    id: state.newFittedId(),
    token,
    trainSetUploadId: upload.id,
    task,
    tabpfnConfig,
    nRows: x.rows.length,
    nCols: x.columns.length,
    createdAt: now,
    readyAt: now + state.config.fitLatencyMs,
    outcome: failMessage ? 'failed' : 'completed',
    ...(model ? { model } : {}),
    ...(failMessage ? { error: failMessage } : {}),
  };
  state.fitted.set(fitted.id, fitted);
  const c = state.countersFor(token);
  c.fits += 1;
  return fitted;
}

function statusBody(state: EmulatorState, f: FittedSet): Record<string, unknown> {
  if (Date.now() < f.readyAt) {
    return { fitted_train_set_id: f.id, status: 'pending', retry_in_secs: state.config.retryInSecs };
  }
  if (f.outcome === 'failed') return { fitted_train_set_id: f.id, status: 'failed', error: f.error, error_code: 'FIT_FAILED' };
  return { fitted_train_set_id: f.id, status: 'completed' };
}

/**
 * Blocks for the fit latency (capped by `syncFitMaxWaitMs`, after which the answer is `pending`). Long
 * waits commit 200 early and stream whitespace keepalives, as upstream does for long fits.
 */
async function answerSyncFit(state: EmulatorState, res: Response, fitted: FittedSet): Promise<void> {
  const waitMs = Math.min(Math.max(0, fitted.readyAt - Date.now()), state.config.syncFitMaxWaitMs);
  const keepalive = state.config.keepaliveIntervalMs;
  let timer: NodeJS.Timeout | undefined;
  if (keepalive > 0 && waitMs > keepalive) {
    res.status(200).type('application/json');
    res.flushHeaders();
    timer = setInterval(() => res.write(' '), keepalive);
  }
  const completed = await wait(waitMs, locals(res));
  if (timer) clearInterval(timer);
  if (!completed) return;
  const body = statusBody(state, fitted);
  // Upstream's sync answer carries only the id and status; failures surface through get_fit_status.
  const answer = { fitted_train_set_id: fitted.id, status: body.status === 'completed' ? 'completed' : 'pending' };
  if (res.headersSent) res.end(JSON.stringify(answer));
  else sendJson(res, 200, answer);
}

export function fitRoutes(state: EmulatorState, router: Router = Router()): Router {
  router.post(
    '/tabpfn/fit',
    tagRoute(state, 'fit'),
    injectFaults(state),
    requireToken(state),
    rateLimit(state, 'fit'),
    async (req, res) => {
      const fitted = await createFit(state, req.body, res);
      // Gen B's `async_mode: true`: answer `pending` at once, as submit_fit_job does, and let the client poll.
      if ((req.body as { async_mode?: boolean }).async_mode === true) {
        state.countersFor(fitted.token).asyncFits += 1;
        return sendJson(res, 200, { fitted_train_set_id: fitted.id, status: 'pending' });
      }
      state.countersFor(fitted.token).syncFits += 1;
      await answerSyncFit(state, res, fitted);
    },
  );

  router.post(
    '/tabpfn/submit_fit_job',
    tagRoute(state, 'submit_fit_job'),
    injectFaults(state),
    requireToken(state),
    rateLimit(state, 'fit'),
    async (req, res) => {
      const fitted = await createFit(state, req.body, res);
      state.countersFor(fitted.token).asyncFits += 1;
      sendJson(res, 200, { fitted_train_set_id: fitted.id });
    },
  );

  router.post('/tabpfn/get_fit_status', tagRoute(state, 'get_fit_status'), injectFaults(state), requireToken(state), (req, res) => {
    const body = parseBody(statusSchema, req.body);
    const token = locals(res).token as string;
    state.countersFor(token).statusPolls += 1;
    sendJson(res, 200, statusBody(state, ownedFitted(state, token, body.fitted_train_set_id)));
  });

  // Gen B polled this path; kept for older clients.
  router.get('/tabpfn/fit/:id', tagRoute(state, 'get_fit_status'), injectFaults(state), requireToken(state), (req, res) => {
    const token = locals(res).token as string;
    state.countersFor(token).statusPolls += 1;
    res.json(statusBody(state, ownedFitted(state, token, String(req.params.id))));
  });

  return router;
}
