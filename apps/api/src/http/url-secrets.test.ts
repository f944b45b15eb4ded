import { describe, expect, it } from '@jest/globals';
import { redactUrl } from './url-secrets.js';

describe('redactUrl', () => {
  it('hides values of credential-like parameters and anything shaped like an API key, keeps the rest', () => {
    expect(redactUrl('/v1/jobs?limit=5&cursor=abc')).toBe('/v1/jobs?limit=5&cursor=abc');
    expect(redactUrl('/v1/jobs?api_key=tpk_abc&limit=5')).toBe('/v1/jobs?api_key=[redacted]&limit=5');
    expect(redactUrl('/x?Access%5FToken=s3cret&X-Amz-Signature=ff')).toBe('/x?Access%5FToken=[redacted]&X-Amz-Signature=[redacted]');
    expect(redactUrl('/x?q=tpk_AbC-_9&r=1')).toBe('/x?q=tpk_[redacted]&r=1');
    expect(redactUrl('/v1/jobs/tpk_pasted_in_path')).toBe('/v1/jobs/tpk_[redacted]');
    // A malformed escape in a name must not throw.
    expect(redactUrl('/x?%E0%A4%A=1&password=p')).toBe('/x?%E0%A4%A=1&password=[redacted]');
  });
});
