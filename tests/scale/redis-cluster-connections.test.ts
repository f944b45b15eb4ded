/**
 * Every Redis use of the api and the worker, on a real 6-node Redis Cluster (3 masters, 3 replicas):
 * the factory's Cluster connections, BullMQ produce/consume, the rate limiters, the upstream token
 * limiter, the broadcasts, the queue dashboard, and that all our keys share the prefix's slot.
 * In-process apis and worker; tests/scale/redis-cluster-stack.test.ts runs them as processes.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import bcrypt from 'bcryptjs';
import { Cluster, Redis } from 'ioredis';
import { loadApiConfig } from '@tabpfn-jobs/api';
import { redisSettings } from '@tabpfn-jobs/shared/config';
import { createJobEventHub, createQueues, publishCancel, publishJobFinished } from '@tabpfn-jobs/shared/jobs';
import { createLogger } from '@tabpfn-jobs/shared/logger';
import { type RedisConnection, createApiRedis, createWorkerRedis, isCluster } from '@tabpfn-jobs/shared/redis';
import { type WorkerProcess, loadWorkerConfig, startWorkerProcess } from '@tabpfn-jobs/worker';
import { createTokenLimiter, parseLimitRules } from '../../apps/worker/src/upstream/token-limiter.js';
import { TEST_ENCRYPTION_KEYS, type TestApi, startTestApi } from '../helpers/api.js';
import { type TestDatabase, createTestDatabase } from '../helpers/database.js';
import { type TestEmulator, OTHER_TOKEN, VALID_TOKEN, startTestEmulator } from '../helpers/emulator.js';
import { request } from '../helpers/http.js';
import { LogCapture } from '../helpers/log-capture.js';
import { type RedisCluster, redisClusterAvailable, startRedisCluster } from '../helpers/redis-cluster.js';
import { type TestRedis, createTestRedis } from '../helpers/redis.js';

const PASSWORD = 'correct horse battery staple';
const basic = (password: string) => `Basic ${Buffer.from(`admin:${password}`).toString('base64')}`;

let cluster: RedisCluster;
let redis: TestRedis;
let db: TestDatabase;
let emulator: TestEmulator;
let apiA: TestApi;
let apiB: TestApi;
let worker: WorkerProcess;
const opened: RedisConnection[] = [];
const conn = <C extends RedisConnection>(c: C): C => {
  opened.push(c);
  return c;
};

/** Polls `check` until it holds; fails naming `what` after `ms`. */
async function until(what: string, check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Subscribers to `channel` on the whole cluster (classic PUBSUB NUMSUB counts one node's own). */
async function subscribers(channel: string): Promise<number> {
  let n = 0;
  for (const port of cluster.ports) {
    const r = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0 });
    await r.connect();
    n += Number(((await r.pubsub('NUMSUB', channel)) as [string, number])[1]);
    r.disconnect();
  }
  return n;
}

const available = redisClusterAvailable();

// Hooks inside the describe: they run before the file's process reaper (tests/helpers/process-reaper.ts)
// kills the cluster's servers.
(available ? describe : describe.skip)(`on a Redis Cluster${available ? '' : ' (skipped: needs redis-server 7+ and redis-cli)'}`, () => {
  beforeAll(async () => {
    cluster = await startRedisCluster();
    redis = createTestRedis(cluster.settings);
    db = await createTestDatabase();
    emulator = await startTestEmulator();
    // REDIS_URL names nothing that listens: with REDIS_CLUSTER_NODES set it must be ignored.
    const env = {
      DATABASE_URL: db.url,
      REDIS_URL: 'redis://127.0.0.1:9',
      REDIS_CLUSTER_NODES: cluster.nodes,
      QUEUE_PREFIX: redis.prefix,
      TABPFN_API_URL: emulator.url,
      TRUST_PROXY: 'true',
      SETUP_RATE_LIMIT_PER_MINUTE: '4',
      RATE_LIMIT_PER_MINUTE: '5',
      AUTH_CACHE_TTL_MS: '300000',
      ADMIN_PASSWORD_HASH: bcrypt.hashSync(PASSWORD, 4),
      ADMIN_LOGIN_MAX_FAILURES: '2',
    };
    [apiA, apiB] = [await startTestApi(env), await startTestApi(env)];
    const workerConfig = loadWorkerConfig({
      ...env,
      NODE_ENV: 'test',
      ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS,
      METRICS_PORT: '0',
      MAINTENANCE_INTERVAL_MS: '60000',
    });
    worker = await startWorkerProcess(workerConfig, createLogger({ name: 'worker', level: 'debug', destination: new LogCapture() }));
  }, 60_000);

  afterAll(async () => {
    await worker?.stop(1_000);
    await apiA?.close();
    await apiB?.close();
    for (const c of opened) c.disconnect();
    await emulator?.close();
    await db?.drop();
    // The cluster is this file's alone: its keys go with it.
    await cluster?.stop();
  });

  it('the factory builds Cluster connections from REDIS_CLUSTER_NODES (REDIS_URL ignored) and they work', async () => {
    const settings = redisSettings(
      loadApiConfig({ ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS, REDIS_URL: 'redis://127.0.0.1:9', REDIS_CLUSTER_NODES: cluster.nodes }),
    );
    expect(settings).toMatchObject({ mode: 'cluster', nodes: cluster.seeds });
    for (const c of [conn(createApiRedis(settings)), conn(createWorkerRedis(settings))]) {
      expect(c).toBeInstanceOf(Cluster);
      // The api's connection fails fast, also before it is ready: wait for the cluster's slot map.
      if (c.status !== 'ready') await new Promise((resolve) => c.once('ready', resolve));
      expect(isCluster(c)).toBe(true);
      // Keys on every master: the connection follows the slot map (a lone node would answer MOVED).
      for (const key of ['a', 'b', 'c', 'd', 'e', 'f']) await c.set(`${redis.prefix}-probe:${key}`, key);
      expect(await c.get(`${redis.prefix}-probe:f`)).toBe('f');
      await Promise.all(['a', 'b', 'c', 'd', 'e', 'f'].map((key) => c.del(`${redis.prefix}-probe:${key}`)));
    }
    expect(isCluster(apiA.ctx.redis)).toBe(true);
  });

  it('REDIS_CLUSTER_NAT_MAP maps the addresses nodes announce to ones this process reaches', async () => {
    // Nodes that announce names resolving nowhere, as nodes in a container network look from the host.
    const natted = await startRedisCluster({ announceHostnames: true });
    try {
      const node = new Redis({ host: '127.0.0.1', port: natted.ports[0] });
      const slots = (await node.call('CLUSTER', 'SLOTS')) as [number, number, [string]][];
      node.disconnect();
      expect(slots.map(([, , master]) => master[0]).every((host) => /^node-\d+$/.test(host))).toBe(true);
      const config = loadApiConfig({
        ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS,
        REDIS_CLUSTER_NODES: natted.nodes,
        REDIS_CLUSTER_NAT_MAP: natted.natMap,
      });
      const c = conn(createWorkerRedis(redisSettings(config)));
      for (const key of ['a', 'b', 'c', 'd', 'e', 'f']) await c.set(`nat:${key}`, key);
      expect(await Promise.all(['a', 'b', 'c', 'd', 'e', 'f'].map((k) => c.get(`nat:${k}`)))).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
      // The keys landed on more than one master: every node was reached through the map.
      expect(new Set(await Promise.all(['a', 'b', 'c', 'd', 'e', 'f'].map((k) => natted.masterFor(`nat:${k}`)))).size).toBeGreaterThan(1);
      c.disconnect();
    } finally {
      await natted.stop();
    }
  });

  it('refuses a key prefix without a hash tag on a cluster: in the config and in the queue factory', () => {
    expect(() =>
      loadApiConfig({ ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS, REDIS_CLUSTER_NODES: cluster.nodes, QUEUE_PREFIX: 'plain' }),
    ).toThrow(/QUEUE_PREFIX: "plain" has no hash tag/);
    expect(() => createQueues(conn(createWorkerRedis(cluster.settings)), 'plain')).toThrow(/has no hash tag/);
  });

  it("a BullMQ job added through the api's queue connection is consumed by the worker's", async () => {
    const jobId = 'cluster-heartbeat-1';
    await apiA.ctx.queues.maintenance.add('maintenance', { task: 'heartbeat' }, { jobId });
    await until('the worker to complete the job', async () => (await apiA.ctx.queues.maintenance.getJobState(jobId)) === 'completed');
    const job = await apiB.ctx.queues.maintenance.getJob(jobId);
    expect(job?.finishedOn).toBeGreaterThan(0);
    expect(await apiA.ctx.queues.maintenance.getJobCounts('completed')).toMatchObject({ completed: expect.any(Number) });
  });

  it('the setup limit is exact across two apis: 10 concurrent setups from one address, limit 4', async () => {
    const statuses = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        request(i % 2 ? apiA.url : apiB.url)
          .post('/v1/auth/setup', { tabpfn_token: 'tok-unknown-zzzzzzzzzzzzzzzzzz' }, { 'x-forwarded-for': '10.9.9.9' })
          .then((r) => r.status),
      ),
    );
    expect(statuses.filter((s) => s === 429)).toHaveLength(6);
    expect(statuses.filter((s) => s !== 429 && s < 500)).toHaveLength(4);
  });

  it('the per-key limit is exact across two apis: 12 concurrent requests of one key, limit 5', async () => {
    const setup = await request(apiA.url).post('/v1/auth/setup', { tabpfn_token: VALID_TOKEN }, { 'x-forwarded-for': '10.0.0.1' });
    expect(setup.status).toBe(201);
    const statuses = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        request(i % 2 ? apiA.url : apiB.url, setup.body.api_key)
          .get('/v1/me')
          .then((r) => r.status),
      ),
    );
    expect(statuses.filter((s) => s === 200)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(7);
  });

  it('a key revoked through one api stops working in the other at once (the revocation broadcast crosses the cluster)', async () => {
    await until('both apis to subscribe to revocations', async () => (await subscribers(`${redis.prefix}:api-key-revocations`)) >= 2);
    const setup = await request(apiA.url).post('/v1/auth/setup', { tabpfn_token: OTHER_TOKEN }, { 'x-forwarded-for': '10.0.0.2' });
    const second = await request(apiA.url, setup.body.api_key).post('/v1/auth/keys', { name: 'second' });
    const onB = () =>
      request(apiB.url, second.body.api_key)
        .get('/v1/me')
        .then((r) => r.status);
    expect(await onB()).toBe(200); // cached in b for AUTH_CACHE_TTL_MS (5 minutes)
    expect((await request(apiA.url, setup.body.api_key).delete(`/v1/auth/keys/${second.body.id}`)).status).toBe(200);
    await until('b to refuse the revoked key', async () => (await onB()) === 401, 2_000);
  });

  it('admin login failures are counted on the cluster, and the queue dashboard reads every queue', async () => {
    const admin = (password: string, ip: string) =>
      fetch(`${apiA.url}/admin/queues/api/queues`, { headers: { authorization: basic(password), 'x-forwarded-for': ip } });
    expect((await admin('wrong', '10.7.7.7')).status).toBe(401);
    expect((await admin('wrong', '10.7.7.7')).status).toBe(401);
    expect((await admin('wrong', '10.7.7.7')).status).toBe(429);
    expect((await admin(PASSWORD, '10.7.7.7')).status).toBe(429);
    const ok = await admin(PASSWORD, '10.7.7.8');
    expect(ok.status).toBe(200);
    const body = (await ok.json()) as { queues: { name: string; counts: Record<string, number> }[] };
    expect(body.queues.map((q) => q.name).sort()).toEqual(['fit', 'maintenance', 'predict', 'webhook']);
    expect(body.queues.find((q) => q.name === 'maintenance')?.counts.completed).toBeGreaterThanOrEqual(1);
  });

  it('the upstream token limiter is exact and atomic: its Lua runs on keys of one slot', async () => {
    const limiter = createTokenLimiter({
      redis: conn(createWorkerRedis(cluster.settings)),
      prefix: redis.prefix,
      rules: parseLimitRules('fit:5/1m,upload:3/1m'),
    });
    const waits = await Promise.all(Array.from({ length: 20 }, () => limiter.acquire('token-1', ['fit'])));
    expect(waits.filter((w) => w === 0)).toHaveLength(5);
    expect(Math.min(...waits.filter((w) => w > 0))).toBeGreaterThan(50_000);
    // fit is full: a fit+upload call is refused whole, so upload keeps all 3 of its calls.
    expect(await limiter.acquire('token-1', ['fit', 'upload'])).toBeGreaterThan(0);
    const uploads = await Promise.all(Array.from({ length: 5 }, () => limiter.acquire('token-1', ['upload'])));
    expect(uploads.filter((w) => w === 0)).toHaveLength(3);
    expect(await limiter.acquire('token-2', ['fit'])).toBe(0);
  });

  it('finished and cancel broadcasts published on any master reach a subscriber wherever it is', async () => {
    const hub = createJobEventHub(conn(createWorkerRedis(cluster.settings)), redis.prefix);
    await hub.ready;
    const cancels = new Set<string>();
    hub.onCancel((id) => cancels.add(id));
    const masters = await cluster.masters();
    expect(masters).toHaveLength(3);
    for (const port of masters) {
      const node = conn(new Redis({ host: '127.0.0.1', port }));
      const finished = hub.waitForFinish(`job-${port}`, 5_000);
      await publishJobFinished(node, redis.prefix, `job-${port}`, 'succeeded');
      await publishCancel(node, redis.prefix, `cancel-${port}`);
      expect(await finished.promise).toBe('succeeded');
    }
    await until('every cancel to arrive', async () => masters.every((p) => cancels.has(`cancel-${p}`)), 5_000);
    await hub.close();
  });

  it("every key under the prefix lives in the prefix's slot, on one master", async () => {
    const c = conn(createWorkerRedis(cluster.settings));
    const slot = await cluster.slotOf(redis.prefix);
    const byMaster = new Map<number, string[]>();
    for (const port of await cluster.masters()) {
      const node = conn(new Redis({ host: '127.0.0.1', port }));
      byMaster.set(port, await node.keys(`${redis.prefix}*`));
    }
    const keys = [...byMaster.values()].flat();
    // What the tests above wrote: BullMQ queues, each limiter.
    for (const family of [':maintenance:', ':rl:setup:', ':rl:key:', ':rl:admin:', ':upstream-limit:'])
      expect(keys.some((k) => k.includes(family))).toBe(true);
    expect([...byMaster.values()].filter((k) => k.length > 0)).toHaveLength(1);
    expect(byMaster.get(await cluster.masterFor(redis.prefix))).toHaveLength(keys.length);
    const slots = new Set(await Promise.all(keys.map((k) => (c as Cluster).cluster('KEYSLOT', k))));
    expect([...slots]).toEqual([slot]);
  });
});
