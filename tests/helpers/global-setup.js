// Plain ESM: jest loads global setup outside its module system, so this file cannot import the
// TypeScript workspace packages. Migrations run through the same script as `pnpm migrate`.
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DEFAULT_PG = 'postgres://postgres@127.0.0.1:5432/postgres';
const DEFAULT_REDIS = 'redis://127.0.0.1:6379';
const containers = [];

function canConnect(url) {
  const u = new URL(url);
  const port = Number(u.port || (u.protocol.startsWith('redis') ? 6379 : 5432));
  return new Promise((resolve) => {
    const socket = net.connect({ host: u.hostname, port });
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function dockerAvailable() {
  try {
    execFileSync('docker', ['info', '--format', '{{.ServerVersion}}'], { stdio: 'ignore', timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}

async function startContainers(needPg, needRedis) {
  const { GenericContainer, Wait } = await import('testcontainers');
  const out = {};
  if (needPg) {
    const c = await new GenericContainer('postgres:15-alpine')
      .withEnvironment({ POSTGRES_HOST_AUTH_METHOD: 'trust' })
      .withExposedPorts(5432)
      .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
      .start();
    containers.push(c);
    out.pg = `postgres://postgres@${c.getHost()}:${c.getMappedPort(5432)}/postgres`;
  }
  if (needRedis) {
    const c = await new GenericContainer('redis:7-alpine').withExposedPorts(6379).start();
    containers.push(c);
    out.redis = `redis://${c.getHost()}:${c.getMappedPort(6379)}`;
  }
  return out;
}

/** Migrates once into a template database; each test file clones it (tests/helpers/database.ts). */
export default async function globalSetup() {
  let pgUrl = process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL ?? DEFAULT_PG;
  let redisUrl = process.env.TEST_REDIS_URL ?? process.env.REDIS_URL ?? DEFAULT_REDIS;
  const pgUp = await canConnect(pgUrl);
  const redisUp = await canConnect(redisUrl);
  if (!pgUp || !redisUp) {
    if (!dockerAvailable()) {
      throw new Error(
        `tests need Postgres (${pgUrl}: ${pgUp ? 'up' : 'down'}) and Redis (${redisUrl}: ${redisUp ? 'up' : 'down'}); start them or set DATABASE_URL / REDIS_URL`,
      );
    }
    const started = await startContainers(!pgUp, !redisUp);
    pgUrl = started.pg ?? pgUrl;
    redisUrl = started.redis ?? redisUrl;
  }

  const runId = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const template = `tpl_${runId}`;
  const admin = new URL(pgUrl);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  await client.query(`CREATE DATABASE "${template}"`);
  await client.end();
  const templateUrl = new URL(admin);
  templateUrl.pathname = `/${template}`;
  await promisify(execFile)(process.execPath, ['--conditions=development', '--import', 'tsx', 'scripts/migrate.ts'], {
    cwd: root,
    env: { PATH: process.env.PATH, DATABASE_URL: templateUrl.toString(), LOG_LEVEL: 'warn', NODE_ENV: 'test', TABPFN_JOBS_DOTENV: 'off' },
  });

  // Whatever a test starts inherits this, even through a helper that forgets testEnv(): no `.env` is read.
  process.env.TABPFN_JOBS_DOTENV = 'off';
  process.env.TEST_PG_ADMIN_URL = admin.toString();
  process.env.TEST_PG_TEMPLATE = template;
  process.env.TEST_RUN_ID = runId;
  process.env.TEST_REDIS_URL = redisUrl;
  globalThis.__testContainers = containers;
}
