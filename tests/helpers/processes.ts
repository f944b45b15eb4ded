import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** tsx by absolute URL, so a process may run with any working directory (`--import tsx` resolves from cwd). */
export const TSX = ['--conditions=development', '--import', pathToFileURL(join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href];

const ENTRY = {
  api: 'apps/api/src/main.ts',
  worker: 'apps/worker/src/main.ts',
  emulator: 'apps/tabpfn-emulator/src/main.ts',
} as const;

/**
 * The whole environment a test process gets: nothing of the developer's shell (no HOME, no
 * DATABASE_URL, no LOG_LEVEL they exported) and no `.env` (TABPFN_JOBS_DOTENV=off), only `env`.
 */
export function testEnv(env: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return { PATH: process.env.PATH, NODE_ENV: 'test', LOG_LEVEL: 'info', TABPFN_JOBS_DOTENV: 'off', ...env };
}

export interface AppProcess {
  proc: ChildProcess;
  output: string[];
  /** Resolves with the first output line matching `re`. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Process groups this test file started and that may still be alive. */
const groups = new Set<number>();

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is gone already.
  }
}

/**
 * Kills every process group a test started and is still running (the app and anything it
 * spawned). Runs after each test file (tests/helpers/process-reaper.ts) and when the jest worker
 * exits; if the worker is SIGKILLed, the apps see their IPC channel close and stop (parent-watch.ts).
 */
export function reapAll(): void {
  for (const pid of groups) killGroup(pid, 'SIGKILL');
  groups.clear();
}
process.once('exit', reapAll);

/** Whether a process with this pid exists (signal 0 checks without sending anything). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Runs `node <args>` as a test-owned process: its own process group (reaped by {@link reapAll}), an
 * IPC channel it watches (so it dies with the jest worker), and only the environment it is given.
 */
export function spawnNode(
  label: string,
  args: string[],
  opts: { env: Record<string, string | undefined>; cwd?: string },
): AppProcess {
  return spawnOwned(label, process.execPath, args, opts);
}

/** {@link spawnNode} for any command (`pnpm start`, say). */
export function spawnOwned(
  label: string,
  command: string,
  args: string[],
  opts: { env: Record<string, string | undefined>; cwd?: string },
): AppProcess {
  const proc = spawn(command, args, {
    cwd: opts.cwd ?? ROOT,
    env: opts.env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  // Kept until reaped even after the leader exits: what it spawned may still run in its group.
  if (proc.pid !== undefined) groups.add(proc.pid);
  return track(label, proc);
}

/**
 * {@link spawnOwned} for a program that does not watch the IPC channel (pgbouncer, redis-server): it runs
 * under tests/helpers/leash.js, which SIGKILLs its process group when the jest worker goes away.
 */
export function spawnLeashed(label: string, command: string, args: string[], opts: { env: Record<string, string | undefined>; cwd?: string }): AppProcess {
  return spawnNode(label, [join(ROOT, 'tests', 'helpers', 'leash.js'), command, ...args], opts);
}

/** Runs one app's `main.ts` as a real process, the way `pnpm start:<app>` does, in a test-owned environment. */
export function spawnApp(app: keyof typeof ENTRY, env: Record<string, string | undefined>, opts: { cwd?: string } = {}): AppProcess {
  return spawnNode(app, [...TSX, join(ROOT, ENTRY[app])], { env: testEnv(env), cwd: opts.cwd });
}

function track(app: string, proc: ChildProcess): AppProcess {
  // The app's own IPC use is none: the channel only tells it when we are gone.
  proc.channel?.unref();
  const output: string[] = [];
  const waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  // A chunk can end mid-line: keep the tail until its newline arrives (per stream).
  const partial = { out: '', err: '' };
  const onData = (which: 'out' | 'err') => (chunk: Buffer) => {
    const text = partial[which] + chunk.toString('utf8');
    const lines = text.split('\n');
    partial[which] = lines.pop() ?? '';
    for (const line of lines) {
      if (!line) continue;
      output.push(line);
      for (const w of [...waiters]) {
        if (w.re.test(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  };
  proc.stdout?.on('data', onData('out'));
  proc.stderr?.on('data', onData('err'));
  // Whatever is left unterminated when the process ends is still a line.
  const flushPartial = () => {
    for (const which of ['out', 'err'] as const) {
      if (partial[which]) onData(which)(Buffer.from('\n'));
    }
  };
  proc.once('exit', () => setImmediate(flushPartial));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    proc,
    output,
    exited,
    waitFor(re, timeoutMs = 30_000) {
      const seen = output.find((l) => re.test(l));
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no output matching ${re} from ${app}:\n${output.join('\n')}`)), timeoutMs);
        waiters.push({
          re,
          resolve: (l) => {
            clearTimeout(timer);
            resolve(l);
          },
        });
        void exited.then(() => {
          clearTimeout(timer);
          reject(new Error(`${app} exited before printing ${re}:\n${output.join('\n')}`));
        });
      });
    },
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
}
