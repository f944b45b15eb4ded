import { createHash } from 'node:crypto';
import type { RedisConnection } from '@tabpfn-jobs/shared/redis';
import { parseDuration } from '@tabpfn-jobs/shared/config';

export type CallKind = 'fit' | 'predict' | 'upload';

export interface LimitRule {
  kind: CallKind;
  limit: number;
  windowMs: number;
}

/** `fit:60/1m,fit:1000/1h,predict:60/1m,…` → rules. */
export function parseLimitRules(spec: string): LimitRule[] {
  return spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((part) => {
      const m = /^(fit|predict|upload):(\d+)\/(.+)$/.exec(part);
      if (!m) throw new Error(`bad upstream limit "${part}": expected kind:count/window, e.g. fit:60/1m`);
      return { kind: m[1] as CallKind, limit: Number(m[2]), windowMs: parseDuration(m[3]!) };
    });
}

/**
 * Sliding-window log per TabPFN token, in Redis so every worker process shares it. A sliding window
 * (rather than fixed windows) keeps us under upstream's limit whatever its window alignment is.
 * All rules of a call are checked and recorded atomically: either every window has room and the call
 * is counted in each, or nothing is counted and the caller learns how long to wait.
 * A script may only touch keys of one Redis Cluster slot: every key here starts with the key prefix,
 * whose hash tag (required with REDIS_CLUSTER_NODES) puts them all in the prefix's slot.
 */
const SCRIPT = `
local now = tonumber(ARGV[1])
local member = ARGV[2]
local n = #KEYS
local wait = 0
for i = 1, n do
  local limit = tonumber(ARGV[2 + (i - 1) * 2 + 1])
  local window = tonumber(ARGV[2 + (i - 1) * 2 + 2])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  if redis.call('ZCARD', KEYS[i]) >= limit then
    local oldest = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
    local w = tonumber(oldest[2]) + window - now
    if w > wait then wait = w end
  end
end
if wait > 0 then return wait end
for i = 1, n do
  local window = tonumber(ARGV[2 + (i - 1) * 2 + 2])
  redis.call('ZADD', KEYS[i], now, member)
  redis.call('PEXPIRE', KEYS[i], window)
end
return 0
`;

/** Moves a counted call's record to the time it is sent (only where it was counted: `XX`, after ZSCORE). */
const SENT_SCRIPT = `
local now = tonumber(ARGV[1])
local member = ARGV[2]
for i = 1, #KEYS do
  if redis.call('ZSCORE', KEYS[i], member) then
    redis.call('ZADD', KEYS[i], 'XX', now, member)
    redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[2 + i]))
  end
end
return 0
`;

export function createTokenLimiter(deps: { redis: RedisConnection; prefix: string; rules: LimitRule[]; marginMs?: number }) {
  const margin = deps.marginMs ?? 250;
  let seq = 0;
  const keysOf = (token: string, rules: LimitRule[]) => {
    const id = createHash('sha256').update(token).digest('hex').slice(0, 32);
    return rules.map((r) => `${deps.prefix}:upstream-limit:${id}:${r.kind}:${r.windowMs}`);
  };
  const rulesFor = (kinds: CallKind[]) => deps.rules.filter((r) => kinds.includes(r.kind));
  return {
    /**
     * 0 when the calls may go now (and are counted), else milliseconds to wait. `ticket` names the
     * counted calls, for `sent`.
     */
    async acquire(token: string, kinds: CallKind[], ticket = `${process.pid}:${Date.now()}:${seq++}`): Promise<number> {
      const rules = rulesFor(kinds);
      if (!rules.length) return 0;
      const keys = keysOf(token, rules);
      const args = [Date.now(), ticket, ...rules.flatMap((r) => [r.limit, r.windowMs + margin])];
      const wait = (await deps.redis.eval(SCRIPT, keys.length, ...keys, ...args)) as number;
      return Number(wait);
    },

    /**
     * The calls of `kinds` counted under `ticket` are being sent now: their records move to this time.
     * Upstream counts a call when it arrives, and a job admitted now may send its fit only after
     * uploading for seconds; counted at admission, two calls sent close together could fall in one of
     * upstream's windows while looking a window apart here.
     */
    async sent(token: string, kinds: CallKind[], ticket: string, at = Date.now()): Promise<void> {
      const rules = rulesFor(kinds);
      if (!rules.length) return;
      const keys = keysOf(token, rules);
      await deps.redis.eval(SENT_SCRIPT, keys.length, ...keys, at, ticket, ...rules.map((r) => r.windowMs + margin));
    },
  };
}

export type TokenLimiter = ReturnType<typeof createTokenLimiter>;
