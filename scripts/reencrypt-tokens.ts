import { ConfigError, loadDotEnv, parseEnv } from '@tabpfn-jobs/shared/config';
import { keyRingError, parseKeyRing } from '@tabpfn-jobs/shared/crypto';
import { createPool } from '@tabpfn-jobs/shared/db';
import { createLogger } from '@tabpfn-jobs/shared/logger';
import { createUserRepository } from '@tabpfn-jobs/shared/repositories';
import { z } from 'zod';

/**
 * `pnpm reencrypt-tokens`: after putting a new key first in ENCRYPTION_KEYS (old keys still listed),
 * re-encrypts every stored TabPFN token and webhook secret under the new key. Safe to re-run; once it
 * reports zero remaining, old keys can be removed from the ring.
 */
loadDotEnv();
try {
  const env = parseEnv(
    z.object({
      DATABASE_URL: z.string().url().default('postgres://postgres@127.0.0.1:5432/tabpfn_jobs'),
      ENCRYPTION_KEYS: z.string().min(1).refine((v) => !keyRingError(v), { message: 'invalid key ring' }),
      LOG_LEVEL: z.string().default('info'),
    }),
  );
  const logger = createLogger({ name: 'reencrypt', level: env.LOG_LEVEL });
  const ring = parseKeyRing(env.ENCRYPTION_KEYS);
  const pool = createPool({ connectionString: env.DATABASE_URL, max: 2 });
  const users = createUserRepository(pool);
  let after: string | null = null;
  let rewritten = 0;
  for (;;) {
    const batch = await users.listCiphertexts(after, 500);
    if (!batch.length) break;
    for (const u of batch) {
      if (ring.keyIdOf(u.tabpfn_token_ciphertext) !== ring.currentKeyId) {
        const token = ring.decrypt(u.tabpfn_token_ciphertext, u.id);
        await users.updateCiphertext(u.id, ring.encrypt(token, u.id));
        rewritten++;
      }
    }
    after = batch[batch.length - 1]!.id;
  }
  const secrets = await pool.query<{ id: string; user_id: string; secret_ciphertext: string }>(
    'SELECT id, user_id, secret_ciphertext FROM webhook_secrets',
  );
  for (const s of secrets.rows) {
    if (ring.keyIdOf(s.secret_ciphertext) === ring.currentKeyId) continue;
    const secret = ring.decrypt(s.secret_ciphertext, s.user_id);
    await pool.query('UPDATE webhook_secrets SET secret_ciphertext = $2 WHERE id = $1', [s.id, ring.encrypt(secret, s.user_id)]);
    rewritten++;
  }
  logger.info({ rewritten, key_id: ring.currentKeyId }, 're-encryption done');
  await pool.end();
} catch (err) {
  process.stderr.write(`${err instanceof ConfigError ? err.message : (err as Error).stack}\n`);
  process.exit(1);
}
