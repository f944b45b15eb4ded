import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

const ENTRY = {
  api: 'apps/api/src/main.ts',
  worker: 'apps/worker/src/main.ts',
  emulator: 'apps/tabpfn-emulator/src/main.ts',
} as const;

export interface AppProcess {
  proc: ChildProcess;
  output: string[];
  /** Resolves with the first output line matching `re`. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Runs one app's `main.ts` as a real process, the way `pnpm start:<app>` does. */
export function spawnApp(app: keyof typeof ENTRY, env: Record<string, string | undefined>): AppProcess {
  const proc = spawn(process.execPath, ['--conditions=development', '--import', 'tsx', ENTRY[app]], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: 'test', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
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
