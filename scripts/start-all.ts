import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadDotEnv } from '@tabpfn-jobs/shared';

/**
 * `pnpm start`: emulator, api and worker together for local use. On the first run in development it
 * writes a git-ignored `.env` with freshly generated secrets, so no secret ever has a default.
 */
const root = process.cwd();
const envFile = join(root, '.env');
if (!process.env.ENCRYPTION_KEYS && !existsSync(envFile) && process.env.NODE_ENV !== 'production') {
  const key = randomBytes(32).toString('base64');
  writeFileSync(
    envFile,
    [
      '# Written by `pnpm start` for local development. Do not commit.',
      `ENCRYPTION_KEYS=k1:${key}`,
      'TABPFN_API_URL=http://127.0.0.1:8089',
      'EMULATOR_TOKENS=dev-token',
      'EMULATOR_CONTROL=true',
      'WEBHOOK_ALLOW_PRIVATE=true',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  process.stdout.write(`wrote ${envFile} with freshly generated secrets\n`);
}
loadDotEnv(root);
const env = { ...process.env, TABPFN_API_URL: process.env.TABPFN_API_URL ?? 'http://127.0.0.1:8089' };

const apps = {
  emulator: 'apps/tabpfn-emulator/src/main.ts',
  api: 'apps/api/src/main.ts',
  worker: 'apps/worker/src/main.ts',
} as const;

const children: ChildProcess[] = [];
let stopping = false;
for (const [name, entry] of Object.entries(apps)) {
  const child = spawn(process.execPath, ['--conditions=development', '--import', 'tsx', entry], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const tag = `[${name}] `;
  const forward = (out: NodeJS.WriteStream) => (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) if (line) out.write(tag + line + '\n');
  };
  child.stdout?.on('data', forward(process.stdout));
  child.stderr?.on('data', forward(process.stderr));
  child.on('exit', (code, signal) => {
    if (stopping) return;
    process.stderr.write(`${tag}exited (${signal ?? code}); stopping the others\n`);
    shutdown(code ?? 1);
  });
  children.push(child);
}

function shutdown(code = 0): void {
  if (stopping) return;
  stopping = true;
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : null))).then(() => process.exit(code));
}
process.on('SIGINT', () => shutdown(0));
process.on('SIGTERM', () => shutdown(0));
