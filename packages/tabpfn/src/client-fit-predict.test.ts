import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { RunningEmulator } from '@tabpfn-jobs/tabpfn-emulator';
import { encodeFeatures, encodeTarget } from './encode.js';
import { TrainSetNotFoundError } from './errors.js';
import { testSetInfo } from './predict.js';
import { accuracy, loadDataset, split } from './test-support/datasets.js';
import { startTestEmulator, TOKEN, testClient } from '../../../tests/helpers/tabpfn-client.js';

let emulator: RunningEmulator;

beforeAll(async () => {
  emulator = await startTestEmulator();
});
afterAll(async () => {
  await emulator.close();
});
beforeEach(() => {
  emulator.state.reset();
});

function prepare(name: string, targetColumn?: string) {
  const { train, test } = split(loadDataset(name, targetColumn));
  const x = encodeFeatures(train.features, train.featureNames);
  const y = encodeTarget(train.target);
  const xTest = encodeFeatures(test.features, test.featureNames, { columnTypes: x.columns.map((c) => c.type) });
  return { train, test, x, y, xTest };
}

describe('fit and predict against the emulator', () => {
  it('classifies iris with string labels: preds and probas in sorted label order', async () => {
    const client = testClient(emulator);
    const { x, y, xTest, test } = prepare('iris');
    const stages: string[] = [];
    const fit = await client.fit({ x: x.bytes, y: y.bytes, task: 'classification' }, { onStage: (s) => stages.push(s) });
    expect(fit.uploaded).toBe(true);
    expect(fit.mode).toBe('sync');
    expect(stages).toEqual(['uploading', 'fitting']);

    const preds = await client.predict({
      fittedTrainSetId: fit.fittedTrainSetId,
      x: xTest.bytes,
      task: 'classification',
      outputType: 'preds',
    });
    const labels = preds.prediction as unknown[];
    expect(labels).toHaveLength(test.target.length);
    expect(labels.every((l) => typeof l === 'string')).toBe(true);
    expect(accuracy(labels, test.target)).toBeGreaterThanOrEqual(0.85);
    expect(preds.metadata).toMatchObject({ task: 'classification', test_set_num_rows: test.target.length, test_set_num_cols: 4 });

    const probas = await client.predict({
      fittedTrainSetId: fit.fittedTrainSetId,
      x: xTest.bytes,
      task: 'classification',
      outputType: 'probas',
    });
    const rows = probas.prediction as number[][];
    expect(y.classes).toEqual(['setosa', 'versicolor', 'virginica']);
    expect(rows).toHaveLength(test.target.length);
    for (const [i, row] of rows.entries()) {
      expect(row).toHaveLength(3);
      expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
      expect(y.classes[row.indexOf(Math.max(...row))]).toBe(labels[i]);
    }
  });

  it('regresses diabetes with every output type in the shapes of the spec', async () => {
    const client = testClient(emulator);
    const { x, y, xTest, test } = prepare('diabetes');
    expect(y.type).toBe('number');
    const fit = await client.fit({ x: x.bytes, y: y.bytes, task: 'regression' });
    const n = test.target.length;
    const run = (outputType: string, quantiles?: number[]) =>
      client.predict({
        fittedTrainSetId: fit.fittedTrainSetId,
        x: xTest.bytes,
        task: 'regression',
        outputType,
        ...(quantiles ? { quantiles } : {}),
      });

    for (const outputType of ['mean', 'median', 'mode']) {
      const p = (await run(outputType)).prediction as number[];
      expect(p).toHaveLength(n);
      expect(p.every((v) => Number.isFinite(v))).toBe(true);
    }
    const mean = (await run('mean')).prediction as number[];
    const mae = mean.reduce((s, v, i) => s + Math.abs(v - (test.target[i] as number)), 0) / n;
    const baseline = test.target.reduce<number>((s, v) => s + Math.abs((v as number) - 152), 0) / n;
    expect(mae).toBeLessThan(baseline);

    const q = (await run('quantiles', [0.1, 0.5, 0.9])).prediction as number[][];
    expect(q).toHaveLength(3);
    for (const row of q) expect(row).toHaveLength(n);
    for (let i = 0; i < n; i++) {
      expect(q[0]?.[i]).toBeLessThanOrEqual(q[1]?.[i] as number);
      expect(q[1]?.[i]).toBeLessThanOrEqual(q[2]?.[i] as number);
    }
    expect(((await run('quantiles')).prediction as number[][]).length).toBe(9);

    const main = (await run('main', [0.25, 0.75])).prediction as Record<string, unknown>;
    expect(Object.keys(main).sort()).toEqual(['mean', 'median', 'mode', 'quantiles']);
    expect(main.quantiles as number[][]).toHaveLength(2);

    const full = (await run('full')).prediction as { logits: number[][]; borders: number[]; mean: number[] };
    expect(full.mean).toHaveLength(n);
    expect(full.logits).toHaveLength(n);
    expect(full.borders).toHaveLength((full.logits[0] as number[]).length + 1);
  });

  it('handles penguins: string columns, NA as missing, species as the first column', async () => {
    const client = testClient(emulator);
    const { x, y, xTest, test } = prepare('penguins', 'species');
    expect(x.columns.map((c) => c.type)).toEqual(['string', 'number', 'number', 'number', 'number', 'string', 'number']);
    const fit = await client.fit({ x: x.bytes, y: y.bytes, task: 'classification', description: 'penguins' });
    const preds = (
      await client.predict({ fittedTrainSetId: fit.fittedTrainSetId, x: xTest.bytes, task: 'classification', outputType: 'preds' })
    ).prediction as string[];
    expect(new Set(preds).size).toBeGreaterThan(1);
    expect(accuracy(preds, test.target)).toBeGreaterThanOrEqual(0.85);
  });

  it('keeps numeric and boolean label types', async () => {
    const client = testClient(emulator);
    const x = encodeFeatures([[0], [0.1], [0.2], [1], [1.1], [1.2]]);
    for (const target of [
      [1, 1, 1, 2, 2, 2],
      [false, false, false, true, true, true],
    ]) {
      const fit = await client.fit({ x: x.bytes, y: encodeTarget(target).bytes, task: 'classification' });
      const preds = await client.predict({
        fittedTrainSetId: fit.fittedTrainSetId,
        x: encodeFeatures([[0.05], [1.15]]).bytes,
        task: 'classification',
        outputType: 'preds',
      });
      expect(preds.prediction).toEqual([target[0], target[5]]);
    }
  });

  it('does not upload the same train set twice (409 dedup)', async () => {
    const client = testClient(emulator);
    const { x, y } = prepare('iris');
    const first = await client.fit({ x: x.bytes, y: y.bytes, task: 'classification' });
    const uploadsAfterFirst = emulator.state.counters(TOKEN).uploads;
    expect(uploadsAfterFirst).toBe(2);
    const stages: string[] = [];
    const second = await client.fit({ x: x.bytes, y: y.bytes, task: 'classification' }, { onStage: (s) => stages.push(s) });
    expect(second.uploaded).toBe(false);
    expect(second.trainSetUploadId).toBe(first.trainSetUploadId);
    expect(second.fittedTrainSetId).not.toBe(first.fittedTrainSetId);
    expect(stages).toEqual(['fitting']);
    const c = emulator.state.counters(TOKEN);
    expect(c.uploads).toBe(uploadsAfterFirst);
    expect(c.dedupHits).toBe(1);
    expect(c.fits).toBe(2);
  });

  it('uploads large files in several chunks and the server reassembles them', async () => {
    emulator.state.configure({ uploadChunkBytes: 1000 });
    const client = testClient(emulator, { uploadConcurrency: 3 });
    const { x, y, xTest, test } = prepare('breast_cancer');
    const fit = await client.fit({ x: x.bytes, y: y.bytes, task: 'classification' });
    const expectedChunks = Math.ceil(x.bytes.byteLength / 1000) + Math.ceil(y.bytes.byteLength / 1000);
    expect(emulator.state.counters(TOKEN).uploads).toBe(expectedChunks);
    const preds = await client.predict({
      fittedTrainSetId: fit.fittedTrainSetId,
      x: xTest.bytes,
      task: 'classification',
      outputType: 'preds',
    });
    expect(accuracy(preds.prediction as unknown[], test.target)).toBeGreaterThanOrEqual(0.85);
  });

  it('fits above the async threshold through submit_fit_job and polling', async () => {
    emulator.state.configure({ asyncThresholdBytes: 100, fitLatencyMs: 100, retryInSecs: 0.005 });
    const client = testClient(emulator);
    const { x, y, xTest } = prepare('iris');
    const fit = await client.fit({
      x: x.bytes,
      y: y.bytes,
      task: 'classification',
      inMemorySizeBytes: x.inMemorySizeBytes + y.inMemorySizeBytes,
    });
    expect(fit.mode).toBe('async');
    const c = emulator.state.counters(TOKEN);
    expect(c.asyncFits).toBe(1);
    expect(c.syncFits).toBe(0);
    expect(c.statusPolls).toBeGreaterThanOrEqual(2);
    const preds = await client.predict({
      fittedTrainSetId: fit.fittedTrainSetId,
      x: xTest.bytes,
      task: 'classification',
      outputType: 'preds',
    });
    expect(preds.prediction).toHaveLength(30);
  });

  it('polls after a sync fit that answers pending', async () => {
    emulator.state.configure({ fitLatencyMs: 60, syncFitMaxWaitMs: 10, retryInSecs: 0.005 });
    const client = testClient(emulator);
    const { x, y } = prepare('iris');
    const fit = await client.fit({ x: x.bytes, y: y.bytes, task: 'classification' });
    expect(fit.mode).toBe('sync');
    expect(emulator.state.counters(TOKEN).statusPolls).toBeGreaterThanOrEqual(1);
  });

  it('reads a sync fit answer that streams keepalive whitespace first', async () => {
    emulator.state.configure({ fitLatencyMs: 50, keepaliveIntervalMs: 10 });
    const client = testClient(emulator);
    const { x, y } = prepare('iris');
    const fit = await client.fit({ x: x.bytes, y: y.bytes, task: 'classification' });
    expect(fit.fittedTrainSetId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('raises TrainSetNotFoundError for a forgotten fitted train set', async () => {
    const client = testClient(emulator);
    const { x, y, xTest } = prepare('iris');
    const fit = await client.fit({ x: x.bytes, y: y.bytes, task: 'classification' });
    expect(emulator.state.forgetFittedTrainSet(fit.fittedTrainSetId)).toBe(1);
    const err = await client
      .predict({ fittedTrainSetId: fit.fittedTrainSetId, x: xTest.bytes, task: 'classification', outputType: 'preds' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TrainSetNotFoundError);
    expect(err).toMatchObject({ code: 'tabpfn_not_found', status: 404, retryable: false, fittedTrainSetId: fit.fittedTrainSetId });
    expect((err as TrainSetNotFoundError).traceId).toMatch(/^[0-9a-f]{32}$/);
    // The upload survives, so the refit dedups and works again.
    const refit = await client.fit({ x: x.bytes, y: y.bytes, task: 'classification' });
    expect(refit.uploaded).toBe(false);
    await expect(
      client.predict({ fittedTrainSetId: refit.fittedTrainSetId, x: xTest.bytes, task: 'classification', outputType: 'preds' }),
    ).resolves.toBeDefined();
  });

  it('waits for `proceed` after preparing the upload, and sends nothing more when it rejects', async () => {
    const client = testClient(emulator);
    const { x, y, xTest } = prepare('iris');
    const fit = await client.fit({ x: x.bytes, y: y.bytes, task: 'classification' });
    const input = { fittedTrainSetId: fit.fittedTrainSetId, x: xTest.bytes, task: 'classification' as const, outputType: 'preds' };
    const routes = () => emulator.state.requests.map((r) => r.route).filter((r) => r !== 'get_settings');
    const before = routes().length;

    const ended = new Error('the job ended');
    await expect(client.predict(input, { proceed: Promise.reject(ended) })).rejects.toBe(ended);
    expect(routes().slice(before)).toEqual(['prepare_test_set_upload']);

    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const call = client.predict(input, { proceed: gate });
    // Condition, not a sleep: the prepare has been answered and the call is now parked on the gate.
    for (let i = 0; routes().length < before + 2; i++) {
      if (i > 500) throw new Error(`no second prepare seen: ${routes().slice(before).join(', ')}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(routes().slice(before)).toEqual(['prepare_test_set_upload', 'prepare_test_set_upload']);
    release();
    // The rejected call uploaded nothing, so this one uploads the set, then predicts.
    await expect(call).resolves.toMatchObject({ uploaded: true });
    expect(routes().slice(before + 2)).toEqual(['upload', 'predict']);
  });

  it('predicts on an earlier prepare of the same test set, and prepares again when the earlier one was for another', async () => {
    const client = testClient(emulator);
    const { x, y, xTest } = prepare('iris');
    const fit = await client.fit({ x: x.bytes, y: y.bytes, task: 'classification' });
    const input = { fittedTrainSetId: fit.fittedTrainSetId, x: xTest.bytes, task: 'classification' as const, outputType: 'preds' };
    const routes = () => emulator.state.requests.map((r) => r.route).filter((r) => r !== 'get_settings');
    const expected = await client.predict(input);

    // Announced from size and crc32c alone, before the bytes are at hand: predict reuses its answer.
    const info = testSetInfo(fit.fittedTrainSetId, xTest.bytes, true);
    const before = routes().length;
    const early = client.prepareTestSet(info);
    await expect(client.predict(input, { prepared: early })).resolves.toMatchObject({ prediction: expected.prediction });
    expect(routes().slice(before)).toEqual(['prepare_test_set_upload', 'predict']);

    // A guess that was wrong (another size), or a prepare that failed, costs one prepare more, nothing else.
    for (const guess of [{ ...info, sizeBytes: info.sizeBytes + 1 }, { ...info, fittedTrainSetId: 'no-such-set' }]) {
      const wrong = client.prepareTestSet(guess);
      await wrong.catch(() => undefined);
      const from = routes().length;
      await expect(client.predict(input, { prepared: wrong })).resolves.toMatchObject({ prediction: expected.prediction });
      expect(routes().slice(from)).toEqual(['prepare_test_set_upload', 'predict']);
    }
  });

  it('does not let another token use a fitted train set', async () => {
    const { x, y, xTest } = prepare('iris');
    const fit = await testClient(emulator).fit({ x: x.bytes, y: y.bytes, task: 'classification' });
    const other = testClient(emulator, { token: 'other-token' });
    await expect(
      other.predict({ fittedTrainSetId: fit.fittedTrainSetId, x: xTest.bytes, task: 'classification', outputType: 'preds' }),
    ).rejects.toBeInstanceOf(TrainSetNotFoundError);
  });

  it('deletes datasets', async () => {
    const client = testClient(emulator);
    const { x, y, xTest } = prepare('iris');
    const fit = await client.fit({ x: x.bytes, y: y.bytes, task: 'classification' });
    const deleted = await client.deleteDataset(fit.trainSetUploadId);
    expect(deleted).toEqual(expect.arrayContaining([fit.trainSetUploadId, fit.fittedTrainSetId]));
    await expect(
      client.predict({ fittedTrainSetId: fit.fittedTrainSetId, x: xTest.bytes, task: 'classification', outputType: 'preds' }),
    ).rejects.toBeInstanceOf(TrainSetNotFoundError);
    await expect(client.deleteDataset(fit.trainSetUploadId)).rejects.toMatchObject({ code: 'tabpfn_not_found' });
    expect(await client.deleteAllDatasets()).toEqual([]);
  });
});
