import { type RequestHandler, Router } from 'express';
import { z } from 'zod';
import type { WebhookSecretView } from '@tabpfn-jobs/shared/webhooks';
import { principal } from '../http/auth.js';
import type { BodyPolicy } from '../http/body.js';
import { parse } from '../http/validate.js';
import { idParam } from '../schemas/job.schemas.js';
import type { DeliveryWithAttempts, WebhookAttempt, WebhookDelivery, WebhookService } from '../services/webhook.service.js';

const redeliverBody = z
  .strictObject({
    delivery_id: z
      .string()
      .regex(/^msg_[0-9A-Z]{26}$/, 'must be a delivery id (msg_…)')
      .optional(),
  })
  .optional();

const iso = (d: Date | null) => (d ? d.toISOString() : null);

function secretResource(v: WebhookSecretView) {
  return {
    secret: v.secret,
    created_at: v.created_at.toISOString(),
    ...(v.previous_secret_expires_at ? { previous_secret_expires_at: v.previous_secret_expires_at.toISOString() } : {}),
  };
}

function attemptResource(a: WebhookAttempt) {
  return {
    attempt: a.attempt,
    status_code: a.status_code,
    duration_ms: a.duration_ms,
    error: a.error,
    created_at: a.created_at.toISOString(),
  };
}

/** The public shape of a delivery: the payload is shown as sent (it is the job resource). */
function deliveryResource(d: WebhookDelivery & { attempt_log?: WebhookAttempt[] }) {
  return {
    id: d.id,
    object: 'webhook_delivery' as const,
    job_id: d.job_id,
    event_type: d.event_type,
    url: d.url,
    status: d.status,
    attempts: d.attempts,
    last_status_code: d.last_status_code,
    last_error: d.last_error,
    next_attempt_at: d.status === 'pending' ? iso(d.next_attempt_at) : null,
    created_at: d.created_at.toISOString(),
    finished_at: iso(d.finished_at),
    payload: d.payload,
    ...(d.attempt_log ? { attempt_log: d.attempt_log.map(attemptResource) } : {}),
  };
}

export function webhookRoutes(deps: { webhooks: WebhookService; authenticated: RequestHandler[]; body: BodyPolicy }): Router {
  const router = Router();

  // The secret is a credential: never cached by a proxy or browser.
  router.get('/v1/webhooks/secret', ...deps.authenticated, async (_req, res) => {
    res.set('cache-control', 'no-store');
    res.json(secretResource(await deps.webhooks.secret(principal(res).userId)));
  });

  router.post('/v1/webhooks/secret/rotate', ...deps.authenticated, ...deps.body.smallJson, async (req, res) => {
    // Takes no options: an unknown field is a mistake worth telling the caller about.
    parse(z.strictObject({}), req.body ?? {});
    res.set('cache-control', 'no-store');
    res.json(secretResource(await deps.webhooks.rotateSecret(principal(res).userId)));
  });

  router.get('/v1/jobs/:job_id/webhook-deliveries', ...deps.authenticated, async (req, res) => {
    const { job_id } = parse(idParam('job_id'), req.params);
    const rows: DeliveryWithAttempts[] = await deps.webhooks.deliveries(principal(res).userId, job_id as string);
    res.json({ data: rows.map(deliveryResource) });
  });

  router.post('/v1/jobs/:job_id/webhook-deliveries/redeliver', ...deps.authenticated, ...deps.body.smallJson, async (req, res) => {
    const { job_id } = parse(idParam('job_id'), req.params);
    const body = parse(redeliverBody, req.body);
    const rows = await deps.webhooks.redeliver(principal(res).userId, job_id as string, body?.delivery_id);
    res.status(202).json({ data: rows.map((d) => deliveryResource(d)) });
  });

  return router;
}
