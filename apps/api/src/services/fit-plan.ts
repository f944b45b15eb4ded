import { fitKeyOf, provisionalFitKey, trainContentHash } from '@tabpfn-jobs/shared/crypto';
import type { Task } from '@tabpfn-jobs/shared/domain';
import { ValidationError } from '@tabpfn-jobs/shared/errors';
import type { DatasetRepository, NewDataset, NewModel } from '@tabpfn-jobs/shared/repositories';
import { type EncodedFeatures, type EncodedTarget, type Settings, modelPath } from '@tabpfn-jobs/tabpfn';
import { checkTrainLimits, checkTrainRows, checkTrainShape, encodeTrain, encodeTrainCells, shapeOf } from './dataset-encoding.js';
import { refuseClassifierOptions } from './plan-common.js';
import type { StreamedTrainSet } from './train-set-intake.js';

export interface FitInput {
  /** Rows from a JSON body (empty for a CSV upload, whose rows are in `trainSet`). */
  features: unknown[][];
  target: unknown[];
  /** A CSV upload, validated while it streamed in (train-set-intake.ts). */
  trainSet?: StreamedTrainSet;
  task?: Task;
  feature_names?: string[];
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
  /**
   * A CSV train set already stored as cells while it streamed in: completed in the submit's
   * transaction instead of `dataset` being inserted. Its parquet hashes (and so the model's fit key
   * and the set's content hash) exist once the worker has encoded it; until then they are provisional.
   */
  parts?: { datasetId: string; complete: Parameters<DatasetRepository['completeCells']>[1] };
  model: Omit<NewModel, 'userId' | 'datasetId'>;
  params: { task: Task; model: string | null; config: Record<string, unknown>; categorical_features: number[] | null };
}

/** The train set as the plan sees it: encoded, or (a large CSV) validated and stored as cells, not yet encoded. */
interface TrainData {
  x: Pick<EncodedFeatures, 'columns' | 'nRows' | 'nCols' | 'inMemorySizeBytes'> & { hash?: string };
  y: Pick<EncodedTarget, 'type' | 'classes'> & { hash?: string };
  contentHash: string;
  bytes?: { x: Uint8Array; y: Uint8Array };
  parts?: FitPlan['parts'];
}

const encoded = (x: EncodedFeatures, y: EncodedTarget): TrainData => ({ x, y, contentHash: trainContentHash(x.hash, y.hash), bytes: { x: x.bytes, y: y.bytes } });

/** Shape limits on the raw input first (a huge body is refused before it is encoded), then the encoding. */
function trainData(input: FitInput, settings: Settings | null): TrainData {
  const set = input.trainSet;
  if (!set) {
    const shape = shapeOf(input.features);
    checkTrainShape(settings, shape.nRows, shape.nCols);
    const { x, y } = encodeTrain(input.features, input.target, input.feature_names);
    return encoded(x, y);
  }
  checkTrainShape(settings, set.nRows, set.columns.length);
  checkTrainRows(set.nRows, set.columns.length);
  const names = set.columns.map((c) => c.name);
  if (set.stored.kind === 'inline') {
    const { x, y } = encodeTrainCells(set.stored.bytes, { names, targetIndex: set.targetIndex, nRows: set.nRows });
    return encoded(x, y);
  }
  const { stored, columns, nRows, target } = set;
  const complete = { nRows, nParts: stored.nParts, sizeBytes: stored.sizeBytes, contentHash: stored.contentHash, columns, targetType: target.type, targetColumn: set.targetIndex };
  return {
    x: { columns, nRows, nCols: columns.length, inMemorySizeBytes: set.inMemorySizeBytes },
    y: target,
    contentHash: stored.contentHash,
    parts: { datasetId: stored.datasetId, complete },
  };
}

/** Infers the task when the caller does not say: strings and booleans classify; numbers regress unless they look like a few class ids. */
export function inferTask(targetType: string, classes: readonly unknown[]): Task {
  if (targetType !== 'number') return 'classification';
  const integral = classes.every((c) => Number.isInteger(c));
  return integral && classes.length <= 10 ? 'classification' : 'regression';
}

function checkTarget(task: Task, y: Pick<EncodedTarget, 'type' | 'classes'>): void {
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
 * Validates and encodes a fit request: shape limits and encoding (trainData), then the task, the
 * model name, the categorical columns, the limits that need encoded data, and the fit key.
 * `settings` null: upstream's limits are unknown.
 */
export function planFit(input: FitInput, settings: Settings | null): FitPlan {
  const { x, y, contentHash, bytes, parts } = trainData(input, settings);
  const task = input.task ?? inferTask(y.type, y.classes);
  checkTarget(task, y);
  const path = modelPathOf(input.model, task);
  refuseClassifierOptions(task, input.config);
  const names = x.columns.map((c) => c.name);
  const categorical = resolveCategorical(input.categorical_features ?? [], names);
  checkTrainLimits(settings, x, y, task === 'classification');

  const config = input.config ?? {};
  const modelName = input.model ?? null;
  const fitKey =
    x.hash && y.hash
      ? fitKeyOf({ task, model: modelName, path: path ?? null, config, categorical, x: x.hash, y: y.hash, names })
      : provisionalFitKey(contentHash);
  const categoricalFeatures = categorical.length ? categorical : null;
  return {
    task,
    dataset: {
      kind: 'train',
      contentHash,
      x: bytes?.x ?? new Uint8Array(0),
      y: bytes?.y ?? null,
      nRows: x.nRows,
      nCols: x.nCols,
      columns: x.columns,
      targetType: y.type,
    },
    ...(parts ? { parts } : {}),
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
