/**
 * The OpenTelemetry SDK, imported by start.ts only when tracing is on (never otherwise: the default
 * costs nothing). Everything the SDK reads from OTEL_* it reads itself: exporter and protocol
 * (OTEL_TRACES_EXPORTER, OTEL_EXPORTER_OTLP_PROTOCOL: http/protobuf by default, http/json, grpc),
 * endpoint, headers, sampler, batch delays, resource attributes.
 */
import { register } from 'node:module';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { createAddHookMessageChannel } from 'import-in-the-middle';
import { createQueueTelemetry } from './bullmq.js';
import { createInstrumentations } from './instrumentations.js';
import type { RunningTracing, TracedService } from './state.js';

/** How long a stop waits for the last spans to be exported (a dead collector must not hold a shutdown). */
const SHUTDOWN_TIMEOUT_MS = 2_000;

export async function startSdk(service: TracedService): Promise<RunningTracing> {
  // ESM modules are instrumented through import-in-the-middle's loader hook, told by the
  // instrumentations which modules to wrap (only those: wrapping every module costs start time).
  const { registerOptions, waitForAllMessagesAcknowledged } = createAddHookMessageChannel();
  register('import-in-the-middle/hook.mjs', import.meta.url, registerOptions);
  const sdk = new NodeSDK({
    // OTEL_SERVICE_NAME, when set, names the service instead.
    ...(process.env.OTEL_SERVICE_NAME ? {} : { serviceName: `tabpfn-jobs-${service}` }),
    instrumentations: createInstrumentations(),
    // Traces only: metrics are Prometheus' (the worker's /metrics), logs are pino's on stdout.
    metricReaders: [],
    logRecordProcessors: [],
  });
  sdk.start();
  await waitForAllMessagesAcknowledged();
  return {
    queueTelemetry: createQueueTelemetry(),
    async shutdown() {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        sdk.shutdown().catch(() => undefined),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, SHUTDOWN_TIMEOUT_MS);
        }),
      ]);
      clearTimeout(timer);
    },
  };
}
