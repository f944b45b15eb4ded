import { expect } from '@jest/globals';
import { type FileUploadInfo, fileInfo, parquetOf, type Reply, send, uploadChunks } from './wire.js';

/**
 * The fit and predict steps of §4–§5 as the client chains them, so a conformance row can reach the one
 * route it checks with real ids. Small fixed data: the emulator's k-NN needs nothing bigger.
 */
export const X_TRAIN = parquetOf([
  [1, 2, 3, 10, 11, 12],
  [0, 1, 0, 5, 6, 5],
]);
export const Y_CLASS = parquetOf([['a', 'a', 'a', 'b', 'b', 'b']]);
export const Y_REG = parquetOf([[1.5, 2.5, 3.5, 10.5, 11.5, 12.5]]);
export const X_TEST = parquetOf([
  [2, 11],
  [1, 5],
]);

/** The classifier defaults the client sends (§6). */
export const CLASSIFIER_CONFIG = { balance_probabilities: false, ignore_pretraining_limits: false, random_state: 0 };
export const REGRESSOR_CONFIG = { ignore_pretraining_limits: false, random_state: 0 };

export interface Flow {
  base: string;
  token: string;
}

/** `POST /tabpfn/prepare_train_set_upload`, then the chunk PUTs unless deduplicated; answers `train_set_upload_id`. */
export async function trainSet(f: Flow, y: Uint8Array = Y_CLASS): Promise<string> {
  const prep = await send(f.base, 'POST', '/tabpfn/prepare_train_set_upload', {
    token: f.token,
    json: { x_train_info: fileInfo(X_TRAIN), y_train_info: fileInfo(y), force_reupload: false },
  });
  // A 409 is the server's dedup hit: the client takes the id it names and skips the upload.
  if (prep.status === 409) return prep.json?.train_set_upload_id as string;
  expect(prep.status).toBe(200);
  const body = prep.json as { train_set_upload_id: string; x_train_info: FileUploadInfo; y_train_info: FileUploadInfo };
  const puts = await Promise.all([
    uploadChunks(f.base, f.token, X_TRAIN, body.x_train_info),
    uploadChunks(f.base, f.token, y, body.y_train_info),
  ]);
  expect(puts.flat().every((s) => s === 200)).toBe(true);
  return body.train_set_upload_id;
}

/** Gen C's nested FitRequest (§4). */
export function fitRequest(trainSetUploadId: string, task: 'classification' | 'regression' = 'classification') {
  return {
    train_set_upload_id: trainSetUploadId,
    task_config: { task, tabpfn_config: task === 'classification' ? CLASSIFIER_CONFIG : REGRESSOR_CONFIG },
    tabpfn_systems: ['preprocessing', 'text'],
  };
}

/** A completed Gen C sync fit; answers `fitted_train_set_id`. */
export async function fitted(f: Flow, task: 'classification' | 'regression' = 'classification'): Promise<string> {
  const id = await trainSet(f, task === 'classification' ? Y_CLASS : Y_REG);
  const fit = await send(f.base, 'POST', '/tabpfn/fit', { token: f.token, json: fitRequest(id, task) });
  expect(fit.json).toMatchObject({ status: 'completed' });
  return fit.json?.fitted_train_set_id as string;
}

/** `POST /tabpfn/prepare_test_set_upload` for X_TEST, then its PUTs unless deduplicated; answers `test_set_upload_id`. */
export async function testSet(f: Flow, fittedId: string): Promise<string> {
  const prep = await send(f.base, 'POST', '/tabpfn/prepare_test_set_upload', {
    token: f.token,
    json: { fitted_train_set_id: fittedId, x_test_info: fileInfo(X_TEST), force_reupload: false },
  });
  if (prep.status === 409) return prep.json?.test_set_upload_id as string;
  expect(prep.status).toBe(200);
  const body = prep.json as { test_set_upload_id: string; x_test_info: FileUploadInfo };
  expect(await uploadChunks(f.base, f.token, X_TEST, body.x_test_info)).toEqual([200]);
  return body.test_set_upload_id;
}

/**
 * Polls a fit status route until it leaves `pending`, as `_wait_for_fit` does but without its sleeps:
 * the emulator's fit latency is short, and each round trip is the wait. Answers every reply seen.
 */
export async function pollFit(poll: () => Promise<Reply>, maxMs = 10_000): Promise<Reply[]> {
  const seen: Reply[] = [];
  const deadline = Date.now() + maxMs;
  for (;;) {
    const r = await poll();
    seen.push(r);
    if (r.status !== 200 || r.json?.status !== 'pending') return seen;
    if (Date.now() > deadline) throw new Error(`fit still pending after ${maxMs} ms`);
  }
}
