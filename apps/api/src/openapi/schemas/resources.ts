import { z } from 'zod';
import { WEBHOOK_EVENTS } from '@tabpfn-jobs/shared/domain';
import { EXAMPLE_IDS, jobError, label, nullableTimestamp, pageOf, timestamp, uuid } from './common.js';

/** Response shapes of jobs and models, matching `toJobResource` (shared) and `toModel` (api mappers). */

export const predictResult = z
  .object({
    output_type: z.string().meta({ description: 'The output type that was asked for.', example: 'probas' }),
    predictions: z.unknown().meta({
      description:
        'One prediction per input row (labels keep their original type). For `quantiles`: one list per quantile, each one value per row. For `full`/`main`: upstream\'s object (`mean`, `median`, `mode`: one value per row; `quantiles`: one list per quantile; `logits`: one list per row; `borders`: the model\'s bin borders).',
      example: ['virginica'],
    }),
    classes: z.array(label).optional().meta({ description: '`probas` only: the class order of `probabilities`.', example: ['setosa', 'versicolor', 'virginica'] }),
    probabilities: z
      .array(z.array(z.number()).nullable())
      .optional()
      .meta({ description: '`probas` only: one row per input row, columns in `classes` order (null for a row a partial result lacks).', example: [[0.01, 0.09, 0.9]] }),
    quantiles: z.array(z.number()).optional().meta({ description: '`quantiles` only: the quantiles asked for.', example: [0.1, 0.5, 0.9] }),
    partial: z.literal(true).optional().meta({
      description:
        'Present on a failed batch predict\'s partial result (submitted with `allow_partial`): rows upstream never answered are `null`, and every per-row array still has one entry per input row.',
      example: true,
    }),
  })
  .meta({
    id: 'PredictResult',
    description: 'The result of a predict job.',
    example: { output_type: 'probas', classes: ['setosa', 'versicolor', 'virginica'], probabilities: [[0.01, 0.09, 0.9]], predictions: ['virginica'] },
  });

const nullableNumbers = z.array(z.number().nullable()).nullable();

export const predictResultRow = z
  .object({
    row: z.int().meta({ description: 'The input row (0-based); lines come in input order.', example: 0 }),
    prediction: label
      .nullable()
      .optional()
      .meta({ description: 'The prediction (label or number): every output type but `quantiles`, `full` and `main`.', example: 'virginica' }),
    probabilities: nullableNumbers.optional().meta({ description: '`probas` only: the row\'s probabilities, in the `classes` order of the JSON result.', example: [0.01, 0.09, 0.9] }),
    quantiles: nullableNumbers.optional().meta({ description: '`quantiles`, `full`, `main`: the row\'s value at each quantile, in the order asked for.', example: [4.1, 5.0, 6.2] }),
    mean: z.number().nullable().optional().meta({ description: '`full`/`main` only.', example: 5.1 }),
    median: z.number().nullable().optional().meta({ description: '`full`/`main` only.', example: 5.0 }),
    mode: z.number().nullable().optional().meta({ description: '`full`/`main` only.', example: 4.9 }),
    logits: nullableNumbers.optional().meta({ description: '`full` only, when upstream gives them: the row\'s logits over the bins (the bin borders are in the JSON result only).' }),
  })
  .meta({
    id: 'PredictResultRow',
    description:
      'One line of a predict result as `application/x-ndjson`: one JSON object per input row. A row a failed batch\'s partial result lacks has its fields `null`.',
    example: { row: 0, prediction: 'virginica', probabilities: [0.01, 0.09, 0.9] },
  });

export const fitResult = z
  .object({
    model_id: uuid('The fitted model.', EXAMPLE_IDS.model),
    reused_fit: z.boolean().meta({ description: 'True when an identical earlier fit was reused instead of fitting again.', example: false }),
  })
  .meta({ id: 'FitResult', description: 'The result of a fit job.', example: { model_id: EXAMPLE_IDS.model, reused_fit: false } });

export const removedResult = z
  .object({
    job_id: uuid('The job.', EXAMPLE_IDS.predictJob),
    data_removed: z.literal(true).meta({ description: 'The result was deleted by the retention policy.', example: true }),
    result: z.null(),
  })
  .meta({ id: 'RemovedResult', description: 'Answer for a result that retention has deleted.' });

export const progress = z
  .object({
    stage: z.enum(['queued', 'waiting_for_model', 'uploading', 'fitting', 'predicting', 'done']).meta({ description: 'What the job is doing now.', example: 'fitting' }),
    updated_at: timestamp,
    retry_in_seconds: z.number().optional().meta({ description: 'When waiting to retry upstream: seconds until the next attempt.', example: 4 }),
    message: z.string().optional().meta({ description: 'Detail for the stage (e.g. why it is retrying).', example: 'retrying after: upstream is busy' }),
    chunks_done: z.int().optional().meta({ description: 'A batch predict (split to upstream\'s per-call limits): chunks finished so far.', example: 3 }),
    chunks_total: z.int().optional().meta({ description: 'A batch predict: chunks in all.', example: 10 }),
    rows_done: z.int().optional().meta({ description: 'A batch predict: input rows predicted so far.', example: 30000 }),
    rows_total: z.int().optional().meta({ description: 'A batch predict: input rows in all.', example: 100000 }),
  })
  .meta({ id: 'JobProgress', description: 'Progress of a queued or running job.' });

const jobExample = {
  job_id: EXAMPLE_IDS.predictJob,
  object: 'job',
  type: 'predict',
  status: 'succeeded',
  model_id: EXAMPLE_IDS.model,
  progress: { stage: 'done', updated_at: '2025-01-15T09:30:02.000Z' },
  result: { output_type: 'preds', predictions: ['virginica'] },
  error: null,
  cached: false,
  attempts: 1,
  n_rows: 1,
  params: { output_type: 'preds' },
  webhook_url: null,
  webhook_events: null,
  created_at: '2025-01-15T09:30:00.000Z',
  started_at: '2025-01-15T09:30:00.100Z',
  finished_at: '2025-01-15T09:30:02.000Z',
  trace_id: '4bf92f3577b34da6a3ce929d0e0e4736',
  links: {
    self: `/v1/jobs/${EXAMPLE_IDS.predictJob}`,
    model: `/v1/models/${EXAMPLE_IDS.model}`,
    result: `/v1/jobs/${EXAMPLE_IDS.predictJob}/result`,
    cancel: `/v1/jobs/${EXAMPLE_IDS.predictJob}/cancel`,
  },
};

export const job = z
  .object({
    job_id: uuid('The job id.', EXAMPLE_IDS.predictJob),
    object: z.literal('job'),
    type: z.enum(['fit', 'predict']).meta({ description: 'What the job does.', example: 'predict' }),
    status: z.enum(['queued', 'running', 'succeeded', 'failed', 'canceled']).meta({
      description: '`queued → running → succeeded | failed | canceled`.',
      example: 'succeeded',
    }),
    model_id: uuid('The model the job fits or predicts with.', EXAMPLE_IDS.model),
    progress: progress.nullable(),
    result: z
      .union([predictResult, fitResult, z.null()])
      .optional()
      .meta({
        description:
          'Present once the job succeeded (not in lists); null when retention deleted it. Absent for a batch result too large to inline (and for a failed batch\'s partial result): follow `links.result`.',
      }),
    data_removed: z.boolean().optional().meta({ description: 'True when retention deleted the result.', example: true }),
    error: jobError.nullable(),
    cached: z.boolean().meta({ description: 'True when an identical recent predict was served from its stored result.', example: false }),
    attempts: z.int().meta({ description: 'Upstream attempts made so far.', example: 1 }),
    n_rows: z.int().meta({ description: 'Rows in the job\'s input.', example: 30 }),
    params: z.record(z.string(), z.unknown()).meta({ description: 'The job\'s parameters (output type, quantiles, config…).', example: { output_type: 'preds' } }),
    webhook_url: z.string().nullable().meta({ description: 'Where job events are sent, if anywhere.', example: null }),
    webhook_events: z.array(z.enum(WEBHOOK_EVENTS)).nullable().meta({ description: 'Which events are sent.', example: null }),
    created_at: timestamp,
    started_at: nullableTimestamp,
    finished_at: nullableTimestamp,
    trace_id: z
      .string()
      .nullable()
      .meta({
        description:
          'The OpenTelemetry trace of this job (its submit, queue wait, attempts, upstream calls and webhooks), when the service traces it: quote it to the operator. null when tracing is off. Not `error.trace_id`, which is upstream\'s.',
        example: '4bf92f3577b34da6a3ce929d0e0e4736',
      }),
    links: z
      .object({
        self: z.string().meta({ example: `/v1/jobs/${EXAMPLE_IDS.predictJob}` }),
        model: z.string().meta({ example: `/v1/models/${EXAMPLE_IDS.model}` }),
        result: z.string().optional().meta({
          description: 'Finished predict jobs only: the result (JSON, NDJSON or CSV), a failed batch\'s partial result included.',
          example: `/v1/jobs/${EXAMPLE_IDS.predictJob}/result`,
        }),
        cancel: z.string().meta({ example: `/v1/jobs/${EXAMPLE_IDS.predictJob}/cancel` }),
      })
      .meta({ description: 'Related resources.' }),
  })
  .meta({ id: 'Job', description: 'An asynchronous fit or predict job (also the `data` of webhook events).', example: jobExample });

export const jobPage = pageOf(job, 'JobPage', 'A page of jobs (without results).');

export const model = z
  .object({
    model_id: uuid('The model id.', EXAMPLE_IDS.model),
    object: z.literal('model'),
    status: z.enum(['pending', 'ready', 'failed']).meta({ description: '`pending` until its fit job succeeds (`ready`) or fails (`failed`).', example: 'ready' }),
    task: z.enum(['classification', 'regression']).meta({ example: 'classification' }),
    model: z.string().nullable().meta({ description: 'Upstream model name; null = upstream default.', example: null }),
    n_samples: z.int().meta({ description: 'Training rows.', example: 120 }),
    n_features: z.int().meta({ description: 'Feature columns; predict rows must have as many.', example: 4 }),
    feature_names: z.array(z.string()).meta({ example: ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'] }),
    feature_types: z.array(z.enum(['number', 'string'])).meta({ example: ['number', 'number', 'number', 'number'] }),
    classes: z.array(label).nullable().meta({ description: 'Classification: the sorted class labels.', example: ['setosa', 'versicolor', 'virginica'] }),
    target_type: z.string().nullable().meta({ description: 'Type of the target values.', example: 'string' }),
    config: z.record(z.string(), z.unknown()).meta({ description: 'The TabPFN config the model was fitted with.', example: {} }),
    categorical_features: z.array(z.int()).nullable().meta({ description: 'Categorical column indices.', example: null }),
    description: z.string().nullable().meta({ example: 'iris, 80 % split' }),
    error: jobError.nullable(),
    created_at: timestamp,
    ready_at: nullableTimestamp,
    links: z
      .object({
        self: z.string().meta({ example: `/v1/models/${EXAMPLE_IDS.model}` }),
        predict: z.string().meta({ example: `/v1/models/${EXAMPLE_IDS.model}/predict` }),
        jobs: z.string().meta({ example: `/v1/jobs?model_id=${EXAMPLE_IDS.model}` }),
      })
      .meta({ description: 'Related resources.' }),
  })
  .meta({ id: 'Model', description: 'A fitted (or fitting) TabPFN model.' });

export const modelPage = pageOf(model, 'ModelPage', 'A page of models.');

export const availableModels = z
  .object({
    classification: z.array(z.string()).meta({ example: ['default', 'gn2p4bpt'] }),
    regression: z.array(z.string()).meta({ example: ['default', '2noar4o2'] }),
  })
  .meta({ id: 'AvailableModels', description: 'Upstream model names accepted by `model`, per task.' });
