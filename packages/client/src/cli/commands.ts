import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { type CsvFileInput, type Job, type JobError, type TabPFNJobsClient, type WebhookEventType, createTabPFNJobsClient, isFinal } from '../client.js';
import { TabPFNJobsError } from '../errors.js';
import { RESULT_FORMATS, type ResultFormat, resultFormatFor } from '../results.js';
import { type CommandContext, UsageError, arg, positive, str } from './context.js';
import { details, table } from './output.js';
import { writeSettings } from './settings.js';
import { webhookCommands } from './webhook-commands.js';

export { type CommandContext, UsageError };

const JOB_KEYS = ['job_id', 'type', 'status', 'model_id', 'progress', 'error', 'attempts', 'n_rows', 'cached', 'created_at', 'started_at', 'finished_at'];
const MODEL_KEYS = ['model_id', 'status', 'task', 'model', 'n_samples', 'n_features', 'feature_names', 'classes', 'description', 'error', 'created_at', 'ready_at'];

const REASONS: Record<string, string> = { ENOENT: 'no such file', EACCES: 'permission denied', EISDIR: 'is a directory', EPERM: 'permission denied' };

/**
 * A file that cannot be read is the caller's mistake (exit 2), found before anything is sent. The
 * file itself is not read here: the SDK streams it from disk as it uploads, whatever its size.
 */
async function csvFile(ctx: CommandContext, path: string): Promise<CsvFileInput> {
  const full = resolve(ctx.cwd, path);
  try {
    if ((await stat(full)).isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    await access(full, constants.R_OK);
    return { csvPath: full, filename: basename(full) };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    throw new UsageError(`cannot read ${path}: ${REASONS[code] ?? (err as Error).message}${full !== path ? ` (${full})` : ''}`);
  }
}

/** `--output`: resolved against the caller's directory, and checked before a job is submitted. */
async function outputPath(ctx: CommandContext): Promise<string | undefined> {
  const output = str(ctx.flags.output);
  if (!output) return undefined;
  const full = resolve(ctx.cwd, output);
  try {
    await access(dirname(full), constants.W_OK);
  } catch {
    throw new UsageError(`cannot write ${output}: directory ${dirname(full)} does not exist or is not writable`);
  }
  return full;
}

/** `--format`, else what `--output`'s extension names (.csv, .ndjson/.jsonl, .json), else CSV. */
function resultFormat(ctx: CommandContext, output: string | undefined): ResultFormat {
  const flag = str(ctx.flags.format);
  if (flag !== undefined && !(RESULT_FORMATS as readonly string[]).includes(flag)) {
    throw new UsageError(`--format must be one of ${RESULT_FORMATS.join(', ')}, not "${flag}"`);
  }
  return (flag as ResultFormat | undefined) ?? (output ? resultFormatFor(output) : undefined) ?? 'csv';
}

/** A result streamed to stdout as it arrives (a JSON document gets a final newline). */
async function toStdout(ctx: CommandContext, job: string | Job, format: ResultFormat): Promise<void> {
  await ctx.client.downloadResult(job, ctx.out.data, { format });
  if (format === 'json') ctx.out.data.write('\n');
}

/**
 * A finished predict's result: streamed to `--output` (never held whole) or, without it, to stdout;
 * with `--json` and no `--output`, the job with its result (a batch's fetched from `links.result`).
 */
async function deliver(ctx: CommandContext, job: Job, output: string | undefined, format: ResultFormat): Promise<void> {
  if (output) {
    await ctx.client.downloadResult(job, output, { format });
    ctx.out.result({ ...job, output }, () => `predictions written to ${output}`);
  } else if (ctx.out.json) {
    ctx.out.result(job.result === undefined && job.links.result ? { ...job, result: await ctx.client.result(job) } : job, () => '');
  } else {
    await toStdout(ctx, job, format);
  }
}

/**
 * A failed batch predict sent with `--allow-partial` keeps its finished chunks: their rows go to
 * `--output` all the same (the job's failure is reported after). Saving is best effort: the
 * failure stays the error (a 409 means nothing was kept).
 */
async function keepPartial(ctx: CommandContext, job: Job, output: string | undefined, format: ResultFormat): Promise<void> {
  if (job.status !== 'failed' || !ctx.flags['allow-partial']) return;
  if (!output) {
    ctx.out.info(`rows of finished chunks, if any, are kept at ${job.links.result ?? `/v1/jobs/${job.job_id}/result`} (pass --output to save them)`);
    return;
  }
  try {
    await ctx.client.downloadResult(job, output, { format });
    ctx.out.info(`partial result written to ${output} (rows that were not predicted are empty/null)`);
  } catch (err) {
    ctx.out.info(err instanceof TabPFNJobsError && err.status === 409 ? 'no partial result was kept' : `could not save the partial result: ${(err as Error).message}`);
  }
}

/** `--webhook-url` / `--webhook-events` as the API's fields. */
function webhookFields(ctx: CommandContext): { webhook_url?: string; webhook_events?: WebhookEventType[] } {
  const url = str(ctx.flags['webhook-url']);
  const events = str(ctx.flags['webhook-events']);
  if (events !== undefined && !url) throw new UsageError('--webhook-events needs --webhook-url');
  if (!url) return {};
  const list = events?.split(',').map((e) => e.trim()).filter(Boolean);
  if (events !== undefined && !list?.length) throw new UsageError('--webhook-events needs at least one event');
  return { webhook_url: url, ...(list ? { webhook_events: list as WebhookEventType[] } : {}) };
}

/** Waits for the job unless `--no-wait`, showing stage and elapsed time on stderr. */
async function follow(ctx: CommandContext, job: Job): Promise<Job> {
  const timeout = positive(ctx, 'timeout');
  if (ctx.flags['no-wait'] || isFinal(job)) return job;
  try {
    return await ctx.client.waitForJob(job.job_id, {
      onProgress: (j, ms) => ctx.out.progress(j, ms),
      ...(timeout ? { timeoutMs: timeout * 1000 } : {}),
    });
  } finally {
    ctx.out.endProgress();
  }
}

function failIfNotSucceeded(job: Job): void {
  if (job.status === 'failed' || job.status === 'canceled') {
    const rows = (job.error as JobError | null)?.rows;
    const where = rows ? ` (rows ${rows.start}-${rows.end - 1})` : '';
    const e = new Error(`${job.type} job ${job.job_id} ${job.status}${where}: ${job.error?.message ?? ''} (${job.error?.code ?? job.status})`);
    (e as Error & { job?: Job }).job = job;
    throw e;
  }
}

export const commands: Record<string, (ctx: CommandContext) => Promise<void>> = {
  async setup(ctx) {
    const token = str(ctx.flags.token) ?? ctx.env.TABPFN_TOKEN;
    if (!token) throw new UsageError('pass --token <TabPFN token> or set TABPFN_TOKEN');
    const out = await ctx.client.setup(token, str(ctx.flags['key-name']));
    const saved = ctx.flags['no-save'] ? undefined : writeSettings({ url: ctx.url, api_key: out.api_key }, ctx.env);
    ctx.out.result({ ...out, ...(saved ? { saved_to: saved } : {}) }, () =>
      [
        `account   ${out.user_id}${out.created ? ' (new)' : ''}`,
        `api key   ${out.api_key}`,
        saved ? `saved to  ${saved} (used when no --api-key or TABPFN_JOBS_API_KEY is given)` : 'not saved: export TABPFN_JOBS_API_KEY to use it',
      ].join('\n'),
    );
  },

  async fit(ctx) {
    const path = arg(ctx, 0, 'csv');
    const target = str(ctx.flags.target);
    if (!target) throw new UsageError('fit needs --target <column>');
    positive(ctx, 'timeout');
    const hook = webhookFields(ctx);
    const submitted = await ctx.client.fit({
      ...(await csvFile(ctx, path)),
      ...hook,
      target_column: target,
      ...(str(ctx.flags.task) ? { task: str(ctx.flags.task) as 'classification' | 'regression' } : {}),
      ...(str(ctx.flags.model) ? { model: str(ctx.flags.model) } : {}),
      ...(str(ctx.flags.description) ? { description: str(ctx.flags.description) } : {}),
    });
    ctx.out.info(`fit job ${submitted.job_id} queued; model ${submitted.model_id}`);
    const job = await follow(ctx, submitted);
    failIfNotSucceeded(job);
    ctx.out.result(job, () => (isFinal(job) ? `model ${job.model_id} is ready` : `model ${job.model_id}: fit job ${job.job_id} is ${job.status}`));
  },

  async predict(ctx) {
    const modelId = arg(ctx, 0, 'model');
    const path = arg(ctx, 1, 'csv');
    const outputType = str(ctx.flags['output-type']);
    positive(ctx, 'timeout');
    const hook = webhookFields(ctx);
    const output = await outputPath(ctx);
    const format = resultFormat(ctx, output);
    const submitted = await ctx.client.predict(modelId, {
      ...(await csvFile(ctx, path)),
      ...hook,
      ...(outputType ? { output_type: outputType as never } : {}),
      ...(ctx.flags['allow-partial'] ? { allow_partial: true } : {}),
    });
    ctx.out.info(`predict job ${submitted.job_id} queued`);
    const job = await follow(ctx, submitted);
    await keepPartial(ctx, job, output, format);
    failIfNotSucceeded(job);
    if (!isFinal(job)) {
      ctx.out.result(job, () => `predict job ${job.job_id} is ${job.status}`);
      return;
    }
    await deliver(ctx, job, output, format);
  },

  async 'jobs list'(ctx) {
    const limit = positive(ctx, 'limit', true);
    const page = await ctx.client.listJobs({
      ...(str(ctx.flags.status) ? { status: str(ctx.flags.status) as never } : {}),
      ...(str(ctx.flags.type) ? { type: str(ctx.flags.type) as never } : {}),
      ...(str(ctx.flags.model) ? { model_id: str(ctx.flags.model) } : {}),
      ...(limit ? { limit } : {}),
    });
    ctx.out.result(page, () => table(page.data.map((j) => ({ ...j, stage: j.progress?.stage })), ['job_id', 'type', 'status', 'stage', 'model_id', 'n_rows', 'created_at']));
  },
  async 'jobs show'(ctx) {
    const job = await ctx.client.getJob(arg(ctx, 0, 'job'));
    ctx.out.result(job, () => details(job, [...JOB_KEYS, 'result']));
  },
  async 'jobs result'(ctx) {
    const jobId = arg(ctx, 0, 'job');
    const output = await outputPath(ctx);
    const format = resultFormat(ctx, output);
    if (output) {
      const written = await ctx.client.downloadResult(jobId, output, { format });
      ctx.out.result({ job_id: jobId, output, ...written }, () => `result written to ${output}`);
    } else if (ctx.out.json) {
      ctx.out.result(await ctx.client.result(jobId), () => '');
    } else {
      await toStdout(ctx, jobId, format);
    }
  },
  async 'jobs cancel'(ctx) {
    const job = await ctx.client.cancelJob(arg(ctx, 0, 'job'));
    ctx.out.result(job, () => `job ${job.job_id} is ${job.status}${job.status === 'running' ? ' (cancel requested)' : ''}`);
  },

  async 'models list'(ctx) {
    const limit = positive(ctx, 'limit', true);
    const page = await ctx.client.listModels({
      ...(str(ctx.flags.status) ? { status: str(ctx.flags.status) as never } : {}),
      ...(limit ? { limit } : {}),
    });
    ctx.out.result(page, () => table(page.data as unknown as Record<string, unknown>[], ['model_id', 'status', 'task', 'n_samples', 'n_features', 'description', 'created_at']));
  },
  async 'models show'(ctx) {
    const model = await ctx.client.getModel(arg(ctx, 0, 'model'));
    ctx.out.result(model, () => details(model, MODEL_KEYS));
  },
  async 'models delete'(ctx) {
    const id = arg(ctx, 0, 'model');
    await ctx.client.deleteModel(id);
    ctx.out.result({ model_id: id, deleted: true }, () => `model ${id} deleted`);
  },

  async usage(ctx) {
    const usage = await ctx.client.usage();
    ctx.out.result(usage, () => {
      const u = usage.upstream;
      const s = usage.service;
      return [
        `TabPFN tokens today   ${u.daily_tokens_used ?? '-'} / ${u.daily_token_limit ?? 'unlimited'}`,
        `TabPFN tokens month   ${u.monthly_tokens_used ?? '-'} / ${u.monthly_token_limit ?? 'unlimited'}`,
        `resets                ${u.reset_time ?? '-'}`,
        `jobs                  ${s.jobs.total} (${Object.entries(s.jobs.by_type).map(([t, by]) => `${t}: ${Object.entries(by).map(([k, n]) => `${n} ${k}`).join(', ')}`).join('; ') || 'none'})`,
        `rows sent             fit ${s.jobs.rows.fit}, predict ${s.jobs.rows.predict}`,
        `models                ${s.models}`,
      ].join('\n');
    });
  },

  ...webhookCommands,
};

export function clientFor(url: string, apiKey: string | undefined): TabPFNJobsClient {
  return createTabPFNJobsClient({ baseUrl: url, ...(apiKey ? { apiKey } : {}) });
}
