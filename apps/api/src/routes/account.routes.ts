import { type RequestHandler, Router } from 'express';
import { principal } from '../http/auth.js';
import type { AccountService } from '../services/account.service.js';

export function accountRoutes(deps: { accounts: AccountService; authenticated: RequestHandler[] }): Router {
  const router = Router();

  router.get('/v1/me', ...deps.authenticated, async (_req, res) => {
    const p = principal(res);
    const user = await deps.accounts.me(p.userId);
    res.json({ user_id: user.id, api_key_id: p.keyId, created_at: user.created_at.toISOString() });
  });

  router.delete('/v1/me', ...deps.authenticated, async (_req, res) => {
    await deps.accounts.deleteAccount(principal(res).userId);
    res.status(204).end();
  });

  router.get('/v1/usage', ...deps.authenticated, async (_req, res) => {
    const usage = await deps.accounts.usage(principal(res).userId);
    const jobs = { total: 0, by_type: {} as Record<string, Record<string, number>>, rows: { fit: 0, predict: 0 } };
    for (const c of usage.counts) {
      jobs.total += c.n;
      jobs.by_type[c.type] ??= {};
      jobs.by_type[c.type]![c.status] = c.n;
      if (c.type === 'fit' || c.type === 'predict') jobs.rows[c.type] += Number(c.rows);
    }
    const u = usage.upstream;
    res.json({
      upstream: {
        current_usage: u.currentUsage,
        usage_limit: u.usageLimit,
        reset_time: u.resetTime,
        daily_tokens_used: u.dailyTokensUsed,
        daily_token_limit: u.dailyTokenLimit,
        monthly_tokens_used: u.monthlyTokensUsed,
        monthly_token_limit: u.monthlyTokenLimit,
      },
      service: { jobs, models: usage.models },
    });
  });

  return router;
}
