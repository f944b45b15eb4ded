import { type Pool, withTransaction } from '@tabpfn-jobs/shared/db';
import { assertOwned } from '@tabpfn-jobs/shared/domain';
import { NotFoundError, ServiceUnavailableError } from '@tabpfn-jobs/shared/errors';
import type { Logger } from '@tabpfn-jobs/shared/logger';
import type { JobRepository, WebhookAttemptRow, WebhookDeliveryRow, WebhookRepository } from '@tabpfn-jobs/shared/repositories';
import type { WebhookEmitter, WebhookSecretStore } from '@tabpfn-jobs/shared/webhooks';

/**
 * Webhook rules for the API: the account's signing secret (lazy create, rotate with overlap), a
 * job's delivery log, and replays. Ownership is checked here: 404 for an unknown job, 403 for
 * another account's.
 */
export interface WebhookServiceDeps {
  pool: Pool;
  jobs: JobRepository;
  webhooks: WebhookRepository;
  secrets: WebhookSecretStore;
  emitter: WebhookEmitter;
  logger: Logger;
}

/** What routes may know of deliveries and attempts (routes never reach repositories themselves). */
export type WebhookDelivery = WebhookDeliveryRow;
export type WebhookAttempt = WebhookAttemptRow;
export type DeliveryWithAttempts = WebhookDeliveryRow & { attempt_log: WebhookAttemptRow[] };

export function createWebhookService(deps: WebhookServiceDeps) {
  const ownedJob = async (userId: string, jobId: string) => assertOwned(await deps.jobs.findById(jobId), userId, 'job');

  return {
    secret: (userId: string) => deps.secrets.current(userId),
    rotateSecret: (userId: string) => deps.secrets.rotate(userId),

    async deliveries(userId: string, jobId: string): Promise<DeliveryWithAttempts[]> {
      await ownedJob(userId, jobId);
      const deliveries = await deps.webhooks.listDeliveriesForJob(jobId);
      const attempts = await deps.webhooks.listAttemptsForDeliveries(deliveries.map((d) => d.id));
      return deliveries.map((d) => ({ ...d, attempt_log: attempts.filter((a) => a.delivery_id === d.id) }));
    },

    /**
     * Sends the job's deliveries again (or one, by id) with the same webhook-id and body, starting a
     * fresh retry schedule. The reset commits first; if Redis is down the reconciler sends it later,
     * but the caller hears 503 so it knows the replay is not under way yet.
     */
    async redeliver(userId: string, jobId: string, deliveryId?: string): Promise<WebhookDeliveryRow[]> {
      await ownedJob(userId, jobId);
      const all = await deps.webhooks.listDeliveriesForJob(jobId);
      const chosen = deliveryId ? all.filter((d) => d.id === deliveryId) : all;
      if (deliveryId && chosen.length === 0) throw new NotFoundError('delivery_not_found', 'No such delivery for this job.');
      const { reset, rows } = await withTransaction(deps.pool, async (tx) => {
        const reset: WebhookDeliveryRow[] = [];
        const rows: WebhookDeliveryRow[] = [];
        for (const d of chosen) {
          const row = await deps.webhooks.resetForRedelivery(d.id, tx);
          if (row) reset.push(row);
          // Already due (a redelivery in progress): it is sent once, by the round under way.
          rows.push(row ?? d);
        }
        return { reset, rows };
      });
      try {
        for (const d of reset) await deps.emitter.enqueueNext(d);
      } catch (err) {
        deps.logger.warn({ job_id: jobId, err: (err as Error).message }, 'could not enqueue redelivery');
        throw new ServiceUnavailableError('queue_unavailable', 'The redelivery is recorded and will be sent once the queue is back.');
      }
      return rows;
    },
  };
}

export type WebhookService = ReturnType<typeof createWebhookService>;
