import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { describeWithPgBouncer } from '../helpers/pgbouncer.js';
import { type Receiver, startReceiver } from '../webhooks/support.js';
import { type ScaleStack, expectScaleWorkloadHeld, runScaleWorkload, startScaleStack } from './workload.js';

// Issue #17: the 300-job run with every api and worker querying through PgBouncer in transaction mode
// (pool size 10: ten server connections for five processes of DB_POOL_SIZE 10), on one Redis.
describeWithPgBouncer('300 jobs, 5 accounts, 2 apis, 3 workers, through PgBouncer', () => {
  let stack: ScaleStack;
  let receiver: Receiver;
  beforeAll(async () => {
    receiver = await startReceiver();
    stack = await startScaleStack({ pgbouncer: { poolSize: 10 } });
  });
  afterAll(async () => {
    await stack?.close();
    await receiver?.close();
  });

  it('all succeed once, one result and one webhook each, the cancel holds, upstream never says 429', async () => {
    const report = await runScaleWorkload(stack, receiver, { jobs: 300 });
    await expectScaleWorkloadHeld(stack, receiver, report);
    // 50 predicts per token against 30 per window: without the workers' limiter upstream would have said 429.
    for (const n of report.predictsPerToken) expect(n).toBeGreaterThan(stack.upstream.perWindow);
    expect(await stack.pgbouncer!.transactions(stack.dbName)).toBeGreaterThan(1_000);
    process.stderr.write(
      `scale workload through PgBouncer: ${JSON.stringify({ submitMs: report.submitMs, finishMs: report.finishMs, webhooksMs: report.webhooksMs })}\n`,
    );
  }, 180_000);
});
