import type { Logger } from '@tabpfn-jobs/shared/logger';
import type { JobHandler } from './handler.js';

export interface MaintenanceDeps {
  logger: Logger;
  tasks?: Partial<Record<'reconcile' | 'retention' | 'heartbeat', () => Promise<unknown>>>;
}

export function createMaintenanceHandler(deps: MaintenanceDeps): JobHandler<'maintenance'> {
  return async ({ task }) => {
    const run = deps.tasks?.[task];
    if (!run) {
      deps.logger.debug({ task }, 'maintenance tick');
      return;
    }
    const result = await run();
    deps.logger.debug({ task, result }, 'maintenance task done');
  };
}
