import { assertWebhookUrlAllowed } from '@tabpfn-jobs/shared/webhooks';

/**
 * Checks a webhook target at submit: http(s) only, no credentials, the host resolves, and (unless
 * WEBHOOK_ALLOW_PRIVATE) no address is loopback, private, link-local or metadata. Throws a 422
 * naming `webhook_url`. The worker checks again when it connects (DNS may change meanwhile).
 */
export async function checkWebhookUrl(url: string, config: { WEBHOOK_ALLOW_PRIVATE: boolean }): Promise<void> {
  await assertWebhookUrlAllowed(url, { allowPrivate: config.WEBHOOK_ALLOW_PRIVATE });
}
