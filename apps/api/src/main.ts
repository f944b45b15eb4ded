import { ConfigError, createLogger, ensureDatabase, loadDotEnv, migrateUp } from '@tabpfn-jobs/shared';
import { createApp } from './app.js';
import { loadApiConfig } from './config.js';
import { createApiContext } from './context.js';
import { listen } from './server.js';

async function main(): Promise<void> {
  loadDotEnv();
  const config = loadApiConfig();
  const logger = createLogger({ name: 'api', level: config.LOG_LEVEL });

  if (config.MIGRATE_ON_START) {
    if (config.NODE_ENV !== 'production' && (await ensureDatabase(config.DATABASE_URL))) {
      logger.info('created database');
    }
    const applied = await migrateUp(config.DATABASE_URL, logger);
    if (applied.length) logger.info({ applied }, 'migrations applied');
  }

  const ctx = createApiContext(config, logger);
  const app = createApp(ctx);
  const running = await listen(app, { port: config.PORT, host: config.HOST, logger });
  logger.info({ url: running.url }, 'api listening');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: draining open requests');
    await running.close(config.SHUTDOWN_GRACE_MS);
    await ctx.close();
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
  process.stderr.write(`api failed to start: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
