import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { Router } from 'express';
import type { QueueSet } from '@tabpfn-jobs/shared/jobs';

export const QUEUE_DASHBOARD_PATH = '/admin/queues';

/**
 * bull-board's page links Google Fonts, so offline (or behind a strict egress policy) it renders
 * only after that request times out. Its CSS names system fallbacks, so the link is simply dropped.
 */
export function withoutExternalFonts(html: string): string {
  return html.replace(/<link\b[^>]*\bhref="https?:\/\/fonts\.(?:googleapis|gstatic)\.com[^"]*"[^>]*>\s*/g, '');
}

/** bull-board over every queue. Mount it behind `requireAdmin`: it can retry and delete jobs. */
export function createQueueDashboard(queues: QueueSet): Router {
  const adapter = new ExpressAdapter();
  adapter.setBasePath(QUEUE_DASHBOARD_PATH);
  createBullBoard({
    queues: Object.values(queues).map((q) => new BullMQAdapter(q)),
    serverAdapter: adapter,
    options: { uiConfig: { boardTitle: 'tabpfn-jobs queues' } },
  });
  const router = Router();
  router.use((_req, res, next) => {
    const send = res.send.bind(res);
    res.send = (body?: unknown) => send(typeof body === 'string' ? withoutExternalFonts(body) : body);
    next();
  });
  router.use(adapter.getRouter() as Router);
  return router;
}
