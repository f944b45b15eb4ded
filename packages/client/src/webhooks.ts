import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import type { components } from './schema.js';

export type WebhookEvent = components['schemas']['WebhookEvent'];
export { WebhookVerificationError };

type HeaderSource = Headers | Record<string, string | string[] | undefined>;

function header(headers: HeaderSource, name: string): string {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? '';
  const h = headers as Record<string, string | string[] | undefined>;
  const v = h[name] ?? h[name.toLowerCase()] ?? Object.entries(h).find(([k]) => k.toLowerCase() === name)?.[1];
  return Array.isArray(v) ? (v[0] ?? '') : (v ?? '');
}

/**
 * Verifies a webhook request (Standard Webhooks: `webhook-id`, `webhook-timestamp`,
 * `webhook-signature`) against the raw body and returns the parsed event. Pass the body exactly
 * as received (not re-serialised JSON). During a secret rotation pass both secrets. Throws
 * `WebhookVerificationError` on a bad signature or a timestamp more than 5 minutes off.
 */
export function verifyWebhook(rawBody: string | Uint8Array, headers: HeaderSource, secret: string | string[]): WebhookEvent {
  // Uint8Array (a Buffer is one) keeps the declared types free of Node's, for bundlers and edge runtimes.
  const body = typeof rawBody === 'string' ? rawBody : new TextDecoder().decode(rawBody);
  const wanted = {
    'webhook-id': header(headers, 'webhook-id'),
    'webhook-timestamp': header(headers, 'webhook-timestamp'),
    'webhook-signature': header(headers, 'webhook-signature'),
  };
  let last: unknown;
  for (const s of Array.isArray(secret) ? secret : [secret]) {
    try {
      return new Webhook(s).verify(body, wanted) as WebhookEvent;
    } catch (err) {
      last = err;
    }
  }
  throw last instanceof Error ? last : new WebhookVerificationError('No matching signature found');
}
