import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/**
 * AES-256-GCM with a key ring: `ENCRYPTION_KEYS=id:base64key,…`. The first key encrypts; any key in
 * the ring decrypts, found by the key id stored in front of the ciphertext, so keys can rotate.
 * Associated data (the owning user's id) binds a ciphertext to its row: swapping ciphertexts between
 * users fails authentication.
 */
export interface KeyRing {
  currentKeyId: string;
  encrypt(plaintext: string, associatedData: string): string;
  decrypt(ciphertext: string, associatedData: string): string;
  /** Key id a ciphertext was made with. */
  keyIdOf(ciphertext: string): string;
}

const IV_BYTES = 12;
const TAG_BYTES = 16;

export function parseKeyRing(spec: string): KeyRing {
  const keys = new Map<string, Buffer>();
  let currentKeyId: string | undefined;
  for (const part of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const idx = part.indexOf(':');
    if (idx <= 0) throw new Error('ENCRYPTION_KEYS: each entry must be "id:base64key"');
    const id = part.slice(0, idx);
    if (!/^[A-Za-z0-9_-]{1,32}$/.test(id)) throw new Error(`ENCRYPTION_KEYS: key id "${id}" must be 1-32 of [A-Za-z0-9_-]`);
    const key = Buffer.from(part.slice(idx + 1), 'base64');
    if (key.length !== 32) throw new Error(`ENCRYPTION_KEYS: key "${id}" must be 32 bytes of base64 (got ${key.length})`);
    if (keys.has(id)) throw new Error(`ENCRYPTION_KEYS: key id "${id}" appears twice`);
    keys.set(id, key);
    currentKeyId ??= id;
  }
  if (!currentKeyId) throw new Error('ENCRYPTION_KEYS: at least one key is required');
  const encryptKeyId = currentKeyId;

  const keyIdOf = (ciphertext: string) => {
    const idx = ciphertext.indexOf(':');
    if (idx <= 0) throw new Error('malformed ciphertext');
    return ciphertext.slice(0, idx);
  };

  return {
    currentKeyId: encryptKeyId,
    keyIdOf,
    encrypt(plaintext, associatedData) {
      const key = keys.get(encryptKeyId)!;
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      cipher.setAAD(Buffer.from(associatedData, 'utf8'));
      const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return `${encryptKeyId}:${Buffer.concat([iv, cipher.getAuthTag(), ct]).toString('base64')}`;
    },
    decrypt(ciphertext, associatedData) {
      const id = keyIdOf(ciphertext);
      const key = keys.get(id);
      if (!key) throw new Error(`no encryption key "${id}" in ENCRYPTION_KEYS`);
      const raw = Buffer.from(ciphertext.slice(id.length + 1), 'base64');
      const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, IV_BYTES));
      decipher.setAAD(Buffer.from(associatedData, 'utf8'));
      decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
      return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
    },
  };
}

/** A zod refinement helper: true when `spec` parses as a key ring. */
export function keyRingError(spec: string): string | undefined {
  try {
    parseKeyRing(spec);
    return undefined;
  } catch (err) {
    return (err as Error).message.replace(/^ENCRYPTION_KEYS: /, '');
  }
}
