import type { Queryable } from '../db/pool.js';

export interface WebhookSecretRow {
  id: string;
  user_id: string;
  secret_ciphertext: string;
  created_at: Date;
  /** null for the current secret; set when rotated out (it keeps signing until then). */
  expires_at: Date | null;
}

export type DeliveryStatus = 'pending' | 'delivered' | 'failed';

export interface WebhookDeliveryRow {
  id: string;
  user_id: string;
  job_id: string;
  url: string;
  event_type: string;
  payload: Record<string, unknown>;
  status: DeliveryStatus;
  /** Every attempt ever made, across redeliveries: numbers the attempt log. */
  attempts: number;
  /** Attempts since the last (re)delivery started: indexes the retry schedule. */
  schedule_attempts: number;
  redeliveries: number;
  last_status_code: number | null;
  last_error: string | null;
  next_attempt_at: Date | null;
  created_at: Date;
  updated_at: Date;
  finished_at: Date | null;
}

export interface WebhookAttemptRow {
  id: number;
  delivery_id: string;
  attempt: number;
  status_code: number | null;
  duration_ms: number;
  error: string | null;
  created_at: Date;
}

export interface NewDelivery {
  id: string;
  userId: string;
  jobId: string;
  url: string;
  eventType: string;
  payload: unknown;
}

export interface AttemptOutcome {
  statusCode: number | null;
  durationMs: number;
  error: string | null;
}

export function createWebhookRepository(pool: Queryable) {
  return {
    // ---- secrets -------------------------------------------------------------------------

    /** Serialises secret changes of one account (lazy create vs rotate) inside `tx`. */
    async lockUser(userId: string, tx: Queryable): Promise<boolean> {
      const { rows } = await tx.query('SELECT id FROM users WHERE id = $1 FOR UPDATE', [userId]);
      return rows.length > 0;
    },

    async findCurrentSecret(userId: string, tx: Queryable = pool): Promise<WebhookSecretRow | undefined> {
      const { rows } = await tx.query<WebhookSecretRow>('SELECT * FROM webhook_secrets WHERE user_id = $1 AND expires_at IS NULL', [
        userId,
      ]);
      return rows[0];
    },

    /** Current plus rotated-out secrets still inside their overlap, newest first: all of them sign. */
    async listSigningSecrets(userId: string, tx: Queryable = pool): Promise<WebhookSecretRow[]> {
      const { rows } = await tx.query<WebhookSecretRow>(
        `SELECT * FROM webhook_secrets WHERE user_id = $1 AND (expires_at IS NULL OR expires_at > now())
         ORDER BY created_at DESC, id DESC`,
        [userId],
      );
      return rows;
    },

    /** Inserts the current secret unless one exists (the partial unique index decides); returns the winner. */
    async insertCurrentSecret(userId: string, secretCiphertext: string, tx: Queryable = pool): Promise<WebhookSecretRow | undefined> {
      const { rows } = await tx.query<WebhookSecretRow>(
        `INSERT INTO webhook_secrets (user_id, secret_ciphertext) VALUES ($1, $2)
         ON CONFLICT (user_id) WHERE expires_at IS NULL DO NOTHING RETURNING *`,
        [userId, secretCiphertext],
      );
      return rows[0];
    },

    /** Rotates the current secret out: it keeps signing for `overlapSeconds`. */
    async expireCurrentSecret(userId: string, overlapSeconds: number, tx: Queryable = pool): Promise<Date | undefined> {
      const { rows } = await tx.query<{ expires_at: Date }>(
        `UPDATE webhook_secrets SET expires_at = now() + make_interval(secs => $2)
         WHERE user_id = $1 AND expires_at IS NULL RETURNING expires_at`,
        [userId, overlapSeconds],
      );
      return rows[0]?.expires_at;
    },

    /** Latest expiry among rotated-out secrets that still sign. */
    async previousSecretExpiry(userId: string, tx: Queryable = pool): Promise<Date | undefined> {
      const { rows } = await tx.query<{ expires_at: Date | null }>(
        'SELECT max(expires_at) AS expires_at FROM webhook_secrets WHERE user_id = $1 AND expires_at > now()',
        [userId],
      );
      return rows[0]?.expires_at ?? undefined;
    },

    // ---- deliveries ----------------------------------------------------------------------

    /** Retention reached these jobs' results: the copies inlined in their deliveries go too. */
    async removeInlinedResults(jobIds: string[], tx: Queryable = pool): Promise<number> {
      if (!jobIds.length) return 0;
      const { rowCount } = await tx.query(
        `UPDATE webhook_deliveries SET payload = jsonb_set(payload, '{data,result}', 'null'::jsonb)
         WHERE job_id = ANY($1::uuid[]) AND payload->'data'->'result' IS NOT NULL AND payload->'data'->'result' <> 'null'::jsonb`,
        [jobIds],
      );
      return rowCount ?? 0;
    },

    /** One delivery per (job, event): a repeated state write (retried handler) inserts nothing. */
    async insertDelivery(d: NewDelivery, tx: Queryable = pool): Promise<WebhookDeliveryRow | undefined> {
      const { rows } = await tx.query<WebhookDeliveryRow>(
        `INSERT INTO webhook_deliveries (id, user_id, job_id, url, event_type, payload, next_attempt_at)
         VALUES ($1, $2, $3, $4, $5, $6, now())
         ON CONFLICT (job_id, event_type) DO NOTHING RETURNING *`,
        [d.id, d.userId, d.jobId, d.url, d.eventType, JSON.stringify(d.payload)],
      );
      return rows[0];
    },

    async findDelivery(id: string, tx: Queryable = pool): Promise<WebhookDeliveryRow | undefined> {
      const { rows } = await tx.query<WebhookDeliveryRow>('SELECT * FROM webhook_deliveries WHERE id = $1', [id]);
      return rows[0];
    },

    async listDeliveriesForJob(jobId: string, tx: Queryable = pool): Promise<WebhookDeliveryRow[]> {
      const { rows } = await tx.query<WebhookDeliveryRow>('SELECT * FROM webhook_deliveries WHERE job_id = $1 ORDER BY created_at, id', [
        jobId,
      ]);
      return rows;
    },

    async listAttemptsForDeliveries(deliveryIds: string[], tx: Queryable = pool): Promise<WebhookAttemptRow[]> {
      if (deliveryIds.length === 0) return [];
      const { rows } = await tx.query<WebhookAttemptRow>(
        'SELECT * FROM webhook_attempts WHERE delivery_id = ANY($1::text[]) ORDER BY delivery_id, attempt, id',
        [deliveryIds],
      );
      return rows;
    },

    /**
     * Records one attempt and moves the delivery on, in one statement pair under `tx`. Guarded on
     * the state the attempt started from (`status = 'pending'` and the same schedule position), so a
     * duplicate run of the same BullMQ job cannot count an attempt twice.
     */
    async recordAttempt(
      delivery: Pick<WebhookDeliveryRow, 'id' | 'schedule_attempts' | 'redeliveries'>,
      outcome: AttemptOutcome,
      next: { status: 'delivered' | 'failed' } | { status: 'pending'; nextAttemptAt: Date },
      tx: Queryable = pool,
    ): Promise<WebhookDeliveryRow | undefined> {
      const { rows } = await tx.query<WebhookDeliveryRow>(
        `UPDATE webhook_deliveries
         SET attempts = attempts + 1, schedule_attempts = schedule_attempts + 1,
             last_status_code = $4, last_error = $5, status = $6,
             next_attempt_at = $7, finished_at = CASE WHEN $6 = 'pending' THEN NULL ELSE now() END,
             updated_at = now()
         WHERE id = $1 AND status = 'pending' AND schedule_attempts = $2 AND redeliveries = $3
         RETURNING *`,
        [
          delivery.id,
          delivery.schedule_attempts,
          delivery.redeliveries,
          outcome.statusCode,
          outcome.error,
          next.status,
          next.status === 'pending' ? next.nextAttemptAt : null,
        ],
      );
      const updated = rows[0];
      if (updated) {
        await tx.query(`INSERT INTO webhook_attempts (delivery_id, attempt, status_code, duration_ms, error) VALUES ($1, $2, $3, $4, $5)`, [
          delivery.id,
          updated.attempts,
          outcome.statusCode,
          Math.max(0, Math.round(outcome.durationMs)),
          outcome.error,
        ]);
      }
      return updated;
    },

    /**
     * Replay: back to pending with a fresh retry schedule and a new round of BullMQ job ids; the
     * id (the `webhook-id`) and the payload stay the same.
     */
    /**
     * Starts a new round for the delivery, unless one is due right now (just redelivered, or its
     * next attempt is at hand): repeated or concurrent redelivers then collapse into one send instead
     * of racing each other. Undefined when nothing was reset.
     */
    async resetForRedelivery(id: string, tx: Queryable = pool): Promise<WebhookDeliveryRow | undefined> {
      const { rows } = await tx.query<WebhookDeliveryRow>(
        `UPDATE webhook_deliveries
         SET status = 'pending', schedule_attempts = 0, redeliveries = redeliveries + 1,
             next_attempt_at = now(), finished_at = NULL, updated_at = now()
         WHERE id = $1 AND (status <> 'pending' OR next_attempt_at IS NULL OR next_attempt_at > now() + interval '5 seconds')
         RETURNING *`,
        [id],
      );
      return rows[0];
    },

    /** Pending deliveries overdue by `graceSeconds`: their BullMQ job may be gone. */
    async listOverdue(graceSeconds: number, limit: number, tx: Queryable = pool): Promise<WebhookDeliveryRow[]> {
      const { rows } = await tx.query<WebhookDeliveryRow>(
        `SELECT * FROM webhook_deliveries
         WHERE status = 'pending' AND next_attempt_at < now() - make_interval(secs => $1)
         ORDER BY next_attempt_at LIMIT $2`,
        [graceSeconds, limit],
      );
      return rows;
    },
  };
}

export type WebhookRepository = ReturnType<typeof createWebhookRepository>;
