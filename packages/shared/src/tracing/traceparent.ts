/**
 * W3C `traceparent` (https://www.w3.org/TR/trace-context/#traceparent-header) as the job row stores it:
 * `00-<trace id, 32 hex>-<span id, 16 hex>-<flags, 2 hex>`. Pure string work, no OpenTelemetry import,
 * so the job mapper can read a row's trace id without loading anything.
 */
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

export interface ParsedTraceparent {
  traceId: string;
  spanId: string;
  traceFlags: number;
}

export function parseTraceparent(value: string | null | undefined): ParsedTraceparent | undefined {
  const m = value ? TRACEPARENT.exec(value) : null;
  if (!m) return undefined;
  const [, traceId, spanId, flags] = m as unknown as [string, string, string, string];
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return undefined;
  return { traceId, spanId, traceFlags: Number.parseInt(flags, 16) };
}

export function formatTraceparent(p: ParsedTraceparent): string {
  return `00-${p.traceId}-${p.spanId}-${(p.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

/**
 * The trace id a job's resource shows (`trace_id`): only for a sampled trace, the only kind an
 * operator can find in the tracing backend. null when the submit was not traced.
 */
export function publicTraceId(traceparent: string | null | undefined): string | null {
  const p = parseTraceparent(traceparent);
  return p && (p.traceFlags & 1) === 1 ? p.traceId : null;
}
