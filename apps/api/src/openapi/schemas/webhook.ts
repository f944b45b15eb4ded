import { z } from 'zod';
import { WEBHOOK_EVENTS } from '@tabpfn-jobs/shared/domain';
import { EXAMPLE_IDS, nullableTimestamp, timestamp, uuid } from './common.js';
import { job } from './resources.js';

/** Response shapes of the webhook routes (webhook.routes.ts). */

export const webhookSecret = z
  .object({
    secret: z.string().meta({ description: 'The signing secret (`whsec_` + base64).', example: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' }),
    created_at: timestamp,
    previous_secret_expires_at: timestamp.optional().meta({ description: 'After a rotation: until when the previous secret also signs.' }),
  })
  .meta({ id: 'WebhookSecret', description: 'The account\'s webhook signing secret (Standard Webhooks).' });

export const webhookAttempt = z
  .object({
    attempt: z.int().meta({ example: 1 }),
    status_code: z.int().nullable().meta({ description: 'The receiver\'s status; null when no response came.', example: 200 }),
    duration_ms: z.number().meta({ example: 42 }),
    error: z.string().nullable().meta({ example: null }),
    created_at: timestamp,
  })
  .meta({ id: 'WebhookAttempt', description: 'One attempt to deliver a webhook.' });

export const webhookEvent = z
  .object({
    type: z.enum(WEBHOOK_EVENTS).meta({ example: 'job.succeeded' }),
    timestamp,
    data: job,
  })
  .meta({ id: 'WebhookEvent', description: 'The body of a webhook request, signed with `webhook-id`, `webhook-timestamp` and `webhook-signature`.' });

export const webhookDelivery = z
  .object({
    id: z.string().meta({ description: 'Delivery id: the `webhook-id` header of every attempt.', example: EXAMPLE_IDS.delivery }),
    object: z.literal('webhook_delivery'),
    job_id: uuid('The job the event is about.', EXAMPLE_IDS.fitJob),
    event_type: z.enum(WEBHOOK_EVENTS).meta({ example: 'job.succeeded' }),
    url: z.string().meta({ example: 'https://example.com/hooks/tabpfn' }),
    status: z.enum(['pending', 'delivered', 'failed']).meta({ example: 'delivered' }),
    attempts: z.int().meta({ example: 1 }),
    last_status_code: z.int().nullable().meta({ example: 200 }),
    last_error: z.string().nullable().meta({ example: null }),
    next_attempt_at: nullableTimestamp,
    created_at: timestamp,
    finished_at: nullableTimestamp,
    payload: z.record(z.string(), z.unknown()).meta({ description: 'The body as sent (a `WebhookEvent`).' }),
    attempt_log: z.array(webhookAttempt).optional(),
  })
  .meta({ id: 'WebhookDelivery', description: 'One webhook event to one URL, with its attempts.' });

export const webhookDeliveryList = z.object({ data: z.array(webhookDelivery) }).meta({ id: 'WebhookDeliveryList', description: 'Deliveries of a job.' });
