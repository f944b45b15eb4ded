import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { isProvisionalFitKey } from '@tabpfn-jobs/shared/crypto';
import { type Pool, createPool } from '@tabpfn-jobs/shared/db';
import { type ModelRow, createDatasetRepository, createModelRepository } from '@tabpfn-jobs/shared/repositories';
import { planFit } from '../../apps/api/src/services/fit-plan.js';
import { createTrainSetCellsEncoder } from '../../apps/worker/src/handlers/train-set-cells.js';
import { type TestDatabase, createTestDatabase } from '../helpers/database.js';
import { memoryCellStore, streamTrainSet } from '../helpers/train-set.js';

// Against Postgres: a CSV fit stored as cells (as the api stores it) encoded by the worker.

let db: TestDatabase;
let pool: Pool;
let userId: string;
const datasets = () => createDatasetRepository(pool);
const models = () => createModelRepository(pool);

beforeAll(async () => {
  db = await createTestDatabase();
  pool = createPool({ connectionString: db.url, applicationName: 'train-set-cells-test' });
  const { rows } = await pool.query(`INSERT INTO users (tabpfn_token_ciphertext, tabpfn_token_digest) VALUES ('k1:unused', $1) RETURNING id`, [randomBytes(32)]);
  userId = rows[0].id;
});
afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

const header = ['x1', 'label', 'x2'];
const rows = Array.from({ length: 300 }, (_, i) => [String(i / 4), ['a', 'b'][i % 2]!, i % 11 === 0 ? 'NA' : `${(i * 7) % 13}.5`]);

/** A model whose train set is stored as cells in Postgres, as the api's submit leaves it; and the JSON plan of the same data. */
async function storedCellsModel(): Promise<{ model: ModelRow; json: ReturnType<typeof planFit> }> {
  const store = memoryCellStore();
  const set = await streamTrainSet(header, rows, 'label', { store, partBytes: 500 });
  if (set.stored.kind !== 'parts') throw new Error('expected parts');
  const plan = planFit({ features: [], target: [], trainSet: set }, null);
  const id = await datasets().insertPendingCells({ userId, nCols: 2 });
  for (const part of store.sets.get(set.stored.datasetId)!.parts) await datasets().insertPart(id, part.row_start, part.n_rows, part.x_bytes);
  await datasets().completeCells(id, plan.parts!.complete);
  const model = await models().insert({ userId, datasetId: id, ...plan.model });
  const json = planFit({ features: rows.map((r) => [r[0], r[2]]), target: rows.map((r) => r[1]), feature_names: ['x1', 'x2'] }, null);
  return { model, json };
}

describe('train set stored as cells', () => {
  it('is encoded once into the parquet a JSON body of the same data gives, with its real fit key; a second pass finds it done', async () => {
    const { model, json } = await storedCellsModel();
    expect(isProvisionalFitKey(model.fit_key)).toBe(true);
    const encode = createTrainSetCellsEncoder({ pool, datasets: datasets(), models: models() });
    const [first, concurrent] = await Promise.all([encode(model), encode(model)]);
    expect(first.fit_key).toBe(json.model.fitKey);
    expect(concurrent.fit_key).toBe(json.model.fitKey);
    const stored = await datasets().findWithData(model.dataset_id!);
    expect(stored).toMatchObject({ format: 'parquet', n_parts: 0, target_column: null, content_hash: json.dataset.contentHash, size_bytes: json.dataset.x.byteLength + json.dataset.y!.byteLength });
    expect(Buffer.from(stored!.x_bytes!).equals(Buffer.from(json.dataset.x))).toBe(true);
    expect(Buffer.from(stored!.y_bytes!).equals(Buffer.from(json.dataset.y!))).toBe(true);
    expect((await pool.query('SELECT count(*)::int AS n FROM dataset_parts WHERE dataset_id = $1', [model.dataset_id])).rows[0].n).toBe(0);
    expect((await models().findById(model.id))!.fit_key).toBe(json.model.fitKey);
    // A redelivered fit (after a crash past the commit) finds the set encoded and the key set.
    expect((await encode(model)).fit_key).toBe(json.model.fitKey);
  });

  it('refuses cells that are not the ones the api stored (a part lost), leaving them as they are', async () => {
    const { model } = await storedCellsModel();
    await pool.query('DELETE FROM dataset_parts WHERE dataset_id = $1 AND row_start = (SELECT max(row_start) FROM dataset_parts WHERE dataset_id = $1)', [model.dataset_id]);
    const encode = createTrainSetCellsEncoder({ pool, datasets: datasets(), models: models() });
    await expect(encode(model)).rejects.toThrow(/the stored cells hold \d+ rows, expected 300|its stored cells are not the ones the api stored/);
    expect((await datasets().findWithData(model.dataset_id!))!.format).toBe('csv-cells');
  });
});
