import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { verifyWebhook } from '@tabpfn-jobs/client';
import { VALID_TOKEN } from '../helpers/emulator.js';
import type { Json } from '../helpers/http.js';
import { loadDataset, split, toCsv } from '../helpers/datasets.js';
import { ROOT } from '../helpers/processes.js';
import { type Stack, startStack } from '../helpers/stack.js';
import { type CommandResult, killRunningCommands, runCommand } from './run-command.js';
import { startReceiver, until } from './support.js';

let stack: Stack;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
const dir = mkdtempSync(join(tmpdir(), 'tabpfn-jobs-cli-'));
const ds = loadDataset('iris');
const s = split(ds);
const featureHeader = ds.header.filter((_, j) => j !== ds.targetIndex);
/** Only what the test sets: no developer settings, no saved key from a real `setup`. */
const baseEnv = { PATH: process.env.PATH, HOME: dir, TABPFN_JOBS_CONFIG: join(dir, 'config.json') };

// By URL: a bare `--import tsx` is resolved from the working directory, which is not always the repository.
const TSX = pathToFileURL(join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;

/** Runs the CLI's entry point as a real process (from the repository root unless `cwd` says otherwise). */
function cli(args: string[], env: Record<string, string> = {}, cwd = ROOT): Promise<CommandResult> {
  return runCommand(process.execPath, ['--conditions=development', '--import', TSX, join(ROOT, 'packages/client/src/cli/main.ts'), ...args], {
    cwd,
    env: { ...baseEnv, ...env },
  });
}

/** Runs `pnpm <pnpmArgs> cli -- <args>` exactly as README says, from `cwd`. */
function pnpmCli(pnpmArgs: string[], args: string[], env: Record<string, string>, cwd: string): Promise<CommandResult> {
  return runCommand('pnpm', [...pnpmArgs, 'cli', '--', ...args], { cwd, env: { ...baseEnv, ...env }, timeoutMs: 45_000 });
}

const json = (out: { stdout: string }): Json => JSON.parse(out.stdout);

beforeAll(async () => {
  receiver = await startReceiver();
  stack = await startStack({
    apiEnv: { WEBHOOK_ALLOW_PRIVATE: 'true' },
    // Batch predicts: upstream's limits read afresh for every predict (a test lowers them), one chunk
    // at a time, and results over 100 rows only at links.result (streamed, never inlined).
    workerEnv: { TABPFN_SETTINGS_TTL_MS: '0', PREDICT_CHUNK_CONCURRENCY: '1', PREDICT_INLINE_RESULT_ROWS: '100' },
  });
  writeFileSync(join(dir, 'train.csv'), toCsv(ds.header, s.train));
  writeFileSync(join(dir, 'test.csv'), toCsv(featureHeader, s.testX));
});
afterAll(async () => {
  killRunningCommands();
  await stack?.close();
  await receiver?.close();
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

describe('tabpfn-jobs CLI from any directory', () => {
  it('`pnpm -w cli` in a subdirectory of the repository reads paths relative to that directory', async () => {
    const { api_key } = await stack.account();
    const env = { TABPFN_JOBS_URL: stack.api.url, TABPFN_JOBS_API_KEY: api_key };
    const datasets = join(ROOT, 'tests/fixtures/datasets');
    const fit = await pnpmCli(['-w'], ['fit', 'iris.csv', '--target', 'species', '--json', '--quiet'], env, datasets);
    expect([fit.code, fit.stderr]).toEqual([0, expect.any(String)]);
    expect(json({ stdout: fit.stdout.slice(fit.stdout.indexOf('{')) })).toMatchObject({ type: 'fit', status: 'succeeded', n_rows: 150 });
  });

  it('`pnpm --dir <repo> cli` outside the repository reads and writes relative to the caller', async () => {
    const { api_key } = await stack.account();
    const env = { TABPFN_JOBS_URL: stack.api.url, TABPFN_JOBS_API_KEY: api_key };
    const outside = mkdtempSync(join(tmpdir(), 'tabpfn-jobs-cli-outside-'));
    writeFileSync(join(outside, 'train.csv'), toCsv(ds.header, s.train));
    writeFileSync(join(outside, 'test.csv'), toCsv(featureHeader, s.testX));
    const fit = await pnpmCli(['--dir', ROOT], ['fit', 'train.csv', '--target', 'species', '--json', '--quiet'], env, outside);
    expect(fit.code).toBe(0);
    const modelId = json({ stdout: fit.stdout.slice(fit.stdout.indexOf('{')) }).model_id;
    const predict = await pnpmCli(['--dir', ROOT], ['predict', modelId, 'test.csv', '--output', 'predictions.csv', '--quiet'], env, outside);
    expect(predict.code).toBe(0);
    expect(readFileSync(join(outside, 'predictions.csv'), 'utf8').trim().split('\n')).toHaveLength(s.testX.length + 1);
  });

  it('the entry point started from another directory resolves paths against it (the installed bin does the same)', async () => {
    const { api_key } = await stack.account();
    const env = { TABPFN_JOBS_URL: stack.api.url, TABPFN_JOBS_API_KEY: api_key };
    const fit = await cli(['fit', 'train.csv', '--target', 'species', '--json'], env, dir);
    expect(fit.code).toBe(0);
    expect(json(fit)).toMatchObject({ type: 'fit', status: 'succeeded' });
  });
});

describe('tabpfn-jobs CLI usage errors exit 2 before anything is sent', () => {
  it('a missing file, a directory, an unwritable --output, bad numbers, events without a URL', async () => {
    const { api_key, client } = await stack.account();
    const env = { TABPFN_JOBS_URL: stack.api.url, TABPFN_JOBS_API_KEY: api_key };
    mkdirSync(join(dir, 'a-directory'), { recursive: true });

    const missing = await cli(['fit', 'no-such.csv', '--target', 'species'], env, dir);
    expect([missing.code, missing.stderr]).toEqual([2, expect.stringContaining(`cannot read no-such.csv: no such file (${join(dir, 'no-such.csv')})`)]);
    const missingJson = await cli(['predict', 'mdl_x', 'no-such.csv', '--json'], env, dir);
    expect([missingJson.code, json(missingJson).error]).toEqual([2, { code: 'usage', message: expect.stringContaining('no such file') }]);
    const directory = await cli(['fit', 'a-directory', '--target', 'species'], env, dir);
    expect([directory.code, directory.stderr]).toEqual([2, expect.stringContaining('is a directory')]);

    const fit = json(await cli(['fit', 'train.csv', '--target', 'species', '--json'], env, dir));
    const before = (await client.get('/v1/jobs')).body.data.length;
    const badOutput = await cli(['predict', fit.model_id, 'test.csv', '--output', 'nowhere/out.csv'], env, dir);
    expect([badOutput.code, badOutput.stderr]).toEqual([2, expect.stringContaining('cannot write nowhere/out.csv')]);
    expect((await cli(['jobs', 'list', '--limit', 'many'], env, dir)).code).toBe(2);
    expect((await cli(['fit', 'train.csv', '--target', 'species', '--timeout', '-1'], env, dir)).code).toBe(2);
    const badFormat = await cli(['predict', fit.model_id, 'test.csv', '--format', 'xml'], env, dir);
    expect([badFormat.code, badFormat.stderr]).toEqual([2, expect.stringContaining('--format must be one of json, ndjson, csv, not "xml"')]);
    const eventsOnly = await cli(['fit', 'train.csv', '--target', 'species', '--webhook-events', 'job.started'], env, dir);
    expect([eventsOnly.code, eventsOnly.stderr]).toEqual([2, expect.stringContaining('--webhook-events needs --webhook-url')]);
    expect((await cli(['webhooks', 'secret', 'frobnicate'], env, dir)).code).toBe(2);
    expect((await cli(['webhooks', 'deliveries', '--status', 'nope'], env, dir)).code).toBe(2);
    // None of them reached the API.
    expect((await client.get('/v1/jobs')).body.data).toHaveLength(before);
  });
});

describe('tabpfn-jobs CLI webhooks', () => {
  it('--help lists the webhook options and commands', async () => {
    const help = await cli(['--help']);
    expect(help.code).toBe(0);
    for (const text of ['--webhook-url', '--webhook-events', 'webhooks secret [show|rotate]', 'webhooks deliveries [<job_id>]', 'webhooks redeliver']) {
      expect(help.stdout).toContain(text);
    }
  });

  it('fit/predict --webhook-url deliver signed events; webhooks secret and deliveries show them', async () => {
    const { api_key } = await stack.account();
    const env = { TABPFN_JOBS_URL: stack.api.url, TABPFN_JOBS_API_KEY: api_key };
    const fitOut = await cli(['fit', 'train.csv', '--target', 'species', '--json', '--webhook-url', receiver.url, '--webhook-events', 'job.started, job.succeeded'], env, dir);
    expect(fitOut.code).toBe(0);
    const fit = json(fitOut);
    expect(fit).toMatchObject({ status: 'succeeded', webhook_url: receiver.url, webhook_events: ['job.started', 'job.succeeded'] });
    const predict = json(await cli(['predict', fit.model_id, 'test.csv', '--json', '--webhook-url', receiver.url], env, dir));
    expect(predict).toMatchObject({ status: 'succeeded', webhook_url: receiver.url, webhook_events: ['job.succeeded', 'job.failed', 'job.canceled'] });

    const shown = await cli(['webhooks', 'secret', '--json'], env, dir);
    expect(shown.code).toBe(0);
    const { secret } = json(shown);
    expect(secret).toMatch(/^whsec_/);
    expect((await cli(['webhooks', 'secret', 'show'], env, dir)).stdout).toContain(secret);

    const hooks = await until(async () => {
      const mine = receiver.received.filter((r) => r.body.includes(fit.job_id) || r.body.includes(predict.job_id));
      return mine.length >= 3 ? mine : undefined;
    }, 'three webhooks (fit started + succeeded, predict succeeded)');
    const events = hooks.map((h) => verifyWebhook(h.body, h.headers as Record<string, string>, secret));
    expect(events.map((e) => `${e.data.type} ${e.type}`).sort()).toEqual(['fit job.started', 'fit job.succeeded', 'predict job.succeeded']);

    // One job's deliveries, then all of the account's (newest jobs first), each delivered.
    const forFit = await until(async () => {
      const out = json(await cli(['webhooks', 'deliveries', fit.job_id, '--json'], env, dir));
      return out.data.length === 2 && out.data.every((d: Json) => d.status === 'delivered') ? out : undefined;
    }, 'the fit job\'s two deliveries to be delivered');
    expect(forFit.data.map((d: Json) => d.event_type).sort()).toEqual(['job.started', 'job.succeeded']);
    expect(forFit.data[0].attempt_log[0]).toMatchObject({ attempt: 1, status_code: 200 });
    const all = await until(async () => {
      const out = json(await cli(['webhooks', 'deliveries', '--json', '--status', 'delivered'], env, dir));
      return out.data.length === 3 ? out : undefined;
    }, 'all three deliveries listed');
    expect(new Set(all.data.map((d: Json) => d.job_id))).toEqual(new Set([fit.job_id, predict.job_id]));
    expect(json(await cli(['webhooks', 'deliveries', '--json', '--limit', '1'], env, dir)).data).toHaveLength(1);
    const text = await cli(['webhooks', 'deliveries', predict.job_id], env, dir);
    expect(text.stdout.split('\n')[0]).toMatch(/^ID\s+JOB_ID\s+EVENT_TYPE\s+STATUS/);
    expect(text.stdout).toContain(predict.job_id);

    const redelivered = json(await cli(['webhooks', 'redeliver', predict.job_id, '--json'], env, dir));
    expect(redelivered.data).toHaveLength(1);
    await until(async () => (receiver.received.filter((r) => r.body.includes(predict.job_id)).length >= 2 ? true : undefined), 'the redelivery');

    // Rotation: a new secret, the old one still signing for a while.
    const rotated = await cli(['webhooks', 'secret', 'rotate', '--json'], env, dir);
    expect(rotated.code).toBe(0);
    const next = json(rotated);
    expect(next.secret).toMatch(/^whsec_/);
    expect(next.secret).not.toBe(secret);
    expect(Date.parse(next.previous_secret_expires_at)).toBeGreaterThan(Date.now());
    expect(json(await cli(['webhooks', 'secret', '--json'], env, dir)).secret).toBe(next.secret);
  });
});

describe('tabpfn-jobs CLI batch predict', () => {
  /** Upstream takes at most 50 test rows a call, each answered after 300 ms, for the length of `body`. */
  async function smallUpstreamCalls<T>(body: () => Promise<T>): Promise<T> {
    const emu = (path: string, method: string, payload?: unknown) =>
      fetch(`${stack.emulator.url}/_emulator/${path}`, {
        method,
        ...(payload ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(payload) } : {}),
      }).then((r) => expect(r.status).toBe(200));
    await emu('limits', 'PUT', { test_set_max_rows: 50 });
    await emu('latency', 'PUT', { predict: 300 });
    try {
      return await body();
    } finally {
      await emu('latency', 'PUT', { predict: 0 });
      await emu('limits', 'DELETE');
    }
  }

  it('a CSV larger than one upstream call: chunk progress on stderr, the result streamed to --output, and again with jobs result', async () => {
    const { api_key } = await stack.account();
    const env = { TABPFN_JOBS_URL: stack.api.url, TABPFN_JOBS_API_KEY: api_key };
    const fit = json(await cli(['fit', 'train.csv', '--target', 'species', '--json', '--quiet'], env, dir));
    // 230 rows (iris over and over, cells nudged to be unique so the stored set is over 4 KB: see sdk.test.ts): five calls of 50.
    const features = ds.rows.map((r) => r.filter((_, j) => j !== ds.targetIndex));
    const rows = Array.from({ length: 230 }, (_, i) => features[i % features.length]!.map((c) => (Number(c) + i * 1e-6).toFixed(6)));
    writeFileSync(join(dir, 'batch.csv'), toCsv(featureHeader, rows));

    const out = join(dir, 'batch-predictions.csv');
    const predict = await smallUpstreamCalls(() => cli(['predict', fit.model_id, 'batch.csv', '-o', 'batch-predictions.csv', '--output-type', 'probas'], env, dir));
    expect([predict.code, predict.stdout]).toEqual([0, `predictions written to ${out}\n`]);

    // stderr is not a terminal: one line per change, no carriage returns; the chunk counters in each.
    const progress = predict.stderr.split('\n').filter((l) => l.includes('predicting'));
    expect(progress.length).toBeGreaterThanOrEqual(1);
    for (const line of progress) expect(line).toMatch(/^predict [0-9a-f]{8} running · predicting: chunk [0-5]\/5, \d{1,3}\/230 rows · \d+\.\ds$/);
    expect(new Set(progress.map((l) => l.replace(/ · [\d.]+s$/, ''))).size).toBe(progress.length);
    expect(predict.stderr).not.toContain('\r');

    const lines = readFileSync(out, 'utf8').trimEnd().split('\n');
    expect(lines[0]).toBe('prediction,p_setosa,p_versicolor,p_virginica');
    expect(lines).toHaveLength(231);
    const truth = Array.from({ length: 230 }, (_, i) => ds.rows[i % ds.rows.length]![ds.targetIndex]);
    const correct = lines.slice(1).filter((l, i) => l.split(',')[0] === truth[i]).length;
    expect(correct / 230).toBeGreaterThanOrEqual(0.85);

    // The same job's result again: NDJSON (from the extension) to a file, JSON to stdout.
    const jobId = /predict job ([0-9a-f-]{36}) queued/.exec(predict.stderr)![1]!;
    const ndjson = await cli(['jobs', 'result', jobId, '-o', 'batch.jsonl', '--json'], env, dir);
    expect(json(ndjson)).toMatchObject({ job_id: jobId, output: join(dir, 'batch.jsonl'), format: 'ndjson' });
    const objects = readFileSync(join(dir, 'batch.jsonl'), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(objects.map((o) => o.row)).toEqual(Array.from({ length: 230 }, (_, i) => i));
    expect(objects.map((o) => o.prediction)).toEqual(lines.slice(1).map((l) => l.split(',')[0]));
    const doc = await cli(['jobs', 'result', jobId, '--format', 'json'], env, dir);
    expect(doc.code).toBe(0);
    expect(JSON.parse(doc.stdout)).toMatchObject({ output_type: 'probas', predictions: objects.map((o) => o.prediction) });
    // The job itself has no inline result (too large); `jobs show` says where it is.
    expect(json(await cli(['jobs', 'show', jobId, '--json'], env, dir))).toMatchObject({ n_rows: 230, links: { result: `/v1/jobs/${jobId}/result` } });
  });
});
