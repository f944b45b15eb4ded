import { z } from 'zod';
import { CLASSIFICATION_OUTPUTS, REGRESSION_OUTPUTS, WEBHOOK_EVENTS } from '@tabpfn-jobs/shared';

/** Rows are checked cell by cell by the encoder (fast path for large inputs), not by zod. */
const table = (what: string) =>
  z.custom<unknown[][]>((v) => Array.isArray(v), { error: `must be an array of rows (${what})` });
const column = z.custom<unknown[]>((v) => Array.isArray(v), { error: 'must be an array' });

/** Known `tabpfn_config` keys (tabpfn-client ClassifierTabPFNConfig / RegressorTabPFNConfig). */
export const tabpfnConfig = z.strictObject({
  n_estimators: z.int().min(1).max(256).optional(),
  softmax_temperature: z.number().positive().max(100).optional(),
  average_before_softmax: z.boolean().optional(),
  random_state: z.int().min(0).optional(),
  inference_precision: z.enum(['autocast', 'auto']).optional(),
  ignore_pretraining_limits: z.boolean().optional(),
  fit_mode: z.enum(['fit_preprocessors', 'fit_with_cache']).optional(),
  balance_probabilities: z.boolean().optional(),
  inference_config: z.record(z.string(), z.unknown()).optional(),
});

const webhook = {
  webhook_url: z.string().max(2048).optional(),
  webhook_events: z.array(z.enum(WEBHOOK_EVENTS)).min(1).optional(),
};

export const fitBody = z.strictObject({
  features: table('features'),
  target: column,
  task: z.enum(['classification', 'regression']).optional(),
  feature_names: z.array(z.string().min(1).max(256)).optional(),
  categorical_features: z.array(z.union([z.int().min(0), z.string()])).optional(),
  model: z.string().max(100).optional(),
  config: tabpfnConfig.optional(),
  description: z.string().max(1000).optional(),
  ...webhook,
});
export type FitBody = z.infer<typeof fitBody>;

export const OUTPUT_TYPES = [...CLASSIFICATION_OUTPUTS, ...REGRESSION_OUTPUTS] as const;

export const predictBody = z.strictObject({
  features: table('features'),
  output_type: z.enum(OUTPUT_TYPES).optional(),
  quantiles: z.array(z.number().gt(0).lt(1)).min(1).max(99).optional(),
  config: tabpfnConfig.optional(),
  ...webhook,
});
export type PredictBody = z.infer<typeof predictBody>;

export const idParam = (name: string) => z.strictObject({ [name]: z.uuid({ error: 'must be a UUID' }) });

export const jobListQuery = z.strictObject({
  status: z.enum(['queued', 'running', 'succeeded', 'failed', 'canceled']).optional(),
  type: z.enum(['fit', 'predict']).optional(),
  model_id: z.uuid().optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(200).optional(),
});

export const modelListQuery = z.strictObject({
  status: z.enum(['pending', 'ready', 'failed']).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(200).optional(),
});

/** `Prefer: wait=N` (RFC 7240), N capped at 60 seconds. */
export function preferWaitSeconds(header: string | undefined): number | undefined {
  const m = header ? /(?:^|[,;\s])wait=(\d+)/i.exec(header) : null;
  return m ? Math.min(60, Number(m[1])) : undefined;
}
