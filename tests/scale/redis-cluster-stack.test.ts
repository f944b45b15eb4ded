/**
 * An api process and a worker process started with REDIS_CLUSTER_NODES (REDIS_URL pointing nowhere)
 * on a real 6-node Redis Cluster: /ready and /metrics read the cluster, a fit then a predict succeed,
 * the finished and cancel broadcasts cross from one process to the other, and both ride out the
 * SIGKILL of the master that holds the queue prefix's slot.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { TEST_ENCRYPTION_KEYS } from '../helpers/api.js';
import { type TestDatabase, createTestDatabase } from '../helpers/database.js';
import { jsonCells, loadDataset, split } from '../helpers/datasets.js';
import { type TestEmulator, VALID_TOKEN, startTestEmulator } from '../helpers/emulator.js';
import { type Json, request } from '../helpers/http.js';
import { type AppProcess, spawnApp } from '../helpers/processes.js';
import { type RedisCluster, redisClusterAvailable, startRedisCluster } from '../helpers/redis-cluster.js';
import { testPrefix } from '../helpers/redis.js';
import { waitForJob } from '../helpers/stack.js';

const iris = split(loadDataset('iris'));
const X = jsonCells(iris.trainX);
const T = jsonCells(iris.testX);

let cluster: RedisCluster;
let db: TestDatabase;
let emulator: TestEmulator;
let api: AppProcess;
let worker: AppProcess;
let apiUrl: string;
let client: ReturnType<typeof request>;
const prefix = testPrefix();

/** Polls `check` until it holds; fails naming `what` (and the processes' last lines) after `ms`. */
async function until(what: string, check: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline)
      throw new Error(
        `timed out waiting for ${what}\napi:\n${api.output.slice(-15).join('\n')}\nworker:\n${worker.output.slice(-15).join('\n')}`,
      );
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function fitThenPredict(): Promise<{ predict: Json; waitedMs: number }> {
  const fit = await client.post('/v1/models/fit', { features: X, target: iris.trainY });
  expect(fit.status).toBe(202);
  expect((await waitForJob(client, fit.body.job_id)).status).toBe('succeeded');
  // Prefer: wait answers when the worker's "finished" broadcast reaches the api (it does not poll).
  const started = Date.now();
  const predict = await client.post(`/v1/models/${fit.body.model_id}/predict`, { features: T }, { prefer: 'wait=50' });
  return { predict, waitedMs: Date.now() - started };
}

const ready = () => fetch(`${apiUrl}/ready`).then(async (r) => ({ status: r.status, body: (await r.json()) as Json }));

const available = redisClusterAvailable();

(available ? describe : describe.skip)(
  `api and worker processes on a Redis Cluster${available ? '' : ' (skipped: needs redis-server 7+ and redis-cli)'}`,
  () => {
    beforeAll(async () => {
      cluster = await startRedisCluster();
      db = await createTestDatabase();
      emulator = await startTestEmulator();
      const common = {
        DATABASE_URL: db.url,
        REDIS_URL: 'redis://127.0.0.1:9',
        REDIS_CLUSTER_NODES: cluster.nodes,
        QUEUE_PREFIX: prefix,
        TABPFN_API_URL: emulator.url,
        ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS,
      };
      api = spawnApp('api', { ...common, PORT: '0', HOST: '127.0.0.1', MIGRATE_ON_START: 'false', UPSTREAM_PROBE_TTL_MS: '0' });
      worker = spawnApp('worker', {
        ...common,
        METRICS_PORT: '0',
        JOB_BACKOFF_BASE_MS: '100',
        JOB_BACKOFF_MAX_MS: '1000',
        WORKER_LOCK_DURATION_MS: '3000',
      });
      apiUrl = JSON.parse(await api.waitFor(/api listening/)).url;
      await worker.waitFor(/worker started/);
      const setup = await request(apiUrl).post('/v1/auth/setup', { tabpfn_token: VALID_TOKEN });
      expect(setup.status).toBe(201);
      client = request(apiUrl, setup.body.api_key);
    }, 60_000);

    // Inside the describe: runs before the file's process reaper kills the processes and the cluster.
    afterAll(async () => {
      await worker?.stop('SIGTERM');
      await api?.stop('SIGTERM');
      await emulator?.close();
      await db?.drop();
      await cluster?.stop();
    });

    it('/ready checks Redis through the cluster', async () => {
      const r = await ready();
      expect(r.status).toBe(200);
      expect(r.body.checks.redis).toEqual({ ok: true });
    });

    it('a fit then a predict succeed; the finished broadcast crosses from the worker to the api', async () => {
      const { predict, waitedMs } = await fitThenPredict();
      expect(predict.status).toBe(200);
      expect(predict.body.status).toBe('succeeded');
      expect(predict.body.result.predictions).toHaveLength(T.length);
      // Without the broadcast the api would answer only when its 50 s wait ran out.
      expect(waitedMs).toBeLessThan(20_000);
    }, 60_000);

    it('/metrics reports every queue’s depth, read from the cluster', async () => {
      const text = await (await fetch(`${apiUrl}/metrics`)).text();
      const depth = (queue: string, state: string) =>
        Number(
          new RegExp(`^tabpfn_jobs_queue_depth\\{(?=[^}]*queue="${queue}")(?=[^}]*state="${state}")[^}]*\\} (\\d+)$`, 'm').exec(text)?.[1],
        );
      for (const queue of ['fit', 'predict', 'webhook', 'maintenance']) expect(depth(queue, 'waiting')).toBe(0);
      expect(depth('fit', 'completed')).toBeGreaterThanOrEqual(1);
      expect(depth('predict', 'completed')).toBeGreaterThanOrEqual(1);
    });

    it('a cancel crosses from the api to the worker running the job, which aborts its upstream call', async () => {
      emulator.state.setLatency({ fit: 60_000 });
      const abortedBefore = emulator.state.counters(VALID_TOKEN).aborted;
      try {
        const fit = await client.post('/v1/models/fit', { features: X, target: iris.trainY, config: { random_state: 11 } });
        await until(
          'the fit to reach upstream',
          async () => (await client.get(`/v1/jobs/${fit.body.job_id}`)).body.progress?.stage === 'fitting',
        );
        const started = Date.now();
        expect((await client.post(`/v1/jobs/${fit.body.job_id}/cancel`)).status).toBe(200);
        await until(
          'the worker to abort the upstream fit',
          async () => emulator.state.counters(VALID_TOKEN).aborted > abortedBefore,
          15_000,
        );
        expect(Date.now() - started).toBeLessThan(15_000);
        expect((await waitForJob(client, fit.body.job_id, 15_000)).status).toBe('canceled');
      } finally {
        emulator.state.setLatency({ fit: 0 });
      }
    }, 60_000);

    it('survives the SIGKILL of the master holding the prefix’s slot: /ready dips, the replica takes over, jobs run again', async () => {
      const master = await cluster.masterFor(prefix);
      const killedAt = Date.now();
      await cluster.kill(master);
      await until(
        '/ready to report redis down',
        async () => {
          const r = await ready();
          return r.status === 503 && r.body.checks.redis.ok === false;
        },
        15_000,
      );
      await cluster.waitUntilOk();
      expect(await cluster.masterFor(prefix)).not.toBe(master);
      await until('/ready to report redis up again', async () => (await ready()).status === 200);
      const pausedMs = Date.now() - killedAt;
      const { predict } = await fitThenPredict();
      expect(predict.body.status).toBe('succeeded');
      process.stdout.write(`redis cluster failover: /ready back ${pausedMs} ms after the master's SIGKILL\n`);
    }, 90_000);
  },
);
