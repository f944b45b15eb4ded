import { type Pool, type Queryable, withTransaction } from '@tabpfn-jobs/shared/db';
import { UnprocessableError, accountGoneError } from '@tabpfn-jobs/shared/errors';
import type { IdempotencyRepository } from '@tabpfn-jobs/shared/repositories';

export interface StoredResponse {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

export interface IdempotencyContext {
  userId: string;
  endpoint: string;
  key?: string;
  requestHash: string;
}

class KeyTaken extends Error {}

/**
 * Runs `create` in a transaction that also stores its response under the Idempotency-Key, so the
 * job and the key commit together. A repeat with the same body replays the stored response; with a
 * different body it is a 422. Two concurrent first requests: the loser rolls back and replays.
 */
export function createIdempotency(deps: { pool: Pool; idempotency: IdempotencyRepository }) {
  async function replay(ctx: IdempotencyContext & { key: string }): Promise<StoredResponse | undefined> {
    const row = await deps.idempotency.find(ctx.userId, ctx.endpoint, ctx.key);
    if (!row) return undefined;
    if (row.request_hash !== ctx.requestHash) {
      throw new UnprocessableError('idempotency_key_reused', 'This Idempotency-Key was used with a different request body.', {
        errors: [{ field: 'Idempotency-Key', message: 'already used with a different body' }],
      });
    }
    return { status: row.response_status, headers: { ...row.response_headers, 'Idempotent-Replayed': 'true' }, body: row.response_body };
  }

  return {
    /** Whether a response is stored under the key (whatever the body): a request whose body is still to be read may be a repeat. */
    async known(ctx: Omit<IdempotencyContext, 'requestHash'>): Promise<boolean> {
      return ctx.key ? (await deps.idempotency.find(ctx.userId, ctx.endpoint, ctx.key)) !== undefined : false;
    },

    /**
     * The stored response for a repeat of a request, before anything else is checked: the job exists,
     * so a retry must get the first answer even if the in-flight cap is now full or the model failed.
     */
    async stored(ctx: IdempotencyContext): Promise<(StoredResponse & { replayed: true }) | undefined> {
      if (!ctx.key) return undefined;
      const stored = await replay({ ...ctx, key: ctx.key });
      return stored && { ...stored, replayed: true };
    },

    /**
     * Callers look for a stored response first (`stored`); this only settles a race for the key.
     * Returns the response and what `create` made; `created` is undefined when a concurrent first
     * request won the key (its response is replayed, and what to do after commit is its business).
     * `oneStatement`: `create` writes with one statement, so without a key it runs alone (atomic by
     * itself), saving the transaction's BEGIN and COMMIT round trips.
     */
    async run<T>(
      ctx: IdempotencyContext,
      create: (tx: Queryable) => Promise<{ response: StoredResponse; created: T }>,
      opts: { oneStatement: boolean },
    ): Promise<{ response: StoredResponse & { replayed: boolean }; created?: T }> {
      try {
        if (!ctx.key && opts.oneStatement) {
          const made = await create(deps.pool);
          return { response: { ...made.response, replayed: false }, created: made.created };
        }
        const out = await withTransaction(deps.pool, async (tx) => {
          const made = await create(tx);
          const res = made.response;
          if (ctx.key) {
            const inserted = await deps.idempotency.insert(
              { userId: ctx.userId, endpoint: ctx.endpoint, key: ctx.key, requestHash: ctx.requestHash, status: res.status, headers: res.headers, body: res.body },
              tx,
            );
            if (!inserted) throw new KeyTaken();
          }
          return made;
        });
        return { response: { ...out.response, replayed: false }, created: out.created };
      } catch (err) {
        if (err instanceof KeyTaken && ctx.key) {
          const stored = await replay({ ...ctx, key: ctx.key });
          if (stored) return { response: { ...stored, replayed: true } };
        }
        throw accountGoneError(err) ?? err;
      }
    },
  };
}

export type Idempotency = ReturnType<typeof createIdempotency>;
