#!/usr/bin/env node
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { JobWaitTimeoutError, TabPFNJobsError } from '../errors.js';
import { type CommandContext, UsageError, clientFor, commands } from './commands.js';
import { createOutput } from './output.js';
import { resolveConnection } from './settings.js';

const HELP = `tabpfn-jobs: the tabpfn-jobs API from the command line

Usage:
  tabpfn-jobs setup --token <TabPFN token> [--key-name <name>] [--no-save]
  tabpfn-jobs fit <train.csv> --target <column> [--task classification|regression] [--model <name>] [--description <text>]
  tabpfn-jobs predict <model_id> <test.csv> [--output out.csv] [--output-type preds|probas|mean|median|mode|quantiles]
  tabpfn-jobs jobs list [--status <s>] [--type fit|predict] [--model <id>] [--limit <n>]
  tabpfn-jobs jobs show <job_id>
  tabpfn-jobs jobs cancel <job_id>
  tabpfn-jobs models list [--status pending|ready|failed] [--limit <n>]
  tabpfn-jobs models show <model_id>
  tabpfn-jobs models delete <model_id>
  tabpfn-jobs usage

Options:
  --url <url>        API URL (env TABPFN_JOBS_URL; default http://localhost:3000)
  --api-key <key>    API key (env TABPFN_JOBS_API_KEY; or the one \`setup\` saved)
  --json             machine-readable output on stdout
  --no-wait          fit/predict: return once the job is queued
  --timeout <s>      fit/predict: stop waiting after this many seconds
  -q, --quiet        no progress on stderr
  -h, --help         this help

Progress (stage and elapsed time) goes to stderr; results to stdout.
Exit codes: 0 ok, 1 API error or failed job, 2 usage error.`;

const OPTIONS = {
  url: { type: 'string' },
  'api-key': { type: 'string' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
  token: { type: 'string' },
  'key-name': { type: 'string' },
  'no-save': { type: 'boolean' },
  target: { type: 'string' },
  task: { type: 'string' },
  model: { type: 'string' },
  description: { type: 'string' },
  output: { type: 'string', short: 'o' },
  'output-type': { type: 'string' },
  'no-wait': { type: 'boolean' },
  timeout: { type: 'string' },
  status: { type: 'string' },
  type: { type: 'string' },
  limit: { type: 'string' },
} as const;

const GROUPS = new Set(['jobs', 'models']);

/** Runs the CLI; returns the exit code (tests call this in-process too). */
export async function run(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let json = false;
  let url = '';
  try {
    // `pnpm cli -- fit …` forwards the `--`; it is not an end-of-options marker here.
    const args = argv[0] === '--' ? argv.slice(1) : argv;
    const { values, positionals } = parseArgs({ args, options: OPTIONS, allowPositionals: true, strict: true });
    json = Boolean(values.json);
    if (values.version) {
      process.stdout.write('0.1.0\n');
      return 0;
    }
    const [first, ...rest] = positionals;
    if (values.help || !first) {
      process.stdout.write(`${HELP}\n`);
      return first || values.help ? 0 : 2;
    }
    const name = GROUPS.has(first) ? `${first} ${rest.shift() ?? ''}`.trim() : first;
    const command = commands[name];
    if (!command) throw new UsageError(`unknown command "${name}"`);
    const connection = resolveConnection(values, env);
    url = connection.url;
    const apiKey = connection.apiKey;
    if (!apiKey && name !== 'setup') throw new UsageError('no API key: pass --api-key, set TABPFN_JOBS_API_KEY, or run `tabpfn-jobs setup`');
    const ctx: CommandContext = {
      client: clientFor(url, apiKey),
      out: createOutput({ json, quiet: Boolean(values.quiet) }),
      flags: values,
      args: rest,
      url,
      env,
    };
    await command(ctx);
    return 0;
  } catch (err) {
    return report(unreachable(err, url), json);
  }
}

/** fetch's bare "fetch failed" becomes a message that names the URL and the cause. */
function unreachable(err: unknown, url: string): unknown {
  if (!(err instanceof TypeError) || err.message !== 'fetch failed') return err;
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return new Error(`cannot reach the API at ${url}: ${cause?.code ?? cause?.message ?? 'network error'}`);
}

function report(err: unknown, json: boolean): number {
  const usage = err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
  const code = usage ? 2 : 1;
  if (json) {
    const body =
      err instanceof TabPFNJobsError
        ? { error: { status: err.status, code: err.code, message: err.message, request_id: err.requestId, problem: err.problem } }
        : { error: { code: usage ? 'usage' : err instanceof JobWaitTimeoutError ? 'wait_timeout' : 'failed', message: (err as Error).message }, job: (err as { job?: unknown }).job };
    process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
  } else {
    const hint = err instanceof TabPFNJobsError && err.requestId ? ` [request ${err.requestId}]` : '';
    process.stderr.write(`error: ${(err as Error).message}${hint}\n${usage ? 'run `tabpfn-jobs --help` for usage\n' : ''}`);
  }
  return code;
}

/** Run when executed (`pnpm cli`, the `tabpfn-jobs` bin), not when imported. */
function invokedDirectly(): boolean {
  try {
    return Boolean(process.argv[1]) && realpathSync(process.argv[1]!) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

if (invokedDirectly()) {
  run(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`${(err as Error).stack}\n`);
      process.exit(1);
    },
  );
}
