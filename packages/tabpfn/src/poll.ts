import { FitFailedError, FitTimeoutError, NotFoundError, TrainSetNotFoundError, type TabPFNError } from './errors.js';
import { isTransient, jsonBody, send, sleep } from './http.js';
import type { FlowContext } from './fit.js';

// `CappedRetryableServerError`: 429 and 500 on the status endpoint are tolerated this many times in a row.
const MAX_CONSECUTIVE_CAPPED = 3;

/**
 * `_wait_for_fit`: the first poll is immediate; later polls sleep for the server's `retry_in_secs`
 * (clamped to a minimum, and kept across polls), or the default interval until a hint arrives. Gives up
 * when the time left is no more than the next sleep.
 */
export async function waitForFit(flow: FlowContext, fittedTrainSetId: string, pollTimeoutMs: number, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + pollTimeoutMs;
  let hintMs: number | undefined;
  let capped = 0;
  for (let attempt = 0; ; attempt++) {
    if (attempt > 0) {
      const sleepMs = hintMs ?? flow.pollIntervalMs;
      if (deadline - Date.now() <= sleepMs) {
        throw new FitTimeoutError(fittedTrainSetId, `Fit ${fittedTrainSetId} did not finish within ${Math.round(pollTimeoutMs / 1000)} s`);
      }
      await sleep(sleepMs, signal);
    }
    let body: Record<string, unknown>;
    try {
      const res = await send(flow.http, {
        method: 'POST',
        url: '/tabpfn/get_fit_status',
        json: { fitted_train_set_id: fittedTrainSetId },
        timeoutMs: flow.pollRequestTimeoutMs,
        signal,
        operation: 'get_fit_status',
      });
      body = jsonBody(res, 'get_fit_status');
    } catch (err) {
      if (err instanceof NotFoundError) throw new TrainSetNotFoundError(fittedTrainSetId, detailsOf(err));
      if (isTransient(err)) continue;
      const status = (err as TabPFNError).status;
      if ((status === 429 || status === 500) && ++capped <= MAX_CONSECUTIVE_CAPPED) continue;
      throw err;
    }
    capped = 0;
    if (typeof body.retry_in_secs === 'number' && Number.isFinite(body.retry_in_secs)) {
      hintMs = Math.max(flow.minPollIntervalMs, body.retry_in_secs * 1000);
    }
    if (body.status === 'completed') return;
    if (body.status === 'failed') {
      const message = typeof body.error === 'string' ? body.error : 'unknown error';
      throw new FitFailedError(fittedTrainSetId, message, {
        upstreamMessage: message,
        ...(typeof body.error_code === 'string' ? { errorCode: body.error_code } : {}),
      });
    }
  }
}

export function detailsOf(err: TabPFNError): { status?: number; traceId?: string; upstreamMessage?: string; errorCode?: string } {
  const out: { status?: number; traceId?: string; upstreamMessage?: string; errorCode?: string } = {};
  if (err.status !== undefined) out.status = err.status;
  if (err.traceId !== undefined) out.traceId = err.traceId;
  if (err.upstreamMessage !== undefined) out.upstreamMessage = err.upstreamMessage;
  if (err.errorCode !== undefined) out.errorCode = err.errorCode;
  return out;
}
