export interface Usage {
  /** Old field set (`current_usage`); filled from the daily counter when upstream sends only the new set. */
  currentUsage: number | null;
  /** null = unlimited (upstream `-1`). */
  usageLimit: number | null;
  resetTime: string | null;
  dailyTokensUsed: number | null;
  dailyTokenLimit: number | null;
  monthlyTokensUsed: number | null;
  monthlyTokenLimit: number | null;
  raw: unknown;
}

function num(v: unknown): number | null {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  return null;
}

function limit(v: unknown): number | null {
  const n = num(v);
  return n === null || n < 0 ? null : n;
}

/**
 * `POST /get_api_usage/` answers with `current_usage/usage_limit/reset_time` (client 0.4.1) or
 * `daily_tokens_used/daily_token_limit/monthly_*` (later servers); both are normalised into one shape.
 */
export function normaliseUsage(raw: unknown): Usage {
  const b = raw && typeof raw === 'object' ? (raw as Record<string, unknown>) : {};
  const dailyTokensUsed = num(b.daily_tokens_used);
  const dailyTokenLimit = limit(b.daily_token_limit);
  const currentUsage = num(b.current_usage) ?? dailyTokensUsed;
  const usageLimit = 'usage_limit' in b ? limit(b.usage_limit) : dailyTokenLimit;
  const reset = b.reset_time;
  return {
    currentUsage,
    usageLimit,
    resetTime: typeof reset === 'string' ? reset : typeof reset === 'number' ? new Date(reset * 1000).toISOString() : null,
    dailyTokensUsed: dailyTokensUsed ?? currentUsage,
    dailyTokenLimit: 'daily_token_limit' in b ? dailyTokenLimit : usageLimit,
    monthlyTokensUsed: num(b.monthly_tokens_used),
    monthlyTokenLimit: limit(b.monthly_token_limit),
    raw,
  };
}
