/** The api process: configuration, migrations, the HTTP server and its shutdown (started by main.ts). */
import { loadDotEnv, migrationDatabaseUrl } from '@tabpfn-jobs/shared/config';
import { ensureDatabase, migrateUp, waitForMigrations } from '@tabpfn-jobs/shared/db';
import { createLogger } from '@tabpfn-jobs/shared/logger';
import { onShutdown, runMain, installCrashNet } from '@tabpfn-jobs/shared/process';
import { createApp } from './app.js';
import { loadApiConfig } from './config.js';
import { createApiContext } from './context.js';
import { listen } from './server.js';

async function main(): Promise<void> {
  loadDotEnv();
  const config = loadApiConfig();
  const logger = createLogger({ name: 'api', level: config.LOG_LEVEL });
  installCrashNet(logger, { forceExitMs: config.SHUTDOWN_GRACE_MS + 5_000 });

  if (config.MIGRATE_ON_START) {
    // DATABASE_URL_DIRECT when set: behind a transaction-mode pooler a migration needs a session of its own.
    const migrationUrl = migrationDatabaseUrl(config);
    if (config.NODE_ENV !== 'production' && (await ensureDatabase(migrationUrl))) {
      logger.info('created database');
    }
    const applied = await migrateUp(migrationUrl, logger);
    if (applied.length) logger.info({ applied }, 'migrations applied');
  } else {
    // Someone else migrates (a release step, another replica): serve only once the schema is there.
    await waitForMigrations(config.DATABASE_URL, logger);
  }

  const ctx = createApiContext(config, logger);
  const app = createApp(ctx);
  const running = await listen(app, { port: config.PORT, host: config.HOST, logger });
  // The stop path is in place before the start is announced: whoever acts on it may send SIGTERM at once.
  onShutdown(logger, async (signal) => {
    logger.info({ signal }, 'shutting down: draining open requests');
    // Requests waiting for a job (Prefer: wait) may finish normally; shortly before the grace period
    // ends they answer with the job as it is, rather than being cut off.
    const answerWaiting = setTimeout(() => ctx.beginShutdown(), Math.max(0, config.SHUTDOWN_GRACE_MS - 1_000));
    await running.close(config.SHUTDOWN_GRACE_MS);
    clearTimeout(answerWaiting);
    await ctx.close();
  });
  logger.info({ url: running.url }, 'api listening');
}

runMain('api', main);
