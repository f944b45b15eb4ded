import { pino, type Logger, type LoggerOptions } from 'pino';

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
  };
  return destination ? pino(options, destination as pino.DestinationStream) : pino(options);
}
