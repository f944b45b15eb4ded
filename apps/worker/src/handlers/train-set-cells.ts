import { fitKeyOf, isProvisionalFitKey, trainContentHash } from '@tabpfn-jobs/shared/crypto';
import { type Pool, withTransaction } from '@tabpfn-jobs/shared/db';
import type { DatasetRepository, DatasetRow, ModelRepository, ModelRow } from '@tabpfn-jobs/shared/repositories';
import { CSV_CELLS_FORMAT, CellsDigest, CsvCellsEncoder, type EncodedFeatures, type EncodedTarget, modelPath } from '@tabpfn-jobs/tabpfn';

/** Decoding is CPU work: between parts the event loop runs (lock renewals, cancel broadcasts). */
const yieldToLoop = () => new Promise((r) => setImmediate(r));

export interface TrainSetCellsDeps {
  pool: Pool;
  datasets: Pick<DatasetRepository, 'findWithData' | 'partsInOrder' | 'replaceCellsWithParquet'>;
  models: Pick<ModelRepository, 'findById' | 'setFitKey'>;
}

/** The stored cells read back part by part and encoded with the types the api inferred from them. */
async function encodeCells(deps: TrainSetCellsDeps, dataset: DatasetRow): Promise<{ x: EncodedFeatures; y: EncodedTarget }> {
  const encoder = new CsvCellsEncoder({
    names: dataset.columns.map((c) => c.name),
    targetIndex: dataset.target_column ?? -1,
    nRows: dataset.n_rows,
    types: { features: dataset.columns.map((c) => c.type), target: dataset.target_type === 'number' ? 'number' : 'string' },
  });
  const digest = new CellsDigest();
  for await (const part of deps.datasets.partsInOrder(dataset.id)) {
    digest.update(part.x_bytes);
    encoder.add({ bytes: part.x_bytes, nRows: part.n_rows });
    await yieldToLoop();
  }
  if (digest.digest() !== dataset.content_hash) throw new Error(`train set ${dataset.id}: its stored cells are not the ones the api stored`);
  return encoder.finish();
}

/**
 * A CSV fit is stored as the cells the api validated while they streamed in (so it answered without
 * encoding them); this encodes them into the parquet files upstream receives, stores those in their
 * place and gives the model its real fit key (the one a JSON body of the same data gets), in one
 * transaction. Run before the fit handler looks for a reusable fit (that needs the real key). After
 * a crash the cells are still there and the next attempt encodes them again.
 */
export function createTrainSetCellsEncoder(deps: TrainSetCellsDeps) {
  // Encoding holds the whole set (upstream takes one parquet file): one at a time per process,
  // whatever the worker's concurrency, so a burst of large CSV fits cannot multiply that.
  let previous: Promise<unknown> = Promise.resolve();
  return async function encodeStoredCells(model: ModelRow): Promise<ModelRow> {
    if (!isProvisionalFitKey(model.fit_key) || !model.dataset_id) return model;
    const turn = previous.then(() => encodeOnce(deps, model));
    previous = turn.catch(() => undefined);
    return turn;
  };
}

/** Encodes the model's set (unless another attempt did meanwhile) and writes it with the real fit key. */
async function encodeOnce(deps: TrainSetCellsDeps, model: ModelRow): Promise<ModelRow> {
  const dataset = model.dataset_id ? await deps.datasets.findWithData(model.dataset_id) : undefined;
  // Encoded meanwhile by another attempt: its key is on the model now.
  if (dataset?.format !== CSV_CELLS_FORMAT) return (await deps.models.findById(model.id)) ?? model;
  const { x, y } = await encodeCells(deps, dataset);
  const fitKey = fitKeyOf({
    task: model.task,
    model: model.model_name,
    path: modelPath(model.model_name, model.task) ?? null,
    config: model.config,
    categorical: model.categorical_features ?? [],
    x: x.hash,
    y: y.hash,
    names: model.feature_names,
  });
  await withTransaction(deps.pool, async (tx) => {
    await deps.datasets.replaceCellsWithParquet(dataset.id, { x: x.bytes, y: y.bytes, contentHash: trainContentHash(x.hash, y.hash) }, tx);
    await deps.models.setFitKey(model.id, fitKey, tx);
  });
  return { ...model, fit_key: fitKey };
}

export type TrainSetCellsEncoder = ReturnType<typeof createTrainSetCellsEncoder>;
