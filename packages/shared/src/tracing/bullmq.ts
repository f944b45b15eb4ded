import { SpanKind, context, trace } from '@opentelemetry/api';
import type { Span as BullSpan, Telemetry } from 'bullmq';
import { BullMQOtel } from 'bullmq-otel';

/**
 * BullMQ attributes that hold job data: a failed attempt's error message (upstream's text can echo
 * request data) and a handler's return value. The attempt's own span carries the error code instead.
 */
const DATA_ATTRIBUTES = new Set(['bullmq.job.failed.reason', 'bullmq.job.result']);

function withoutData<T extends Record<string, unknown> | undefined>(attributes: T): T {
  if (!attributes) return attributes;
  return Object.fromEntries(Object.entries(attributes).filter(([key]) => !DATA_ATTRIBUTES.has(key))) as T;
}

/** A span BullMQ may use as usual, recording nothing (its housekeeping without a job). */
const unrecorded: BullSpan = {
  setSpanOnContext: (ctx) => ctx,
  setAttribute: () => undefined,
  setAttributes: () => undefined,
  addEvent: () => undefined,
  recordException: () => undefined,
  end: () => undefined,
};

function scrubbed(span: BullSpan): BullSpan {
  return {
    setSpanOnContext: (ctx) => span.setSpanOnContext(ctx),
    setAttribute: (key, value) => {
      if (!DATA_ATTRIBUTES.has(key)) span.setAttribute(key, value);
    },
    setAttributes: (attributes) => span.setAttributes(withoutData(attributes)),
    addEvent: (name, attributes) => span.addEvent(name, withoutData(attributes)),
    // An exception's message is data too (see DATA_ATTRIBUTES).
    recordException: () => undefined,
    end: () => span.end(),
  };
}

/**
 * BullMQ's own telemetry (bullmq-otel): a producer span per add, a consumer span per attempt, and
 * the trace context in the job's options, so an attempt's span is a child of the add that queued it
 * (and a retry's of the attempt that failed). Two changes: spans BullMQ starts with neither a job's
 * context nor an active span (a worker blocked on an empty queue wakes every few seconds; stalled-job
 * checks) are not recorded, or each would be a trace of its own; and job data stays out of spans.
 */
export function createQueueTelemetry(): Telemetry {
  const otel = new BullMQOtel('tabpfn-jobs');
  return {
    contextManager: otel.contextManager,
    tracer: {
      startSpan(name, options, ctx) {
        // Producer (add) and consumer (process) spans are the job's; internal ones are housekeeping
        // unless some traced work (a job's attempt) is their parent.
        const orphan = ctx === undefined && trace.getSpan(context.active()) === undefined;
        if (orphan && Number(options?.kind ?? SpanKind.INTERNAL) === SpanKind.INTERNAL) return unrecorded;
        return scrubbed(otel.tracer.startSpan(name, options, ctx));
      },
    },
  };
}
