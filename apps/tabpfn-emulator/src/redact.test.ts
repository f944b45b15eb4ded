import { describe, expect, it } from '@jest/globals';
import { REDACTED, redactSecrets } from './redact.js';

describe('redactSecrets', () => {
  it('replaces password fields at any depth and leaves the input untouched', () => {
    const body = { username: 'a@b.c', password: 'pw', nested: [{ Password_Confirm: 'pw2', keep: 1 }], confirm_password: 'pw3' };
    expect(redactSecrets(body)).toEqual({
      username: 'a@b.c',
      password: REDACTED,
      nested: [{ Password_Confirm: REDACTED, keep: 1 }],
      confirm_password: REDACTED,
    });
    expect(body.password).toBe('pw');
  });

  it('passes through what is not an object', () => {
    expect(redactSecrets(undefined)).toBeUndefined();
    expect(redactSecrets('password')).toBe('password');
    expect(redactSecrets(null)).toBeNull();
  });
});
