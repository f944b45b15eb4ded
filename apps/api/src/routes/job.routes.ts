import { type RequestHandler, type Response, Router } from 'express';
import { NotAcceptableError } from '@tabpfn-jobs/shared/errors';
import { toJobResource } from '@tabpfn-jobs/shared/mappers';
import { principal } from '../http/auth.js';
import { noBody } from '../http/body.js';
import { decodeCursor, encodeCursor } from '../http/cursor.js';
import { parse } from '../http/validate.js';
import {
  RESULT_CONTENT_TYPES,
  RESULT_FORMATS,
  type ResultDocument,
  type ResultFormat,
  resultDocument,
  writeResult,
} from '../mappers/result/stream.js';
import { idParam, jobListQuery } from '../schemas/job.schemas.js';
import type { JobService } from '../services/job.service.js';

export function jobRoutes(deps: { jobs: JobService; authenticated: RequestHandler[] }): Router {
  const router = Router();

  router.get('/v1/jobs', ...deps.authenticated, async (req, res) => {
    const q = parse(jobListQuery, req.query);
    const rows = await deps.jobs.list({
      userId: principal(res).userId,
      status: q.status,
      type: q.type,
      modelId: q.model_id,
      before: decodeCursor(q.cursor),
      limit: q.limit + 1,
    });
    const page = rows.slice(0, q.limit);
    res.json({
      data: page.map((r) => toJobResource(r, { includeResult: false })),
      has_more: rows.length > q.limit,
      next_cursor: rows.length > q.limit ? encodeCursor(page[page.length - 1]!) : null,
    });
  });

  router.get('/v1/jobs/:job_id', ...deps.authenticated, async (req, res) => {
    const { job_id } = parse(idParam('job_id'), req.params);
    res.json(toJobResource(await deps.jobs.get(principal(res).userId, job_id as string)));
  });

  router.get('/v1/jobs/:job_id/result', ...deps.authenticated, async (req, res) => {
    const { job_id } = parse(idParam('job_id'), req.params);
    const { job, chunks, partial } = await deps.jobs.result(principal(res).userId, job_id as string);
    if (job.result_removed_at) {
      res.json({ job_id: job.id, data_removed: true, result: null });
      return;
    }
    if (job.type !== 'predict') {
      if (!req.accepts(['application/json'])) throw new NotAcceptableError('A fit result is available as application/json only.');
      res.json(job.result);
      return;
    }
    const format = req.accepts([...RESULT_FORMATS]) as ResultFormat | false;
    if (!format) throw new NotAcceptableError(`A predict result is available as ${RESULT_FORMATS.join(', ')}.`);
    // An inline result (jobs.result) is one chunk; a batch's rows stream from its stored chunks.
    await streamResult(res, format, resultDocument(job.result, job.n_rows, { chunks, partial }));
  });

  router.post('/v1/jobs/:job_id/cancel', ...deps.authenticated, noBody, async (req, res) => {
    const { job_id } = parse(idParam('job_id'), req.params);
    res.json(toJobResource(await deps.jobs.cancel(principal(res).userId, job_id as string)));
  });

  return router;
}

/**
 * Status and headers first, then the body as the writer produces it. An error before the first byte
 * left still becomes a problem+json answer (the error handler replaces the headers); one mid-stream
 * cannot (the status is sent): the response is destroyed, so the client sees a cut-off body, never a
 * complete-looking one.
 */
async function streamResult(res: Response, format: ResultFormat, doc: ResultDocument): Promise<void> {
  res.status(200).vary('Accept').setHeader('Content-Type', RESULT_CONTENT_TYPES[format]);
  // HEAD: the headers alone, without reading every chunk for a body nobody receives.
  if (res.req.method === 'HEAD') return void res.end();
  try {
    await writeResult(res, format, doc);
  } catch (err) {
    if (res.headersSent) res.destroy();
    throw err;
  }
}
