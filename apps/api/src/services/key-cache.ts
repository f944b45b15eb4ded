import type { RedisConnection } from '@tabpfn-jobs/shared/redis';
import type { Logger } from '@tabpfn-jobs/shared/logger';

export interface CachedKey {
  userId: string;
  keyId: string;
  lastUsedAt: Date | null;
}

const channel = (prefix: string) => `${prefix}:api-key-revocations`;

/**
 * Recently authenticated API keys, per api process, by the key's digest: a client polling a job does
 * not pay a key lookup per request. A revocation (a key, or every key of a deleted account) evicts at
 * once in the process that made it and, through a Redis broadcast, in every other api process; if the
 * broadcast is lost an entry still expires after `ttlMs`. Only valid keys are kept (an unknown or
 * revoked key is looked up every time).
 */
export function createKeyCache(opts: { ttlMs: number; maxEntries?: number; publisher: RedisConnection; subscriber?: RedisConnection; prefix: string; logger: Logger }) {
  const maxEntries = opts.maxEntries ?? 10_000;
  const entries = new Map<string, CachedKey & { expiresAt: number }>();

  function evict(message: string): void {
    const [kind, id] = [message.slice(0, message.indexOf(':')), message.slice(message.indexOf(':') + 1)];
    for (const [digest, e] of entries) if ((kind === 'key' && e.keyId === id) || (kind === 'user' && e.userId === id)) entries.delete(digest);
  }

  const sub = opts.ttlMs > 0 ? opts.subscriber : undefined;
  if (sub) {
    sub.subscribe(channel(opts.prefix)).catch((err) => opts.logger.warn({ err: (err as Error).message }, 'key revocation broadcasts unavailable; cached keys expire by age'));
    sub.on('message', (ch: string, message: string) => {
      if (ch === channel(opts.prefix)) evict(message);
    });
    // Broadcasts missed while disconnected cannot be replayed: start over.
    sub.on('ready', () => entries.clear());
  }

  async function revoke(message: string): Promise<void> {
    evict(message);
    if (opts.ttlMs > 0) await opts.publisher.publish(channel(opts.prefix), message).catch((err) => opts.logger.warn({ err: (err as Error).message }, 'key revocation broadcast failed'));
  }

  return {
    get(digest: string): CachedKey | undefined {
      const e = entries.get(digest);
      if (!e) return undefined;
      if (e.expiresAt > Date.now()) return e;
      entries.delete(digest);
      return undefined;
    },
    set(digest: string, key: CachedKey): void {
      if (opts.ttlMs <= 0) return;
      // Oldest first out: a Map iterates in insertion order.
      if (entries.size >= maxEntries) entries.delete(entries.keys().next().value!);
      entries.set(digest, { ...key, expiresAt: Date.now() + opts.ttlMs });
    },
    revokeKey: (keyId: string) => revoke(`key:${keyId}`),
    revokeUser: (userId: string) => revoke(`user:${userId}`),
    close(): void {
      sub?.disconnect();
    },
  };
}

export type KeyCache = ReturnType<typeof createKeyCache>;
