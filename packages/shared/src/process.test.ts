import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from '@jest/globals';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'crash-net-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs a child that installs the net and a shutdown hook, then fails the way `trigger` says. */
function runChild(trigger: string): Promise<{ code: number | null; lines: string[] }> {
  const file = join(dir, `child-${Math.random().toString(36).slice(2)}.ts`);
  writeFileSync(
    file,
    `import { createLogger } from ${JSON.stringify(join(here, 'logger.ts'))};
import { installCrashNet, onShutdown } from ${JSON.stringify(join(here, 'process.ts'))};
const logger = createLogger({ name: 'child' });
installCrashNet(logger);
onShutdown(logger, async (reason) => { logger.info({ reason }, 'shutdown hook ran'); });
setInterval(() => {}, 1000); // a server would keep the process alive like this
${trigger}
`,
  );
  const child = spawn(process.execPath, ['--import', 'tsx', file], { cwd: root, env: { PATH: process.env.PATH }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, lines: out.split('\n').filter(Boolean) })));
}

const parsed = (lines: string[]) => lines.flatMap((l) => { try { return [JSON.parse(l) as Record<string, unknown>]; } catch { return []; } });

describe('installCrashNet', () => {
  it.each([
    ['an unhandled rejection', "void Promise.reject(new Error('boom'));", 'unhandledRejection'],
    ['an uncaught exception', "setImmediate(() => { throw new Error('boom'); });", 'uncaughtException'],
  ])('%s: logged at fatal, the shutdown hook runs, the process exits 1', async (_name, trigger, kind) => {
    const { code, lines } = await runChild(trigger);
    const logs = parsed(lines);
    const fatal = logs.find((l) => l.level === 'fatal');
    expect(fatal).toMatchObject({ kind, err: expect.objectContaining({ message: 'boom' }) });
    expect(logs.find((l) => l.msg === 'shutdown hook ran')).toMatchObject({ reason: kind });
    expect(code).toBe(1);
  }, 30_000);
});
