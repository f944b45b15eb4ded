import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { WEBHOOK_EVENTS } from '@tabpfn-jobs/shared/domain';
import { idParam } from '../../schemas/job.schemas.js';
import { AUTH_PROBLEMS, BEARER, json, problems } from '../registry.js';
import { EXAMPLE_IDS } from '../schemas/common.js';
import { webhookDeliveryList, webhookEvent, webhookSecret } from '../schemas/webhook.js';

/** Same shape as `redeliverBody` in webhook.routes.ts (documented here; the route validates). */
const redeliverRequest = z
  .strictObject({
    delivery_id: z
      .string()
      .regex(/^msg_[0-9A-Z]{26}$/)
      .optional()
      .meta({ description: 'Only this delivery; every delivery of the job when omitted.', example: EXAMPLE_IDS.delivery }),
  })
  .meta({
    id: 'RedeliverRequest',
    description: 'Which deliveries to send again (the body may be omitted).',
    example: { delivery_id: EXAMPLE_IDS.delivery },
  });

const signatureHeaders = z.object({
  'webhook-id': z
    .string()
    .meta({ description: 'Delivery id; the same on every retry (de-duplicate on it).', example: EXAMPLE_IDS.delivery }),
  'webhook-timestamp': z.string().meta({ description: 'Unix seconds of this attempt; reject ones far from now.', example: '1736933400' }),
  'webhook-signature': z.string().meta({
    description:
      'Space-separated `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` signatures, keyed with the base64-decoded secret after `whsec_`. Two during a rotation overlap.',
    example: 'v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=',
  }),
});

/** webhook.routes.ts, plus the events this service sends (OpenAPI `webhooks`). */
export function registerWebhookPaths(registry: OpenAPIRegistry): void {
  const tags = ['Webhooks'];
  registry.registerPath({
    method: 'get',
    path: '/v1/webhooks/secret',
    tags,
    summary: 'Get the signing secret',
    description: "The secret that signs this account's webhooks (created on first use).",
    security: BEARER,
    responses: { 200: json('The secret.', webhookSecret), ...problems(...AUTH_PROBLEMS) },
  });
  registry.registerPath({
    method: 'post',
    path: '/v1/webhooks/secret/rotate',
    tags,
    summary: 'Rotate the signing secret',
    description:
      'A new secret signs from now on; the previous one keeps signing alongside it for 24 h, so receivers can switch without dropping events.',
    security: BEARER,
    responses: { 200: json('The new secret.', webhookSecret), ...problems(...AUTH_PROBLEMS) },
  });
  registry.registerPath({
    method: 'get',
    path: '/v1/jobs/{job_id}/webhook-deliveries',
    tags,
    summary: "List a job's webhook deliveries",
    description: "Every delivery of the job's events, with each attempt's status code, duration and error.",
    security: BEARER,
    request: { params: idParam('job_id') },
    responses: { 200: json('The deliveries.', webhookDeliveryList), ...problems(...AUTH_PROBLEMS, 403, 404, 422) },
  });
  registry.registerPath({
    method: 'post',
    path: '/v1/jobs/{job_id}/webhook-deliveries/redeliver',
    tags,
    summary: 'Send webhooks again',
    description: "Queues the job's deliveries (or one of them) again, with the same `webhook-id` and body.",
    security: BEARER,
    request: { params: idParam('job_id'), body: { required: false, content: { 'application/json': { schema: redeliverRequest } } } },
    responses: { 202: json('The deliveries queued again.', webhookDeliveryList), ...problems(...AUTH_PROBLEMS, 403, 404, 422) },
  });

  for (const event of WEBHOOK_EVENTS) {
    registry.registerWebhook({
      method: 'post',
      path: event,
      tags,
      summary: `Event ${event}`,
      description: `Sent to the job's \`webhook_url\` when the job ${event.slice(4)}. Signed per Standard Webhooks; answer 2xx to acknowledge, 410 to stop. Retried with backoff for about three days.`,
      request: { headers: signatureHeaders, body: { required: true, content: { 'application/json': { schema: webhookEvent } } } },
      responses: { 200: { description: 'Delivered (any 2xx).' }, 410: { description: 'Gone: no more attempts for this delivery.' } },
    });
  }
}
