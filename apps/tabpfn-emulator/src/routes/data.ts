import { Router } from 'express';
import type { EmulatorState } from '../emulator-state.js';
import { EmulatorHttpError, locals } from '../http-helpers.js';
import { injectFaults, requireToken, tagRoute } from '../middleware.js';

/** Deletes a train set upload, a fitted train set or a test set upload; a train set takes its fits and test sets along. */
function deleteDataset(state: EmulatorState, token: string, uid: string): string[] {
  const deleted: string[] = [];
  const dropFitted = (fid: string) => {
    state.fitted.delete(fid);
    deleted.push(fid);
    for (const [id, u] of state.uploads) {
      if (u.fittedTrainSetId === fid) {
        state.deleteUpload(id);
        deleted.push(id);
      }
    }
  };
  const upload = state.uploads.get(uid);
  const fitted = state.fitted.get(uid);
  if (upload && upload.token === token) {
    state.deleteUpload(uid);
    deleted.push(uid);
    if (upload.kind === 'train') {
      for (const f of [...state.fitted.values()]) if (f.trainSetUploadId === uid) dropFitted(f.id);
    }
  } else if (fitted && fitted.token === token) {
    dropFitted(uid);
  } else {
    throw new EmulatorHttpError(404, `Dataset ${uid} not found`, 'NOT_FOUND');
  }
  return deleted;
}

export function dataRoutes(state: EmulatorState, router: Router = Router()): Router {
  const faults = injectFaults(state);

  router.delete('/delete_dataset/', tagRoute(state, 'delete_dataset'), faults, requireToken(state), (req, res) => {
    const uid = req.query.dataset_uid;
    if (typeof uid !== 'string' || uid === '') {
      throw new EmulatorHttpError(422, 'Invalid request: dataset_uid: required', 'REQUEST_VALIDATION_ERROR', {
        detail: [{ loc: ['query', 'dataset_uid'], msg: 'Field required', type: 'missing' }],
      });
    }
    res.json({ deleted_dataset_uids: deleteDataset(state, locals(res).token as string, uid) });
  });

  router.delete('/delete_all_datasets/', tagRoute(state, 'delete_all_datasets'), faults, requireToken(state), (_req, res) => {
    const token = locals(res).token as string;
    const deleted: string[] = [];
    for (const [id, f] of state.fitted) {
      if (f.token === token) {
        state.fitted.delete(id);
        deleted.push(id);
      }
    }
    for (const [id, u] of state.uploads) {
      if (u.token === token) {
        state.deleteUpload(id);
        deleted.push(id);
      }
    }
    res.json({ deleted_dataset_uids: deleted });
  });

  router.get('/get_data_summary/', tagRoute(state, 'get_data_summary'), faults, requireToken(state), (_req, res) => {
    const token = locals(res).token as string;
    const uploads = [...state.uploads.values()].filter((u) => u.token === token);
    res.json({
      train_sets: uploads
        .filter((u) => u.kind === 'train')
        .map((u) => ({ train_set_upload_id: u.id, description: u.description ?? null, created_at: new Date(u.createdAt).toISOString() })),
      fitted_train_sets: [...state.fitted.values()]
        .filter((f) => f.token === token)
        .map((f) => ({ fitted_train_set_id: f.id, task: f.task, train_set_upload_id: f.trainSetUploadId })),
      test_sets: uploads
        .filter((u) => u.kind === 'test')
        .map((u) => ({ test_set_upload_id: u.id, fitted_train_set_id: u.fittedTrainSetId })),
    });
  });

  return router;
}
