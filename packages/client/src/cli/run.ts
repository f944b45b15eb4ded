import { parseArgs } from 'node:util';
import { JobWaitTimeoutError, TabPFNJobsError } from '../errors.js';
import { type CommandContext, UsageError, clientFor, commands } from './commands.js';
import { HELP } from './help.js';
import { VERSION } from './version.js';
import { createOutput } from './output.js';
import { resolveConnection } from './settings.js';

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
  format: { type: 'string' },
  'allow-partial': { type: 'boolean' },
  'no-wait': { type: 'boolean' },
  timeout: { type: 'string' },
  status: { type: 'string' },
  type: { type: 'string' },
  limit: { type: 'string' },
  'webhook-url': { type: 'string' },
  'webhook-events': { type: 'string' },
  delivery: { type: 'string' },
} as const;

const GROUPS = new Set(['jobs', 'models', 'webhooks']);

/**
 * Runs the CLI; returns the exit code. `cwd` is the caller's directory, which relative paths
 * are resolved against (the bin passes process.cwd(), `pnpm cli` the directory pnpm was run in).
 */
export async function run(argv: string[], env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): Promise<number> {
  let json = false;
  let url = '';
  try {
    // `pnpm cli -- fit …` forwards the `--`; it is not an end-of-options marker here.
    const args = argv[0] === '--' ? argv.slice(1) : argv;
    const { values, positionals } = parseArgs({ args, options: OPTIONS, allowPositionals: true, strict: true });
    json = Boolean(values.json);
    if (values.version) {
      process.stdout.write(`${VERSION}\n`);
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
      cwd,
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
