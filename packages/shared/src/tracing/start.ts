import { z } from 'zod';
import { loadDotEnv, parseEnv } from '../config/env.js';
import { unsetIfEmpty } from '../config/env-values.js';
import { beforeExit } from '../process.js';
import { type TracedService, runningTracing, setRunningTracing } from './state.js';

/**
 * The standard OpenTelemetry variables that decide whether a process traces; the SDK reads the rest
 * itself (OTEL_EXPORTER_OTLP_PROTOCOL, OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER, OTEL_BSP_*, …).
 */
export const tracingEnvSchema = z
  .object({
    OTEL_SDK_DISABLED: unsetIfEmpty(z.string()),
    /** `otlp` (default once tracing is on), `console`, `zipkin`, or `none`. */
    OTEL_TRACES_EXPORTER: unsetIfEmpty(z.string()),
    // Empty counts as unset (compose passes `${X:-}` as ""), as the SDK reads them.
    OTEL_EXPORTER_OTLP_ENDPOINT: unsetIfEmpty(z.url()),
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: unsetIfEmpty(z.url()),
  })
  .transform((env) => {
    if (/^\s*true\s*$/i.test(env.OTEL_SDK_DISABLED ?? '')) return { enabled: false };
    const exporters = (env.OTEL_TRACES_EXPORTER ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    if (exporters.length) return { enabled: !exporters.includes('none') };
    return { enabled: Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) };
  });

/**
 * Starts OpenTelemetry tracing when the environment asks for it (an OTLP endpoint or a traces exporter
 * is set), before the app's modules are imported: instrumentations hook module loading (ESM through
 * import-in-the-middle), so what is loaded earlier is not traced. Off, the SDK is never even imported.
 * A problem starting it is reported on stderr and the process runs untraced: tracing never stops a service.
 */
export async function startTracing(service: TracedService): Promise<boolean> {
  try {
    // OTEL_* may sit in the .env like any setting; main.ts reads it again and reports a bad one.
    loadDotEnv();
  } catch {
    // main.ts reports it
  }
  try {
    if (!parseEnv(tracingEnvSchema).enabled) return false;
    const { startSdk } = await import('./sdk.js');
    setRunningTracing(await startSdk(service));
    // Spans still buffered are exported before the process exits (bounded: a dead collector cannot hold a stop).
    beforeExit(stopTracing);
    return true;
  } catch (err) {
    process.stderr.write(`tracing is off: ${err instanceof Error ? err.message : String(err)}\n`);
    return false;
  }
}

/** Exports what is buffered and stops tracing (idempotent). */
export async function stopTracing(): Promise<void> {
  const running = runningTracing();
  setRunningTracing(undefined);
  await running?.shutdown();
}
