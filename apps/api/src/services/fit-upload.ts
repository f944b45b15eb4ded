import type { FitInput } from './fit-plan.js';
import type { Idempotency } from './idempotency.js';
import { type TrainSetIntake, createTrainSetIntake } from './train-set-intake.js';

/**
 * A CSV fit as it arrives: the route reads the multipart body into the intake the submit service
 * opens for it (rows validated and stored as they stream in), and returns the request it read.
 */
export interface FitUpload {
  read(intake: TrainSetIntake): Promise<{ input: FitInput; requestHash: string }>;
}

export const isFitUpload = (request: FitInput | FitUpload): request is FitUpload => typeof (request as Partial<FitUpload>).read === 'function';

type Deps = Parameters<typeof createTrainSetIntake>[0] & { idempotency: Pick<Idempotency, 'known'> };

/**
 * Reads a CSV fit into storage, after the refusal that needs no body (the account's in-flight cap;
 * not for a repeat of a stored request, whose first answer is replayed whatever the cap). `abandon`
 * drops what was stored, for a request that ends without using it (refused, or a repeat).
 */
export async function receiveFitUpload(
  deps: Deps,
  req: { userId: string; endpoint: string; idempotencyKey?: string; checkInflight: (userId: string) => Promise<void> },
  upload: FitUpload,
): Promise<{ input: FitInput; requestHash: string; abandon: () => Promise<void> }> {
  if (!(await deps.idempotency.known({ userId: req.userId, endpoint: req.endpoint, key: req.idempotencyKey }))) await req.checkInflight(req.userId);
  const intake = createTrainSetIntake(deps, { userId: req.userId });
  try {
    return { ...(await upload.read(intake)), abandon: () => intake.abandon() };
  } catch (err) {
    await intake.abandon();
    throw err;
  }
}
