import {
  type Attributes,
  type Context,
  type Link,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  context,
  trace,
} from '@opentelemetry/api';
import { ATTR } from './attributes.js';
import { tracingActive } from './state.js';
import { formatTraceparent, parseTraceparent } from './traceparent.js';

const tracer = () => trace.getTracer('tabpfn-jobs');

export interface SpanOptions {
  kind?: SpanKind;
  /** The span's parent; default the active span. */
  parent?: Context;
  links?: Link[];
  /** Errors that end the span without failing it (a job held back in the queue is not a failure). */
  expected?: (err: unknown) => boolean;
}

/** The code an error carries (TabPFN, webhook and API errors all have one), else its name. */
export function errorCodeOf(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code) return code;
  return err instanceof Error ? err.name : 'error';
}

/**
 * Marks a span failed by the error's code. Never its message or stack: upstream echoes request data in
 * some messages, and an error's text is the user's to read in the job, not the operator's trace.
 */
export function markFailed(span: Span, code: string): void {
  span.setAttribute(ATTR.errorCode, code);
  span.setStatus({ code: SpanStatusCode.ERROR, message: code });
}

/**
 * Runs `fn` in a new span, ended when `fn` settles; a throw marks it failed (see `markFailed`) and is
 * rethrown. With tracing off it is `fn(undefined)`, nothing allocated.
 */
export function inSpan<T>(
  name: string,
  attributes: Attributes,
  fn: (span: Span | undefined) => Promise<T>,
  opts: SpanOptions = {},
): Promise<T> {
  if (!tracingActive()) return fn(undefined);
  const parent = opts.parent ?? context.active();
  return tracer().startActiveSpan(name, { kind: opts.kind ?? SpanKind.INTERNAL, attributes, links: opts.links }, parent, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      if (!opts.expected?.(err)) markFailed(span, errorCodeOf(err));
      throw err;
    } finally {
      span.end();
    }
  });
}

/** The active span's context as W3C traceparent (what a job row keeps), or null when nothing is traced. */
export function activeTraceparent(): string | null {
  if (!tracingActive()) return null;
  const span = trace.getActiveSpan();
  if (!span) return null;
  const sc = span.spanContext();
  return trace.isSpanContextValid(sc) ? formatTraceparent(sc) : null;
}

/** A context whose parent is the span a traceparent names (a job's submit), for spans of that job's trace. */
export function contextOfTraceparent(traceparent: string | null | undefined): Context | undefined {
  const p = parseTraceparent(traceparent);
  return p ? trace.setSpanContext(ROOT_CONTEXT, { ...p, isRemote: true }) : undefined;
}

/**
 * Runs `fn` in a span of the job's own trace (a child of its submit, from `traceparent`), linked to the
 * span active now: work one job does on behalf of another (a fit's end releasing its parked predicts,
 * the reconciler re-adding a lost job) stays in the job's trace and still shows what caused it.
 */
export function inJobTrace<T>(
  traceparent: string | null | undefined,
  name: string,
  attributes: Attributes,
  fn: () => Promise<T>,
): Promise<T> {
  if (!tracingActive()) return fn();
  const cause = trace.getActiveSpan()?.spanContext();
  const links = cause && trace.isSpanContextValid(cause) ? [{ context: cause }] : [];
  // A job submitted untraced (before tracing was turned on) starts a trace of its own here.
  return inSpan(name, attributes, () => fn(), { parent: contextOfTraceparent(traceparent) ?? ROOT_CONTEXT, links });
}

/** Adds attributes to the active span (a job's attempt, the submit), if there is one. */
export function annotateActiveSpan(attributes: Attributes): void {
  if (!tracingActive()) return;
  trace.getActiveSpan()?.setAttributes(attributes);
}

/** pino mixin: the active span's ids on every log line written inside it. */
export function traceLogFields(): { trace_id?: string; span_id?: string } {
  const sc = trace.getActiveSpan()?.spanContext();
  return sc && trace.isSpanContextValid(sc) ? { trace_id: sc.traceId, span_id: sc.spanId } : {};
}
