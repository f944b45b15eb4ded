import { z } from 'zod';

const modelLimitSchema = z
  .object({
    train_set_max_rows: z.number(),
    train_set_max_cells: z.number(),
    test_set_max_rows: z.number(),
    test_set_max_cells: z.number(),
    max_classes: z.number(),
    max_cols: z.number(),
    test_set_max_rows_w_full_regression_output: z.number(),
    predict_row_pairs_budget: z.number().optional(),
  })
  .passthrough();

/** `GET /tabpfn/get_settings` (generated `GetSettingsResponse`); unknown fields pass through. */
export const settingsSchema = z
  .object({
    default_model_version: z.string(),
    max_model_limit: modelLimitSchema,
    model_limits: z.record(z.string(), modelLimitSchema),
    dataset_max_size_bytes: z.number(),
    async_settings: z.object({ use_above_trainset_size_bytes: z.number(), poll_timeout_secs: z.number() }).passthrough().optional(),
  })
  .passthrough();

export type ModelLimit = z.infer<typeof modelLimitSchema>;
export type Settings = z.infer<typeof settingsSchema>;

export const SETTINGS_TTL_MS = 3_600_000;

interface Entry {
  value: Settings;
  fetchedAt: number;
}

/**
 * The 1 h settings cache, shareable across clients: the worker builds a short-lived client per job (one
 * per user token) but settings are the same for everyone talking to one base URL.
 */
export class SettingsCache {
  private readonly entries = new Map<string, Entry>();
  private readonly inflight = new Map<string, Promise<Settings | null>>();
  constructor(readonly ttlMs: number = SETTINGS_TTL_MS) {}

  fresh(key: string, now = Date.now()): Settings | undefined {
    const e = this.entries.get(key);
    return e && now - e.fetchedAt < this.ttlMs ? e.value : undefined;
  }

  stale(key: string): Settings | undefined {
    return this.entries.get(key)?.value;
  }

  set(key: string, value: Settings, now = Date.now()): void {
    this.entries.set(key, { value, fetchedAt: now });
  }

  clear(): void {
    this.entries.clear();
  }

  /** Joins a fetch already in flight for the same key instead of sending a second one. */
  async dedupe(key: string, fetcher: () => Promise<Settings | null>): Promise<Settings | null> {
    const existing = this.inflight.get(key);
    if (existing) return existing;
    const p = fetcher().finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p;
  }
}

export const defaultSettingsCache = new SettingsCache();
