import { type RequestHandler, Router } from 'express';
import { NotAcceptableError } from '@tabpfn-jobs/shared/errors';
import { toJobResource } from '@tabpfn-jobs/shared/mappers';
import { principal } from '../http/auth.js';
import { noBody } from '../http/body.js';
import { decodeCursor, encodeCursor } from '../http/cursor.js';
import { parse } from '../http/validate.js';
import { resultToCsv } from '../mappers/result-csv.js';
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
    const job = await deps.jobs.result(principal(res).userId, job_id as string);
    if (job.result_removed_at) {
      res.json({ job_id: job.id, data_removed: true, result: null });
      return;
    }
    const csvable = job.type === 'predict';
    const format = req.accepts(csvable ? ['application/json', 'text/csv'] : ['application/json']);
    if (!format) {
      throw new NotAcceptableError(csvable ? 'A predict result is available as application/json or text/csv.' : 'A fit result is available as application/json only.');
    }
    if (format === 'text/csv') {
      res.type('text/csv').send(resultToCsv(job.result, job.n_rows));
      return;
    }
    res.json(job.result);
  });

  router.post('/v1/jobs/:job_id/cancel', ...deps.authenticated, noBody, async (req, res) => {
    const { job_id } = parse(idParam('job_id'), req.params);
    res.json(toJobResource(await deps.jobs.cancel(principal(res).userId, job_id as string)));
  });

  return router;
}
