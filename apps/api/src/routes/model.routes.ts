import { createHash } from 'node:crypto';
import { type Request, type RequestHandler, type Response, Router } from 'express';
import { isFinalStatus } from '@tabpfn-jobs/shared/domain';
import { ValidationError } from '@tabpfn-jobs/shared/errors';
import { toJobResource } from '@tabpfn-jobs/shared/mappers';
import { availableModels } from '@tabpfn-jobs/tabpfn';
import { principal } from '../http/auth.js';
import type { BodyPolicy } from '../http/body.js';
import { decodeCursor, encodeCursor } from '../http/cursor.js';
import { booleanField, jsonField, listField, readCsvStreamed } from '../http/csv-upload.js';
import { parse } from '../http/validate.js';
import { toModel } from '../mappers/model.mapper.js';
import { fitBody, idParam, modelListQuery, preferWaitSeconds, predictBody } from '../schemas/job.schemas.js';
import type { JobService } from '../services/job.service.js';
import type { StoredResponse } from '../services/idempotency.js';
import type { FitUpload } from '../services/fit-upload.js';
import type { FitInput, PredictInput, SubmitService } from '../services/submit.service.js';
import type { TestSetIntake } from '../services/test-set-intake.js';
import type { TrainSetIntake } from '../services/train-set-intake.js';

interface Deps {
  submit: SubmitService;
  jobs: JobService;
  authenticated: RequestHandler[];
  body: BodyPolicy;
  csvMaxBytes: number;
  /** Aborted at shutdown: a waiting request answers with the job as it is. */
  stopping: AbortSignal;
}

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

function idempotencyKey(req: Request): string | undefined {
  const key = req.get('idempotency-key');
  if (key === undefined) return undefined;
  if (!/^[\x21-\x7e]{1,255}$/.test(key)) throw new ValidationError([{ field: 'Idempotency-Key', message: 'must be 1-255 visible ASCII characters' }]);
  return key;
}

/** Refuses a fit upload as soon as its header arrives without the target column (not after every row). */
function targetInHeader(header: string[], fields: Readonly<Record<string, string>>): void {
  const t = fields.target_column;
  if (t && !header.includes(t)) {
    const hint = header.length === 1 && /[;\t|]/.test(header[0]!) ? ' (is the file separated by something else? send a "delimiter" field)' : '';
    throw new ValidationError([{ field: 'target_column', message: `no column "${t}" in the CSV header${hint}` }]);
  }
}

/** A fit request as JSON, or a multipart CSV upload with `target_column` (read by the submit service's intake). */
function readFit(req: Request, csvMaxBytes: number): { input: FitInput | FitUpload; hash: string } {
  if (!req.is('multipart/form-data')) {
    const body = parse(fitBody, req.body);
    // Serialising a large body again costs real time: only a request with an Idempotency-Key needs it.
    return { input: body, hash: req.get('idempotency-key') ? sha(JSON.stringify(req.body)) : '' };
  }
  // The request's hash covers the whole file: it is known once the upload is read.
  return { input: { read: (intake) => readFitUpload(req, csvMaxBytes, intake) }, hash: '' };
}

/**
 * Streams a CSV fit into `intake`: each row is validated and stored as it arrives (a large file is
 * never held whole), then the form fields are checked. `target_column` sent before the file lets the
 * target's cells be checked as they arrive too.
 */
async function readFitUpload(req: Request, csvMaxBytes: number, intake: TrainSetIntake): Promise<{ input: FitInput; requestHash: string }> {
  const up = await readCsvStreamed(
    req,
    csvMaxBytes,
    (header, fields) => {
      targetInHeader(header, fields);
      intake.header(header, fields.target_column || undefined);
    },
    (record, line) => intake.add(record, line),
    { digest: req.get('idempotency-key') !== undefined },
  );
  const { target_column, delimiter: _delimiter, ...rest } = up.fields;
  if (!target_column) throw new ValidationError([{ field: 'target_column', message: 'is required with a CSV upload' }]);
  const body = parse(fitBody.omit({ features: true, target: true, feature_names: true }), {
    ...rest,
    config: jsonField(rest, 'config'),
    categorical_features: listField(rest, 'categorical_features'),
    webhook_events: listField(rest, 'webhook_events'),
  });
  const trainSet = await intake.finish(target_column);
  return {
    input: { ...body, features: [], target: [], feature_names: trainSet.columns.map((c) => c.name), trainSet },
    requestHash: up.fileSha256 ? sha(JSON.stringify([up.fields, up.fileSha256])) : '',
  };
}

/**
 * Reads a predict as JSON, or as multipart CSV streamed into the submit service's intake: rows are
 * validated and encoded part by part as they arrive, and a large file is stored in parts, never held whole.
 */
async function readPredict(
  req: Request,
  csvMaxBytes: number,
  openUpload: () => Promise<TestSetIntake>,
): Promise<{ input: PredictInput; hash: string; intake?: TestSetIntake }> {
  if (!req.is('multipart/form-data')) {
    const body = parse(predictBody, req.body);
    return { input: body, hash: req.get('idempotency-key') ? sha(JSON.stringify(req.body)) : '' };
  }
  const intake = await openUpload();
  try {
    const up = await readCsvStreamed(req, csvMaxBytes, (header) => intake.header(header), (record, line) => intake.add(record, line));
    const { delimiter: _delimiter, ...fields } = up.fields;
    const body = parse(predictBody.omit({ features: true }), {
      ...fields,
      quantiles: jsonField(up.fields, 'quantiles'),
      config: jsonField(up.fields, 'config'),
      allow_partial: booleanField(up.fields, 'allow_partial'),
      webhook_events: listField(up.fields, 'webhook_events'),
    });
    return {
      input: { ...body, features: [], feature_names: up.header, testSet: await intake.finish() },
      hash: sha(JSON.stringify([up.fields, up.fileSha256])),
      intake,
    };
  } catch (err) {
    await intake.abandon();
    throw err;
  }
}

export function modelRoutes(deps: Deps): Router {
  const router = Router();

  async function respond(req: Request, res: Response, out: StoredResponse & { replayed: boolean }) {
    const wait = preferWaitSeconds(req.get('prefer'));
    const body = out.body as { job_id: string; status: string };
    if (wait !== undefined && !out.replayed) {
      // A client that hangs up stops the wait (and frees its listener) instead of holding it for up to a minute.
      const gone = new AbortController();
      res.once('close', () => gone.abort());
      const final = await deps.jobs.waitForFinal(body.job_id, wait, AbortSignal.any([gone.signal, deps.stopping]));
      if (gone.signal.aborted) return;
      if (final && isFinalStatus(final.status)) {
        res.setHeader('Preference-Applied', `wait=${wait}`);
        res.setHeader('Location', `/v1/jobs/${final.id}`);
        res.status(200).json(toJobResource(final));
        return;
      }
    }
    for (const [k, v] of Object.entries(out.headers)) res.setHeader(k, v);
    res.status(out.status).json(out.body);
  }

  router.get('/v1/models/available', (_req, res) => {
    res.json({ classification: availableModels('classification'), regression: availableModels('regression') });
  });

  router.post('/v1/models/fit', ...deps.authenticated, ...deps.body.upload, async (req, res) => {
    const key = idempotencyKey(req);
    const { input, hash } = readFit(req, deps.csvMaxBytes);
    const out = await deps.submit.submitFit(principal(res).userId, input, { idempotencyKey: key, requestHash: hash });
    await respond(req, res, out);
  });

  router.post('/v1/models/:model_id/predict', ...deps.authenticated, ...deps.body.upload, async (req, res) => {
    const { model_id } = parse(idParam('model_id'), req.params);
    const key = idempotencyKey(req);
    const userId = principal(res).userId;
    const { input, hash, intake } = await readPredict(req, deps.csvMaxBytes, () => deps.submit.openPredictUpload(userId, model_id as string, key));
    const out = await deps.submit
      .submitPredict(userId, model_id as string, input, { idempotencyKey: key, requestHash: hash })
      .catch(async (err: unknown) => {
        await intake?.abandon();
        throw err;
      });
    await respond(req, res, out);
  });

  router.get('/v1/models', ...deps.authenticated, async (req, res) => {
    const q = parse(modelListQuery, req.query);
    const rows = await deps.jobs.listModels({ userId: principal(res).userId, status: q.status, before: decodeCursor(q.cursor), limit: q.limit + 1 });
    const page = rows.slice(0, q.limit);
    res.json({ data: page.map(toModel), has_more: rows.length > q.limit, next_cursor: rows.length > q.limit ? encodeCursor(page[page.length - 1]!) : null });
  });

  router.get('/v1/models/:model_id', ...deps.authenticated, async (req, res) => {
    const { model_id } = parse(idParam('model_id'), req.params);
    res.json(toModel(await deps.jobs.getModel(principal(res).userId, model_id as string)));
  });

  router.delete('/v1/models/:model_id', ...deps.authenticated, async (req, res) => {
    const { model_id } = parse(idParam('model_id'), req.params);
    await deps.jobs.deleteModel(principal(res).userId, model_id as string);
    res.status(204).end();
  });

  return router;
}
