import type { KeyRing } from '../crypto/key-ring.js';
import { generateWebhookSecret } from '../crypto/secrets.js';
import { type Pool, withTransaction } from '../db/pool.js';
import { NotFoundError } from '../errors.js';
import type { WebhookRepository, WebhookSecretRow } from '../repositories/webhook.repository.js';

/**
 * Per-account signing secrets (`whsec_…`), encrypted at rest with the key ring (associated data =
 * user id, so a ciphertext cannot be moved to another account). Shared by the API (show, rotate)
 * and the worker (sign), which both create the secret lazily: a delivery may be signed before the
 * account ever asked for its secret.
 */
export interface WebhookSecretView {
  secret: string;
  created_at: Date;
  /** While a rotated-out secret still signs: when it stops. */
  previous_secret_expires_at?: Date;
}

export interface WebhookSecretStoreDeps {
  pool: Pool;
  webhooks: WebhookRepository;
  keyRing: KeyRing;
  /** How long a rotated-out secret keeps signing (default 24 h). */
  overlapSeconds?: number;
}

export function createWebhookSecretStore(deps: WebhookSecretStoreDeps) {
  const overlapSeconds = deps.overlapSeconds ?? 24 * 3600;
  const decrypt = (row: WebhookSecretRow) => deps.keyRing.decrypt(row.secret_ciphertext, row.user_id);

  /** The current secret row, created under the user's row lock when missing. */
  async function ensureCurrent(userId: string): Promise<WebhookSecretRow> {
    const existing = await deps.webhooks.findCurrentSecret(userId);
    if (existing) return existing;
    return withTransaction(deps.pool, async (tx) => {
      if (!(await deps.webhooks.lockUser(userId, tx))) throw new NotFoundError('user_not_found', 'The account does not exist.');
      const current = await deps.webhooks.findCurrentSecret(userId, tx);
      if (current) return current;
      const inserted = await deps.webhooks.insertCurrentSecret(userId, deps.keyRing.encrypt(generateWebhookSecret(), userId), tx);
      return inserted ?? (await deps.webhooks.findCurrentSecret(userId, tx))!;
    });
  }

  async function view(row: WebhookSecretRow): Promise<WebhookSecretView> {
    const previous = await deps.webhooks.previousSecretExpiry(row.user_id);
    return {
      secret: decrypt(row),
      created_at: row.created_at,
      ...(previous ? { previous_secret_expires_at: previous } : {}),
    };
  }

  return {
    async current(userId: string): Promise<WebhookSecretView> {
      return view(await ensureCurrent(userId));
    },

    /** New current secret; the old one keeps signing for the overlap period. */
    async rotate(userId: string): Promise<WebhookSecretView> {
      const row = await withTransaction(deps.pool, async (tx) => {
        if (!(await deps.webhooks.lockUser(userId, tx))) throw new NotFoundError('user_not_found', 'The account does not exist.');
        await deps.webhooks.expireCurrentSecret(userId, overlapSeconds, tx);
        return (await deps.webhooks.insertCurrentSecret(userId, deps.keyRing.encrypt(generateWebhookSecret(), userId), tx))!;
      });
      return view(row);
    },

    /** Plaintext secrets that sign a delivery now: the current one first, then any still in overlap. */
    async signingSecrets(userId: string): Promise<string[]> {
      await ensureCurrent(userId);
      return (await deps.webhooks.listSigningSecrets(userId)).map(decrypt);
    },
  };
}

export type WebhookSecretStore = ReturnType<typeof createWebhookSecretStore>;
