import { randomUUID } from 'node:crypto';
import { type KeyRing, generateApiKey, isWellFormedApiKey, sha256 } from '@tabpfn-jobs/shared/crypto';
import { type Pool, type PoolClient, withTransaction } from '@tabpfn-jobs/shared/db';
import { assertOwned } from '@tabpfn-jobs/shared/domain';
import { ConflictError, UnauthorizedError, UnprocessableError, accountGoneError } from '@tabpfn-jobs/shared/errors';
import type { ApiKeyRepository, UserRepository } from '@tabpfn-jobs/shared/repositories';
import type { KeyCache } from './key-cache.js';
import type { TabPFNFor } from './upstream.js';
import { upstreamToAppError } from './upstream.js';

export interface AuthServiceDeps {
  pool: Pool;
  users: UserRepository;
  apiKeys: ApiKeyRepository;
  keyRing: KeyRing;
  tabpfnFor: TabPFNFor;
  /** Write `last_used_at` at most this often per key. */
  touchIntervalSeconds?: number;
  /** Active keys per account; each has its own request budget, so they must not be unlimited. */
  maxApiKeys?: number;
  onTouchError?: (err: unknown) => void;
  /** Recently authenticated keys (key-cache.ts); revocations go through it to every api process. */
  keys?: KeyCache;
}

export interface Principal {
  userId: string;
  keyId: string;
}

export function createAuthService(deps: AuthServiceDeps) {
  const touchInterval = deps.touchIntervalSeconds ?? 60;
  const maxKeys = deps.maxApiKeys ?? 25;

  /** A new key for `userId`, inside `tx`, unless the account already has the most it may. */
  async function issueKey(userId: string, name: string | null, tx: PoolClient) {
    if ((await deps.apiKeys.lockAndCountActive(userId, tx)) >= maxKeys) {
      throw new ConflictError('too_many_api_keys', `This account has ${maxKeys} active API keys, the most it may have; revoke one first.`);
    }
    const key = generateApiKey();
    const row = await deps.apiKeys.insert({ userId, digest: key.digest, prefix: key.prefix, name }, tx);
    return { apiKey: key.key, row };
  }

  /** Throws the 422/503 the contract names; returns only for a token upstream accepts. */
  async function verifyUpstream(token: string): Promise<void> {
    let status: 'valid' | 'unverified' | 'invalid';
    try {
      status = await deps.tabpfnFor(token).verifyToken();
    } catch (err) {
      throw upstreamToAppError(err);
    }
    if (status === 'invalid')
      throw new UnprocessableError('tabpfn_token_invalid', 'TabPFN rejected this token.', {
        errors: [{ field: 'tabpfn_token', message: 'rejected by TabPFN' }],
      });
    if (status === 'unverified') {
      throw new UnprocessableError('tabpfn_email_unverified', 'The TabPFN account behind this token has not verified its email address.', {
        errors: [{ field: 'tabpfn_token', message: 'email address not verified' }],
      });
    }
  }

  return {
    /** Verifies the token upstream, then finds or creates its account and issues a new key. */
    async setup(token: string, keyName?: string) {
      await verifyUpstream(token);
      const digest = sha256(token);
      for (let attempt = 1; ; attempt++) {
        const id = randomUUID();
        try {
          return await withTransaction(deps.pool, async (tx) => {
            const { row, created } = await deps.users.insertOrGet(
              { id, tokenCiphertext: deps.keyRing.encrypt(token, id), tokenDigest: digest },
              tx,
            );
            const key = await issueKey(row.id, keyName ?? null, tx);
            return { userId: row.id, created, apiKey: key.apiKey, apiKeyRow: key.row };
          });
        } catch (err) {
          // The token's account was deleted (DELETE /v1/me) after it was found and before its new key
          // was written: the key's foreign key fails. The token is valid, so start over: a new account.
          if (attempt >= 3 || !accountGoneError(err)) throw err;
        }
      }
    },

    async authenticate(rawKey: string | undefined): Promise<Principal> {
      if (!rawKey) throw new UnauthorizedError('api_key_missing', 'Send your API key as "Authorization: Bearer tpk_…".');
      if (!isWellFormedApiKey(rawKey)) throw new UnauthorizedError('api_key_invalid', 'The API key is malformed.');
      const digest = sha256(rawKey);
      const cacheKey = digest.toString('base64');
      let key = deps.keys?.get(cacheKey);
      if (!key) {
        const row = await deps.apiKeys.findByDigest(digest);
        if (!row) throw new UnauthorizedError('api_key_invalid', 'The API key is not recognised.');
        if (row.revoked_at) throw new UnauthorizedError('api_key_revoked', 'The API key has been revoked.');
        key = { userId: row.user_id, keyId: row.id, lastUsedAt: row.last_used_at };
        deps.keys?.set(cacheKey, key);
      }
      if (!key.lastUsedAt || Date.now() - key.lastUsedAt.getTime() > touchInterval * 1000) {
        key.lastUsedAt = new Date();
        void deps.apiKeys.touch(key.keyId, touchInterval).catch((err) => deps.onTouchError?.(err));
      }
      return { userId: key.userId, keyId: key.keyId };
    },

    async createKey(userId: string, name?: string) {
      return withTransaction(deps.pool, (tx) => issueKey(userId, name ?? null, tx)).catch((err) => {
        throw accountGoneError(err) ?? err;
      });
    },

    listKeys(userId: string) {
      return deps.apiKeys.listForUser(userId);
    },

    async revokeKey(userId: string, keyId: string) {
      assertOwned(await deps.apiKeys.findById(keyId), userId, 'api_key');
      const revoked = (await deps.apiKeys.revoke(keyId))!;
      await deps.keys?.revokeKey(keyId);
      return revoked;
    },

    async replaceTabPFNToken(userId: string, token: string) {
      await verifyUpstream(token);
      const digest = sha256(token);
      const owner = await deps.users.findByTokenDigest(digest);
      if (owner && owner.id !== userId)
        throw new ConflictError('tabpfn_token_in_use', 'This TabPFN token already belongs to another account.');
      await deps.users.updateToken(userId, deps.keyRing.encrypt(token, userId), digest).catch((err) => {
        // Another account took the same token between the check and the write (unique digest index).
        if ((err as { code?: string }).code === '23505')
          throw new ConflictError('tabpfn_token_in_use', 'This TabPFN token already belongs to another account.');
        throw err;
      });
    },
  };
}

export type AuthService = ReturnType<typeof createAuthService>;
