import { DataError } from './errors.js';

export type Task = 'classification' | 'regression';

// tabpfn-client 0.4.1 `estimator.py::_AVAILABLE_MODELS`: a local static list, not a server call.
const CLASSIFIER_MODELS = [
  'v3_default',
  'v2.6_default',
  'v2.5_default-2',
  'v2.5_default',
  'v2.5_large-features-L',
  'v2.5_large-features-XL',
  'v2.5_large-samples',
  'v2.5_real-large-features',
  'v2.5_real-large-samples-and-features',
  'v2.5_real',
  'v2.5_variant',
  'v2_default',
  'auto',
  'default',
  'gn2p4bpt',
  'llderlii',
  'od3j1g5m',
  'vutqq28w',
  'znskzxi4',
] as const;

const REGRESSOR_MODELS = [
  'v3_default',
  'v2.6_default',
  'v2.5_default',
  'v2.5_low-skew',
  'v2.5_quantiles',
  'v2.5_real-variant',
  'v2.5_real',
  'v2.5_small-samples',
  'v2.5_variant',
  'v2_default',
  'auto',
  'default',
  '2noar4o2',
  '5wof9ojf',
  '09gpqh39',
  'wyl4o83o',
] as const;

export function availableModels(task: Task): string[] {
  return [...(task === 'classification' ? CLASSIFIER_MODELS : REGRESSOR_MODELS)];
}

/**
 * Model name → wire `model_path` (`_model_name_to_path`). `auto`/`default` (and no name) leave the
 * choice to the server, so they map to `undefined` and the field is omitted.
 */
export function modelPath(name: string | undefined | null, task: Task): string | undefined {
  if (name === undefined || name === null || name === 'auto' || name === 'default') return undefined;
  if (!availableModels(task).includes(name)) throw new DataError('model', `Invalid model name: ${name}`);
  const kind = task === 'classification' ? 'classifier' : 'regressor';
  for (const version of ['v3', 'v2.6', 'v2.5']) {
    if (name.includes(version)) return `tabpfn-${version}-${kind}-${name}.ckpt`;
  }
  return `tabpfn-v2-${kind}-${name}.ckpt`;
}

const OUTPUT_TYPES: Record<Task, readonly string[]> = {
  classification: ['preds', 'probas'],
  regression: ['mean', 'median', 'mode', 'quantiles', 'full', 'main'],
};

export function outputTypes(task: Task): string[] {
  return [...OUTPUT_TYPES[task]];
}

/** Model version from a `model_path` (`utils.py::model_version_from_path`), e.g. `v2.5`; undefined when not recognisable. */
export function modelVersionFromPath(path: string | undefined): string | undefined {
  if (!path) return undefined;
  for (const version of ['v2.5', 'v2.6', 'v3', 'v2']) {
    if (path.includes(`-${version}-`)) return version;
  }
  return undefined;
}
