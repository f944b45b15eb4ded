import type { TestSetDigest } from '@tabpfn-jobs/shared/jobs';
import type { ModelRow } from '@tabpfn-jobs/shared/repositories';
import type { TestSetInfo } from '@tabpfn-jobs/tabpfn';

/** Test sets larger than this are not announced ahead: they are likely split into chunks, each prepared on its own. */
export const MAX_ANNOUNCED_BYTES = 4 * 1024 * 1024;

/** A predict's first upstream request as guessed before its reads answer. */
export interface PredictGuess {
  token: string;
  info: TestSetInfo;
}

/**
 * What this worker's last reads said about accounts' TabPFN tokens and models' fitted sets. With the
 * queue payload's description of the test set, that is all upstream's first request of a predict needs,
 * so it can leave while the job's own reads are in flight. A guess is never trusted: the reads still
 * decide, and a prepare made on a stale guess (a changed token, a re-fitted set) is not used.
 */
export function createPredictHints(maxEntries = 10_000) {
  const tokens = new Map<string, string>();
  const fittedSets = new Map<string, string>();
  const remember = (map: Map<string, string>, key: string, value: string) => {
    // Bounded without bookkeeping: a worker that saw this many accounts starts learning afresh.
    if (map.size >= maxEntries && !map.has(key)) map.clear();
    map.set(key, value);
  };
  return {
    guess(ids: { userId?: string; modelId?: string }, testSet: TestSetDigest | undefined): PredictGuess | undefined {
      if (!testSet || !ids.userId || !ids.modelId || testSet.sizeBytes > MAX_ANNOUNCED_BYTES) return undefined;
      const token = tokens.get(ids.userId);
      const fittedTrainSetId = fittedSets.get(ids.modelId);
      if (!token || !fittedTrainSetId) return undefined;
      return { token, info: { fittedTrainSetId, sizeBytes: testSet.sizeBytes, crc32c: testSet.crc32c } };
    },

    /** What a job's reads found: the account's token and, once fitted, its model's set. */
    learn(userId: string, token: string, model: Pick<ModelRow, 'id' | 'status' | 'upstream_fitted_train_set_id'>): void {
      remember(tokens, userId, token);
      if (model.status === 'ready' && model.upstream_fitted_train_set_id) remember(fittedSets, model.id, model.upstream_fitted_train_set_id);
      else fittedSets.delete(model.id);
    },
  };
}

