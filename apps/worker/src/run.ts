/** The worker process: configuration, the BullMQ workers and their shutdown (started by main.ts). */
import { loadDotEnv } from '@tabpfn-jobs/shared/config';
import { waitForMigrations } from '@tabpfn-jobs/shared/db';
import { createLogger } from '@tabpfn-jobs/shared/logger';
import { onShutdown, runMain, installCrashNet, tuneTierUp } from '@tabpfn-jobs/shared/process';
import { loadWorkerConfig } from './config.js';
import { startWorkerProcess } from './context.js';

async function main(): Promise<void> {
  loadDotEnv();
  const config = loadWorkerConfig();
  tuneTierUp(config.JIT_INTERRUPT_BUDGET);
  const logger = createLogger({ name: 'worker', level: config.LOG_LEVEL });
  installCrashNet(logger, { forceExitMs: config.SHUTDOWN_GRACE_MS + 5_000 });
  // Heartbeats and maintenance need the schema: started before it exists they fail and leave failed jobs.
  await waitForMigrations(config.DATABASE_URL, logger);
  const worker = await startWorkerProcess(config, logger);
  // Before announcing the start: whoever acts on "worker started" may send SIGTERM at once.
  onShutdown(logger, async (signal) => {
    logger.info({ signal, grace_ms: config.SHUTDOWN_GRACE_MS }, 'shutting down: finishing in-flight jobs');
    await worker.stop();
  });
  logger.info({ worker_id: worker.workerId, concurrency: config.WORKER_CONCURRENCY }, 'worker started');
}

runMain('worker', main);
