import type { ModelRow } from '@tabpfn-jobs/shared/repositories';

/** What a predict's submit reads of its model. */
export type SubmitModel = Pick<ModelRow, 'id' | 'user_id' | 'status' | 'error' | 'task' | 'fit_key' | 'n_samples' | 'feature_names' | 'feature_types'>;

const DEFAULT_MAX_ENTRIES = 10_000;
const DEFAULT_TTL_MS = 5 * 60_000;

/**
 * Ready models by id, per api process, so a predict's submit need not read its model again. What a
 * submit reads of a ready model never changes (its owner, task, fit key, columns and their types); the
 * one thing that can still happen to it is deletion, and the predict's insert catches that (the job's
 * foreign key: 404). So a stale entry is never wrong, and a deletion in this process evicts it at once.
 * Only ready models enter: a pending one's status is read fresh. Bounded, the oldest entry out first.
 */
export function createReadyModelCache(opts: { maxEntries?: number; ttlMs?: number } = {}) {
  const maxEntries = opts.maxEntries ?? DEFAULT_MAX_ENTRIES;
  const ttlMs = opts.ttlMs ?? DEFAULT_TTL_MS;
  const entries = new Map<string, { model: SubmitModel; until: number }>();
  return {
    get(id: string): SubmitModel | undefined {
      const hit = entries.get(id);
      if (!hit) return undefined;
      if (hit.until > Date.now()) return hit.model;
      entries.delete(id);
      return undefined;
    },
    remember(model: ModelRow): void {
      if (model.status !== 'ready' || ttlMs <= 0) return;
      if (entries.size >= maxEntries) entries.delete(entries.keys().next().value as string);
      const { id, user_id, status, error, task, fit_key, n_samples, feature_names, feature_types } = model;
      entries.set(id, { model: { id, user_id, status, error, task, fit_key, n_samples, feature_names, feature_types }, until: Date.now() + ttlMs });
    },
    forget(id: string): void {
      entries.delete(id);
    },
  };
}

export type ReadyModelCache = ReturnType<typeof createReadyModelCache>;
