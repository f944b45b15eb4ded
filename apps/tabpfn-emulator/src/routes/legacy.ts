import { type Request, type Response, Router } from 'express';
import { DatasetReadError, readCsv, type Table } from '../dataset-reader.js';
import type { EmulatorState, FileName, FittedSet, Upload, UploadFile } from '../emulator-state.js';
import { EmulatorHttpError, locals, wait } from '../http-helpers.js';
import { injectFaults, rateLimit, requireToken, tagRoute } from '../middleware.js';
import { type MultipartForm, readMultipart } from '../multipart.js';
import { createFit } from './fit.js';
import { limitForVersion } from './account.js';
import { checkTestSetLimits, DEFAULT_QUANTILES, modelVersion, OUTPUT_TYPES, predictionFor, ready } from './predict.js';
import { tableOf } from './uploads.js';

/**
 * Gen L (tabpfn-client ≤0.2.9), exactly as docs/tabpfn-protocol.md §12 describes it: multipart CSV
 * inside `POST /fit/` (streamed NDJSON) and `POST /predict/` (SSE), plus the thinking twins under
 * `/beta/tabpfn-r/`. Fitting and prediction reuse the current generation's state, so a legacy
 * `train_set_uid` is a fitted-set id and a `test_set_uid` a test upload id.
 */
const INVALID_UID = 'Invalid train or test set uid';

function jsonQuery(req: Request, name: string): unknown {
  const raw = req.query[name];
  if (typeof raw !== 'string' || raw === '') return undefined;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    throw new EmulatorHttpError(422, `Query parameter ${name} is not valid JSON`, 'REQUEST_VALIDATION_ERROR');
  }
}

function csvFile(form: MultipartForm, part: string, name: FileName): UploadFile {
  const bytes = form.files[part];
  if (!bytes) throw new EmulatorHttpError(422, `Missing multipart file ${part}`, 'REQUEST_VALIDATION_ERROR');
  let table: Table;
  try {
    table = readCsv(bytes);
  } catch (err) {
    if (err instanceof DatasetReadError) throw new EmulatorHttpError(400, `Could not read ${part} as csv: ${err.message}`, 'USER_ERROR');
    throw err;
  }
  return { name, format: 'csv', sizeBytes: bytes.byteLength, chunks: [bytes], table };
}

/** A complete upload made from the multipart CSVs, so the data routes and the fit see it like any other. */
function storeUpload(state: EmulatorState, token: string, kind: Upload['kind'], files: UploadFile[], description?: string): Upload {
  const now = Date.now();
  const upload: Upload = {
    id: state.newFittedId(),
    kind,
    token,
    files: Object.fromEntries(files.map((f) => [f.name, f])),
    createdAt: now,
    expiresAt: now + state.config.uploadUrlTtlMs,
    description,
    complete: true,
  };
  state.uploads.set(upload.id, upload);
  return upload;
}

async function legacyFit(state: EmulatorState, req: Request, res: Response): Promise<void> {
  const line = (o: Record<string, unknown>) => res.write(`${JSON.stringify(o)}\n`);
  res.status(200).type('application/x-ndjson');
  res.flushHeaders();
  try {
    const form = await readMultipart(req);
    const token = locals(res).token as string;
    const files = [csvFile(form, 'x_file', 'x_train'), csvFile(form, 'y_file', 'y_train')];
    const upload = storeUpload(state, token, 'train', files, form.fields.desc);
    const thinking = form.fields.tabpfnr_params ? (JSON.parse(form.fields.tabpfnr_params) as unknown) : undefined;
    const body = {
      train_set_upload_id: upload.id,
      task: req.query.task,
      tabpfn_config: jsonQuery(req, 'tabpfn_config'),
      tabpfn_systems: jsonQuery(req, 'tabpfn_systems'),
      ...(thinking === undefined ? {} : { thinking_config: thinking }),
    };
    const fitted = await createFit(state, body, res);
    state.countersFor(token).syncFits += 1;
    await streamProgress(res, fitted, line);
  } catch (err) {
    line({ status: 'error', message: err instanceof Error ? err.message : String(err) });
  }
  res.end();
}

/** `in_progress` lines until the fit latency has passed, then the outcome line. */
async function streamProgress(res: Response, fitted: FittedSet, line: (o: Record<string, unknown>) => void) {
  const steps = 2;
  for (let step = 1; step <= steps; step++) {
    const remainingMs = Math.max(0, fitted.readyAt - Date.now());
    line({
      status: 'in_progress',
      estimated_time_remaining_sec: remainingMs / 1000,
      total_steps: steps,
      current_step: step,
      message: 'Fitting',
    });
    if (!(await wait(remainingMs / (steps - step + 1), locals(res)))) return;
  }
  if (fitted.outcome === 'failed') line({ status: 'error', message: fitted.error ?? 'Fit failed' });
  else line({ status: 'complete', train_set_uid: fitted.id });
}

async function testUpload(state: EmulatorState, req: Request, token: string, fitted: FittedSet): Promise<Upload> {
  const uid = req.query.test_set_uid;
  if (typeof uid === 'string' && uid !== '') {
    const upload = state.uploads.get(uid);
    if (!upload || upload.token !== token || upload.kind !== 'test' || upload.fittedTrainSetId !== fitted.id) {
      throw new EmulatorHttpError(404, INVALID_UID, 'NOT_FOUND');
    }
    return upload;
  }
  const upload = storeUpload(state, token, 'test', [csvFile(await readMultipart(req), 'x_file', 'x_test')]);
  upload.fittedTrainSetId = fitted.id;
  return upload;
}

interface LegacyPredictParams {
  output_type?: string;
  quantiles?: number[];
}

async function legacyPredict(state: EmulatorState, req: Request, res: Response): Promise<void> {
  const event = (o: Record<string, unknown>) => res.write(`data: ${JSON.stringify(o)}\n\n`);
  res.status(200).type('text/event-stream');
  res.setHeader('cache-control', 'no-cache');
  res.flushHeaders();
  try {
    const token = locals(res).token as string;
    const fitted = state.fitted.get(String(req.query.train_set_uid));
    if (!fitted || fitted.token !== token) throw new EmulatorHttpError(404, INVALID_UID, 'NOT_FOUND');
    const task = typeof req.query.task === 'string' ? req.query.task : fitted.task;
    if (task !== fitted.task) throw new EmulatorHttpError(400, `The train set is for ${fitted.task}, not ${task}`, 'USER_ERROR');
    const params = (jsonQuery(req, 'predict_params') ?? {}) as LegacyPredictParams;
    const outputType = params.output_type ?? (task === 'classification' ? 'preds' : 'mean');
    if (!(OUTPUT_TYPES[fitted.task] as readonly string[]).includes(outputType)) throw new Error(`Invalid output_type "${outputType}"`);
    ready(fitted);
    const upload = await testUpload(state, req, token, fitted);
    const x = await tableOf(upload, 'x_test');
    const config = (jsonQuery(req, 'tabpfn_config') ?? fitted.tabpfnConfig) as Record<string, unknown>;
    const limit = limitForVersion(state, modelVersion(config));
    checkTestSetLimits(limit, { rows: x.rows.length, cols: x.columns.length, trainRows: fitted.nRows, outputType });
    state.countersFor(token).predicts += 1;
    event({ event: 'message', data: 'Predicting' });
    event({ event: 'estimated_time_to_answer', data: state.config.predictLatencyMs / 1000 });
    if (!(await wait(state.config.predictLatencyMs, locals(res)))) return;
    const prediction = predictionFor(fitted, x.rows, outputType, params.quantiles ?? DEFAULT_QUANTILES);
    const metadata = { task, test_set_num_rows: x.rows.length, test_set_num_cols: x.columns.length };
    event({ event: 'result', data: { [task]: prediction, test_set_uid: upload.id }, metadata });
  } catch (err) {
    event({ event: 'error', error_class: 'ValueError', detail: err instanceof Error ? err.message : String(err) });
  }
  res.end();
}

export function legacyRoutes(state: EmulatorState, router: Router = Router()): Router {
  for (const prefix of ['', '/beta/tabpfn-r']) {
    router.post(`${prefix}/fit/`, tagRoute(state, 'fit'), injectFaults(state), requireToken(state), rateLimit(state, 'fit'), (req, res) =>
      legacyFit(state, req, res),
    );
    router.post(
      `${prefix}/predict/`,
      tagRoute(state, 'predict'),
      injectFaults(state),
      requireToken(state),
      rateLimit(state, 'predict'),
      (req, res) => legacyPredict(state, req, res),
    );
  }
  return router;
}
