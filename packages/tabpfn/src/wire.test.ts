import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { RecordedRequest, RunningEmulator } from '@tabpfn-jobs/tabpfn-emulator';
import { encodeFeatures, encodeTarget } from './encode.js';
import { crc32cBase64 } from './parquet.js';
import { startTestEmulator, TOKEN, testClient } from '../../../tests/helpers/tabpfn-client.js';

/** The client's requests, recorded at the emulator, against the wire protocol (generation C). */
let emulator: RunningEmulator;
const x = encodeFeatures([
  [1, 'a'],
  [2, null],
  [3, 'a'],
  [4, 'b'],
]);
const y = encodeTarget([0.5, 1.5, 2.5, 3.5]);
const xTest = encodeFeatures([[2.5, 'b']]);

beforeAll(async () => {
  emulator = await startTestEmulator();
});
afterAll(async () => {
  await emulator.close();
});
beforeEach(() => {
  emulator.state.reset();
});

const byRoute = (route: string): RecordedRequest[] => emulator.state.requests.filter((r) => r.route === route);
const only = (route: string): RecordedRequest => {
  const list = byRoute(route);
  expect(list).toHaveLength(1);
  return list[0] as RecordedRequest;
};
const UUID = expect.stringMatching(/^[0-9a-f-]{36}$/);

describe('wire format', () => {
  it('sends a sync fit and a predict exactly as tabpfn-client 0.4.1 does', async () => {
    const client = testClient(emulator);
    const fit = await client.fit({ x: x.bytes, y: y.bytes, task: 'regression' });
    await client.predict({
      fittedTrainSetId: fit.fittedTrainSetId,
      x: xTest.bytes,
      task: 'regression',
      outputType: 'quantiles',
      quantiles: [0.1, 0.5, 0.9],
    });
    await client.predict({ fittedTrainSetId: fit.fittedTrainSetId, x: xTest.bytes, task: 'regression', outputType: 'mean' });

    expect(emulator.state.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      'GET /tabpfn/get_settings',
      'POST /tabpfn/prepare_train_set_upload',
      expect.stringMatching(/^PUT \/_upload\/[0-9a-f-]{36}\/(x|y)_train\/0$/),
      expect.stringMatching(/^PUT \/_upload\/[0-9a-f-]{36}\/(x|y)_train\/0$/),
      'POST /tabpfn/fit',
      'POST /tabpfn/prepare_test_set_upload',
      expect.stringMatching(/^PUT \/_upload\/[0-9a-f-]{36}\/x_test\/0$/),
      'POST /tabpfn/predict',
      'POST /tabpfn/prepare_test_set_upload',
      'POST /tabpfn/predict',
    ]);

    for (const r of emulator.state.requests) {
      expect(r.headers.authorization).toBe(`Bearer ${TOKEN}`);
      expect(r.headers['prior-client-version']).toBe('0.4.1');
    }

    // Null fields are omitted: no description, no use_chunks.
    expect(only('prepare_train_set_upload').body).toEqual({
      x_train_info: { format: 'parquet', hash: crc32cBase64(x.bytes), size_bytes: x.bytes.byteLength },
      y_train_info: { format: 'parquet', hash: crc32cBase64(y.bytes), size_bytes: y.bytes.byteLength },
      force_reupload: false,
    });

    const puts = byRoute('upload');
    const xPut = puts.find((r) => r.path.includes('/x_train/')) as RecordedRequest;
    expect(xPut.headers['content-type']).toBe('application/octet-stream');
    expect(xPut.body).toEqual({ bytes: x.bytes.byteLength });
    expect(xPut.query).toMatchObject({ expires: expect.any(String), signature: expect.any(String) });

    expect(only('fit').body).toEqual({
      train_set_upload_id: fit.trainSetUploadId,
      task_config: { task: 'regression', tabpfn_config: { ignore_pretraining_limits: false, random_state: 0 } },
      tabpfn_systems: ['preprocessing', 'text'],
    });
    expect(only('fit').headers['content-type']).toBe('application/json');

    expect(byRoute('prepare_test_set_upload')[0]?.body).toEqual({
      fitted_train_set_id: fit.fittedTrainSetId,
      x_test_info: { format: 'parquet', hash: crc32cBase64(xTest.bytes), size_bytes: xTest.bytes.byteLength },
      force_reupload: false,
    });
    // The second prepare of the same test set is a 409 dedup hit: no second PUT.
    expect(byRoute('prepare_test_set_upload')[1]?.status).toBe(409);

    const [quantiles, mean] = byRoute('predict');
    expect(quantiles?.body).toEqual({
      test_set_upload_id: UUID,
      fitted_train_set_id: fit.fittedTrainSetId,
      task_config: {
        task: 'regression',
        tabpfn_config: { ignore_pretraining_limits: false, random_state: 0 },
        predict_params: { output_type: 'quantiles', quantiles: [0.1, 0.5, 0.9] },
      },
    });
    expect(((mean as RecordedRequest).body as { task_config: unknown }).task_config).toEqual({
      task: 'regression',
      tabpfn_config: { ignore_pretraining_limits: false, random_state: 0 },
      predict_params: { output_type: 'mean' },
    });
  });

  it('sends classifier defaults, model_path, thinking and description, dropping nulls inside tabpfn_config', async () => {
    const client = testClient(emulator);
    const modelPath = client.modelPath('v2.5_default', 'classification');
    await client.fit({
      x: x.bytes,
      y: encodeTarget(['a', 'b', 'a', 'b']).bytes,
      task: 'classification',
      description: 'my data',
      modelPath,
      tabpfnConfig: { n_estimators: 4, softmax_temperature: null, random_state: 7 },
      thinking: {},
    });
    expect(only('prepare_train_set_upload').body).toMatchObject({ description: 'my data' });
    expect(only('fit').body).toEqual({
      train_set_upload_id: UUID,
      task_config: {
        task: 'classification',
        tabpfn_config: {
          balance_probabilities: false,
          ignore_pretraining_limits: false,
          random_state: 7,
          n_estimators: 4,
          model_path: 'tabpfn-v2.5-classifier-v2.5_default.ckpt',
        },
      },
      tabpfn_systems: ['preprocessing', 'text', 'thinking'],
      thinking_config: {},
    });
  });

  it('submits an async fit and polls get_fit_status with the fitted id', async () => {
    emulator.state.configure({ fitLatencyMs: 80, retryInSecs: 0.002 });
    const client = testClient(emulator, { asyncThresholdBytes: 0 });
    const fit = await client.fit({ x: x.bytes, y: y.bytes, task: 'regression' });
    expect(only('submit_fit_job').body).toEqual(
      expect.objectContaining({ train_set_upload_id: fit.trainSetUploadId, tabpfn_systems: ['preprocessing', 'text'] }),
    );
    const polls = byRoute('get_fit_status');
    expect(polls.length).toBeGreaterThanOrEqual(2);
    for (const p of polls) {
      expect(p.method).toBe('POST');
      expect(p.path).toBe('/tabpfn/get_fit_status');
      expect(p.body).toEqual({ fitted_train_set_id: fit.fittedTrainSetId });
    }
  });

  it('omits the hash when dedup is off and sends force_reupload when asked', async () => {
    const client = testClient(emulator, { dedupDatasets: false, forceReupload: true });
    await client.fit({ x: x.bytes, y: y.bytes, task: 'regression' });
    expect(only('prepare_train_set_upload').body).toEqual({
      x_train_info: { format: 'parquet', size_bytes: x.bytes.byteLength },
      y_train_info: { format: 'parquet', size_bytes: y.bytes.byteLength },
      force_reupload: true,
    });
  });

  it('uses the account paths with their trailing slash', async () => {
    const client = testClient(emulator, { clientVersion: '0.4.9' });
    await client.verifyToken();
    await client.getUsage();
    await client.deleteAllDatasets();
    await client.deleteDataset('abc').catch(() => undefined);
    expect(emulator.state.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      'GET /protected/',
      'POST /get_api_usage/',
      'DELETE /delete_all_datasets/',
      'DELETE /delete_dataset/',
    ]);
    expect(byRoute('delete_dataset')[0]?.query).toEqual({ dataset_uid: 'abc' });
    expect(byRoute('get_api_usage')[0]?.headers['content-length'] ?? '0').toBe('0');
    expect(emulator.state.requests.every((r) => r.headers['prior-client-version'] === '0.4.9')).toBe(true);
  });
});
