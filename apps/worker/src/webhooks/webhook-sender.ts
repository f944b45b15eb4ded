import { type ResolveFn, WebhookUrlError, assertWebhookUrlAllowed, createGuardedLookup } from '@tabpfn-jobs/shared/webhooks';
import { Agent, type Dispatcher, request } from 'undici';
import { parseRetryAfter } from './retry-policy.js';

/**
 * One HTTP attempt of a webhook: POST the signed body, no redirects, a hard timeout over the whole
 * exchange, and at most `maxResponseBytes` of the answer read (a receiver cannot make us buffer a
 * large or endless body). Classifies the result; it never throws.
 */
export type SendKind = 'delivered' | 'gone' | 'retry' | 'refused';

export interface SendOutcome {
  kind: SendKind;
  statusCode: number | null;
  durationMs: number;
  /** For the attempt log: what went wrong, never request headers (they carry signatures). */
  error: string | null;
  retryAfterMs?: number;
}

export interface SenderOptions {
  allowPrivate: boolean;
  timeoutMs: number;
  maxResponseBytes?: number;
  /** Tests replace DNS; production uses dns.lookup. */
  lookup?: ResolveFn;
  dispatcher?: Dispatcher;
}

/**
 * The connection pool for webhook targets. Its sockets resolve hosts through the SSRF guard, so the
 * address connected to is the address that was checked (no DNS rebinding between check and use).
 */
export function createWebhookDispatcher(opts: Pick<SenderOptions, 'allowPrivate' | 'timeoutMs' | 'lookup'>): Agent {
  return new Agent({
    connect: { lookup: createGuardedLookup({ allowPrivate: opts.allowPrivate, lookup: opts.lookup }), timeout: opts.timeoutMs },
    headersTimeout: opts.timeoutMs,
    bodyTimeout: opts.timeoutMs,
    keepAliveTimeout: 4_000,
    connections: 16,
  });
}

const ERROR_SNIPPET = 200;

function describe(err: unknown): { message: string; refused: boolean } {
  const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  const refused = e?.code === 'EWEBHOOKREFUSED' || e?.cause?.code === 'EWEBHOOKREFUSED';
  const message = e?.cause?.message && e.cause.message !== e.message ? `${e.message}: ${e.cause.message}` : (e?.message ?? String(err));
  return { message: message.slice(0, 500), refused };
}

export function createWebhookSender(opts: SenderOptions) {
  const dispatcher = opts.dispatcher ?? createWebhookDispatcher(opts);
  const maxResponseBytes = opts.maxResponseBytes ?? 4096;

  return {
    dispatcher,
    async send(url: string, body: string, headers: Record<string, string>): Promise<SendOutcome> {
      const started = performance.now();
      const elapsed = () => performance.now() - started;

      // Scheme, credentials and IP-literal hosts are only checked here (sockets skip lookup for
      // literals); hostnames are checked again by the dispatcher's lookup at connect time.
      try {
        await assertWebhookUrlAllowed(url, { allowPrivate: opts.allowPrivate, lookup: opts.lookup });
      } catch (err) {
        const retryable = err instanceof WebhookUrlError && err.reason === 'unresolvable';
        const message = err instanceof WebhookUrlError ? `webhook_url ${err.errors?.[0]?.message ?? err.message}` : describe(err).message;
        return { kind: retryable ? 'retry' : 'refused', statusCode: null, durationMs: elapsed(), error: message };
      }

      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(new Error(`timed out after ${opts.timeoutMs} ms`)), opts.timeoutMs);
      try {
        // undici's request() does not follow redirects: a 3xx comes back as a 3xx.
        const res = await request(url, { method: 'POST', headers, body, dispatcher, signal: controller.signal });
        const snippet = await readCapped(res.body, maxResponseBytes);
        const status = res.statusCode;
        const durationMs = elapsed();
        if (status >= 200 && status < 300) return { kind: 'delivered', statusCode: status, durationMs, error: null };
        if (status === 410) return { kind: 'gone', statusCode: status, durationMs, error: 'HTTP 410 Gone: receiver unsubscribed' };
        const error =
          status >= 300 && status < 400
            ? `HTTP ${status} redirect not followed`
            : `HTTP ${status}${snippet ? `: ${snippet.slice(0, ERROR_SNIPPET)}` : ''}`;
        return { kind: 'retry', statusCode: status, durationMs, error, retryAfterMs: parseRetryAfter(res.headers['retry-after']) };
      } catch (err) {
        const aborted = controller.signal.aborted;
        const { message, refused } = describe(err);
        return {
          kind: refused ? 'refused' : 'retry',
          statusCode: null,
          durationMs: elapsed(),
          error: aborted ? `timed out after ${opts.timeoutMs} ms` : message,
        };
      } finally {
        clearTimeout(timer);
      }
    },
    async close(): Promise<void> {
      await dispatcher.close();
    },
  };
}

/** Reads at most `cap` bytes as text, then drops the rest of the stream. */
async function readCapped(body: Dispatcher.ResponseData['body'], cap: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      const buf = chunk as Buffer;
      chunks.push(buf.subarray(0, Math.max(0, cap - size)));
      size += buf.length;
      if (size >= cap) break;
    }
  } catch {
    // a broken body after the status line does not change the status we got
  } finally {
    if (size >= cap) body.destroy();
  }
  return Buffer.concat(chunks).toString('utf8').replace(/\s+/g, ' ').trim();
}

export type WebhookSender = ReturnType<typeof createWebhookSender>;
