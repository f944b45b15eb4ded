import type { Task } from '../domain.js';
import { sha256Hex } from './secrets.js';

/** JSON with every object's keys sorted, so equal values give equal text whatever order their keys came in. */
const canonical = (v: unknown) =>
  JSON.stringify(v, (_k, val) =>
    val && typeof val === 'object' && !Array.isArray(val) ? Object.fromEntries(Object.entries(val).sort()) : val,
  );

/** The fit key and the predict cache key: a hash of the canonical JSON of what decides the result. */
export const keyOf = (v: unknown): string => sha256Hex(canonical(v));

/** What decides a fit's result upstream: equal keys mean one fitted set serves both models. */
export interface FitKeyInput {
  task: Task;
  model: string | null;
  /** The wire model path (`modelPath`), null for upstream's default. */
  path: string | null;
  config: Record<string, unknown>;
  categorical: number[];
  /** CRC32C of the features' and the target's parquet bytes. */
  x: string;
  y: string;
  names: string[];
}

/**
 * The fit key stored on a model (`models.fit_key`); the worker reuses the fitted set of a ready model
 * with the same key. Computed by the api at submit, or by the worker for a CSV fit stored as cells
 * (only the worker encodes those, so only it knows their parquet hashes).
 */
export const fitKeyOf = (k: FitKeyInput): string =>
  keyOf({ task: k.task, model: k.model, path: k.path, config: k.config, categorical: k.categorical, x: k.x, y: k.y, names: k.names });

/** A train set's content hash (`datasets.content_hash`): its parquet files' CRC32C, as the fit key has them. */
export const trainContentHash = (x: string, y: string): string => sha256Hex(`${x}:${y}`);

const PROVISIONAL = 'cells:';

/**
 * The key a model gets at submit when its train set is stored as CSV cells (no parquet hashes yet):
 * it matches no real key, and tells the worker to encode the set and set the real key before the fit.
 */
export const provisionalFitKey = (contentHash: string): string => `${PROVISIONAL}${contentHash}`;
export const isProvisionalFitKey = (key: string): boolean => key.startsWith(PROVISIONAL);
