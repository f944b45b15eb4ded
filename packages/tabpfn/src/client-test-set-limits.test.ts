import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { RunningEmulator } from '@tabpfn-jobs/tabpfn-emulator';
import { encodeFeatures, encodeTarget } from './encode.js';
import { errorFromResponse } from './http.js';
import { BadRequestError, TestSetTooLargeError } from './index.js';
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

async function setLimits(limits: Record<string, number>): Promise<void> {
  const res = await fetch(`${emulator.url}/_emulator/limits`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(limits),
  });
  expect(res.status).toBe(200);
}

const rows = (n: number) => Array.from({ length: n }, (_, i) => [i / 2, (i * 7) % 5]);

async function fitRegression() {
  const client = testClient(emulator);
  const x = encodeFeatures(rows(20));
  const y = encodeTarget(Array.from({ length: 20 }, (_, i) => i * 1.5));
  const fit = await client.fit({ x: x.bytes, y: y.bytes, task: 'regression' });
  const predict = (n: number, outputType: string) =>
    client.predict({
      fittedTrainSetId: fit.fittedTrainSetId,
      x: encodeFeatures(rows(n), undefined, { columnTypes: x.columns.map((c) => c.type) }).bytes,
      task: 'regression',
      outputType,
    });
  return { predict };
}

describe('test-set limits (TestSetTooLargeError)', () => {
  it('maps too many test rows to TestSetTooLargeError with maxRows, not retryable', async () => {
    const { predict } = await fitRegression();
    await setLimits({ test_set_max_rows: 8 });
    const err = await predict(9, 'mean').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TestSetTooLargeError);
    expect(err).toBeInstanceOf(BadRequestError);
    expect(err).toMatchObject({
      code: 'tabpfn_test_set_too_large',
      status: 400,
      retryable: false,
      errorCode: 'USER_ERROR',
      maxRows: 8,
      fullRegressionOutput: false,
      upstreamMessage:
        'The number of test rows (9) exceeds the maximum of 8. Split the test set across multiple calls to reduce the number of rows.',
    });
    expect((err as TestSetTooLargeError).maxCells).toBeUndefined();
    expect(emulator.state.counters(TOKEN).predicts).toBe(0);
    // Within the limit: fine.
    expect((await predict(8, 'mean')).prediction).toHaveLength(8);
  });

  it('reports the full-regression-output cap for output_type full', async () => {
    const { predict } = await fitRegression();
    await setLimits({ test_set_max_rows_w_full_regression_output: 5 });
    const err = await predict(6, 'full').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TestSetTooLargeError);
    expect(err).toMatchObject({ maxRows: 5, fullRegressionOutput: true, retryable: false });
    expect((await predict(6, 'mean')).prediction).toHaveLength(6);
    const full = (await predict(5, 'full')).prediction as { mean: number[] };
    expect(full.mean).toHaveLength(5);
  });

  it('maps too many test cells to TestSetTooLargeError with maxCells', async () => {
    const { predict } = await fitRegression();
    await setLimits({ test_set_max_cells: 10 });
    const err = await predict(6, 'mean').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TestSetTooLargeError);
    expect(err).toMatchObject({ maxCells: 10, upstreamMessage: 'The number of test cells (12) exceeds the maximum of 10.' });
    expect((err as TestSetTooLargeError).maxRows).toBeUndefined();
    expect((await predict(5, 'mean')).prediction).toHaveLength(5);
  });

  it('leaves other 400s as plain BadRequestError', async () => {
    emulator.state.addFault({ route: 'predict', status: 400, message: 'bad columns', errorCode: 'USER_ERROR' });
    const { predict } = await fitRegression();
    const err = await predict(3, 'mean').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BadRequestError);
    expect(err).not.toBeInstanceOf(TestSetTooLargeError);
    expect(err).toMatchObject({ code: 'tabpfn_bad_request' });
  });

  it('parses the limit from any user-error status and digit grouping', () => {
    const res = (status: number, message: string) => ({
      status,
      headers: {},
      text: JSON.stringify({ message, error_code: 'USER_ERROR', trace_id: 't' }),
    });
    const rows = errorFromResponse(res(500, 'The number of test rows (2,000) exceeds the maximum of 1,000. Split ...'), 'predict');
    expect(rows).toBeInstanceOf(TestSetTooLargeError);
    expect(rows).toMatchObject({ maxRows: 1000, status: 500, retryable: false });
    const cells = errorFromResponse(res(422, 'The number of test cells (30) exceeds the maximum of 20.'), 'predict');
    expect(cells).toMatchObject({ maxCells: 20, code: 'tabpfn_test_set_too_large' });
    expect(errorFromResponse(res(503, 'The number of test rows (2) exceeds the maximum of 1.'), 'predict')).not.toBeInstanceOf(
      TestSetTooLargeError,
    );
  });
});
