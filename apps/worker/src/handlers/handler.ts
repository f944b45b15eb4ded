import type { Job } from 'bullmq';
import type { JobName, JobPayload } from '@tabpfn-jobs/shared';

export type JobHandler<N extends JobName> = (payload: JobPayload<N>, job: Job) => Promise<void>;

/** Every catalog entry must have a handler: a missing key does not compile. */
export type HandlerMap = { [N in JobName]: JobHandler<N> };
