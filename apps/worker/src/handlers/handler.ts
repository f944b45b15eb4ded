import type { Job } from 'bullmq';
import type { JobName, JobPayload } from '@tabpfn-jobs/shared/jobs';

/** `token` is BullMQ's lock token, needed to move the job (e.g. to delayed). */
export type JobHandler<N extends JobName> = (payload: JobPayload<N>, job: Job, token?: string) => Promise<void>;

/** Every catalog entry must have a handler: a missing key does not compile. */
export type HandlerMap = { [N in JobName]: JobHandler<N> };
