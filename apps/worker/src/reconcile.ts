import type { JobLifecycle } from '@tabpfn-jobs/shared/jobs';
import type { Logger } from '@tabpfn-jobs/shared/logger';
import type { DatasetRepository, IdempotencyRepository, JobRepository, WebhookRepository } from '@tabpfn-jobs/shared/repositories';

export interface ReconcileDeps {
  jobs: JobRepository;
  lifecycle: Pick<JobLifecycle, 'requeueIfLost'>;
  logger: Logger;
  /** Only jobs untouched this long are checked, to leave ones being enqueued right now alone. */
  minAgeSeconds: number;
  /** Jobs checked per tick (default 1000). */
  batchSize?: number;
}

/**
 * Postgres is the record, Redis the transport: every active job in Postgres must have a live BullMQ
 * job. Re-enqueues those Redis lost (flush, restart, enqueue failure after commit) or holds only as
 * finished while Postgres still says active.
 */
export function createReconciler(deps: ReconcileDeps) {
  const batch = deps.batchSize ?? 1000;
  // Where the previous tick stopped; back to the start once a tick reaches the end.
  let after: { pageKey: string; id: string } | undefined;
  return async function reconcile(): Promise<{ checked: number; enqueued: number }> {
    const stale = await deps.jobs.listStaleActive(deps.minAgeSeconds, batch, after);
    const last = stale[stale.length - 1];
    after = stale.length === batch && last ? { pageKey: last.page_key, id: last.id } : undefined;
    let enqueued = 0;
    for (const j of stale) if (await deps.lifecycle.requeueIfLost(j)) enqueued++;
    if (enqueued) deps.logger.info({ enqueued, checked: stale.length }, 'reconciler re-enqueued jobs');
    return { checked: stale.length, enqueued };
  };
}

export function createRetention(deps: {
  jobs: JobRepository;
  webhooks: Pick<WebhookRepository, 'removeInlinedResults'>;
  datasets: DatasetRepository;
  idempotency: IdempotencyRepository;
  resultRetentionSeconds: number;
  datasetRetentionSeconds: number;
}) {
  return async function retention() {
    const expired = await deps.jobs.removeExpiredResults(deps.resultRetentionSeconds, 1000);
    await deps.webhooks.removeInlinedResults(expired);
    const results = expired.length;
    const datasets = await deps.datasets.removeExpiredData(deps.datasetRetentionSeconds, 1000);
    // An upload that failed half-way leaves parts no job refers to; an hour outlasts any live upload.
    const abandoned = await deps.datasets.deleteIncomplete(3_600);
    const keys = await deps.idempotency.deleteExpired();
    return { results, datasets, abandoned, keys };
  };
}
