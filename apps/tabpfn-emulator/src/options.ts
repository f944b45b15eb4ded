import type { UserAccount } from './accounts.js';
import type { V3CostModel } from './usage-meter.js';

export interface EmulatorLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

export interface RateLimits {
  /** Requests per token per minute; undefined/null = not enforced. */
  fit?: number | null;
  predict?: number | null;
  upload?: number | null;
}

/** The `ModelLimit` fields of `GET /tabpfn/get_settings` (§3) that `limits` and `PUT /_emulator/limits` may override. */
const MODEL_LIMIT_FIELDS = [
  'train_set_max_rows',
  'train_set_max_cells',
  'test_set_max_rows',
  'test_set_max_cells',
  'max_classes',
  'max_cols',
  'test_set_max_rows_w_full_regression_output',
  'predict_row_pairs_budget',
] as const;
export type ModelLimitField = (typeof MODEL_LIMIT_FIELDS)[number];
export type ModelLimit = Record<ModelLimitField, number>;
/** Fields set here replace the fixture value in every model version's limits and in `max_model_limit`. */
export type LimitOverrides = Partial<ModelLimit>;

export interface EmulatorOptions {
  /** 0 = a random free port. Default 0. */
  port?: number;
  host?: string;
  /** Valid tokens. Default `['dev-token']`. */
  tokens?: string[];
  /** Valid tokens whose account has not verified its email: `/protected/` answers 403. */
  unverifiedTokens?: string[];
  /** Serve `/_emulator/*`. Default false. */
  control?: boolean;
  latencyMs?: { fit?: number; predict?: number };
  /** Daily token pool per token; a negative value means unlimited. Default 50 000 000. */
  dailyTokenLimit?: number;
  /** Monthly token pool per token; a negative value means unlimited. Default 200 000 000. */
  monthlyTokenLimit?: number;
  /** How v3 jobs are metered (see `usage-meter.ts`). Default `sublinear`. */
  v3CostModel?: V3CostModel;
  /** Email/password accounts `POST /auth/login/` accepts; each token is also a valid token. Default none. */
  users?: UserAccount[];
  /** `async_settings.use_above_trainset_size_bytes`. Default 52 428 800. */
  asyncThresholdBytes?: number;
  /** `async_settings.poll_timeout_secs`. Default 7200. */
  pollTimeoutSecs?: number;
  /** Lifetime of signed upload URLs. Default 15 min. */
  uploadUrlTtlMs?: number;
  /** Bytes per signed URL: a file larger than this gets several URLs (chunks). Default 8 MiB. */
  uploadChunkBytes?: number;
  /** `retry_in_secs` sent with a pending fit status. Default 1. */
  retryInSecs?: number;
  /** How long a sync `/tabpfn/fit` blocks before answering `status: "pending"`. Default: no limit. */
  syncFitMaxWaitMs?: number;
  /** While a sync fit waits, commit 200 and send a whitespace keepalive this often (as upstream does). Default 5000. */
  keepaliveIntervalMs?: number;
  rateLimits?: RateLimits;
  /**
   * Overrides of the published (and, for test sets, enforced) model limits, e.g. `{ test_set_max_rows: 1000 }`.
   * Default none: the fixture limits of `routes/account.ts`.
   */
  limits?: LimitOverrides;
  /** Fixed rate-limit window length. Default 60 000 ms (per minute, as upstream documents). */
  rateLimitWindowMs?: number;
  /** Seed of the generator behind probabilistic faults, so runs repeat. Default 42. */
  seed?: number;
  /** Base of the signed upload URLs; default: the origin the prepare request came in on. */
  publicUrl?: string;
  logger?: EmulatorLogger;
}

/** The part of the options control endpoints may change at runtime. */
export interface RuntimeConfig {
  fitLatencyMs: number;
  predictLatencyMs: number;
  dailyTokenLimit: number;
  monthlyTokenLimit: number;
  v3CostModel: V3CostModel;
  asyncThresholdBytes: number;
  pollTimeoutSecs: number;
  uploadUrlTtlMs: number;
  uploadChunkBytes: number;
  retryInSecs: number;
  syncFitMaxWaitMs: number;
  keepaliveIntervalMs: number;
  rateLimits: RateLimits;
  /** Overrides of the fixture model limits (`PUT /_emulator/limits`); empty = the fixtures. */
  limits: LimitOverrides;
  /** Length of the fixed rate-limit windows (upstream: one minute); tests shorten it. */
  rateLimitWindowMs: number;
}

export function runtimeConfigFrom(o: EmulatorOptions): RuntimeConfig {
  return {
    fitLatencyMs: o.latencyMs?.fit ?? 0,
    predictLatencyMs: o.latencyMs?.predict ?? 0,
    dailyTokenLimit: o.dailyTokenLimit ?? 50_000_000,
    monthlyTokenLimit: o.monthlyTokenLimit ?? 200_000_000,
    v3CostModel: o.v3CostModel ?? 'sublinear',
    asyncThresholdBytes: o.asyncThresholdBytes ?? 52_428_800,
    pollTimeoutSecs: o.pollTimeoutSecs ?? 7200,
    uploadUrlTtlMs: o.uploadUrlTtlMs ?? 15 * 60_000,
    uploadChunkBytes: o.uploadChunkBytes ?? 8 * 1024 * 1024,
    retryInSecs: o.retryInSecs ?? 1,
    syncFitMaxWaitMs: o.syncFitMaxWaitMs ?? Number.POSITIVE_INFINITY,
    keepaliveIntervalMs: o.keepaliveIntervalMs ?? 5000,
    rateLimits: { ...o.rateLimits },
    limits: { ...o.limits },
    rateLimitWindowMs: o.rateLimitWindowMs ?? 60_000,
  };
}

export const silentLogger: EmulatorLogger = { info() {}, warn() {}, error() {}, debug() {} };
