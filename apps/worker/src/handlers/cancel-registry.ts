/**
 * Where cancel broadcasts land in a worker process. A broadcast for a job whose upstream call is
 * running aborts it; one that arrives earlier (the job is loaded but its call not started yet, or it
 * runs on another process) is kept for a while, so the call is stopped the moment it registers
 * instead of running to the end. Kept entries expire; the Postgres flag covers later attempts.
 */
export function createCancelRegistry(running: Map<string, AbortController>, opts: { keepMs?: number; max?: number; now?: () => number } = {}) {
  const keepMs = opts.keepMs ?? 10 * 60_000;
  const max = opts.max ?? 10_000;
  const now = opts.now ?? Date.now;
  const early = new Map<string, number>();

  return {
    onBroadcast(jobId: string): void {
      const controller = running.get(jobId);
      if (controller) {
        controller.abort();
        return;
      }
      early.set(jobId, now() + keepMs);
      // Oldest first (insertion order): drop the expired, and the oldest past the cap.
      for (const [id, until] of early) {
        if (until >= now() && early.size <= max) break;
        early.delete(id);
      }
    },
    /** True once if a cancel for `jobId` arrived before its call registered. */
    takeEarly(jobId: string): boolean {
      const until = early.get(jobId);
      if (until === undefined) return false;
      early.delete(jobId);
      return until >= now();
    },
  };
}

export type CancelRegistry = ReturnType<typeof createCancelRegistry>;
