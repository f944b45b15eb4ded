export interface CostInput {
  trainRows: number;
  testRows: number;
  columns: number;
  nEstimators?: number | undefined;
  modelVersion?: string | undefined;
  /** Default `sublinear`. */
  v3CostModel?: V3CostModel | undefined;
}

export interface CostEstimate {
  tokens: number;
  pricingVersion: 'legacy_v2' | 'quota_v3';
}

/**
 * How v3 jobs are metered. The docs say v3 is charged by a sublinear function of the linear v2 units but
 * do not publish it, so both models here are assumptions:
 * - `linear`: the v2 formula with the v3 minimum. It overcharges large jobs: one 800k-row × 9-column
 *   predict (57.6M units) costs more than the whole 50M daily pool, so such a job is refused on an empty pool.
 * - `sublinear` (default): linear up to V3_KNEE units, then `V3_KNEE × sqrt(units / V3_KNEE)`. Small jobs
 *   cost what they did under `linear`; the knee is chosen so the largest job the v3 limits allow
 *   (1M rows × 200 columns × 8 estimators = 1.6e9 units → 40M tokens) still fits one daily pool.
 * Option `v3CostModel`, env `EMULATOR_V3_COST_MODEL`.
 */
export type V3CostModel = 'linear' | 'sublinear';
export const V3_COST_MODELS = ['linear', 'sublinear'] as const;
const V3_KNEE = 1_000_000;

function v3Units(linear: number, model: V3CostModel): number {
  if (model === 'linear' || linear <= V3_KNEE) return linear;
  return Math.round(V3_KNEE * Math.sqrt(linear / V3_KNEE));
}

/**
 * The metering docs' formula: `max(min, (train_rows + test_rows) × columns × n_estimators)`, n_estimators
 * defaulting to 8, with a 5 000 minimum for v2.x models and 10 000 for v3, whose units go through the
 * configured v3 cost model.
 */
export function estimateCost(input: CostInput): CostEstimate {
  const v3 = !input.modelVersion || input.modelVersion.startsWith('v3');
  const raw = (input.trainRows + input.testRows) * input.columns * (input.nEstimators ?? 8);
  if (!v3) return { tokens: Math.max(5_000, raw), pricingVersion: 'legacy_v2' };
  return { tokens: Math.max(10_000, v3Units(raw, input.v3CostModel ?? 'sublinear')), pricingVersion: 'quota_v3' };
}

interface Pools {
  day: string;
  daily: number;
  month: string;
  monthly: number;
}

export interface QuotaRefusal {
  message: string;
  retryAfterSeconds: number;
}

const DAY_MS = 86_400_000;
let cachedDay = Number.NaN;
let cachedDayKey = '';

/** `YYYY-MM-DD` (UTC) of `now`, formatted once per day: every predict asks twice. */
function dayKey(now: Date): string {
  const day = Math.floor(now.getTime() / DAY_MS);
  if (day !== cachedDay) {
    cachedDayKey = now.toISOString().slice(0, 10);
    cachedDay = day;
  }
  return cachedDayKey;
}

function nextMidnightUtc(now: Date): Date {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1));
}

function nextMonthUtc(now: Date): Date {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
}

/** Daily and monthly token pools per token, resetting at midnight UTC and on the 1st. */
export class UsageMeter {
  private pools = new Map<string, Pools>();
  constructor(private limits: () => { daily: number; monthly: number }) {}

  private pool(token: string, now: Date): Pools {
    let p = this.pools.get(token);
    const day = dayKey(now);
    if (p?.day === day) return p;
    const month = day.slice(0, 7);
    if (!p) {
      p = { day, daily: 0, month, monthly: 0 };
      this.pools.set(token, p);
    }
    if (p.day !== day) Object.assign(p, { day, daily: 0 });
    if (p.month !== month) Object.assign(p, { month, monthly: 0 });
    return p;
  }

  /** Refuses when `cost` would not fit in what is left (cost 0: refuses only once a pool is spent). */
  check(token: string, cost: number, now = new Date()): QuotaRefusal | undefined {
    const p = this.pool(token, now);
    const { daily, monthly } = this.limits();
    const over = (used: number, limit: number) => limit >= 0 && (cost > 0 ? used + cost > limit : used >= limit);
    if (over(p.daily, daily)) {
      const reset = nextMidnightUtc(now);
      return {
        message: `Daily token limit of ${daily} exceeded (${p.daily} used, this request needs ${cost}). The limit resets at ${reset.toISOString()}.`,
        retryAfterSeconds: Math.ceil((reset.getTime() - now.getTime()) / 1000),
      };
    }
    if (over(p.monthly, monthly)) {
      const reset = nextMonthUtc(now);
      return {
        message: `Monthly token limit of ${monthly} exceeded (${p.monthly} used, this request needs ${cost}). The limit resets at ${reset.toISOString()}.`,
        retryAfterSeconds: Math.ceil((reset.getTime() - now.getTime()) / 1000),
      };
    }
    return undefined;
  }

  charge(token: string, cost: number, now = new Date()): void {
    const p = this.pool(token, now);
    p.daily += cost;
    p.monthly += cost;
  }

  set(token: string, used: { daily?: number; monthly?: number }, now = new Date()): void {
    const p = this.pool(token, now);
    if (used.daily !== undefined) p.daily = used.daily;
    if (used.monthly !== undefined) p.monthly = used.monthly;
  }

  /** Both field sets: client 0.4.1 reads `current_usage/usage_limit/reset_time`, later clients the token pools. */
  report(token: string, now = new Date()): Record<string, unknown> {
    const p = this.pool(token, now);
    const { daily, monthly } = this.limits();
    return {
      current_usage: p.daily,
      usage_limit: daily >= 0 ? daily : -1,
      reset_time: nextMidnightUtc(now).toISOString(),
      daily_tokens_used: p.daily,
      daily_token_limit: daily >= 0 ? daily : -1,
      monthly_tokens_used: p.monthly,
      monthly_token_limit: monthly >= 0 ? monthly : -1,
      daily_reset_time: nextMidnightUtc(now).toISOString(),
      monthly_reset_time: nextMonthUtc(now).toISOString(),
    };
  }

  /** Drops one token's pools (its account was deleted). */
  forget(token: string): void {
    this.pools.delete(token);
  }

  clear(): void {
    this.pools.clear();
  }
}
