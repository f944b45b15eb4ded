import { createHash, randomBytes } from 'node:crypto';

export const API_KEY_PREFIX = 'tpk_';
const API_KEY_RE = /^tpk_[A-Za-z0-9_-]{43}$/;

/** `tpk_` + 256 random bits (base64url). High entropy, so a plain SHA-256 digest is a safe lookup key. */
export function generateApiKey(): { key: string; digest: Buffer; prefix: string } {
  const key = API_KEY_PREFIX + randomBytes(32).toString('base64url');
  return { key, digest: sha256(key), prefix: key.slice(0, 12) };
}

export function isWellFormedApiKey(key: string): boolean {
  return API_KEY_RE.test(key);
}

export function sha256(value: string | Buffer): Buffer {
  return createHash('sha256').update(value).digest();
}

export function sha256Hex(value: string | Buffer | Uint8Array): string {
  return createHash('sha256').update(value).digest('hex');
}

/** `whsec_` + base64 of 32 random bytes, the Standard Webhooks secret format. */
export function generateWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}
