import { sha256Hex } from '@tabpfn-jobs/shared/crypto';
import type { Task } from '@tabpfn-jobs/shared/domain';
import { ValidationError } from '@tabpfn-jobs/shared/errors';

/** JSON with every object's keys sorted, so equal values give equal text whatever order their keys came in. */
const canonical = (v: unknown) =>
  JSON.stringify(v, (_k, val) =>
    val && typeof val === 'object' && !Array.isArray(val) ? Object.fromEntries(Object.entries(val).sort()) : val,
  );

/** The fit key and the predict cache key: a hash of the canonical JSON of what decides the result. */
export const keyOf = (v: unknown): string => sha256Hex(canonical(v));

/** `balance_probabilities` is a classifier option; a regression asking for it is refused rather than ignored. */
export function refuseClassifierOptions(task: Task, config: Record<string, unknown> | undefined): void {
  if (task === 'regression' && config?.balance_probabilities !== undefined) {
    throw new ValidationError([{ field: 'config.balance_probabilities', message: 'applies to classification only' }]);
  }
}
