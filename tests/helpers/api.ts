import { randomBytes } from 'node:crypto';
import { createLogger } from '@tabpfn-jobs/shared/logger';
import { type ApiConfig, createApiContext, createApp, listen, loadApiConfig } from '@tabpfn-jobs/api';
import { LogCapture } from './log-capture.js';

export const TEST_ENCRYPTION_KEYS = `k1:${randomBytes(32).toString('base64')}`;

export interface TestApi {
  url: string;
  ctx: ReturnType<typeof createApiContext>;
  logs: LogCapture;
  close(): Promise<void>;
}

export function testApiConfig(env: Record<string, string | undefined>): ApiConfig {
  return loadApiConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'debug',
    ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS,
    MIGRATE_ON_START: 'false',
    PORT: '0',
    HOST: '127.0.0.1',
    ...env,
  });
}

/** The real API (real Postgres, real Redis) on a random port. */
export async function startTestApi(env: Record<string, string | undefined>): Promise<TestApi> {
  const config = testApiConfig(env);
  const logs = new LogCapture();
  const logger = createLogger({ name: 'api', level: config.LOG_LEVEL, destination: logs });
  const ctx = createApiContext(config, logger);
  const app = createApp(ctx);
  if (ctx.redis.status !== 'ready') await new Promise((resolve) => ctx.redis.once('ready', resolve));
  const running = await listen(app, { port: 0, host: '127.0.0.1', logger });
  return {
    url: running.url,
    ctx,
    logs,
    async close() {
      await running.close(1_000);
      await ctx.close();
    },
  };
}
