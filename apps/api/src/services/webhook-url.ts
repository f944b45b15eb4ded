import { ValidationError } from '@tabpfn-jobs/shared';

/** Shape check of a webhook target at submit; the SSRF address check is layered on by the webhook module. */
export async function checkWebhookUrl(url: string, _config: unknown): Promise<void> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ValidationError([{ field: 'webhook_url', message: 'is not a URL' }]);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new ValidationError([{ field: 'webhook_url', message: 'must be http or https' }]);
  }
}
