/**
 * The baseline for queue overhead: a BullMQ worker that does nothing but announce completion on
 * Redis pub/sub, as the real worker announces a finished job. Started by the bench as its own process.
 */
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';

const prefix = process.env.QUEUE_PREFIX ?? '{tabpfn-bench}';
const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const connection = new Redis(url, { maxRetriesPerRequest: null });
const publisher = new Redis(url);
const worker = new Worker(
  'bench-raw',
  async (job) => {
    await publisher.publish(`${prefix}:bench-raw-done`, String(job.id));
  },
  { connection, prefix, concurrency: Number(process.env.WORKER_CONCURRENCY ?? 8) },
);
await worker.waitUntilReady();
process.stdout.write('raw worker started\n');
const stop = async () => {
  await worker.close();
  connection.disconnect();
  publisher.disconnect();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
