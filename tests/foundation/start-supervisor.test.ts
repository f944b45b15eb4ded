import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { type AppProcess, ROOT, TSX, alive, spawnNode, spawnOwned, testEnv } from '../helpers/processes.js';
import { createTestRedis } from '../helpers/redis.js';

// `pnpm start` beside `pnpm test`: its own ports (0 = free ones), database, Redis prefix and .env file.
const redis = createTestRedis();
const dir = mkdtempSync(join(tmpdir(), 'start-'));
const databases: string[] = [];

afterAll(async () => {
  const admin = new pg.Client({ connectionString: process.env.TEST_PG_ADMIN_URL });
  await admin.connect();
  for (const name of databases) await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`).catch(() => undefined);
  await admin.end();
  await redis.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 30_000, show?: AppProcess): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}\n${show?.output.slice(-30).join('\n') ?? ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function stackEnv(env: Record<string, string>) {
  const name = `t_${process.env.TEST_RUN_ID}_start${randomBytes(3).toString('hex')}`;
  databases.push(name);
  const db = new URL(process.env.TEST_PG_ADMIN_URL!);
  db.pathname = `/${name}`;
  return testEnv({ PORT: '0', EMULATOR_PORT: '0', METRICS_PORT: '0', DATABASE_URL: db.toString(), REDIS_URL: redis.url, QUEUE_PREFIX: redis.prefix, ...env });
}

const supervisor = (env: Record<string, string | undefined>) => spawnNode('pnpm start', [...TSX, join(ROOT, 'scripts/start-all.ts')], { env });

interface Ready {
  api_url: string;
  emulator_url: string;
  upstream_url: string;
  pids: Record<'emulator' | 'api' | 'worker', number>;
}
const readyLine = async (p: AppProcess): Promise<Ready> => JSON.parse(await p.waitFor(/"stack ready"/, 90_000));
const refused = (url: string) => fetch(`${url}/health`).then(() => false, () => true);

describe('pnpm start', () => {
  it('derives TABPFN_API_URL from EMULATOR_PORT over an old .env, prints one banner and JSON logs, and SIGKILL of it stops every child', async () => {
    const emulatorPort = await freePort();
    const dotEnv = join(dir, 'old.env');
    // What earlier versions froze into .env: this TABPFN_API_URL must not win over a changed EMULATOR_PORT.
    writeFileSync(
      dotEnv,
      `# Written by \`pnpm start\` for local development. Do not commit.\nENCRYPTION_KEYS=k1:${randomBytes(32).toString('base64')}\nTABPFN_API_URL=http://127.0.0.1:8089\nEMULATOR_TOKENS=dev-token\nEMULATOR_CONTROL=true\nWEBHOOK_ALLOW_PRIVATE=true\n`,
    );
    const p = supervisor(stackEnv({ EMULATOR_PORT: String(emulatorPort), TABPFN_JOBS_DOTENV: dotEnv }));
    const ready = await readyLine(p);
    expect(new URL(ready.upstream_url).port).toBe(String(emulatorPort));
    const body = (await (await fetch(`${ready.api_url}/ready`)).json()) as { checks: Record<string, { ok: boolean }> };
    expect(body.checks.upstream).toEqual({ ok: true });
    // .env keeps only the generated secret.
    const kept = readFileSync(dotEnv, 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));
    expect(kept.map((l) => l.split('=')[0])).toEqual(['ENCRYPTION_KEYS']);

    await p.waitFor(/tabpfn-jobs is running/);
    expect(p.output.filter((l) => /tabpfn-jobs is running/.test(l))).toHaveLength(1);
    expect(p.output.some((l) => l.includes(`next:  pnpm cli -- setup --token dev-token --url ${ready.api_url}`))).toBe(true);
    // Not a TTY: the children's log lines reach stdout as JSON, untouched.
    const stdout = p.output.filter((l) => l.startsWith('{'));
    expect(stdout.some((l) => JSON.parse(l).msg === 'worker started')).toBe(true);

    p.proc.kill('SIGKILL');
    const pids = Object.values(ready.pids);
    await until('every child of the SIGKILLed supervisor to exit', () => pids.every((pid) => !alive(pid)), 30_000, p);
    expect(await refused(ready.api_url)).toBe(true);
    expect(await refused(ready.emulator_url)).toBe(true);
  });

  it('restarts a crashed child visibly, and SIGTERM stops everything with exit 0; a first run writes only secrets to .env', async () => {
    const dotEnv = join(dir, 'fresh.env');
    const p = supervisor(stackEnv({ TABPFN_JOBS_DOTENV: dotEnv }));
    const ready = await readyLine(p);
    expect(readFileSync(dotEnv, 'utf8')).toMatch(/^# Written by `pnpm start`.*\nENCRYPTION_KEYS=k1:[A-Za-z0-9+/=]{44}\n$/);

    process.kill(ready.pids.worker, 'SIGKILL');
    await p.waitFor(/worker crashed \(signal SIGKILL\); restarting it/, 30_000);
    const restarted = JSON.parse(await p.waitFor(/worker restarted/, 60_000));
    expect(restarted.pid).not.toBe(ready.pids.worker);
    expect(alive(restarted.pid)).toBe(true);

    p.proc.kill('SIGTERM');
    expect((await p.exited).code).toBe(0);
    const pids = [ready.pids.emulator, ready.pids.api, restarted.pid];
    await until('every child to exit after SIGTERM', () => pids.every((pid) => !alive(pid)), 30_000, p);
    expect(await refused(ready.api_url)).toBe(true);
  });

  it('SIGKILL of the `pnpm start` process itself (pnpm → sh → supervisor) leaves nothing running; a TTY-style run pretty-prints', async () => {
    const home = mkdtempSync(join(dir, 'home-'));
    const p = spawnOwned('pnpm', 'pnpm', ['start'], {
      env: stackEnv({ HOME: home, TABPFN_JOBS_DOTENV: join(dir, 'pnpm.env'), TABPFN_JOBS_LOG_FORMAT: 'pretty' }),
    });
    await p.waitFor(/tabpfn-jobs is running/, 90_000);
    const apiUrl = /api\s+(http:\/\/\S+)/.exec((await p.waitFor(/^\s+api\s+http/)).trim())![1]!;
    expect((await fetch(`${apiUrl}/ready`)).status).toBe(200);
    // Pretty: no raw JSON log lines, and the worker's start is there as text.
    expect(p.output.filter((l) => l.startsWith('{"level"'))).toEqual([]);
    expect(p.output.some((l) => /worker started/.test(l))).toBe(true);

    p.proc.kill('SIGKILL');
    await until('the api to stop after pnpm was SIGKILLed', () => refused(apiUrl), 30_000, p);
    await until('no process left in the pnpm start group', () => !groupAlive(p.proc.pid!), 30_000, p);
  });
});

/** Whether any process still belongs to process group `pgid` (signal 0 to the group). */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
