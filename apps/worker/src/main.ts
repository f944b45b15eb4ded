/**
 * The worker process's entry. OpenTelemetry tracing (off unless OTEL_EXPORTER_OTLP_ENDPOINT or
 * OTEL_TRACES_EXPORTER is set) must hook module loading before the app's modules are loaded, so the
 * worker (run.ts) is imported only once it has started; off, this costs one environment check.
 */
import { startTracing } from '@tabpfn-jobs/shared/tracing';

await startTracing('worker');
await import('./run.js');
