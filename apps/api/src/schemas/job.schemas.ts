import { z } from 'zod';
import { CLASSIFICATION_OUTPUTS, REGRESSION_OUTPUTS, WEBHOOK_EVENTS } from '@tabpfn-jobs/shared/domain';

/** Rows are checked cell by cell by the encoder (fast path for large inputs), not by zod. */
const table = (what: string) =>
  z.custom<unknown[][]>((v) => Array.isArray(v), { error: `must be an array of rows (${what})` }).meta({
    type: 'array',
    items: { type: 'array', items: { type: ['number', 'string', 'boolean', 'null'] } },
    description: `The ${what}: one array per row, all rows the same length. Cells are numbers, strings, booleans or null (missing).`,
    example: [
      [5.1, 3.5, 1.4, 0.2],
      [6.7, 3.0, 5.2, 2.3],
    ],
  });
const column = z.custom<unknown[]>((v) => Array.isArray(v), { error: 'must be an array' }).meta({
  type: 'array',
  items: { type: ['number', 'string', 'boolean'] },
  description: 'One target value per row of `features`: class labels (classification) or numbers (regression).',
  example: ['setosa', 'virginica'],
});

/** Known `tabpfn_config` keys (tabpfn-client ClassifierTabPFNConfig / RegressorTabPFNConfig). */
export const tabpfnConfig = z
  .strictObject({
  n_estimators: z.int().min(1).max(256).optional(),
  softmax_temperature: z.number().positive().max(100).optional(),
  average_before_softmax: z.boolean().optional(),
  random_state: z.int().min(0).optional(),
  inference_precision: z.enum(['autocast', 'auto']).optional(),
  ignore_pretraining_limits: z.boolean().optional(),
  fit_mode: z.enum(['fit_preprocessors', 'fit_with_cache']).optional(),
  balance_probabilities: z.boolean().optional(),
  inference_config: z.record(z.string(), z.unknown()).optional(),
  })
  .meta({
    id: 'TabPFNConfig',
    description: 'TabPFN settings passed upstream (the `tabpfn_config` of tabpfn-client); unknown keys are rejected.',
    example: { n_estimators: 8, softmax_temperature: 0.9 },
  });

const webhook = {
  webhook_url: z
    .string()
    .max(2048)
    .optional()
    .meta({ description: 'HTTPS URL that receives signed job events (Standard Webhooks).', example: 'https://example.com/hooks/tabpfn' }),
  webhook_events: z
    .array(z.enum(WEBHOOK_EVENTS))
    .min(1)
    .optional()
    .meta({ description: 'Events to send; default `job.succeeded`, `job.failed`, `job.canceled`.', example: ['job.succeeded', 'job.failed'] }),
};

export const fitBody = z
  .strictObject({
    features: table('training features'),
    target: column,
    task: z
      .enum(['classification', 'regression'])
      .optional()
      .meta({ description: 'Inferred from the target when omitted: non-numeric or few distinct values → classification.', example: 'classification' }),
    feature_names: z
      .array(z.string().min(1).max(256))
      .optional()
      .meta({ description: 'Column names, one per feature; CSV predicts match columns by these names.', example: ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'] }),
    categorical_features: z
      .array(z.union([z.int().min(0), z.string()]))
      .optional()
      .meta({ description: 'Columns to treat as categorical, by index or by name.', example: [] }),
    model: z.string().max(100).optional().meta({ description: 'Upstream model name (see `GET /v1/models/available`); upstream default when omitted.', example: 'default' }),
    config: tabpfnConfig.optional(),
    description: z.string().max(1000).optional().meta({ description: 'Free text kept with the model.', example: 'iris, 80 % split' }),
    ...webhook,
  })
  .meta({
    id: 'FitRequest',
    description: 'A training set to fit. As multipart CSV instead: a `file` part with a header row, `target_column`, and the other fields as form fields.',
    example: {
      features: [
        [5.1, 3.5, 1.4, 0.2],
        [7.0, 3.2, 4.7, 1.4],
        [6.3, 3.3, 6.0, 2.5],
      ],
      target: ['setosa', 'versicolor', 'virginica'],
      feature_names: ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'],
    },
  });

export const OUTPUT_TYPES = [...CLASSIFICATION_OUTPUTS, ...REGRESSION_OUTPUTS] as const;

export const predictBody = z
  .strictObject({
    features: table('rows to predict, columns in the order of the training features'),
    output_type: z.enum(OUTPUT_TYPES).optional().meta({
      description: 'Classification: `preds` (default) or `probas`. Regression: `mean` (default), `median`, `mode`, `quantiles`, `full`, `main`.',
      example: 'probas',
    }),
    quantiles: z
      .array(z.number().gt(0).lt(1))
      .min(1)
      .max(99)
      .optional()
      .meta({ description: 'With `output_type: quantiles`: which quantiles (each in (0, 1)).', example: [0.1, 0.5, 0.9] }),
    config: tabpfnConfig.optional(),
    allow_partial: z.boolean().optional().meta({
      description:
        'A predict larger than one upstream call runs as chunks. When one fails for good the job fails; with `allow_partial: true` the finished chunks\' rows stay readable at the result link (`partial: true`, missing rows null).',
      example: true,
    }),
    ...webhook,
  })
  .meta({
    id: 'PredictRequest',
    description: 'Rows to predict with a fitted model. As multipart CSV instead: a `file` part with a header row (columns matched by name), other fields as form fields.',
    example: { features: [[5.9, 3.0, 5.1, 1.8]], output_type: 'probas' },
  });

const idParams = new Map<string, z.ZodObject>();
const makeIdParam = (name: string) =>
  z.strictObject({
    [name]: z.uuid({ error: 'must be a UUID' }).meta({ description: `The ${name.replace('_id', '')} id.`, example: '8f14e45f-ceea-467a-9af1-4c3d2e1f0a9b' }),
  });

/**
 * One schema per parameter name, built once: routes call this on every request, and a fresh zod 4
 * object schema compiles its fast parser on first use (that compile showed in the poll profile).
 */
export const idParam = (name: string): ReturnType<typeof makeIdParam> => {
  let schema = idParams.get(name);
  if (!schema) {
    schema = makeIdParam(name);
    idParams.set(name, schema);
  }
  return schema as ReturnType<typeof makeIdParam>;
};

const page = {
  limit: z.coerce.number().int().min(1).max(100).default(20).meta({ description: 'Page size (1-100).', example: 20 }),
  cursor: z.string().max(200).optional().meta({ description: '`next_cursor` of the previous page.', example: 'MjAyNS0wMS0xNVQwOTozMDowMFo' }),
};

export const jobListQuery = z.strictObject({
  status: z.enum(['queued', 'running', 'succeeded', 'failed', 'canceled']).optional().meta({ description: 'Only jobs in this status.', example: 'succeeded' }),
  type: z.enum(['fit', 'predict']).optional().meta({ description: 'Only jobs of this type.', example: 'predict' }),
  model_id: z.uuid().optional().meta({ description: 'Only jobs of this model.', example: '8f14e45f-ceea-467a-9af1-4c3d2e1f0a9b' }),
  ...page,
});

export const modelListQuery = z.strictObject({
  status: z.enum(['pending', 'ready', 'failed']).optional().meta({ description: 'Only models in this status.', example: 'ready' }),
  ...page,
});

/** `Prefer: wait=N` (RFC 7240), N capped at 60 seconds. */
export function preferWaitSeconds(header: string | undefined): number | undefined {
  const m = header ? /(?:^|[,;\s])wait=(\d+)/i.exec(header) : null;
  return m ? Math.min(60, Number(m[1])) : undefined;
}
