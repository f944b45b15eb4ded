import { type KeyRing, createTokenReader } from '@tabpfn-jobs/shared/crypto';
import { UnauthorizedError } from '@tabpfn-jobs/shared/errors';
import type { UserRepository } from '@tabpfn-jobs/shared/repositories';
import type { Settings } from '@tabpfn-jobs/tabpfn';
import type { TabPFNFor } from './upstream.js';

const SETTINGS_TIMEOUT_MS = 3_000;
const SETTINGS_RETRY_MS = 60_000;

/**
 * Upstream's limits for a submit. They are server settings, not per account, and the TabPFN clients
 * cache them for an hour per base URL, so the cached copy is read first, without the user's token;
 * only on a miss is the token read and the settings fetched, waiting at most 3 s. After a failed fetch
 * the shared cache holds nothing fresh: for a minute the stale copy or null (no limit checks) is used
 * without another fetch, so an upstream outage does not cost every submit the 3 s.
 */
export function createSettingsReader(deps: { users: Pick<UserRepository, 'findById'>; keyRing: KeyRing; tabpfnFor: TabPFNFor }) {
  const tabpfnToken = createTokenReader(deps);
  let failedAt = Number.NEGATIVE_INFINITY;
  return async function settingsFor(userId: string): Promise<Settings | null> {
    const cached = deps.tabpfnFor.cachedSettings();
    if (cached) return cached;
    if (Date.now() - failedAt < SETTINGS_RETRY_MS) return deps.tabpfnFor.cachedSettings({ stale: true }) ?? null;
    const token = await tabpfnToken(userId);
    // Deleted after this request authenticated: its key went with it.
    if (token === undefined) throw new UnauthorizedError('account_deleted', 'The account was deleted while this request ran.');
    const value = await deps
      .tabpfnFor(token)
      .getSettings(AbortSignal.timeout(SETTINGS_TIMEOUT_MS))
      .catch(() => null);
    if (!deps.tabpfnFor.cachedSettings()) failedAt = Date.now();
    return value;
  };
}
