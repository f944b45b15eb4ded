import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { idParam, jobListQuery } from '../../schemas/job.schemas.js';
import { AUTH_PROBLEMS, BEARER, json, problems } from '../registry.js';
import { fitResult, job, jobPage, predictResult, predictResultRow, removedResult } from '../schemas/resources.js';

/** job.routes.ts. */
export function registerJobPaths(registry: OpenAPIRegistry): void {
  const tags = ['Jobs'];
  registry.registerPath({
    method: 'get',
    path: '/v1/jobs',
    tags,
    summary: 'List jobs',
    description: "The account's jobs, newest first, cursor-paginated, without results.",
    security: BEARER,
    request: { query: jobListQuery },
    responses: { 200: json('A page of jobs.', jobPage), ...problems(...AUTH_PROBLEMS, 422) },
  });
  registry.registerPath({
    method: 'get',
    path: '/v1/jobs/{job_id}',
    tags,
    summary: 'Get a job',
    description: 'Status, progress (stage), attempts, error, and the result once it succeeded.',
    security: BEARER,
    request: { params: idParam('job_id') },
    responses: { 200: json('The job.', job), ...problems(...AUTH_PROBLEMS, 403, 404, 422) },
  });
  registry.registerPath({
    method: 'get',
    path: '/v1/jobs/{job_id}/result',
    tags,
    summary: "Get a job's result",
    description:
      'The result alone, streamed: as JSON (default), or for a predict with `Accept: application/x-ndjson` one JSON object per input row, or with `Accept: text/csv` CSV (one line per input row). ' +
      'A fit result is JSON only (other types: 406). 409 until the job has succeeded, except a failed batch predict that kept a partial result (`allow_partial`): ' +
      'it answers 200 with `"partial": true` in JSON, and `null` (JSON, NDJSON) or empty cells (CSV) for the rows it lacks. ' +
      'An error after the answer started cuts the connection: a body that does not end (JSON not closed, fewer rows than `n_rows`) is incomplete.',
    security: BEARER,
    request: { params: idParam('job_id') },
    responses: {
      200: {
        description: 'The result.',
        content: {
          'application/json': { schema: z.union([predictResult, fitResult, removedResult]) },
          'application/x-ndjson': { schema: predictResultRow },
          'text/csv': { schema: z.string().meta({ example: 'prediction,p_setosa,p_versicolor,p_virginica\nvirginica,0.01,0.09,0.9\n' }) },
        },
      },
      ...problems(...AUTH_PROBLEMS, 403, 404, 406, 409, 422),
    },
  });
  registry.registerPath({
    method: 'post',
    path: '/v1/jobs/{job_id}/cancel',
    tags,
    summary: 'Cancel a job',
    description: 'A queued job is canceled at once; a running one as soon as the worker can stop it. A finished job is returned unchanged.',
    security: BEARER,
    request: { params: idParam('job_id') },
    responses: { 200: json('The job after the cancel request.', job), ...problems(...AUTH_PROBLEMS, 403, 404, 422) },
  });
}
