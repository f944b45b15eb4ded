import { z } from 'zod';

/**
 * Building blocks of the documented response shapes. Response schemas are documentation only (the
 * mappers build the bodies); tests/ecosystem checks real responses against them.
 */
export const EXAMPLE_IDS = {
  user: '0b9f5c1e-3f7a-4c56-9d1e-2a8b7c6d5e4f',
  key: '5d3c2b1a-9e8f-4a7b-8c6d-1e2f3a4b5c6d',
  model: '8f14e45f-ceea-467a-9af1-4c3d2e1f0a9b',
  fitJob: 'c9f0f895-fb98-4b9c-8e3f-1a2b3c4d5e6f',
  predictJob: '45c48cce-2e2d-4fbd-a1b2-c3d4e5f60718',
  delivery: 'msg_01J9Z8Y7X6W5V4T3S2R1Q0P9N8',
} as const;

export const timestamp = z.iso.datetime().meta({ description: 'RFC 3339 timestamp (UTC).', example: '2025-01-15T09:30:00.000Z' });
export const nullableTimestamp = timestamp.nullable();

export const uuid = (description: string, example: string) => z.uuid().meta({ description, example });

export const label = z
  .union([z.string(), z.number(), z.boolean()])
  .meta({ description: 'A class label, with the type it had in the training target.', example: 'setosa' });

export const fieldError = z
  .object({
    field: z.string().meta({ description: 'The field (dotted path) or header at fault.', example: 'features.3' }),
    message: z.string().meta({ description: 'What is wrong with it.', example: 'row 3 has 3 cells, expected 4' }),
  })
  .meta({ id: 'FieldError', description: 'One validation problem.' });

export const problem = z
  .object({
    type: z.url().meta({ description: 'A URI naming the problem type.', example: 'https://tabpfn-jobs.dev/problems/validation_failed' }),
    title: z.string().meta({ description: 'Short summary of the problem type.', example: 'Unprocessable Content' }),
    status: z.int().meta({ description: 'The HTTP status code.', example: 422 }),
    detail: z.string().meta({ description: 'What went wrong in this occurrence.', example: 'The request is invalid.' }),
    code: z.string().meta({
      description: 'Stable machine-readable error code (`validation_failed`, `model_not_found`, `tabpfn_token_invalid`, …).',
      example: 'validation_failed',
    }),
    request_id: z.string().meta({ description: 'The `x-request-id` of the request; quote it in bug reports.', example: 'req_7f3a9c2e1b' }),
    errors: z.array(fieldError).optional().meta({ description: 'Per-field problems (validation errors).' }),
  })
  .catchall(z.unknown())
  .meta({
    id: 'Problem',
    description: 'An RFC 9457 problem (`application/problem+json`); every error response has this shape.',
    example: {
      type: 'https://tabpfn-jobs.dev/problems/validation_failed',
      title: 'Unprocessable Content',
      status: 422,
      detail: 'The request is invalid.',
      code: 'validation_failed',
      request_id: 'req_7f3a9c2e1b',
      errors: [{ field: 'target', message: 'has 119 values, expected 120 (one per row)' }],
    },
  });

export const jobError = z
  .object({
    code: z.string().meta({ description: 'Stable error code.', example: 'tabpfn_token_invalid' }),
    message: z.string().meta({ description: 'Human-readable explanation.', example: 'The TabPFN token was rejected upstream.' }),
    retryable: z.boolean().meta({ description: 'Whether submitting the same job again may succeed.', example: false }),
    trace_id: z.string().optional().meta({ description: 'Upstream trace id, when upstream gave one.', example: 'b1946ac92492d2347c6235b4d2611184' }),
    upstream_status: z.int().optional().meta({ description: 'Upstream HTTP status, for upstream errors.', example: 401 }),
  })
  .meta({ id: 'JobError', description: 'Why a job or model failed.' });

export const pageOf = <T extends z.ZodType>(item: T, id: string, description: string) =>
  z
    .object({
      data: z.array(item).meta({ description: 'This page, newest first.' }),
      has_more: z.boolean().meta({ description: 'Whether another page follows.', example: false }),
      next_cursor: z.string().nullable().meta({ description: 'Pass as `cursor` to get the next page; null on the last page.', example: null }),
    })
    .meta({ id, description });
