import { ConfigError, loadDotEnv, parseEnv } from '@tabpfn-jobs/shared/config';
import { ensureDatabase, migrateUp } from '@tabpfn-jobs/shared/db';
import { createLogger } from '@tabpfn-jobs/shared/logger';
import { z } from 'zod';

/** `pnpm migrate`: creates the database if missing (not in production) and applies pending migrations. */
loadDotEnv();
try {
  const env = parseEnv(
    z.object({
      DATABASE_URL: z.string().url().default('postgres://postgres@127.0.0.1:5432/tabpfn_jobs'),
      NODE_ENV: z.string().default('development'),
      LOG_LEVEL: z.string().default('info'),
    }),
  );
  const logger = createLogger({ name: 'migrate', level: env.LOG_LEVEL });
  if (env.NODE_ENV !== 'production' && (await ensureDatabase(env.DATABASE_URL))) logger.info('created database');
  const applied = await migrateUp(env.DATABASE_URL, logger);
  logger.info({ applied }, applied.length ? 'migrations applied' : 'database already up to date');
} catch (err) {
  process.stderr.write(`${err instanceof ConfigError ? err.message : (err as Error).stack}\n`);
  process.exit(1);
}
