import { pino, type Logger, type LoggerOptions } from 'pino';
import { traceLogFields } from './tracing/spans.js';
import { tracingActive } from './tracing/state.js';

export type { Logger };

/**
 * Paths that may carry a secret. Redaction is the second line of defence: code should never log
 * secrets in the first place, and a test greps captured logs for them.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["idempotency-key"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'authorization',
  'token',
  'tabpfn_token',
  'tabpfnToken',
  'api_key',
  'apiKey',
  'secret',
  'password',
  '*.token',
  '*.tabpfn_token',
  '*.tabpfnToken',
  '*.api_key',
  '*.apiKey',
  '*.secret',
  '*.password',
  '*.authorization',
];

export interface CreateLoggerOptions {
  name: string;
  level?: string;
  /** Where log lines go; tests pass a capture stream. Defaults to stdout. */
  destination?: NodeJS.WritableStream;
}

export function createLogger({ name, level = 'info', destination }: CreateLoggerOptions): Logger {
  const options: LoggerOptions = {
    name,
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { service: name },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    // A line written inside a span carries its trace_id and span_id (only while tracing is on).
    ...(tracingActive() ? { mixin: traceLogFields } : {}),
  };
  return pino(options, (destination as pino.DestinationStream | undefined) ?? stdoutDestination());
}

/**
 * stdout as pino writes it by default (synchronous sonic-boom on fd 1), except that once nobody
 * reads it (EPIPE: the parent holding our pipe died) it becomes a sink. Left as is, sonic-boom keeps
 * the unwritten lines and its exit-time flushSync retries them forever, so a process whose parent
 * was killed could never finish exiting.
 */
function stdoutDestination(): pino.DestinationStream {
  const dest = pino.destination({ dest: 1, sync: true });
  dest.once('error', () => {
    Object.assign(dest, { write: () => true, flush: (cb?: (err?: Error) => void) => cb?.(), flushSync: () => undefined });
    dest.on('error', () => undefined);
  });
  return dest;
}
