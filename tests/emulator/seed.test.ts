import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { AppProcess } from '../helpers/processes.js';
import { fitRequest, fitted, testSet } from './flow.js';
import { send } from './wire.js';
import { startEmulatorProcess } from './process.js';

// `--seed` (and EMULATOR_SEED) make a run repeatable: the fault dice roll the same way for the same
// requests, and the k-NN stand-in answers the same predictions for the same data.
const TOKEN = 'tok';
const started: AppProcess[] = [];

async function start(seed: { arg?: string; env?: string }): Promise<string> {
  const env = { EMULATOR_CONTROL: 'true', EMULATOR_TOKENS: TOKEN, ...(seed.env ? { EMULATOR_SEED: seed.env } : {}) };
  const { app, url } = await startEmulatorProcess(env, seed.arg ? ['--seed', seed.arg] : []);
  started.push(app);
  return url;
}

let byArg: string;
let byEnv: string;
let other: string;
beforeAll(async () => {
  // The flag wins over the environment: this one runs with seed 7.
  [byArg, byEnv, other] = await Promise.all([start({ arg: '7', env: '8' }), start({ env: '7' }), start({ env: '8' })]);
});
afterAll(async () => {
  await Promise.all(started.map((p) => p.stop()));
});

/** From a reset (optionally reseeding): statuses of 30 settings calls under a 50% fault, then a predict's answer. */
async function run(base: string, reseed?: number) {
  await send(base, 'POST', '/_emulator/reset', { json: reseed === undefined ? {} : { seed: reseed } });
  await send(base, 'POST', '/_emulator/faults', { json: { route: 'get_settings', status: 503, probability: 0.5 } });
  const statuses: number[] = [];
  for (let i = 0; i < 30; i += 1) statuses.push((await send(base, 'GET', '/tabpfn/get_settings', { token: TOKEN })).status);
  const f = { base, token: TOKEN };
  const fid = await fitted(f, 'regression');
  const test = await testSet(f, fid);
  const { task_config } = fitRequest('', 'regression');
  const predict = await send(base, 'POST', '/tabpfn/predict', {
    token: TOKEN,
    json: { test_set_upload_id: test, fitted_train_set_id: fid, task_config: { ...task_config, predict_params: { output_type: 'full' } } },
  });
  expect(predict.status).toBe(200);
  const state = await send(base, 'GET', '/_emulator/state');
  return { statuses, prediction: predict.json?.prediction, seed: state.json?.seed };
}

describe('emulator seed', () => {
  it('gives the same fault dice and predictions for the same seed, from --seed or EMULATOR_SEED', async () => {
    const [a, b] = await Promise.all([run(byArg), run(byEnv)]);
    expect([a.seed, b.seed]).toEqual([7, 7]);
    expect(a.statuses).toEqual(b.statuses);
    expect(new Set(a.statuses)).toEqual(new Set([200, 503]));
    expect(a.prediction).toEqual(b.prediction);
  });

  it('rolls the dice differently for another seed, and the same way again after a reset', async () => {
    const first = await run(other);
    expect(first.seed).toBe(8);
    expect(first.statuses).not.toEqual((await run(byEnv)).statuses);
    expect((await run(other)).statuses).toEqual(first.statuses);
  });

  it('takes a new seed from POST /_emulator/reset', async () => {
    const reseeded = await run(byEnv, 8);
    expect(reseeded.seed).toBe(8);
    expect(reseeded.statuses).toEqual((await run(other)).statuses);
  });
});
