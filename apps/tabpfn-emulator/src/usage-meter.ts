export interface CostInput {
  trainRows: number;
  testRows: number;
  columns: number;
  nEstimators?: number | undefined;
  modelVersion?: string | undefined;
}

export interface CostEstimate {
  tokens: number;
  pricingVersion: 'legacy_v2' | 'quota_v3';
}

/**
 * The metering docs' formula: `max(min, (train_rows + test_rows) × columns × n_estimators)`, n_estimators
 * defaulting to 8, with a 5 000 minimum for v2.x models and 10 000 for v3 (whose exact sublinear curve is
 * not public, so the emulator applies the linear one with the v3 minimum).
 */
export function estimateCost(input: CostInput): CostEstimate {
  const v3 = !input.modelVersion || input.modelVersion.startsWith('v3');
  const raw = (input.trainRows + input.testRows) * input.columns * (input.nEstimators ?? 8);
  return { tokens: Math.max(v3 ? 10_000 : 5_000, raw), pricingVersion: v3 ? 'quota_v3' : 'legacy_v2' };
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

function dayKey(now: Date): string {
  return now.toISOString().slice(0, 10);
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

  clear(): void {
    this.pools.clear();
  }
}
