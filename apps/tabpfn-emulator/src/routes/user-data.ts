import { type Response, Router } from 'express';
import type { EmulatorState, Upload } from '../emulator-state.js';
import { locals } from '../http-helpers.js';
import { injectFaults, requireToken, tagRoute } from '../middleware.js';

/**
 * The protocol doc (§11) says only that `GET /download_all_data/` "streams a file named by
 * `Content-Disposition: ...filename=<name>`" and not what the file holds, so this follows the client:
 * `ServiceClient.download_all_data` in tabpfn-client's `client.py` (read in a version that still sent
 * `?confirm_password=` to delete_user_account) saves the streamed body to
 * `save_dir / headers["Content-Disposition"].split("filename=")[1]`, verbatim. So the name is left unquoted
 * (quotes would become part of the file name) and kept to `[A-Za-z0-9_.-]`. The content is the emulator's
 * own choice: one JSON document of the token's uploads (bytes in base64) and fitted sets.
 */
function exportFileName(now: Date): string {
  return `tabpfn_data_${now.toISOString().replace(/[-:]/g, '').replace(/\..*$/, 'Z')}.json`;
}

function uploadEntry(u: Upload): Record<string, unknown> {
  const files = Object.fromEntries(
    Object.values(u.files).map((f) => [
      f.name,
      {
        format: f.format,
        size_bytes: f.sizeBytes,
        // Chunks not uploaded yet are left out; `complete` says whether that happened.
        data_base64: Buffer.concat(f.chunks.filter((c): c is Buffer => c !== undefined)).toString('base64'),
      },
    ]),
  );
  const ids = u.kind === 'train' ? { train_set_upload_id: u.id } : { test_set_upload_id: u.id, fitted_train_set_id: u.fittedTrainSetId };
  return { ...ids, description: u.description ?? null, created_at: new Date(u.createdAt).toISOString(), complete: u.complete, files };
}

/** One JSON document, written an upload at a time so a large export is not built in memory first. */
function streamExport(state: EmulatorState, res: Response, token: string): void {
  const now = new Date();
  res
    .status(200)
    .type('application/json')
    .setHeader('content-disposition', `attachment; filename=${exportFileName(now)}`);
  const uploads = [...state.uploads.values()].filter((u) => u.token === token);
  const fitted = [...state.fitted.values()]
    .filter((f) => f.token === token)
    .map((f) => ({
      fitted_train_set_id: f.id,
      train_set_upload_id: f.trainSetUploadId,
      task: f.task,
      tabpfn_config: f.tabpfnConfig,
      created_at: new Date(f.createdAt).toISOString(),
    }));
  res.write(`{"exported_at":${JSON.stringify(now.toISOString())},"fitted_train_sets":${JSON.stringify(fitted)}`);
  for (const kind of ['train', 'test'] as const) {
    res.write(`,"${kind}_sets":[`);
    uploads
      .filter((u) => u.kind === kind)
      .forEach((u, i) => {
        res.write(`${i ? ',' : ''}${JSON.stringify(uploadEntry(u))}`);
      });
    res.write(']');
  }
  res.end('}');
}

export function userDataRoutes(state: EmulatorState, router: Router = Router()): Router {
  const faults = injectFaults(state);

  router.get('/download_all_data/', tagRoute(state, 'download_all_data'), faults, requireToken(state), (_req, res) => {
    streamExport(state, res, locals(res).token as string);
  });

  // Gen L sent `?confirm_password=`; the current client sends no parameters, so any query is ignored.
  router.delete(
    '/delete_user_account/',
    tagRoute(state, 'delete_user_account'),
    faults,
    requireToken(state, { allowUnverified: true }),
    (_req, res) => {
      state.deleteAccount(locals(res).token as string);
      res.json({ message: 'Account deleted' });
    },
  );

  return router;
}
