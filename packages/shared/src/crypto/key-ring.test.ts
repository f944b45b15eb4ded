import { describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { parseKeyRing } from './key-ring.js';

const k = () => randomBytes(32).toString('base64');

describe('key ring', () => {
  it('round-trips and binds the ciphertext to its associated data', () => {
    const ring = parseKeyRing(`a:${k()}`);
    const ct = ring.encrypt('secret-token', 'user-1');
    expect(ct.startsWith('a:')).toBe(true);
    expect(ct).not.toContain('secret-token');
    expect(ring.decrypt(ct, 'user-1')).toBe('secret-token');
    expect(() => ring.decrypt(ct, 'user-2')).toThrow();
  });

  it('encrypts with the first key and decrypts with any', () => {
    const oldKey = k();
    const old = parseKeyRing(`old:${oldKey}`);
    const ct = old.encrypt('t', 'u');
    const rotated = parseKeyRing(`new:${k()},old:${oldKey}`);
    expect(rotated.decrypt(ct, 'u')).toBe('t');
    expect(rotated.keyIdOf(rotated.encrypt('t', 'u'))).toBe('new');
  });

  it('rejects malformed specs', () => {
    expect(() => parseKeyRing('')).toThrow(/at least one/);
    expect(() => parseKeyRing('nokey')).toThrow(/id:base64key/);
    expect(() => parseKeyRing(`a:${randomBytes(16).toString('base64')}`)).toThrow(/32 bytes/);
  });
});
