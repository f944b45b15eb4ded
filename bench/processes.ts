import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const OUT_DIR = join(ROOT, 'bench', 'out');
export const LOG_DIR = join(OUT_DIR, 'logs');

const ENTRY = {
  api: 'apps/api/src/main.ts',
  worker: 'apps/worker/src/main.ts',
  emulator: 'apps/tabpfn-emulator/src/main.ts',
  'raw-worker': 'bench/raw-bullmq-worker.ts',
  'raw-parse': 'bench/raw-parse.ts',
  reference: 'bench/reference-server.ts',
} as const;
export type ServiceName = keyof typeof ENTRY;

/** The compiled entry points `pnpm build` writes: what production (and the Dockerfile) runs. */
const BUILT: Partial<Record<ServiceName, string>> = {
  api: 'apps/api/dist/main.js',
  worker: 'apps/worker/dist/main.js',
  emulator: 'apps/tabpfn-emulator/dist/main.js',
};

/** `BENCH_FROM_SOURCE=true` measures the tsx development setup instead of the build. */
export const FROM_SOURCE = process.env.BENCH_FROM_SOURCE === 'true';

export interface Service {
  name: string;
  proc: ChildProcess;
  pid: number;
  logFile: string;
  exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/** Everything this run started, so an error or Ctrl-C never leaves a process behind. */
const running = new Set<Service>();
let counter = 0;

/**
 * Starts one app from its build (as production does; `bench/run.ts` builds first), or from source with
 * tsx under BENCH_FROM_SOURCE=true. Output goes to
 * a log file rather than a pipe: the bench process must not pay for reading every log line.
 */
export function startService(name: ServiceName, env: Record<string, string>, label: string = name): Service {
  mkdirSync(LOG_DIR, { recursive: true });
  const logFile = join(LOG_DIR, `${String(++counter).padStart(2, '0')}-${label}.log`);
  const fd = openSync(logFile, 'w');
  // BENCH_PROFILE=api,worker: V8 CPU profiles of those services into bench/out/profiles (see profile-summary.ts).
  const profile = (process.env.BENCH_PROFILE ?? '').split(',').includes(name)
    ? ['--cpu-prof', `--cpu-prof-dir=${join(OUT_DIR, 'profiles')}`]
    : [];
  const built = FROM_SOURCE ? undefined : BUILT[name];
  // The HTTP reference server runs its own file through tsx, but takes the workspace packages from
  // their build (as the compiled api does) unless BENCH_FROM_SOURCE.
  const conditions = FROM_SOURCE || name !== 'reference' ? ['--conditions=development'] : [];
  const entry = built ? [built] : [...conditions, '--import', 'tsx', ENTRY[name]];
  const proc = spawn(process.execPath, [...profile, ...entry], {
    cwd: ROOT,
    // Only what the bench sets: no developer `.env` (TABPFN_JOBS_DOTENV=off) and no exported settings.
    env: { PATH: process.env.PATH, TABPFN_JOBS_DOTENV: 'off', ...env },
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const service: Service = {
    name: label,
    proc,
    pid: proc.pid!,
    logFile,
    exited,
    async stop(graceMs = 5_000) {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
      running.delete(service);
    },
  };
  running.add(service);
  void exited.then(() => running.delete(service));
  return service;
}

export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((s) => s.stop(2_000)));
}

/** Last resort on exit paths that cannot await (uncaught errors, process.exit). */
function killAllNow(): void {
  for (const s of running) s.proc.kill('SIGKILL');
}
process.on('exit', killAllNow);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    process.stderr.write(`\n${signal}: stopping the bench's processes\n`);
    void stopAll().finally(() => process.exit(130));
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Waits until the service's log has a line matching `re` (or it exits, or time runs out). */
export async function waitForLog(service: Service, re: RegExp, timeoutMs = 60_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void service.exited.then(() => {
    exited = true;
  });
  for (;;) {
    const lines = readFileSync(service.logFile, 'utf8').split('\n');
    const hit = lines.find((l) => re.test(l));
    if (hit) return hit;
    if (exited || Date.now() > deadline) {
      throw new Error(
        `${service.name} ${exited ? 'exited' : 'timed out'} before logging ${re}; see ${service.logFile}:\n${lines.slice(-15).join('\n')}`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Resident memory of a process in bytes: now (VmRSS) and the high-water mark (VmHWM). */
export function memoryOf(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

/** Samples VmRSS every `intervalMs` until stopped; returns the peak seen. */
export function sampleRss(pid: number, intervalMs = 10): { stop(): number } {
  let peak = memoryOf(pid).rss;
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, memoryOf(pid).rss);
    } catch {
      // the process is gone
    }
  }, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      try {
        peak = Math.max(peak, memoryOf(pid).rss);
      } catch {
        // gone
      }
      return peak;
    },
  };
}
