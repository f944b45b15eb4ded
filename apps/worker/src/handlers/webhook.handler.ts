import { type Pool, withTransaction } from '@tabpfn-jobs/shared/db';
import { type QueueSet, enqueue } from '@tabpfn-jobs/shared/jobs';
import type { Logger } from '@tabpfn-jobs/shared/logger';
import { ATTR, annotateActiveSpan } from '@tabpfn-jobs/shared/tracing';
import type { WebhookDeliveryRow, WebhookRepository } from '@tabpfn-jobs/shared/repositories';
import { type WebhookSecretStore, webhookJobId } from '@tabpfn-jobs/shared/webhooks';
import { Webhook } from 'standardwebhooks';
import { type RetryPolicy, nextRetryDelay } from '../webhooks/retry-policy.js';
import type { WebhookSender } from '../webhooks/webhook-sender.js';
import type { JobHandler } from './handler.js';

/**
 * Sends one attempt of one webhook delivery. Postgres holds the truth (`status`, `attempts`,
 * `next_attempt_at`); each BullMQ job is one attempt with an id derived from that state
 * (`webhookJobId`). A retry is a new delayed job added after the attempt is recorded, so retries
 * survive a worker kill: a job that dies mid-attempt is re-run by BullMQ's stall check, and a
 * retry that was recorded but never added is re-added by the emitter's `reconcile`. The same
 * delivery id is the `webhook-id` of every attempt, so receivers can de-duplicate.
 */
export interface WebhookHandlerDeps {
  pool: Pool;
  queues: QueueSet;
  webhooks: WebhookRepository;
  secrets: WebhookSecretStore;
  sender: WebhookSender;
  retry: RetryPolicy;
  logger: Logger;
  userAgent?: string;
}

/** Standard Webhooks headers; one `v1,…` signature per signing secret (two during a rotation overlap). */
export function signDelivery(delivery: Pick<WebhookDeliveryRow, 'id'>, body: string, secrets: string[], at: Date) {
  const signature = secrets.map((s) => new Webhook(s).sign(delivery.id, at, body)).join(' ');
  return {
    'webhook-id': delivery.id,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': signature,
  };
}

export function createWebhookHandler(deps: WebhookHandlerDeps): JobHandler<'webhook'> {
  const userAgent = deps.userAgent ?? 'tabpfn-jobs-webhooks/0.1';

  return async ({ deliveryId }, job) => {
    const delivery = await deps.webhooks.findDelivery(deliveryId);
    if (delivery?.status !== 'pending') return; // finished, or deleted with its job
    // A job for another step (a stale retry after a redelivery, or a duplicate) must not send.
    if (job.id !== webhookJobId(delivery)) {
      deps.logger.debug({ delivery_id: deliveryId, bull_job_id: job.id }, 'stale webhook job skipped');
      return;
    }

    annotateActiveSpan({ [ATTR.jobId]: delivery.job_id, [ATTR.accountId]: delivery.user_id, [ATTR.webhookEvent]: delivery.event_type });
    // The stored payload is signed as stored: the same bytes on every attempt.
    const body = JSON.stringify(delivery.payload);
    const secrets = await deps.secrets.signingSecrets(delivery.user_id);
    const headers = {
      'content-type': 'application/json',
      'user-agent': userAgent,
      ...signDelivery(delivery, body, secrets, new Date()),
    };
    const outcome = await deps.sender.send(delivery.url, body, headers);
    // The outcome's kind and status, not its error text (a receiver's answer is not ours to keep).
    annotateActiveSpan({ [ATTR.webhookOutcome]: outcome.kind, ...(outcome.statusCode ? { 'http.response.status_code': outcome.statusCode } : {}) });

    const attemptsSoFar = delivery.schedule_attempts + 1;
    let next: { status: 'delivered' | 'failed' } | { status: 'pending'; nextAttemptAt: Date };
    if (outcome.kind === 'delivered') next = { status: 'delivered' };
    else if (outcome.kind === 'gone' || outcome.kind === 'refused') next = { status: 'failed' };
    else {
      const delay = nextRetryDelay(deps.retry, attemptsSoFar, outcome.retryAfterMs);
      next = delay === null ? { status: 'failed' } : { status: 'pending', nextAttemptAt: new Date(Date.now() + delay) };
    }

    const updated = await withTransaction(deps.pool, (tx) =>
      deps.webhooks.recordAttempt(
        delivery,
        { statusCode: outcome.statusCode, durationMs: outcome.durationMs, error: outcome.error },
        next,
        tx,
      ),
    );
    const log = { delivery_id: delivery.id, job_id: delivery.job_id, attempt: delivery.attempts + 1, status_code: outcome.statusCode };
    if (!updated) {
      // Someone moved the delivery on meanwhile (a redelivery reset): that round owns it now.
      deps.logger.debug(log, 'webhook attempt raced a state change; not scheduling');
      return;
    }
    if (updated.status === 'delivered') deps.logger.info({ ...log, duration_ms: Math.round(outcome.durationMs) }, 'webhook delivered');
    else if (updated.status === 'failed') deps.logger.warn({ ...log, error: outcome.error }, 'webhook delivery failed for good');
    else {
      const delay = Math.max(0, (updated.next_attempt_at?.getTime() ?? Date.now()) - Date.now());
      deps.logger.info({ ...log, error: outcome.error, retry_in_ms: delay }, 'webhook attempt failed; will retry');
      try {
        await enqueue(deps.queues, 'webhook', { deliveryId: updated.id }, { jobId: webhookJobId(updated), delay });
      } catch (err) {
        // Recorded in Postgres already; the reconciler re-adds the missing job once it is overdue.
        deps.logger.warn({ delivery_id: updated.id, err: (err as Error).message }, 'could not schedule webhook retry');
      }
    }
  };
}
