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
local want = tonumber(ARGV[3])
local n = #KEYS
local wait = 0
local grant = want
for i = 1, n do
  local limit = tonumber(ARGV[3 + (i - 1) * 2 + 1])
  local window = tonumber(ARGV[3 + (i - 1) * 2 + 2])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  local room = limit - redis.call('ZCARD', KEYS[i])
  if room <= 0 then
    local oldest = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
    local w = tonumber(oldest[2]) + window - now
    if w > wait then wait = w end
  elseif room < 2 * want then
    grant = 1
  end
end
if wait > 0 then return {wait, 0} end
for i = 1, n do
  local window = tonumber(ARGV[3 + (i - 1) * 2 + 2])
  if grant == 1 and want == 1 then
    redis.call('ZADD', KEYS[i], now, member)
  else
    for j = 1, grant do redis.call('ZADD', KEYS[i], now, member .. '#' .. j) end
  end
  redis.call('PEXPIRE', KEYS[i], window)
end
return {0, grant}
`;

/** Forgets leased records that were never used (see \`admit\`). */
const RETURN_SCRIPT = `
for i = 1, #KEYS do
  for j = 1, #ARGV do redis.call('ZREM', KEYS[i], ARGV[j]) end
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

export interface LeaseOptions {
  /** Calls one admission may count ahead for this process (only while the window has room for twice as many). */
  size: number;
  /** How long calls counted ahead wait here for a job before they are given back. */
  ms: number;
}

export const DEFAULT_LEASE: LeaseOptions = { size: 8, ms: 250 };

/**
 * A call sent this soon after its record was made needs no move (`sent`): the windows are kept longer
 * than upstream's by a margin (250 ms unless configured) that covers it, and moving it costs a round
 * trip just before the call.
 */
export const RESTAMP_AFTER_MS = 100;

export function createTokenLimiter(deps: { redis: RedisConnection; prefix: string; rules: LimitRule[]; marginMs?: number; lease?: LeaseOptions }) {
  const margin = deps.marginMs ?? 250;
  const lease = deps.lease ?? DEFAULT_LEASE;
  let seq = 0;
  const keysOf = (token: string, rules: LimitRule[]) => {
    const id = createHash('sha256').update(token).digest('hex').slice(0, 32);
    return rules.map((r) => `${deps.prefix}:upstream-limit:${id}:${r.kind}:${r.windowMs}`);
  };
  const rulesFor = (kinds: CallKind[]) => deps.rules.filter((r) => kinds.includes(r.kind));
  /** Counts `want` calls under `ticket` (as `ticket#1…#n` when several): the wait, or how many were counted. */
  async function count(token: string, rules: LimitRule[], ticket: string, want: number): Promise<{ wait: number; granted: number }> {
    const keys = keysOf(token, rules);
    const args = [Date.now(), ticket, want, ...rules.flatMap((r) => [r.limit, r.windowMs + margin])];
    const [wait, granted] = (await deps.redis.eval(SCRIPT, keys.length, ...keys, ...args)) as [number, number];
    return { wait: Number(wait), granted: Number(granted) };
  }
  const leases = createLeases(lease.ms, (key, tickets) => {
    const [token, kinds] = key;
    const rules = rulesFor(kinds);
    void deps.redis.eval(RETURN_SCRIPT, rules.length, ...keysOf(token, rules), ...tickets).catch(() => undefined);
  });
  return {
    /**
     * 0 when the calls may go now (and are counted), else milliseconds to wait. `ticket` names the
     * counted calls, for `sent`.
     */
    async acquire(token: string, kinds: CallKind[], ticket = `${process.pid}:${Date.now()}:${seq++}`): Promise<number> {
      const rules = rulesFor(kinds);
      if (!rules.length) return 0;
      return (await count(token, rules, ticket, 1)).wait;
    },

    /**
     * `acquire` for a job, which learns its ticket: a busy worker counts up to `lease.size` calls at a
     * time while the window has ample room and hands them to its next jobs for `lease.ms`, so most
     * admissions need no round trip to Redis. A counted call not handed out in time is given back, and
     * one handed out moves to when it is sent (`sent`), as any other: the count stays exact.
     */
    async admit(token: string, kinds: CallKind[]): Promise<Admission> {
      const rules = rulesFor(kinds);
      const at = Date.now();
      const ticket = `${process.pid}:${at}:${seq++}`;
      if (!rules.length) return { wait: 0, ticket, at };
      const held = leases.take([token, kinds]);
      if (held) return { wait: 0, ...held };
      const { wait, granted } = await count(token, rules, ticket, lease.size);
      if (wait > 0) return { wait, ticket, at };
      const tickets = Array.from({ length: granted }, (_, j) => ({ ticket: `${ticket}#${j + 1}`, at }));
      if (tickets.length > 1) leases.hold([token, kinds], tickets.slice(1));
      return { wait: 0, ...tickets[0]! };
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

/** An admission: 0 or the wait, and the counted calls' ticket with the time their records say (see `sent`). */
export interface Admission {
  wait: number;
  ticket: string;
  at: number;
}

type LeaseKey = [token: string, kinds: CallKind[]];
type Held = { ticket: string; at: number };

/** Counted calls this process holds for its next jobs, per token and kinds, each given back when its time is up. */
function createLeases(ms: number, giveBack: (key: LeaseKey, tickets: string[]) => void) {
  const held = new Map<string, { key: LeaseKey; tickets: Held[]; timer: NodeJS.Timeout }>();
  const id = ([token, kinds]: LeaseKey) => `${kinds.join(',')}\n${token}`;
  return {
    take(key: LeaseKey): Held | undefined {
      const lease = held.get(id(key));
      const ticket = lease?.tickets.pop();
      if (lease && !lease.tickets.length) {
        clearTimeout(lease.timer);
        held.delete(id(key));
      }
      return ticket;
    },
    hold(key: LeaseKey, tickets: Held[]): void {
      const k = id(key);
      // Two admissions that both found nothing held: the later one's calls join the earlier lease.
      const lease = held.get(k);
      if (lease) return void lease.tickets.push(...tickets);
      const timer = setTimeout(() => {
        const lease = held.get(k);
        held.delete(k);
        if (lease?.tickets.length) giveBack(lease.key, lease.tickets.map((t) => t.ticket));
      }, ms);
      timer.unref();
      held.set(k, { key, tickets, timer });
    },
  };
}

