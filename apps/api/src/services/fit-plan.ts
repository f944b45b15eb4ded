import { sha256Hex } from '@tabpfn-jobs/shared/crypto';
import type { Task } from '@tabpfn-jobs/shared/domain';
import { ValidationError } from '@tabpfn-jobs/shared/errors';
import type { NewDataset, NewModel } from '@tabpfn-jobs/shared/repositories';
import { type EncodedTarget, type FeatureColumns, type Settings, modelPath } from '@tabpfn-jobs/tabpfn';
import { type CsvOrigin, inCsvTerms } from './csv-locations.js';
import { checkTrainLimits, checkTrainShape, encodeTrain, shapeOf } from './dataset-encoding.js';
import { keyOf, refuseClassifierOptions } from './plan-common.js';

export interface FitInput {
  /** Rows from a JSON body, or columns from a CSV upload (kept column-wise to bound memory). */
  features: unknown[][] | FeatureColumns;
  target: unknown[];
  task?: Task;
  feature_names?: string[];
  /** CSV uploads: where the rows came from, so errors name the line and column. */
  csv?: CsvOrigin;
  categorical_features?: (number | string)[];
  model?: string;
  config?: Record<string, unknown>;
  description?: string;
  webhook_url?: string;
  webhook_events?: string[];
}

/**
 * What a fit writes, worked out without a database: the training set, the model and the fit job's
 * params. The persist step adds only what the database gives (the owner, the dataset's id).
 */
export interface FitPlan {
  task: Task;
  dataset: Omit<NewDataset, 'userId'>;
  model: Omit<NewModel, 'userId' | 'datasetId'>;
  params: { task: Task; model: string | null; config: Record<string, unknown>; categorical_features: number[] | null };
}

/** Infers the task when the caller does not say: strings and booleans classify; numbers regress unless they look like a few class ids. */
export function inferTask(targetType: string, classes: readonly unknown[]): Task {
  if (targetType !== 'number') return 'classification';
  const integral = classes.every((c) => Number.isInteger(c));
  return integral && classes.length <= 10 ? 'classification' : 'regression';
}

function checkTarget(task: Task, y: EncodedTarget): void {
  if (task === 'regression' && y.type !== 'number') {
    throw new ValidationError([{ field: 'target', message: 'regression needs numeric target values' }]);
  }
  if (task === 'classification' && y.classes.length < 2) {
    throw new ValidationError([{ field: 'target', message: 'classification needs at least 2 distinct classes' }]);
  }
}

/** The wire model path of a model name (undefined for auto/default); an unknown name is a 422 on `model`. */
function modelPathOf(name: string | undefined, task: Task): string | undefined {
  try {
    return modelPath(name, task);
  } catch (err) {
    throw new ValidationError([{ field: 'model', message: (err as Error).message.replace(/^model: /, '') }]);
  }
}

/** Categorical columns by index or by name; a form field can only send text, so "3" is column 3 unless a column is named "3". */
function resolveCategorical(spec: readonly (number | string)[], names: readonly string[]): number[] {
  return spec.map((c, i) => {
    const idx = typeof c === 'number' ? c : names.includes(c) ? names.indexOf(c) : /^\d+$/.test(c) ? Number(c) : -1;
    if (idx < 0 || idx >= names.length)
      throw new ValidationError([{ field: `categorical_features[${i}]`, message: `no such column: ${c}` }]);
    return idx;
  });
}

/**
 * Validates and encodes a fit request: shape limits on the raw input first (a huge body is refused
 * before it is encoded), then the encoding, the task, the model name, the categorical columns, the
 * limits that need encoded data, and the fit key. `settings` null: upstream's limits are unknown.
 */
export function planFit(input: FitInput, settings: Settings | null): FitPlan {
  const shape = shapeOf(input.features);
  checkTrainShape(settings, shape.nRows, shape.nCols);
  const { x, y } = inCsvTerms(input.csv, input.feature_names ?? [], () => encodeTrain(input.features, input.target, input.feature_names));
  const task = input.task ?? inferTask(y.type, y.classes);
  checkTarget(task, y);
  const path = modelPathOf(input.model, task);
  refuseClassifierOptions(task, input.config);
  const names = x.columns.map((c) => c.name);
  const categorical = resolveCategorical(input.categorical_features ?? [], names);
  checkTrainLimits(settings, x, y, task === 'classification');

  const config = input.config ?? {};
  const modelName = input.model ?? null;
  const fitKey = keyOf({ task, model: modelName, path: path ?? null, config, categorical, x: x.hash, y: y.hash, names });
  const categoricalFeatures = categorical.length ? categorical : null;
  return {
    task,
    dataset: {
      kind: 'train',
      contentHash: sha256Hex(`${x.hash}:${y.hash}`),
      x: x.bytes,
      y: y.bytes,
      nRows: x.nRows,
      nCols: x.nCols,
      columns: x.columns,
      targetType: y.type,
    },
    model: {
      task,
      modelName,
      fitKey,
      nSamples: x.nRows,
      nFeatures: x.nCols,
      featureNames: names,
      featureTypes: x.columns.map((c) => c.type),
      classes: task === 'classification' ? y.classes : null,
      targetType: y.type,
      config,
      categoricalFeatures,
      description: input.description ?? null,
    },
    params: { task, model: modelName, config, categorical_features: categoricalFeatures },
  };
}
