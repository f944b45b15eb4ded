import { Router } from 'express';
import { z } from 'zod';
import type { Cell, Table } from '../dataset-reader.js';
import type { EmulatorState, FittedSet } from '../emulator-state.js';
import { EmulatorHttpError, locals, sendJson, wait } from '../http-helpers.js';
import { KnnClassifier, type KnnRegressor } from '../knn-model.js';
import { injectFaults, rateLimit, requireToken, tagRoute } from '../middleware.js';
import type { ModelLimit } from '../options.js';
import { estimateCost } from '../usage-meter.js';
import { limitForVersion } from './account.js';
import { ownedFitted, tableOf } from './uploads.js';
import { parseBody } from './validation.js';

const taskSchema = z.enum(['classification', 'regression']);
const predictParamsSchema = z
  .object({ output_type: z.string().optional(), quantiles: z.array(z.number().min(0).max(1)).min(1).optional() })
  .passthrough();

const predictSchema = z
  .object({
    test_set_upload_id: z.string().min(1),
    fitted_train_set_id: z.string().min(1),
    task_config: z
      .object({
        task: taskSchema,
        tabpfn_config: z.record(z.string(), z.unknown()).optional(),
        predict_params: predictParamsSchema.optional(),
      })
      .passthrough()
      .optional(),
    task: taskSchema.optional(),
    tabpfn_config: z.record(z.string(), z.unknown()).optional(),
    predict_params: predictParamsSchema.optional(),
  })
  .passthrough();

export const OUTPUT_TYPES = {
  classification: ['preds', 'probas'],
  regression: ['mean', 'median', 'mode', 'quantiles', 'full', 'main'],
} as const;

export const DEFAULT_QUANTILES = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];
const PACKAGE_VERSION = 'tabpfn-emulator-0.1.0';

export function modelVersion(config: Record<string, unknown>): string | undefined {
  const path = typeof config.model_path === 'string' ? config.model_path : undefined;
  return path ? /-(v\d(?:\.\d)?)-/.exec(path)?.[1] : undefined;
}

export function ready(f: FittedSet): void {
  if (Date.now() < f.readyAt) throw new EmulatorHttpError(409, `Fit ${f.id} has not completed yet`, 'FIT_NOT_COMPLETED');
  if (f.outcome === 'failed') throw new EmulatorHttpError(400, `Fit ${f.id} failed: ${f.error}`, 'FIT_FAILED');
}

const SPLIT_HINT = 'Split the test set across multiple calls to reduce the number of rows.';

export interface TestSetShape {
  rows: number;
  cols: number;
  trainRows: number;
  outputType: string;
}

/**
 * Upstream's per-call test-set limits (§8), in tabpfn-client's wording: rows ≤ min(test_set_max_rows,
 * predict_row_pairs_budget // train rows), rows ≤ test_set_max_rows_w_full_regression_output for `full`
 * output, cells ≤ test_set_max_cells. Throws 400 USER_ERROR for the first limit the test set breaks.
 */
export function checkTestSetLimits(limit: ModelLimit, t: TestSetShape): void {
  const budgetRows = t.trainRows > 0 ? Math.floor(limit.predict_row_pairs_budget / t.trainRows) : Number.POSITIVE_INFINITY;
  const maxRows = Math.min(limit.test_set_max_rows, budgetRows);
  const refuse = (message: string): never => {
    throw new EmulatorHttpError(400, message, 'USER_ERROR');
  };
  if (t.rows > maxRows) refuse(`The number of test rows (${t.rows}) exceeds the maximum of ${maxRows}. ${SPLIT_HINT}`);
  const maxFull = limit.test_set_max_rows_w_full_regression_output;
  if (t.outputType === 'full' && t.rows > maxFull) {
    refuse(`The number of test rows (${t.rows}) exceeds the maximum of ${maxFull} for full regression output. ${SPLIT_HINT}`);
  }
  const cells = t.rows * t.cols;
  if (cells > limit.test_set_max_cells) refuse(`The number of test cells (${cells}) exceeds the maximum of ${limit.test_set_max_cells}.`);
}

/**
 * Predictions already made, by test rows: `tableOf` reads a test set once (and again only after a new chunk
 * arrived, as a new table), a fitted model never changes, and clients predict the same test set again and again.
 */
const madePredictions = new WeakMap<Cell[][], Map<string, unknown>>();
const MAX_PREDICTIONS_PER_TEST_SET = 16;

/** Shapes of §5: labels, probability rows, numbers, quantile rows (n_quantiles × n_rows), or the full/main objects. */
export function predictionFor(f: FittedSet, rows: Cell[][], outputType: string, quantiles: number[]): unknown {
  const classifier = f.model instanceof KnnClassifier;
  // Quantiles only shape a regression; stringified, as the legacy route passes them unchecked.
  const key = `${f.id}|${outputType}|${classifier ? '' : JSON.stringify(quantiles)}`;
  let made = madePredictions.get(rows);
  if (!made) {
    made = new Map();
    madePredictions.set(rows, made);
  }
  if (made.has(key)) return made.get(key);
  const prediction = computePrediction(f, rows, outputType, quantiles);
  if (made.size >= MAX_PREDICTIONS_PER_TEST_SET) made.clear();
  made.set(key, prediction);
  return prediction;
}

function computePrediction(f: FittedSet, rows: Cell[][], outputType: string, quantiles: number[]): unknown {
  const model = f.model as KnnClassifier | KnnRegressor;
  if (model instanceof KnnClassifier) return outputType === 'probas' ? model.predictProba(rows) : model.predict(rows);
  const r = model.predict(rows, quantiles);
  switch (outputType) {
    case 'median':
      return r.median;
    case 'mode':
      return r.mode;
    case 'quantiles':
      return r.quantiles;
    case 'main':
      return { mean: r.mean, median: r.median, mode: r.mode, quantiles: r.quantiles };
    case 'full':
      return { mean: r.mean, median: r.median, mode: r.mode, quantiles: r.quantiles, logits: r.logits, borders: r.borders };
    default:
      return r.mean;
  }
}

/** The test set's table: the token's test upload for this fitted set, with the train set's column count. */
async function testTable(state: EmulatorState, token: string, fitted: FittedSet, uploadId: string): Promise<Table> {
  const upload = state.uploads.get(uploadId);
  if (!upload || upload.token !== token || upload.kind !== 'test' || upload.fittedTrainSetId !== fitted.id) {
    throw new EmulatorHttpError(404, `Test set upload ${uploadId} not found`, 'NOT_FOUND');
  }
  const x = await tableOf(upload, 'x_test');
  if (x.columns.length !== fitted.nCols) {
    throw new EmulatorHttpError(
      400,
      `The test set has ${x.columns.length} columns but the model was fitted on ${fitted.nCols}`,
      'USER_ERROR',
    );
  }
  return x;
}

export function predictRoutes(state: EmulatorState, router: Router = Router()): Router {
  router.post(
    '/tabpfn/predict',
    tagRoute(state, 'predict'),
    injectFaults(state),
    requireToken(state),
    rateLimit(state, 'predict'),
    async (req, res) => {
      const body = parseBody(predictSchema, req.body);
      const token = locals(res).token as string;
      const fitted = ownedFitted(state, token, body.fitted_train_set_id);
      const task = body.task_config?.task ?? body.task ?? fitted.task;
      const tabpfnConfig = body.task_config?.tabpfn_config ?? body.tabpfn_config ?? fitted.tabpfnConfig;
      const params = body.task_config?.predict_params ?? body.predict_params ?? {};
      if (task !== fitted.task) throw new EmulatorHttpError(400, `The fitted train set is for ${fitted.task}, not ${task}`, 'USER_ERROR');
      const outputType = params.output_type ?? (task === 'classification' ? 'preds' : 'mean');
      if (!(OUTPUT_TYPES[task] as readonly string[]).includes(outputType)) {
        throw new EmulatorHttpError(
          422,
          `Invalid output_type "${outputType}" for ${task}; expected one of ${OUTPUT_TYPES[task].join(', ')}`,
          'REQUEST_VALIDATION_ERROR',
        );
      }
      ready(fitted);
      const x = await testTable(state, token, fitted, body.test_set_upload_id);
      // Before cost and latency: a refused predict is neither counted nor charged.
      const version = modelVersion(tabpfnConfig);
      checkTestSetLimits(limitForVersion(state, version), {
        rows: x.rows.length,
        cols: x.columns.length,
        trainRows: fitted.nRows,
        outputType,
      });
      const n = Number(tabpfnConfig.n_estimators);
      const cost = estimateCost({
        trainRows: fitted.nRows,
        testRows: x.rows.length,
        columns: fitted.nCols,
        nEstimators: Number.isInteger(n) && n > 0 ? n : undefined,
        modelVersion: version,
        v3CostModel: state.config.v3CostModel,
      });
      const refusal = state.usage.check(token, cost.tokens);
      if (refusal)
        throw new EmulatorHttpError(429, refusal.message, 'INSUFFICIENT_QUOTA', {}, { 'retry-after': String(refusal.retryAfterSeconds) });

      state.countersFor(token).predicts += 1;
      if (!(await wait(state.config.predictLatencyMs, locals(res)))) return;
      const prediction = predictionFor(fitted, x.rows, outputType, params.quantiles ?? DEFAULT_QUANTILES);
      state.usage.charge(token, cost.tokens);
      sendJson(res, 200, {
        prediction,
        metadata: {
          task,
          package_version: PACKAGE_VERSION,
          tabpfn_config: tabpfnConfig,
          test_set_num_rows: x.rows.length,
          test_set_num_cols: x.columns.length,
          usage: { tokens: cost.tokens, pricing_version: cost.pricingVersion },
        },
      });
    },
  );

  return router;
}
