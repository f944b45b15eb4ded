import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import bcrypt from 'bcryptjs';
import { TEST_ENCRYPTION_KEYS } from '../helpers/api.js';
import { type TestDatabase, createTestDatabase } from '../helpers/database.js';
import { ROOT, TSX, alive, reapAll, spawnApp, spawnNode, testEnv } from '../helpers/processes.js';
import { createTestRedis } from '../helpers/redis.js';

/** Polls until `check` holds; fails naming `what` after `ms` (10x what it normally takes). */
async function until(what: string, check: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const redis = createTestRedis();
let db: TestDatabase;
let poisoned: string;

beforeAll(async () => {
  db = await createTestDatabase();
  // What `pnpm start` (or a developer) leaves in a `.env`: every value here would change what we observe.
  poisoned = mkdtempSync(join(tmpdir(), 'poisoned-env-'));
  writeFileSync(
    join(poisoned, '.env'),
    [
      'EMULATOR_TOKENS=poison-a,poison-b',
      'EMULATOR_CONTROL=true',
      `ADMIN_PASSWORD_HASH=${bcrypt.hashSync('poison', 4)}`,
      'TABPFN_API_URL=http://127.0.0.1:9',
      'LOG_LEVEL=silent',
      '',
    ].join('\n'),
  );
});
afterAll(async () => {
  rmSync(poisoned, { recursive: true, force: true });
  await redis.cleanup();
  await db?.drop();
});

describe('processes a test starts read no .env', () => {
  it('an emulator started in a directory with a poisoned .env uses only what the test set', async () => {
    const emulator = spawnApp('emulator', { EMULATOR_PORT: '0' }, { cwd: poisoned });
    try {
      const line = JSON.parse(await emulator.waitFor(/emulator listening/));
      expect(line.tokens).toBe(1);
      expect(line.control).toBe(false);
      const as = (token: string) => fetch(`${line.url}/protected/`, { headers: { authorization: `Bearer ${token}` } });
      expect((await as('dev-token')).status).toBe(200);
      expect((await as('poison-a')).status).toBe(401);
    } finally {
      await emulator.stop('SIGKILL');
    }
  });

  it('an api started in a directory with a poisoned .env keeps its admin area off', async () => {
    const api = spawnApp(
      'api',
      { DATABASE_URL: db.url, REDIS_URL: redis.url, QUEUE_PREFIX: redis.prefix, ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS, PORT: '0', HOST: '127.0.0.1', MIGRATE_ON_START: 'false' },
      { cwd: poisoned },
    );
    try {
      const url = JSON.parse(await api.waitFor(/api listening/)).url as string;
      // With the .env read, ADMIN_PASSWORD_HASH would turn the dashboard on (401 without credentials).
      expect((await fetch(`${url}/admin/queues`)).status).toBe(404);
    } finally {
      await api.stop('SIGKILL');
    }
  });

  it('the environment a test process gets holds nothing of the developer shell', () => {
    const env = testEnv({ X: '1' });
    expect(Object.keys(env).sort()).toEqual(['LOG_LEVEL', 'NODE_ENV', 'PATH', 'TABPFN_JOBS_DOTENV', 'X']);
    expect(env.TABPFN_JOBS_DOTENV).toBe('off');
  });
});

describe('every process a test starts dies with it', () => {
  it('SIGKILL of the process that started an app (a jest worker, say) stops the app', async () => {
    const parent = spawnNode('parent', [...TSX, join(ROOT, 'tests/helpers/spawn-parent.ts')], { env: testEnv() });
    const { child, url } = JSON.parse(await parent.waitFor(/"child"/));
    expect(alive(child)).toBe(true);
    expect((await fetch(`${url}/`)).status).toBe(200);
    parent.proc.kill('SIGKILL');
    await parent.exited;
    await until(`emulator ${child} to stop after its parent died`, () => !alive(child));
    await expect(fetch(`${url}/`)).rejects.toThrow();
  });

  it('what a test leaves running is killed with its whole process group when the file ends', async () => {
    // A process that starts a grandchild of its own, as the pnpm start supervisor does.
    const script = `const c = require('node:child_process').spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e6)'], { stdio: 'ignore' });
      console.log(JSON.stringify({ grandchild: c.pid })); setInterval(() => {}, 1e6);`;
    const p = spawnNode('leftover', ['-e', script], { env: testEnv() });
    const { grandchild } = JSON.parse(await p.waitFor(/grandchild/));
    expect(alive(grandchild)).toBe(true);
    reapAll();
    await p.exited;
    await until(`grandchild ${grandchild} to die with its group`, () => !alive(grandchild));
  });
});
