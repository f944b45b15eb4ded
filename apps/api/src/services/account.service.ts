import type { KeyCache } from './key-cache.js';
import type { KeyRing } from '@tabpfn-jobs/shared/crypto';
import type { Pool } from '@tabpfn-jobs/shared/db';
import type { JobLifecycle } from '@tabpfn-jobs/shared/jobs';
import type { Logger } from '@tabpfn-jobs/shared/logger';
import type { AccountRepository, UserRepository } from '@tabpfn-jobs/shared/repositories';
import { createTokenReader } from '@tabpfn-jobs/shared/crypto';
import { withTransactionRetry } from '@tabpfn-jobs/shared/db';
import { NotFoundError } from '@tabpfn-jobs/shared/errors';
import type { Usage } from '@tabpfn-jobs/tabpfn';
import { type TabPFNFor, upstreamToAppError } from './upstream.js';

export interface AccountServiceDeps {
  pool: Pool;
  users: UserRepository;
  accounts: AccountRepository;
  keyRing: KeyRing;
  tabpfnFor: TabPFNFor;
  /** Takes the account's active jobs out of the queue and stops running ones. */
  lifecycle: Pick<JobLifecycle, 'abandon'>;
  logger: Logger;
  /** Upper bound on the best-effort upstream cleanup when an account is deleted. */
  upstreamCleanupMs?: number;
  /** Cached keys of a deleted account stop working in every api process (key-cache.ts). */
  keys?: Pick<KeyCache, 'revokeUser'>;
}

export function createAccountService(deps: AccountServiceDeps) {
  const readToken = createTokenReader(deps);
  async function tokenOf(userId: string): Promise<string> {
    const token = await readToken(userId);
    if (token === undefined) throw new NotFoundError('account_not_found', 'The account no longer exists.');
    return token;
  }

  return {
    async me(userId: string) {
      const user = await deps.users.findById(userId);
      if (!user) throw new NotFoundError('account_not_found', 'The account no longer exists.');
      return user;
    },

    /** Own counts plus upstream's usage report. */
    async usage(userId: string) {
      const token = await tokenOf(userId);
      const [counts, models] = await Promise.all([deps.accounts.jobCounts(userId), deps.accounts.modelCount(userId)]);
      let upstream: Usage;
      try {
        upstream = await deps.tabpfnFor(token).getUsage();
      } catch (err) {
        throw upstreamToAppError(err);
      }
      return { upstream, counts, models };
    },

    /**
     * Deleting the row revokes every key at once and cascades to models, datasets, jobs and results.
     * Queued BullMQ entries are removed; a running job finds its row gone and stops. Upstream datasets
     * are deleted best-effort after the account is gone, within a bounded time.
     */
    async deleteAccount(userId: string): Promise<void> {
      const token = await tokenOf(userId);
      const { active, trainSets } = await withTransactionRetry(deps.pool, async (tx) => {
        const active = await deps.accounts.activeJobs(userId, tx);
        const trainSets = await deps.accounts.upstreamTrainSetIds(userId, tx);
        await deps.users.delete(userId, tx);
        return { active, trainSets };
      });
      await deps.keys?.revokeUser(userId);
      // Queued jobs leave the queue; running ones are told to stop, so no upstream call keeps using the token.
      await deps.lifecycle.abandon(active);
      if (trainSets.length) {
        const client = deps.tabpfnFor(token);
        const signal = AbortSignal.timeout(deps.upstreamCleanupMs ?? 5_000);
        const results = await Promise.allSettled(trainSets.map((id) => client.deleteDataset(id, signal)));
        const failed = results.filter((r) => r.status === 'rejected').length;
        if (failed) deps.logger.warn({ user_id: userId, failed, total: trainSets.length }, 'upstream dataset cleanup incomplete');
      }
    },
  };
}

export type AccountService = ReturnType<typeof createAccountService>;
