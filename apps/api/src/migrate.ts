import { ConfigError, loadDotEnv, migrateEnvSchema, migrationDatabaseUrl, parseEnv } from '@tabpfn-jobs/shared/config';
import { ensureDatabase, migrateUp } from '@tabpfn-jobs/shared/db';
import { createLogger } from '@tabpfn-jobs/shared/logger';

/**
 * Applies pending migrations and exits: `pnpm migrate` (through scripts/migrate.ts) and, in the image,
 * `node apps/api/dist/migrate.js` (deploy/migrate-job.yaml). Connects to `DATABASE_URL_DIRECT` when set,
 * else `DATABASE_URL`; outside production it first creates the database if it is missing.
 */
loadDotEnv();
try {
  const env = parseEnv(migrateEnvSchema);
  const logger = createLogger({ name: 'migrate', level: env.LOG_LEVEL });
  const url = migrationDatabaseUrl(env);
  if (env.NODE_ENV !== 'production' && (await ensureDatabase(url))) logger.info('created database');
  const applied = await migrateUp(url, logger);
  logger.info(
    { applied, direct: env.DATABASE_URL_DIRECT !== undefined },
    applied.length ? 'migrations applied' : 'database already up to date',
  );
} catch (err) {
  process.stderr.write(`${err instanceof ConfigError ? err.message : (err as Error).stack}\n`);
  process.exit(1);
}
