import { describe, expect, it } from '@jest/globals';
import { parseEnv } from '../config/env.js';
import { tracingEnvSchema } from './start.js';
import { formatTraceparent, parseTraceparent, publicTraceId } from './traceparent.js';
import { scrubQuery, scrubUrl } from './url-scrub.js';

const enabled = (env: Record<string, string>) => parseEnv(tracingEnvSchema, env).enabled;

describe('when tracing is on', () => {
  it('is off unless an OTLP endpoint or a traces exporter is set', () => {
    expect(enabled({})).toBe(false);
    expect(enabled({ OTEL_EXPORTER_OTLP_ENDPOINT: '', OTEL_TRACES_EXPORTER: ' ' })).toBe(false);
    expect(enabled({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toBe(true);
    expect(enabled({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' })).toBe(true);
    expect(enabled({ OTEL_TRACES_EXPORTER: 'console' })).toBe(true);
  });

  it('is off when told so, whatever else is set', () => {
    expect(enabled({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toBe(false);
    expect(enabled({ OTEL_SDK_DISABLED: 'true', OTEL_TRACES_EXPORTER: 'otlp' })).toBe(false);
  });

  it('names a bad endpoint', () => {
    expect(() => enabled({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector' })).toThrow(/OTEL_EXPORTER_OTLP_ENDPOINT/);
  });
});

describe('traceparent', () => {
  const value = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

  it('round-trips, and the job resource shows the trace id of a sampled trace only', () => {
    const parsed = parseTraceparent(value);
    expect(parsed).toEqual({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: 1 });
    expect(formatTraceparent(parsed!)).toBe(value);
    expect(publicTraceId(value)).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(publicTraceId(value.replace(/01$/, '00'))).toBeNull();
  });

  it('refuses malformed and all-zero ids', () => {
    for (const bad of [null, '', 'garbage', `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`, value.toUpperCase()])
      expect(parseTraceparent(bad)).toBeUndefined();
  });
});

describe('URLs in spans', () => {
  it('scrubs credential-like query values and anything shaped like an API key', () => {
    expect(scrubQuery('?expires=1&signature=abc&X-Goog-Signature=def&token=t&limit=5')).toBe(
      'expires=1&signature=REDACTED&X-Goog-Signature=REDACTED&token=REDACTED&limit=5',
    );
    expect(scrubQuery('q=tpk_AbC123_x-y')).toBe('q=tpk_REDACTED');
    expect(scrubUrl(new URL('https://user:pw@hooks.example.com/in/tpk_abc?secret=s&ok=1'))).toBe(
      'https://hooks.example.com/in/tpk_REDACTED?secret=REDACTED&ok=1',
    );
  });
});
