import { Router } from 'express';
import { z } from 'zod';
import type { EmulatorState } from '../emulator-state.js';
import { faultSpecSchema } from '../faults.js';
import { EmulatorHttpError } from '../http-helpers.js';
import type { ModelLimitField } from '../options.js';
import { V3_COST_MODELS } from '../usage-meter.js';
import { effectiveLimits } from './account.js';
import { parseBody } from './validation.js';

const limit = z.number().int().min(1).nullable().optional();
const rateLimitsSchema = z.object({ fit: limit, predict: limit, upload: limit }).strict();
const maxOf = z.number().int().positive().optional();
export const modelLimitsSchema = z
  .object({
    test_set_max_rows: maxOf,
    test_set_max_cells: maxOf,
    test_set_max_rows_w_full_regression_output: maxOf,
    predict_row_pairs_budget: maxOf,
    train_set_max_rows: maxOf,
    train_set_max_cells: maxOf,
    max_cols: maxOf,
    max_classes: maxOf,
  } satisfies Record<ModelLimitField, typeof maxOf>)
  .strict();
const latencySchema = z.object({ fit: z.number().int().min(0).optional(), predict: z.number().int().min(0).optional() }).strict();
const configSchema = z
  .object({
    fitLatencyMs: z.number().int().min(0),
    predictLatencyMs: z.number().int().min(0),
    dailyTokenLimit: z.number().int(),
    monthlyTokenLimit: z.number().int(),
    v3CostModel: z.enum(V3_COST_MODELS),
    asyncThresholdBytes: z.number().int().min(0),
    pollTimeoutSecs: z.number().min(0),
    uploadUrlTtlMs: z.number().int(),
    uploadChunkBytes: z.number().int().min(1),
    retryInSecs: z.number().min(0),
    syncFitMaxWaitMs: z.number().int().min(0),
    keepaliveIntervalMs: z.number().int().min(0),
    rateLimits: rateLimitsSchema,
    rateLimitWindowMs: z.number().int().min(100),
  })
  .partial()
  .strict();
const forgetSchema = z.object({ fitted_train_set_id: z.string().min(1).optional(), all: z.boolean().optional() }).strict();
const usageSchema = z
  .object({
    token: z.string().min(1),
    daily_tokens_used: z.number().int().min(0).optional(),
    monthly_tokens_used: z.number().int().min(0).optional(),
  })
  .strict();
const resetSchema = z.object({ seed: z.number().int().optional() }).strict();
const tokensSchema = z.object({ valid: z.array(z.string().min(1)).optional(), unverified: z.array(z.string().min(1)).optional() }).strict();

/** `/_emulator/*`: fault injection, latency, rate limits, model limits, counters, recorded requests, reset. Mounted only with `control: true`. */
export function controlRoutes(state: EmulatorState, router: Router = Router()): Router {
  router.get('/_emulator/state', (_req, res) => {
    res.json(state.summary());
  });

  router.get('/_emulator/faults', (_req, res) => {
    res.json({ faults: state.faults.list() });
  });
  router.post('/_emulator/faults', (req, res) => {
    const specs = Array.isArray(req.body) ? req.body : [req.body];
    const parsed = specs.map((s) => parseBody(faultSpecSchema, s));
    res.status(201).json({ faults: parsed.map((s) => state.addFault(s)) });
  });
  router.delete('/_emulator/faults', (_req, res) => {
    state.clearFaults();
    res.json({ faults: [] });
  });
  router.delete('/_emulator/faults/:id', (req, res) => {
    if (!state.faults.remove(String(req.params.id))) throw new EmulatorHttpError(404, `Fault ${req.params.id} not found`, 'NOT_FOUND');
    res.json({ deleted: req.params.id });
  });

  router.put('/_emulator/latency', (req, res) => {
    state.setLatency(parseBody(latencySchema, req.body));
    res.json({ fit: state.config.fitLatencyMs, predict: state.config.predictLatencyMs });
  });
  router.put('/_emulator/rate-limits', (req, res) => {
    state.setRateLimits(parseBody(rateLimitsSchema, req.body));
    res.json(state.config.rateLimits);
  });
  // Any subset of the ModelLimit fields, applied to every model version and to max_model_limit; answers the effective limits.
  router.get('/_emulator/limits', (_req, res) => {
    res.json(effectiveLimits(state));
  });
  router.put('/_emulator/limits', (req, res) => {
    state.setLimits(parseBody(modelLimitsSchema, req.body));
    res.json(effectiveLimits(state));
  });
  router.delete('/_emulator/limits', (_req, res) => {
    state.clearLimits();
    res.json(effectiveLimits(state));
  });
  router.patch('/_emulator/config', (req, res) => {
    state.configure(parseBody(configSchema, req.body));
    res.json(state.summary().config);
  });

  router.post('/_emulator/forget', (req, res) => {
    const b = parseBody(forgetSchema, req.body);
    if (!b.fitted_train_set_id && !b.all)
      throw new EmulatorHttpError(422, 'Give fitted_train_set_id or all: true', 'REQUEST_VALIDATION_ERROR');
    res.json({ forgotten: state.forgetFittedTrainSet(b.all ? undefined : b.fitted_train_set_id) });
  });
  router.delete('/_emulator/fitted/:id', (req, res) => {
    res.json({ forgotten: state.forgetFittedTrainSet(String(req.params.id)) });
  });
  router.delete('/_emulator/fitted', (_req, res) => {
    res.json({ forgotten: state.forgetFittedTrainSet() });
  });

  router.get('/_emulator/counters', (req, res) => {
    const token = req.query.token;
    res.json(typeof token === 'string' ? state.counters(token) : state.counters());
  });

  router.get('/_emulator/requests', (req, res) => {
    const { route, token } = req.query;
    res.json({
      requests: state.requests.filter(
        (r) => (typeof route !== 'string' || r.route === route) && (typeof token !== 'string' || r.token === token),
      ),
    });
  });
  router.delete('/_emulator/requests', (_req, res) => {
    state.clearRequests();
    res.json({ requests: [] });
  });

  router.post('/_emulator/usage', (req, res) => {
    const b = parseBody(usageSchema, req.body);
    state.setUsage(b.token, {
      ...(b.daily_tokens_used !== undefined ? { daily: b.daily_tokens_used } : {}),
      ...(b.monthly_tokens_used !== undefined ? { monthly: b.monthly_tokens_used } : {}),
    });
    res.json(state.usage.report(b.token));
  });

  router.post('/_emulator/tokens', (req, res) => {
    const b = parseBody(tokensSchema, req.body);
    for (const t of b.valid ?? []) state.validTokens.add(t);
    for (const t of b.unverified ?? []) state.unverifiedTokens.add(t);
    res.json({ valid: state.validTokens.size, unverified: state.unverifiedTokens.size });
  });

  router.post('/_emulator/reset', (req, res) => {
    const b = parseBody(resetSchema, req.body);
    state.reset(b.seed);
    res.json({ reset: true, seed: state.seed });
  });

  return router;
}
