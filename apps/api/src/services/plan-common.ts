import type { Task } from '@tabpfn-jobs/shared/domain';
import { ValidationError } from '@tabpfn-jobs/shared/errors';

/** The fit key and the predict cache key (shared with the worker, which sets the key of a fit stored as CSV cells). */
export { keyOf } from '@tabpfn-jobs/shared/crypto';

/** `balance_probabilities` is a classifier option; a regression asking for it is refused rather than ignored. */
export function refuseClassifierOptions(task: Task, config: Record<string, unknown> | undefined): void {
  if (task === 'regression' && config?.balance_probabilities !== undefined) {
    throw new ValidationError([{ field: 'config.balance_probabilities', message: 'applies to classification only' }]);
  }
}
