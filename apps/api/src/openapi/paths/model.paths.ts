import type { OpenAPIRegistry, RouteConfig } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { WEBHOOK_EVENTS } from '@tabpfn-jobs/shared/domain';
import { fitBody, idParam, modelListQuery, predictBody } from '../../schemas/job.schemas.js';
import { AUTH_PROBLEMS, BEARER, idempotencyHeader, json, problems } from '../registry.js';
import { availableModels, job, model, modelPage } from '../schemas/resources.js';

const csvFile = z.string().meta({
  description: 'The CSV file, with a header row. Numbers become numbers; empty cells and `NA` are missing values.',
  contentMediaType: 'text/csv',
  example: 'sepal_length,sepal_width,petal_length,petal_width,species\n5.1,3.5,1.4,0.2,setosa\n',
});

const formCommon = {
  config: z.string().optional().meta({ description: 'TabPFN config as a JSON string.', example: '{"n_estimators":8}' }),
  webhook_url: z.string().optional().meta({ description: 'As in the JSON body.', example: 'https://example.com/hooks/tabpfn' }),
  webhook_events: z
    .string()
    .optional()
    .meta({ description: 'Comma-separated events.', example: WEBHOOK_EVENTS.slice(1).join(',') }),
};

const fitForm = z
  .object({
    file: csvFile,
    target_column: z
      .string()
      .meta({ description: 'The header of the target column; every other column is a feature.', example: 'species' }),
    task: z.enum(['classification', 'regression']).optional().meta({ description: 'As in the JSON body.', example: 'classification' }),
    categorical_features: z.string().optional().meta({ description: 'Comma-separated column names or indices.', example: 'island,sex' }),
    model: z.string().optional().meta({ description: 'As in the JSON body.', example: 'default' }),
    description: z.string().optional().meta({ description: 'As in the JSON body.', example: 'iris' }),
    ...formCommon,
  })
  .meta({ id: 'FitForm', description: 'A fit as a multipart CSV upload.' });

const predictForm = z
  .object({
    file: csvFile,
    output_type: z.string().optional().meta({ description: 'As in the JSON body.', example: 'probas' }),
    quantiles: z.string().optional().meta({ description: 'A JSON array of quantiles.', example: '[0.1,0.5,0.9]' }),
    ...formCommon,
  })
  .meta({ id: 'PredictForm', description: "A predict as a multipart CSV upload; columns are matched to the model's features by name." });

const submitHeaders = idempotencyHeader.extend({
  prefer: z
    .string()
    .optional()
    .meta({
      description: '`wait=N` (N ≤ 60): answer 200 with the finished job if it finishes within N seconds, else the usual 202.',
      example: 'wait=30',
    }),
});

const location = z.object({
  location: z.string().meta({ description: "The job's URL.", example: '/v1/jobs/c9f0f895-fb98-4b9c-8e3f-1a2b3c4d5e6f' }),
});

const submitResponses = (what: string) => ({
  200: json(`With \`Prefer: wait=N\`: the ${what} job finished in time (succeeded, failed or canceled).`, job, location),
  202: json(`The ${what} job is queued; poll \`GET /v1/jobs/{job_id}\`, wait for a webhook, or use \`Prefer: wait\`.`, job, location),
});

const tags = ['Models'];

/** The operations of model.routes.ts: fit, predict and the model resources. */
const modelPaths: RouteConfig[] = [
  {
    method: 'get',
    path: '/v1/models/available',
    tags,
    summary: 'Upstream model names',
    description: 'Model names accepted in the `model` field of a fit, per task. Needs no API key.',
    security: [],
    responses: { 200: json('Model names.', availableModels) },
  },
  {
    method: 'post',
    path: '/v1/models/fit',
    tags,
    summary: 'Fit a model',
    description:
      'Validates and stores the training set, creates a `pending` model and queues a fit job. Send JSON (`features` + `target`) or a multipart CSV upload (`file` + `target_column`).',
    security: BEARER,
    request: {
      headers: submitHeaders,
      body: { required: true, content: { 'application/json': { schema: fitBody }, 'multipart/form-data': { schema: fitForm } } },
    },
    responses: { ...submitResponses('fit'), ...problems(...AUTH_PROBLEMS, 400, 413, 415, 422) },
  },
  {
    method: 'post',
    path: '/v1/models/{model_id}/predict',
    tags,
    summary: 'Predict with a model',
    description:
      'Queues a predict job. Allowed while the model is still fitting: the predict runs after the fit. An identical predict within the cache window is answered at once from its stored result (`cached: true`).',
    security: BEARER,
    request: {
      params: idParam('model_id'),
      headers: submitHeaders,
      body: { required: true, content: { 'application/json': { schema: predictBody }, 'multipart/form-data': { schema: predictForm } } },
    },
    responses: { ...submitResponses('predict'), ...problems(...AUTH_PROBLEMS, 400, 403, 404, 413, 415, 422) },
  },
  {
    method: 'get',
    path: '/v1/models',
    tags,
    summary: 'List models',
    description: "The account's models, newest first, cursor-paginated.",
    security: BEARER,
    request: { query: modelListQuery },
    responses: { 200: json('A page of models.', modelPage), ...problems(...AUTH_PROBLEMS, 422) },
  },
  {
    method: 'get',
    path: '/v1/models/{model_id}',
    tags,
    summary: 'Get a model',
    description: 'One model: status, task, shape, feature names, classes.',
    security: BEARER,
    request: { params: idParam('model_id') },
    responses: { 200: json('The model.', model), ...problems(...AUTH_PROBLEMS, 403, 404, 422) },
  },
  {
    method: 'delete',
    path: '/v1/models/{model_id}',
    tags,
    summary: 'Delete a model',
    description:
      'Deletes the model, its jobs and their results, and the training and test data stored for them; running jobs are canceled. The fitted set upstream is left until the account is deleted, since an identical fit of the same account may reuse it.',
    security: BEARER,
    request: { params: idParam('model_id') },
    responses: { 204: { description: 'Deleted.' }, ...problems(...AUTH_PROBLEMS, 403, 404, 422) },
  },
];

export function registerModelPaths(registry: OpenAPIRegistry): void {
  for (const path of modelPaths) registry.registerPath(path);
}
