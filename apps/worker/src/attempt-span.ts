import { DelayedError, type Job } from 'bullmq';
import type { JobName } from '@tabpfn-jobs/shared/jobs';
import { ATTR, inSpan } from '@tabpfn-jobs/shared/tracing';

/** The ids a payload names (jobs/catalog.ts), as span attributes. */
function payloadAttributes(payload: unknown): Record<string, string> {
  const p = payload as { jobId?: string; userId?: string; deliveryId?: string };
  return {
    ...(p.jobId ? { [ATTR.jobId]: p.jobId } : {}),
    ...(p.userId ? { [ATTR.accountId]: p.userId } : {}),
    ...(p.deliveryId ? { [ATTR.deliveryId]: p.deliveryId } : {}),
  };
}

/**
 * One BullMQ attempt of a fit, predict or webhook as a span (`fit attempt`, …). Its parent is BullMQ's
 * `process` span, whose parent is the add that queued the job (or, for a retry, the attempt that
 * failed): the attempt sits in the job's trace, below its submit. The handlers add the job's account,
 * status and error code as they learn them (lifecycle start/finish). An attempt that throws is retried
 * by BullMQ (failed, with the error's code); one held back in the queue (DelayedError) is not a failure.
 * Maintenance runs are left to BullMQ's own span.
 */
export function traceAttempt(name: JobName, payload: unknown, job: Job, run: () => Promise<void>): Promise<void> {
  if (name === 'maintenance') return run();
  const attributes = {
    ...(name === 'webhook' ? {} : { [ATTR.jobType]: name }),
    [ATTR.attempt]: job.attemptsMade + 1,
    ...payloadAttributes(payload),
  };
  return inSpan(
    `${name} attempt`,
    attributes,
    async (span) => {
      try {
        await run();
        span?.setAttribute(ATTR.attemptOutcome, 'done');
      } catch (err) {
        span?.setAttribute(ATTR.attemptOutcome, err instanceof DelayedError ? 'delayed' : 'retry');
        throw err;
      }
    },
    { expected: (err) => err instanceof DelayedError },
  );
}
