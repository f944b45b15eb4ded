import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type RedisCluster, redisClusterAvailable, startRedisCluster } from '../helpers/redis-cluster.js';
import { type Receiver, startReceiver } from '../webhooks/support.js';
import { type ScaleStack, expectScaleWorkloadHeld, runScaleWorkload, startScaleStack } from './workload.js';

/**
 * Issue #17's run on a real Redis Cluster (3 masters, 3 replicas, from redis-server): 2 apis and
 * 3 workers with REDIS_CLUSTER_NODES, 300 jobs from 5 accounts. While they run, the master that holds
 * the queues' slot (every key under the hash-tagged prefix lives in one slot) is SIGKILLed: its replica
 * takes over, and every job must still end once, with one result and one webhook.
 */
const describeWithCluster = redisClusterAvailable() ? describe : describe.skip;

/** ms until every api's /ready answers 200 again (it reads a key under the queues' prefix, so on their master). */
async function untilApisReady(stack: ScaleStack, since: number): Promise<number> {
  await stack.until(
    'every api to be ready again',
    async () => (await Promise.all(stack.apiUrls.map((u) => fetch(`${u}/ready`).then((r) => r.status, () => 0)))).every((s) => s === 200),
    [],
    30_000,
  );
  return Date.now() - since;
}

describeWithCluster('300 jobs on a 6-node Redis Cluster, 2 apis, 3 workers, a master killed mid-run', () => {
  let cluster: RedisCluster;
  let stack: ScaleStack;
  let receiver: Receiver;
  beforeAll(async () => {
    cluster = await startRedisCluster({ nodeTimeoutMs: 1_000 });
    receiver = await startReceiver();
    stack = await startScaleStack({ env: { REDIS_CLUSTER_NODES: cluster.nodes } });
  });
  afterAll(async () => {
    await stack?.close();
    await receiver?.close();
    await cluster?.stop();
  });

  it('every job ends once with one result and one webhook, the cancel holds, upstream never says 429; the failover is reported', async () => {
    let killedAt: Date | undefined;
    let failoverMs = 0;
    let queuesPausedMs = 0;
    let killedPort = 0;
    const report = await runScaleWorkload(stack, receiver, {
      jobs: 300,
      whileRunning: async () => {
        // Only once jobs are under way, so the kill lands on workers holding locks and blocked on the queue.
        await stack.until('some jobs to have finished', async () => ((await stack.statusCounts()).succeeded ?? 0) >= 20, []);
        killedPort = await cluster.masterFor(`${stack.prefix}:predict:wait`);
        killedAt = new Date();
        await cluster.kill(killedPort);
        // The queues are back once the apis reach their (new) master again; the cluster as a whole, once every node agrees.
        queuesPausedMs = await untilApisReady(stack, killedAt.getTime());
        await cluster.waitUntilOk(30_000);
        failoverMs = Date.now() - killedAt.getTime();
        expect(await cluster.masterFor(`${stack.prefix}:predict:wait`)).not.toBe(killedPort);
      },
    });
    await expectScaleWorkloadHeld(stack, receiver, report);
    expect(killedAt).toBeDefined();
    // Jobs were still running when the master died, so some ended after it.
    const { rows } = await stack.sql.query<{ n: number }>('SELECT count(*)::int AS n FROM jobs WHERE finished_at > $1', [killedAt]);
    expect(rows[0]!.n).toBeGreaterThan(0);
    process.stderr.write(
      `redis cluster workload: ${JSON.stringify({ killedPort, failoverMs, queuesPausedMs, submitMs: report.submitMs, finishMs: report.finishMs, webhooksMs: report.webhooksMs })}\n`,
    );
  }, 240_000);
});
