import { type ChildProcess, spawn } from 'node:child_process';

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

const running = new Set<ChildProcess>();

function killGroup(proc: ChildProcess): void {
  try {
    if (proc.pid) process.kill(-proc.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

// A command still running when the test process ends (crash, jest killing a worker) dies with it.
process.once('exit', () => {
  for (const proc of running) killGroup(proc);
});

/**
 * Runs a command to completion in its own process group with exactly `env` (nothing inherited but
 * what the caller passes). Killed, with what it printed so far in the error, after `timeoutMs`.
 */
export function runCommand(
  command: string,
  args: string[],
  opts: { cwd: string; env: Record<string, string | undefined>; timeoutMs?: number; input?: string },
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const proc = spawn(command, args, { cwd: opts.cwd, env: opts.env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    running.add(proc);
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    proc.stdin.end(opts.input ?? '');
    const timeoutMs = opts.timeoutMs ?? 30_000;
    const timer = setTimeout(() => {
      killGroup(proc);
      reject(new Error(`${command} ${args.join(' ')} still running after ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    proc.on('error', (err) => {
      clearTimeout(timer);
      running.delete(proc);
      reject(err);
    });
    proc.on('close', (code) => {
      clearTimeout(timer);
      running.delete(proc);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Kills every command still running (afterAll). */
export function killRunningCommands(): void {
  for (const proc of running) killGroup(proc);
}
