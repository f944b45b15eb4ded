import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { VALID_TOKEN } from '../helpers/emulator.js';
import type { Json } from '../helpers/http.js';
import { loadDataset, split, toCsv } from '../helpers/datasets.js';
import { ROOT } from '../helpers/processes.js';
import { type Stack, startStack } from '../helpers/stack.js';

let stack: Stack;
const dir = mkdtempSync(join(tmpdir(), 'tabpfn-jobs-cli-'));
const ds = loadDataset('iris');
const s = split(ds);
const featureHeader = ds.header.filter((_, j) => j !== ds.targetIndex);

/** Runs the CLI the way `pnpm cli` does, as a real process. */
function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, ['--conditions=development', '--import', 'tsx', 'packages/client/src/cli/main.ts', ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: dir, TABPFN_JOBS_CONFIG: join(dir, 'config.json'), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    proc.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

const json = (out: { stdout: string }): Json => JSON.parse(out.stdout);

beforeAll(async () => {
  stack = await startStack();
  writeFileSync(join(dir, 'train.csv'), toCsv(ds.header, s.train));
  writeFileSync(join(dir, 'test.csv'), toCsv(featureHeader, s.testX));
});
afterAll(async () => {
  await stack?.close();
});

describe('tabpfn-jobs CLI (--json) against a running stack', () => {
  it('setup → fit → predict → result, with progress on stderr', async () => {
    const setup = await cli(['setup', '--token', VALID_TOKEN, '--url', stack.api.url, '--json']);
    expect(setup.code).toBe(0);
    const account = json(setup);
    expect(account.api_key).toMatch(/^tpk_/);
    expect(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'))).toEqual({ url: stack.api.url, api_key: account.api_key });

    // URL and key from the environment this time (the saved settings would work too).
    const env = { TABPFN_JOBS_URL: stack.api.url, TABPFN_JOBS_API_KEY: account.api_key };
    const fit = await cli(['fit', join(dir, 'train.csv'), '--target', 'species', '--json'], env);
    expect([fit.code, fit.stderr]).toEqual([0, expect.stringMatching(/fit [0-9a-f]{8} (queued|running|succeeded).*\d+\.\ds/)]);
    const fitJob = json(fit);
    expect(fitJob).toMatchObject({ type: 'fit', status: 'succeeded' });

    const out = join(dir, 'predictions.csv');
    const predict = await cli(['predict', fitJob.model_id, join(dir, 'test.csv'), '--output', out, '--output-type', 'probas', '--json'], env);
    expect(predict.code).toBe(0);
    const predictJob = json(predict);
    expect(predictJob).toMatchObject({ type: 'predict', status: 'succeeded', output: out });
    const lines = readFileSync(out, 'utf8').trim().split('\n');
    expect(lines[0]).toBe('prediction,p_setosa,p_versicolor,p_virginica');
    expect(lines).toHaveLength(s.testX.length + 1);
    const correct = lines.slice(1).filter((l, i) => l.split(',')[0] === s.testY[i]).length;
    expect(correct / s.testY.length).toBeGreaterThanOrEqual(0.85);

    const shown = json(await cli(['jobs', 'show', predictJob.job_id, '--json'], env));
    expect(shown.result.output_type).toBe('probas');
    const listed = json(await cli(['jobs', 'list', '--model', fitJob.model_id, '--json'], env));
    expect(listed.data).toHaveLength(2);
    const models = json(await cli(['models', 'list', '--json'], env));
    expect(models.data.map((m: Json) => m.model_id)).toEqual([fitJob.model_id]);
    expect(json(await cli(['models', 'show', fitJob.model_id, '--json'], env))).toMatchObject({ status: 'ready', n_features: 4 });
    expect(json(await cli(['usage', '--json'], env)).service.jobs.total).toBe(2);
    expect(json(await cli(['jobs', 'cancel', predictJob.job_id, '--json'], env)).status).toBe('succeeded');

    // Without --json: the predictions go to stdout as CSV, progress to stderr.
    const plain = await cli(['predict', fitJob.model_id, join(dir, 'test.csv')], env);
    expect(plain.code).toBe(0);
    expect(plain.stdout.trim().split('\n')[0]).toBe('prediction');
    expect(plain.stderr).toContain('predict job');

    expect(json(await cli(['models', 'delete', fitJob.model_id, '--json'], env))).toEqual({ model_id: fitJob.model_id, deleted: true });
  });

  it('reports errors as JSON with the API code and exit code 1; usage errors exit 2', async () => {
    const env = { TABPFN_JOBS_URL: stack.api.url, TABPFN_JOBS_API_KEY: 'tpk_nope' };
    const unauthorized = await cli(['models', 'list', '--json'], env);
    expect(unauthorized.code).toBe(1);
    expect(json(unauthorized).error).toMatchObject({ status: 401, code: 'api_key_invalid' });
    const usage = await cli(['fit', join(dir, 'train.csv'), '--json'], env);
    expect(usage.code).toBe(2);
    expect(json(usage).error.code).toBe('usage');
    expect((await cli(['frobnicate'], env)).code).toBe(2);
  });
});
