import type { Telemetry } from 'bullmq';

/**
 * What a started SDK leaves for the rest of the process. Unset (tracing off) the helpers in spans.ts
 * call straight through and queues get no telemetry: the default costs nothing.
 */
export interface RunningTracing {
  /** BullMQ's own spans (add, process, retry) with the job's context in its options (tracing/bullmq.ts). */
  queueTelemetry: Telemetry;
  /** Exports what is buffered and stops. */
  shutdown(): Promise<void>;
}

/** The processes that trace; each names its service `tabpfn-jobs-<name>` unless OTEL_SERVICE_NAME says otherwise. */
export type TracedService = 'api' | 'worker';

let running: RunningTracing | undefined;

export function setRunningTracing(value: RunningTracing | undefined): void {
  running = value;
}

export function runningTracing(): RunningTracing | undefined {
  return running;
}

/** Whether this process traces (its SDK started). */
export function tracingActive(): boolean {
  return running !== undefined;
}

/** `telemetry` for a BullMQ Queue or Worker's options: spread it in, `{}` while tracing is off. */
export function queueTelemetryOption(): { telemetry?: Telemetry } {
  return running ? { telemetry: running.queueTelemetry } : {};
}
