import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Router } from 'express';
import type { QueueSet } from '@tabpfn-jobs/shared';

export const QUEUE_DASHBOARD_PATH = '/admin/queues';

/** bull-board over every queue. Mount it behind `requireAdmin`: it can retry and delete jobs. */
export function createQueueDashboard(queues: QueueSet): Router {
  const adapter = new ExpressAdapter();
  adapter.setBasePath(QUEUE_DASHBOARD_PATH);
  createBullBoard({
    queues: Object.values(queues).map((q) => new BullMQAdapter(q)),
    serverAdapter: adapter,
    options: { uiConfig: { boardTitle: 'tabpfn-jobs queues' } },
  });
  return adapter.getRouter() as Router;
}
