import { ConfigError, createLogger, loadDotEnv } from '@tabpfn-jobs/shared';
import { loadWorkerConfig } from './config.js';
import { startWorkerProcess } from './context.js';

async function main(): Promise<void> {
  loadDotEnv();
  const config = loadWorkerConfig();
  const logger = createLogger({ name: 'worker', level: config.LOG_LEVEL });
  const worker = await startWorkerProcess(config, logger);
  logger.info({ worker_id: worker.workerId, concurrency: config.WORKER_CONCURRENCY }, 'worker started');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, grace_ms: config.SHUTDOWN_GRACE_MS }, 'shutting down: finishing in-flight jobs');
    await worker.stop();
    logger.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((err) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(78);
  }
  process.stderr.write(`worker failed to start: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
