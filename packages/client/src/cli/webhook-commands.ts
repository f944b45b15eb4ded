import type { Job, WebhookDelivery, WebhookSecret } from '../client.js';
import { type CommandContext, UsageError, arg, positive, str } from './context.js';
import { details, table } from './output.js';

const DELIVERY_COLUMNS = ['id', 'job_id', 'event_type', 'status', 'attempts', 'last_status_code', 'next_attempt_at', 'url', 'created_at'];
const DELIVERY_STATUSES = ['pending', 'delivered', 'failed'];

function secretText(s: WebhookSecret, rotated: boolean): string {
  const lines = [details(s as unknown as Record<string, unknown>, ['secret', 'created_at', 'previous_secret_expires_at'])];
  if (rotated) {
    lines.push(
      s.previous_secret_expires_at
        ? `the previous secret also signs until ${s.previous_secret_expires_at}: accept either meanwhile`
        : 'webhooks are signed with the new secret from now on',
    );
  }
  return lines.join('\n');
}

/**
 * Without a job id: the API lists deliveries per job, so walk the newest jobs (pages of 100) and
 * ask for the deliveries of those that have a webhook, until `limit` deliveries are found.
 */
async function recentDeliveries(ctx: CommandContext, limit: number, keep: (d: WebhookDelivery) => boolean): Promise<WebhookDelivery[]> {
  const found: WebhookDelivery[] = [];
  const model = str(ctx.flags.model);
  let cursor: string | undefined;
  do {
    const page = await ctx.client.listJobs({ limit: 100, ...(model ? { model_id: model } : {}), ...(cursor ? { cursor } : {}) });
    const hooked = page.data.filter((j: Job) => j.webhook_url);
    for (const job of hooked) {
      found.push(...(await ctx.client.webhookDeliveries(job.job_id)).filter(keep));
      if (found.length >= limit) return found.slice(0, limit);
    }
    cursor = page.has_more && page.next_cursor ? page.next_cursor : undefined;
  } while (cursor);
  return found;
}

export const webhookCommands: Record<string, (ctx: CommandContext) => Promise<void>> = {
  async 'webhooks secret'(ctx) {
    const action = ctx.args[0] ?? 'show';
    if (action !== 'show' && action !== 'rotate') throw new UsageError(`webhooks secret takes "show" or "rotate", not "${action}"`);
    const rotated = action === 'rotate';
    const secret = rotated ? await ctx.client.rotateWebhookSecret() : await ctx.client.webhookSecret();
    ctx.out.result(secret, () => secretText(secret, rotated));
  },

  async 'webhooks deliveries'(ctx) {
    const status = str(ctx.flags.status);
    if (status && !DELIVERY_STATUSES.includes(status)) throw new UsageError(`--status must be one of ${DELIVERY_STATUSES.join(', ')}`);
    const limit = positive(ctx, 'limit', true) ?? 50;
    const keep = (d: WebhookDelivery) => !status || d.status === status;
    const jobId = ctx.args[0];
    const data = jobId ? (await ctx.client.webhookDeliveries(jobId)).filter(keep).slice(0, limit) : await recentDeliveries(ctx, limit, keep);
    ctx.out.result({ data }, () => table(data as unknown as Record<string, unknown>[], DELIVERY_COLUMNS));
  },

  async 'webhooks redeliver'(ctx) {
    const jobId = arg(ctx, 0, 'job');
    const data = await ctx.client.redeliverWebhooks(jobId, str(ctx.flags.delivery));
    ctx.out.result({ data }, () => `${data.length} deliver${data.length === 1 ? 'y' : 'ies'} of job ${jobId} queued again\n${table(data as unknown as Record<string, unknown>[], DELIVERY_COLUMNS)}`);
  },
};
