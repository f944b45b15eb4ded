import { randomBytes, randomUUID } from 'node:crypto';
import { AccountBook } from './accounts.js';
import type { Table } from './dataset-reader.js';
import { type Fault, FaultBook, type FaultSpec, type RouteName, seededRandom } from './faults.js';
import type { KnnClassifier, KnnRegressor } from './knn-model.js';
import { type EmulatorOptions, type LimitOverrides, type RateLimits, type RuntimeConfig, runtimeConfigFrom } from './options.js';
import { RateLimiter } from './rate-limiter.js';
import { UsageMeter } from './usage-meter.js';

export type FileName = 'x_train' | 'y_train' | 'x_test';

export interface UploadFile {
  name: FileName;
  format: 'parquet' | 'csv';
  hash?: string | undefined;
  sizeBytes: number;
  chunks: (Buffer | undefined)[];
  /** Parsed once, on first use. */
  table?: Table;
}

export interface Upload {
  id: string;
  kind: 'train' | 'test';
  token: string;
  files: Partial<Record<FileName, UploadFile>>;
  createdAt: number;
  expiresAt: number;
  description?: string | undefined;
  fittedTrainSetId?: string;
  dedupKey?: string | undefined;
  complete: boolean;
}

export interface FittedSet {
  id: string;
  token: string;
  trainSetUploadId: string;
  task: 'classification' | 'regression';
  tabpfnConfig: Record<string, unknown>;
  model?: KnnClassifier | KnnRegressor;
  nRows: number;
  nCols: number;
  createdAt: number;
  /** The fit counts as running until then (fit latency). */
  readyAt: number;
  outcome: 'completed' | 'failed';
  error?: string;
}

export interface Counters {
  requests: number;
  prepares: number;
  trainPrepares: number;
  testPrepares: number;
  /** 409 answers to a prepare: uploads the client could skip. */
  dedupHits: number;
  /** Chunk PUTs accepted. */
  uploads: number;
  uploadedBytes: number;
  /** Sync fits plus submitted fit jobs. */
  fits: number;
  syncFits: number;
  asyncFits: number;
  statusPolls: number;
  predicts: number;
  /** Every 429 answered to this token: rate limits, quota and injected faults alike. */
  responses429: number;
  /** Requests whose client went away before the response was complete. */
  aborted: number;
  faultsInjected: number;
}

export interface RecordedRequest {
  /** Arrival time, ISO 8601. */
  at: string;
  /** Arrival time, ms since the epoch (the same instant as `at`). */
  atMs: number;
  method: string;
  path: string;
  query: Record<string, unknown>;
  route: RouteName | undefined;
  token: string | undefined;
  headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON, or `{ bytes }` for uploads. */
  body: unknown;
  status: number;
  aborted: boolean;
}

const MAX_RECORDED = 5000;

function emptyCounters(): Counters {
  return {
    requests: 0,
    prepares: 0,
    trainPrepares: 0,
    testPrepares: 0,
    dedupHits: 0,
    uploads: 0,
    uploadedBytes: 0,
    fits: 0,
    syncFits: 0,
    asyncFits: 0,
    statusPolls: 0,
    predicts: 0,
    responses429: 0,
    aborted: 0,
    faultsInjected: 0,
  };
}

/** Everything the emulator knows, in memory. Exposed on `startEmulator()` for in-process tests. */
export class EmulatorState {
  readonly validTokens: Set<string>;
  readonly unverifiedTokens: Set<string>;
  config: RuntimeConfig;
  readonly uploads = new Map<string, Upload>();
  /** dedup key → upload id, for complete uploads only. */
  readonly dedup = new Map<string, string>();
  readonly fitted = new Map<string, FittedSet>();
  readonly faults: FaultBook;
  readonly usage: UsageMeter;
  readonly rateLimiter = new RateLimiter();
  readonly accounts: AccountBook;
  /** Tokens `/auth/register/` handed out; a reset forgets them. */
  private readonly registeredTokens = new Set<string>();
  readonly signingSecret = randomBytes(32);
  /** Base of signed upload URLs; undefined = the origin of the prepare request. */
  readonly publicUrl: string | undefined;
  requests: RecordedRequest[] = [];
  private readonly counterMap = new Map<string, Counters>();
  /** Seed of the fault dice; a reset may change it (`POST /_emulator/reset {seed}`). */
  seed: number;

  constructor(private readonly options: EmulatorOptions = {}) {
    this.seed = options.seed ?? 42;
    this.publicUrl = options.publicUrl?.replace(/\/+$/, '');
    this.validTokens = new Set();
    this.unverifiedTokens = new Set();
    this.accounts = new AccountBook(options.users ?? []);
    this.seedTokens();
    this.config = runtimeConfigFrom(options);
    this.faults = new FaultBook(seededRandom(this.seed));
    this.usage = new UsageMeter(() => ({ daily: this.config.dailyTokenLimit, monthly: this.config.monthlyTokenLimit }));
  }

  /** The tokens of the options; idempotent, so tokens added at runtime through `/_emulator/tokens` stay. */
  private seedTokens(): void {
    for (const t of this.options.tokens ?? ['dev-token']) this.validTokens.add(t);
    for (const t of this.options.users ?? []) this.validTokens.add(t.token);
    for (const t of this.options.unverifiedTokens ?? []) {
      this.unverifiedTokens.add(t);
      // Undoes a verify_email since the last reset.
      if (!(this.options.tokens ?? ['dev-token']).includes(t)) this.validTokens.delete(t);
    }
  }

  /** A registered account starts unverified, as upstream's does until its email is verified. */
  addRegisteredToken(token: string): void {
    this.registeredTokens.add(token);
    this.unverifiedTokens.add(token);
  }

  verifyToken(token: string): boolean {
    if (!this.unverifiedTokens.delete(token)) return false;
    this.validTokens.add(token);
    return true;
  }

  /**
   * Forgets everything the token owns and the token itself: afterwards it is an unknown token (401
   * everywhere, and `GET /protected/` 401 makes the client drop its cached token), and the account's
   * email/password no longer log in. Counters and recorded requests stay, for tests to inspect.
   */
  deleteAccount(token: string): void {
    for (const [id, f] of this.fitted) if (f.token === token) this.fitted.delete(id);
    for (const [id, u] of this.uploads) if (u.token === token) this.deleteUpload(id);
    this.usage.forget(token);
    this.validTokens.delete(token);
    this.unverifiedTokens.delete(token);
    this.accounts.removeToken(token);
  }

  tokenStatus(token: string | undefined): 'valid' | 'unverified' | 'invalid' {
    if (token === undefined) return 'invalid';
    if (this.validTokens.has(token)) return 'valid';
    if (this.unverifiedTokens.has(token)) return 'unverified';
    return 'invalid';
  }

  /** Live counters of one token (created on first use). */
  countersFor(token: string): Counters {
    let c = this.counterMap.get(token);
    if (!c) {
      c = emptyCounters();
      this.counterMap.set(token, c);
    }
    return c;
  }

  /** A snapshot: one token's counters, or all tokens'. */
  counters(token: string): Counters;
  counters(): Record<string, Counters>;
  counters(token?: string): Counters | Record<string, Counters> {
    if (token !== undefined) return { ...this.countersFor(token) };
    return Object.fromEntries([...this.counterMap].map(([k, v]) => [k, { ...v }]));
  }

  record(entry: RecordedRequest): void {
    this.requests.push(entry);
    // shift(), not splice(0, n): V8 drops the head of a full log in place instead of moving 5000 entries.
    while (this.requests.length > MAX_RECORDED) this.requests.shift();
  }

  clearRequests(): void {
    this.requests = [];
  }

  addFault(spec: FaultSpec): Fault {
    return this.faults.add(spec);
  }

  clearFaults(): void {
    this.faults.clear();
  }

  setLatency(latency: { fit?: number; predict?: number }): void {
    if (latency.fit !== undefined) this.config.fitLatencyMs = latency.fit;
    if (latency.predict !== undefined) this.config.predictLatencyMs = latency.predict;
  }

  setRateLimits(limits: RateLimits): void {
    this.config.rateLimits = { ...this.config.rateLimits, ...limits };
    this.rateLimiter.clear();
  }

  configure(patch: Partial<RuntimeConfig>): RuntimeConfig {
    const { rateLimits, limits, ...rest } = patch;
    Object.assign(this.config, rest);
    if (rateLimits) this.setRateLimits(rateLimits);
    if (limits) this.setLimits(limits);
    return this.config;
  }

  /** Overrides model-limit fields in every model version and in `max_model_limit`; other fields keep their value. */
  setLimits(limits: LimitOverrides): LimitOverrides {
    this.config.limits = { ...this.config.limits, ...limits };
    return this.config.limits;
  }

  /** Back to the limits the emulator started with (the fixtures, plus the `limits` start option if any). */
  clearLimits(): LimitOverrides {
    this.config.limits = { ...this.options.limits };
    return this.config.limits;
  }

  setUsage(token: string, used: { daily?: number; monthly?: number }): void {
    this.usage.set(token, used);
  }

  newFittedId(): string {
    return randomUUID();
  }

  /**
   * Forgets fitted train sets (one, or all) and their test sets, as when upstream expires them. The train
   * set uploads stay, so a refit of the same data still dedups.
   */
  forgetFittedTrainSet(id?: string): number {
    const ids = id === undefined ? [...this.fitted.keys()] : this.fitted.has(id) ? [id] : [];
    for (const fid of ids) {
      this.fitted.delete(fid);
      for (const [uid, u] of this.uploads) {
        if (u.fittedTrainSetId === fid) this.deleteUpload(uid);
      }
    }
    return ids.length;
  }

  deleteUpload(id: string): void {
    const u = this.uploads.get(id);
    if (!u) return;
    this.uploads.delete(id);
    if (u.dedupKey && this.dedup.get(u.dedupKey) === id) this.dedup.delete(u.dedupKey);
  }

  /**
   * Back to the state right after start: no data, faults, counters, usage or recorded requests, and the
   * fault dice rewound, so the same requests meet the same faults again. `seed` replaces the start seed.
   */
  reset(seed?: number): void {
    if (seed !== undefined) this.seed = seed;
    this.uploads.clear();
    this.dedup.clear();
    this.fitted.clear();
    this.faults.clear();
    this.faults.reseed(seededRandom(this.seed));
    this.usage.clear();
    this.rateLimiter.clear();
    this.counterMap.clear();
    this.requests = [];
    for (const t of this.registeredTokens) {
      this.validTokens.delete(t);
      this.unverifiedTokens.delete(t);
    }
    this.registeredTokens.clear();
    this.seedTokens();
    this.accounts.reset();
    this.config = runtimeConfigFrom(this.options);
  }

  summary(): Record<string, unknown> {
    return {
      uploads: this.uploads.size,
      fittedTrainSets: this.fitted.size,
      faults: this.faults.list(),
      config: { ...this.config, syncFitMaxWaitMs: Number.isFinite(this.config.syncFitMaxWaitMs) ? this.config.syncFitMaxWaitMs : null },
      recordedRequests: this.requests.length,
      seed: this.seed,
    };
  }
}
