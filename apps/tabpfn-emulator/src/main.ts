import { envBool, envInt, loadDotEnv, parseEnv } from '@tabpfn-jobs/shared/config';
import { createLogger } from '@tabpfn-jobs/shared/logger';
import { onShutdown, runMain } from '@tabpfn-jobs/shared/process';
import { z } from 'zod';
import type { UserAccount } from './accounts.js';
import { modelLimitsSchema } from './routes/control.js';
import { startEmulator } from './server.js';
import { V3_COST_MODELS } from './usage-meter.js';

const list = z
  .string()
  .optional()
  .transform((v) =>
    (v ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );

// Colons separate the fields, so a password cannot contain one.
const USER_ENTRY = /^([^:]+):([^:]+):([^:]+)$/;

function parseUser(entry: string): UserAccount {
  const [, email, password, token] = USER_ENTRY.exec(entry) as RegExpExecArray;
  return { email: email as string, password: password as string, token: token as string };
}

/** `EMULATOR_LIMITS='{"test_set_max_rows":1000}'`: ModelLimit overrides, as `PUT /_emulator/limits` takes them. */
const limitsJson = z
  .string()
  .optional()
  .transform((v, ctx) => {
    if (v === undefined || v.trim() === '') return {};
    try {
      return JSON.parse(v) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be a JSON object of ModelLimit fields' });
      return z.NEVER;
    }
  })
  .pipe(modelLimitsSchema);

const envSchema = z.object({
  EMULATOR_PORT: envInt(8089, 0, 65_535),
  EMULATOR_HOST: z.string().min(1).default('127.0.0.1'),
  EMULATOR_TOKENS: list.transform((v) => (v.length ? v : ['dev-token'])),
  EMULATOR_UNVERIFIED_TOKENS: list,
  EMULATOR_CONTROL: envBool(false),
  EMULATOR_FIT_LATENCY_MS: envInt(0),
  EMULATOR_PREDICT_LATENCY_MS: envInt(0),
  EMULATOR_DAILY_TOKEN_LIMIT: z.coerce.number().int().default(50_000_000),
  // How v3 jobs are metered; `usage-meter.ts` says what each model assumes.
  EMULATOR_V3_COST_MODEL: z.enum(V3_COST_MODELS).default('sublinear'),
  // `email:password:token,...`: accounts the interactive `POST /auth/login/` accepts.
  EMULATOR_USERS: list
    .refine((v) => v.every((e) => USER_ENTRY.test(e)), 'each entry must be email:password:token')
    .transform((v) => v.map(parseUser)),
  EMULATOR_ASYNC_THRESHOLD_BYTES: envInt(52_428_800),
  EMULATOR_LIMITS: limitsJson,
  EMULATOR_PUBLIC_URL: z.string().url().optional(),
  // Seed of the fault dice (probabilistic faults); `--seed` on the command line wins.
  EMULATOR_SEED: envInt(42),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

/** `--seed N` or `--seed=N`: the same run can be repeated from a log line without editing the environment. */
function seedFromArgs(argv: readonly string[]): number | undefined {
  const i = argv.findIndex((a) => a === '--seed' || a.startsWith('--seed='));
  if (i === -1) return undefined;
  const arg = argv[i] as string;
  const raw = arg.includes('=') ? arg.slice('--seed='.length) : argv[i + 1];
  const seed = Number(raw);
  if (!Number.isInteger(seed)) throw new Error(`--seed needs an integer, got ${raw ?? 'nothing'}`);
  return seed;
}

async function main(): Promise<void> {
  loadDotEnv();
  const env = parseEnv(envSchema);
  const seed = seedFromArgs(process.argv.slice(2)) ?? env.EMULATOR_SEED;
  const logger = createLogger({ name: 'tabpfn-emulator', level: env.LOG_LEVEL });
  const emulator = await startEmulator({
    port: env.EMULATOR_PORT,
    host: env.EMULATOR_HOST,
    tokens: env.EMULATOR_TOKENS,
    unverifiedTokens: env.EMULATOR_UNVERIFIED_TOKENS,
    control: env.EMULATOR_CONTROL,
    latencyMs: { fit: env.EMULATOR_FIT_LATENCY_MS, predict: env.EMULATOR_PREDICT_LATENCY_MS },
    dailyTokenLimit: env.EMULATOR_DAILY_TOKEN_LIMIT,
    v3CostModel: env.EMULATOR_V3_COST_MODEL,
    users: env.EMULATOR_USERS,
    asyncThresholdBytes: env.EMULATOR_ASYNC_THRESHOLD_BYTES,
    limits: env.EMULATOR_LIMITS,
    seed,
    ...(env.EMULATOR_PUBLIC_URL ? { publicUrl: env.EMULATOR_PUBLIC_URL } : {}),
    logger,
  });
  // The stop path is in place before the start is announced: whoever acts on it may send SIGTERM at once.
  onShutdown(logger, async (signal) => {
    logger.info({ signal }, 'shutting down');
    await emulator.close();
  });
  logger.info({ url: emulator.url, tokens: env.EMULATOR_TOKENS.length, control: env.EMULATOR_CONTROL, seed }, 'TabPFN emulator listening');
}

runMain('tabpfn-emulator', main);
