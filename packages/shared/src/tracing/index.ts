/**
 * OpenTelemetry tracing: `startTracing` (first thing in each app's main.ts) and what the apps use to
 * add spans. Only `@opentelemetry/api` is imported here; the SDK (sdk.ts) is loaded when tracing is on,
 * and with it off every helper calls straight through. Shared code (the lifecycle, the logger, the
 * job mapper) imports the modules beside this one directly.
 */
export { ATTR } from './attributes.js';
export { annotateActiveSpan, inSpan } from './spans.js';
export { startTracing } from './start.js';
export { queueTelemetryOption } from './state.js';
