import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createLogger } from '@tabpfn-jobs/shared/logger';
import { watchParent } from '@tabpfn-jobs/shared/process';
import pretty from 'pino-pretty';
import { watchAncestors } from './start/ancestors.js';
import { banner } from './start/banner.js';
import { dotEnvFile, prepareDotEnv } from './start/dotenv-file.js';

/**
 * `pnpm start`: a supervisor for emulator, api and worker. It reads `.env` once (writing generated
 * secrets on a first run), derives the rest at start (TABPFN_API_URL is the emulator it started),
 * restarts a crashed child, and takes every child down with it: on a signal, when whatever started
 * it dies (watchAncestors), and, because each child watches its IPC channel to us, on our SIGKILL.
 */
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const TSX = pathToFileURL(join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
const APPS = {
  emulator: { entry: 'apps/tabpfn-emulator/src/main.ts', ready: /emulator listening/ },
  api: { entry: 'apps/api/src/main.ts', ready: /api listening/ },
  worker: { entry: 'apps/worker/src/main.ts', ready: /worker started/ },
} as const;
type AppName = keyof typeof APPS;
/** Development settings `pnpm start` implies; `.env` and the real environment override them. */
const DEV_DEFAULTS = { EMULATOR_TOKENS: 'dev-token', EMULATOR_CONTROL: 'true', WEBHOOK_ALLOW_PRIVATE: 'true' };
const STOP_GRACE_MS = 30_000;
const MAX_RESTARTS_PER_MINUTE = 5;

const mode = process.env.TABPFN_JOBS_LOG_FORMAT ?? (process.stdout.isTTY ? 'pretty' : 'json');
const out: NodeJS.WritableStream = mode === 'pretty' ? pretty({ colorize: Boolean(process.stdout.isTTY), sync: true }) : process.stdout;
const log = createLogger({ name: 'start', level: process.env.LOG_LEVEL ?? 'info', destination: out });

const file = dotEnvFile(process.env, ROOT);
const dot = file ? prepareDotEnv(file, { generateSecrets: process.env.NODE_ENV !== 'production', env: process.env }) : { values: {}, notes: [] };
for (const note of dot.notes) log.info(note);
// Children read no `.env` themselves: they get exactly this (real environment > .env > defaults).
const base: Record<string, string | undefined> = { ...DEV_DEFAULTS, ...dot.values, ...process.env, TABPFN_JOBS_DOTENV: 'off' };

interface Running {
  proc: ChildProcess;
  ready: Promise<Record<string, unknown>>;
}
const children = new Map<AppName, Running>();
const crashes: Record<AppName, number[]> = { emulator: [], api: [], worker: [] };
const envOf: Partial<Record<AppName, Record<string, string | undefined>>> = {};
let stopping = false;

/** Child lines: JSON passes through untouched (or pretty-printed); anything else is tagged on stderr. */
function pipeLines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let partial = '';
  stream.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString('utf8')).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) if (line) onLine(line);
  });
  stream.on('end', () => partial && onLine(partial));
}

function start(name: AppName, env: Record<string, string | undefined>): Running {
  envOf[name] = env;
  const proc = spawn(process.execPath, ['--conditions=development', '--import', TSX, APPS[name].entry], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  proc.channel?.unref();
  let markReady: (line: Record<string, unknown>) => void = () => undefined;
  let failStart: (err: Error) => void = () => undefined;
  const ready = new Promise<Record<string, unknown>>((resolve, reject) => {
    markReady = resolve;
    failStart = reject;
  });
  ready.catch(() => undefined);
  let isReady = false;
  pipeLines(proc.stdout!, (line) => {
    out.write(`${line}\n`);
    if (!isReady && APPS[name].ready.test(line)) {
      isReady = true;
      markReady(JSON.parse(line));
    }
  });
  pipeLines(proc.stderr!, (line) => process.stderr.write(`[${name}] ${line}\n`));
  proc.once('exit', (code, signal) => {
    failStart(new Error(`${name} exited (${signal ?? code}) before it was ready`));
    if (!stopping) onExit(name, code, signal, isReady);
  });
  const running = { proc, ready };
  children.set(name, running);
  return running;
}

function onExit(name: AppName, code: number | null, signal: NodeJS.Signals | null, wasReady: boolean): void {
  const how = signal ? `signal ${signal}` : `code ${code}`;
  if (code === 78) return void shutdown(78, `${name} has a configuration error (above); stopping`);
  if (!wasReady) return void shutdown(code || 1, `${name} exited (${how}) before it was ready; stopping`);
  if (code === 0 || signal === 'SIGTERM' || signal === 'SIGINT') return void shutdown(0, `${name} stopped (${how}); stopping the others`);
  const now = Date.now();
  crashes[name] = [...crashes[name].filter((t) => now - t < 60_000), now];
  const n = crashes[name].length;
  if (n > MAX_RESTARTS_PER_MINUTE) return void shutdown(1, `${name} crashed ${n} times within a minute; giving up`);
  const delayMs = 500 * 2 ** (n - 1);
  log.warn({ child: name, exit: how, restart: n, delay_ms: delayMs }, `${name} crashed (${how}); restarting it in ${delayMs} ms`);
  setTimeout(() => {
    if (stopping) return;
    const again = start(name, envOf[name]!);
    again.ready.then(
      () => log.info({ child: name, pid: again.proc.pid, restart: n }, `${name} restarted (pid ${again.proc.pid})`),
      () => undefined,
    );
  }, delayMs);
}

async function shutdown(code: number, why: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  log.info({ code }, why);
  const live = [...children.values()].map((c) => c.proc).filter((p) => p.exitCode === null && p.signalCode === null);
  const hard = setTimeout(() => {
    for (const p of live) p.kill('SIGKILL');
  }, STOP_GRACE_MS);
  await Promise.all(
    live.map((p) => {
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      return exited;
    }),
  );
  clearTimeout(hard);
  process.exit(code);
}

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => void shutdown(0, `${signal}: stopping everything`));
watchParent();
watchAncestors((pid) => void shutdown(0, `process ${pid} that started pnpm start is gone; stopping everything`));

async function waitReady(url: string, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline && !stopping) {
    const status = await fetch(`${url}/ready`, { signal: AbortSignal.timeout(3_000) }).then((r) => r.status, () => 0);
    if (status === 200) return true;
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}

async function main(): Promise<void> {
  const emulator = await start('emulator', base).ready;
  const emulatorUrl = String(emulator.url);
  // Port 0 picked a free port: keep it across restarts, since api and worker were told this URL.
  envOf.emulator = { ...base, EMULATOR_PORT: new URL(emulatorUrl).port };
  const upstreamUrl = base.TABPFN_API_URL ?? emulatorUrl;
  const appEnv = { ...base, TABPFN_API_URL: upstreamUrl };
  const api = start('api', appEnv);
  const worker = start('worker', appEnv);
  const [apiLine] = await Promise.all([api.ready, worker.ready]);
  const apiUrl = String(apiLine.url);
  const ready = await waitReady(apiUrl, 30_000);
  const info = {
    supervisorPid: process.pid,
    apiUrl,
    ready,
    dashboard: Boolean(base.ADMIN_PASSWORD_HASH),
    emulatorUrl,
    upstreamUrl,
    token: (base.EMULATOR_TOKENS ?? 'dev-token').split(',')[0]!.trim(),
    workerPid: worker.proc.pid,
    databaseUrl: base.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/tabpfn_jobs',
    dotEnv: file,
  };
  // Human banner: on stdout with pretty logs; on stderr beside JSON logs, which get one JSON line instead.
  if (mode === 'pretty') out.write(banner(info));
  else {
    process.stderr.write(banner(info));
    log.info({ api_url: apiUrl, emulator_url: emulatorUrl, upstream_url: upstreamUrl, ready, pids: Object.fromEntries([...children].map(([n, c]) => [n, c.proc.pid])) }, 'stack ready');
  }
}

main().catch((err) => void shutdown(1, `could not start: ${(err as Error).message}`));
