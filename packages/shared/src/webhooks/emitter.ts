import { ulid } from 'ulidx';
import type { Pool, Queryable } from '../db/pool.js';
import { DEFAULT_WEBHOOK_EVENTS, type WebhookEvent } from '../domain.js';
import { enqueue as enqueueJob, ensureQueued, type QueueSet } from '../jobs/queues.js';
import type { Logger } from '../logger.js';
import { toJobResource } from '../mappers/job.mapper.js';
import type { JobRow } from '../repositories/job.repository.js';
import type { WebhookDeliveryRow, WebhookRepository } from '../repositories/webhook.repository.js';

/**
 * The producer side of webhooks (transactional outbox). A delivery row is written in the same
 * transaction as the job state it announces, so an event exists if and only if the state change
 * committed; the BullMQ job is only a wake-up call, added after commit and re-added by `reconcile`
 * when Redis lost it. The Postgres row is the record.
 */

/** `msg_` + a ULID: 26 Crockford base32 chars, 48-bit millisecond time then 80 random bits. */
export function newDeliveryId(now = Date.now()): string {
  return `msg_${ulid(now)}`;
}

/**
 * BullMQ job id of a delivery's next attempt, derived from its Postgres state. The first attempt
 * uses the delivery id itself; later ones get their own ids (BullMQ keeps finished jobs and would
 * ignore an add with a used id). Deterministic, so the reconciler can ask "does it exist?" and the
 * handler can tell a stale duplicate from the attempt that is due.
 */
export function webhookJobId(d: Pick<WebhookDeliveryRow, 'id' | 'redeliveries' | 'schedule_attempts'>): string {
  if (d.redeliveries === 0 && d.schedule_attempts === 0) return d.id;
  return `${d.id}-r${d.redeliveries}-a${d.schedule_attempts + 1}`;
}

/** Events a job subscribed to; `webhook_events` null means the defaults (the final events). */
export function subscribedEvents(job: Pick<JobRow, 'webhook_events'>): readonly string[] {
  return job.webhook_events ?? DEFAULT_WEBHOOK_EVENTS;
}

/**
 * Whether a webhook body carries the job's result: only an inline result of at most `maxBytes` of
 * JSON. A chunked (batch) result never is, whatever its size: `jobs.result` then holds only its
 * header, and the body's `links.result` points to the stream.
 */
export function inlinesResult(job: Pick<JobRow, 'result' | 'result_chunked'>, maxBytes: number): boolean {
  if (job.result_chunked) return false;
  return job.result == null || Buffer.byteLength(JSON.stringify(job.result)) <= maxBytes;
}

export interface WebhookEmitterDeps {
  pool: Pool;
  queues: QueueSet;
  webhooks: WebhookRepository;
  /** Results bigger than this (bytes of JSON) are left out of the body; `links.result` points to them. */
  maxInlineResultBytes: number;
  logger?: Logger;
  /** `reconcile` leaves deliveries alone until they are this overdue (default 30 s). */
  reconcileGraceSeconds?: number;
  /** At most this many deliveries per `reconcile` call (default 500). */
  reconcileBatch?: number;
}

export function createWebhookEmitter(deps: WebhookEmitterDeps) {
  const grace = deps.reconcileGraceSeconds ?? 30;
  const batch = deps.reconcileBatch ?? 500;

  async function add(d: Pick<WebhookDeliveryRow, 'id' | 'redeliveries' | 'schedule_attempts' | 'next_attempt_at'>): Promise<void> {
    const delay = d.next_attempt_at ? Math.max(0, d.next_attempt_at.getTime() - Date.now()) : 0;
    await enqueueJob(deps.queues, 'webhook', { deliveryId: d.id }, { jobId: webhookJobId(d), delay });
  }

  return {
    /**
     * Writes the delivery for `event` inside `tx` (the transaction that writes the job's new state)
     * when the job has a webhook URL and subscribed to the event. Returns the delivery id, or null.
     * Pass the job row as it is after the state change: the body carries it.
     */
    async record(tx: Queryable, job: JobRow, event: WebhookEvent): Promise<string | null> {
      if (!job.webhook_url || !subscribedEvents(job).includes(event)) return null;
      const payload = {
        type: event,
        timestamp: new Date().toISOString(),
        data: toJobResource(job, { includeResult: inlinesResult(job, deps.maxInlineResultBytes) }),
      };
      const id = newDeliveryId();
      const row = await deps.webhooks.insertDelivery(
        { id, userId: job.user_id, jobId: job.id, url: job.webhook_url, eventType: event, payload },
        tx,
      );
      // A conflict means this event was already recorded (a retried handler): nothing new to send.
      return row ? row.id : null;
    },

    /**
     * After commit: wakes the webhook queue for these deliveries. Redis errors are logged, not
     * thrown: the job's state is already committed and `reconcile` re-adds what is missing.
     */
    async enqueue(deliveryIds: readonly (string | null | undefined)[]): Promise<void> {
      for (const deliveryId of deliveryIds) {
        if (!deliveryId) continue;
        try {
          await enqueueJob(deps.queues, 'webhook', { deliveryId }, { jobId: deliveryId });
        } catch (err) {
          deps.logger?.warn({ delivery_id: deliveryId, err: (err as Error).message }, 'could not enqueue webhook; reconcile will');
        }
      }
    },

    /** Re-queues one delivery's next attempt (after a redelivery reset). Throws on Redis errors. */
    async enqueueNext(delivery: WebhookDeliveryRow): Promise<void> {
      await add(delivery);
    },

    /**
     * Re-adds the BullMQ job of every overdue pending delivery whose job is missing (Redis flushed,
     * worker killed between the Postgres write and the add) or ended without moving the delivery
     * on. Returns how many were re-queued. Safe to run from several workers: job ids dedupe.
     */
    async reconcile(): Promise<number> {
      const overdue = await deps.webhooks.listOverdue(grace, batch);
      let requeued = 0;
      for (const d of overdue) {
        try {
          // A copy that ended while the delivery is still at this step (the handler threw on a DB error) is replaced.
          if (await ensureQueued(deps.queues.webhook, webhookJobId(d), () => add(d))) requeued++;
        } catch (err) {
          deps.logger?.warn({ delivery_id: d.id, err: (err as Error).message }, 'could not re-enqueue webhook');
        }
      }
      if (requeued) deps.logger?.info({ requeued }, 'webhook deliveries re-enqueued');
      return requeued;
    },
  };
}

export type WebhookEmitter = ReturnType<typeof createWebhookEmitter>;
