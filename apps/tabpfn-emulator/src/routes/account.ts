import { Router } from 'express';
import { z } from 'zod';
import type { EmulatorState } from '../emulator-state.js';
import { locals, sendError } from '../http-helpers.js';
import { injectFaults, requireToken, tagRoute } from '../middleware.js';
import type { ModelLimit } from '../options.js';
import { estimateCost } from '../usage-meter.js';
import { parseBody } from './validation.js';

// Fixture values in the shape of `GetSettingsResponse`; production limits are not public.
// `PUT /_emulator/limits` (state.config.limits) overrides fields of every version at run time.
const LIMITS: Record<string, ModelLimit> = {
  v2: {
    train_set_max_rows: 10_000,
    train_set_max_cells: 5_000_000,
    test_set_max_rows: 100_000,
    test_set_max_cells: 50_000_000,
    max_classes: 10,
    max_cols: 500,
    test_set_max_rows_w_full_regression_output: 500,
    predict_row_pairs_budget: 250_000_000_000,
  },
  'v2.5': {
    train_set_max_rows: 50_000,
    train_set_max_cells: 20_000_000,
    test_set_max_rows: 500_000,
    test_set_max_cells: 200_000_000,
    max_classes: 10,
    max_cols: 2_000,
    test_set_max_rows_w_full_regression_output: 1_000,
    predict_row_pairs_budget: 250_000_000_000,
  },
  'v2.6': {
    train_set_max_rows: 50_000,
    train_set_max_cells: 20_000_000,
    test_set_max_rows: 500_000,
    test_set_max_cells: 200_000_000,
    max_classes: 10,
    max_cols: 2_000,
    test_set_max_rows_w_full_regression_output: 1_000,
    predict_row_pairs_budget: 250_000_000_000,
  },
  v3: {
    train_set_max_rows: 1_000_000,
    train_set_max_cells: 200_000_000,
    test_set_max_rows: 1_000_000,
    test_set_max_cells: 200_000_000,
    max_classes: 160,
    max_cols: 2_000,
    test_set_max_rows_w_full_regression_output: 2_000,
    predict_row_pairs_budget: 250_000_000_000,
  },
};

const estimateSchema = z.object({
  train_rows: z.number().int().min(0),
  test_rows: z.number().int().min(0),
  raw_columns: z.number().int().min(0),
  operation: z.enum(['predict', 'thinking_fit', 'thinking_predict', 'cache_predict']).default('predict'),
  model_version: z.string().optional(),
  n_estimators: z.number().int().min(1).optional(),
  thinking_effort: z.string().optional(),
});

const DEFAULT_MODEL_VERSION = 'v3';

/** The fixture limits with the run-time overrides applied to every model version and to `max_model_limit`. */
export function effectiveLimits(state: EmulatorState): { max_model_limit: ModelLimit; model_limits: Record<string, ModelLimit> } {
  const overrides = state.config.limits;
  const model_limits = Object.fromEntries(Object.entries(LIMITS).map(([version, l]) => [version, { ...l, ...overrides }]));
  return { max_model_limit: { ...(LIMITS[DEFAULT_MODEL_VERSION] as ModelLimit), ...overrides }, model_limits };
}

const versionNumber = (v: string): number => Number(v.replace(/^v/, ''));

/**
 * The limits a predict with this model version (parsed from `model_path`) runs under, resolved as the client's
 * `model_limit_from_version` does (§8): no version → `default_model_version`; otherwise the same or the closest
 * lower version key. A version below every key also falls back to the default.
 */
export function limitForVersion(state: EmulatorState, version: string | undefined): ModelLimit {
  return { ...(LIMITS[limitKey(version)] as ModelLimit), ...state.config.limits };
}

/** Version → key of LIMITS; the keys are fixed and `model_path` names only a few versions, so each is resolved once. */
const limitKeys = new Map<string | undefined, string>();

function limitKey(version: string | undefined): string {
  let key = limitKeys.get(version);
  if (key === undefined) {
    const wanted = version === undefined ? Number.NaN : versionNumber(version);
    key =
      Object.keys(LIMITS)
        .filter((k) => versionNumber(k) <= wanted)
        .sort((a, b) => versionNumber(b) - versionNumber(a))[0] ?? DEFAULT_MODEL_VERSION;
    limitKeys.set(version, key);
  }
  return key;
}

export function settingsBody(state: EmulatorState): Record<string, unknown> {
  return {
    default_model_version: DEFAULT_MODEL_VERSION,
    ...effectiveLimits(state),
    dataset_max_size_bytes: 100_000_000,
    async_settings: { use_above_trainset_size_bytes: state.config.asyncThresholdBytes, poll_timeout_secs: state.config.pollTimeoutSecs },
  };
}

export function accountRoutes(state: EmulatorState, router: Router = Router()): Router {
  const faults = injectFaults(state);

  router.get('/', tagRoute(state, 'root'), faults, (_req, res) => {
    res.json({ message: 'TabPFN API emulator (tabpfn-jobs). Not the real service.', docs: 'https://docs.priorlabs.ai' });
  });

  router.get('/protected/', tagRoute(state, 'protected'), faults, (_req, res) => {
    const status = state.tokenStatus(locals(res).token);
    if (status === 'valid') return res.json({ message: 'Authenticated' });
    if (status === 'unverified') return sendError(res, 403, 'Please verify your email address', 'EMAIL_NOT_VERIFIED');
    return sendError(res, 401, 'Invalid or expired authentication token', 'UNAUTHORIZED');
  });

  router.get(
    '/retrieve_greeting_messages/',
    tagRoute(state, 'greetings'),
    faults,
    requireToken(state, { allowUnverified: true }),
    (_req, res) => {
      res.json({ messages: [] });
    },
  );

  // The client fetches settings with a bearer header "if one is set"; the limits are the same for everyone.
  router.get('/tabpfn/get_settings', tagRoute(state, 'get_settings'), faults, (_req, res) => {
    res.json(settingsBody(state));
  });

  router.get('/tabpfn/get_model_limits', tagRoute(state, 'get_model_limits'), faults, (_req, res) => {
    const { async_settings: _ignored, ...limits } = settingsBody(state);
    res.json(limits);
  });

  router.post('/get_api_usage/', tagRoute(state, 'get_api_usage'), faults, requireToken(state, { allowUnverified: true }), (_req, res) => {
    res.json(state.usage.report(locals(res).token as string));
  });

  router.post('/tabpfn/estimate_cost', tagRoute(state, 'estimate_cost'), faults, requireToken(state), (req, res) => {
    const b = parseBody(estimateSchema, req.body);
    const version = b.model_version ?? 'v3';
    const cost = estimateCost({
      trainRows: b.train_rows,
      testRows: b.test_rows,
      columns: b.raw_columns,
      nEstimators: b.n_estimators,
      modelVersion: version,
      v3CostModel: state.config.v3CostModel,
    });
    res.json({
      estimated_cost: cost.tokens,
      pricing_version: cost.pricingVersion,
      inputs: { ...b, model_version: version, n_estimators: b.n_estimators ?? 8 },
    });
  });

  return router;
}
