import { type RequestHandler, Router } from 'express';
import type { BodyPolicy } from '../http/body.js';
import { toApiKey } from '../mappers/auth.mapper.js';
import { principal } from '../http/auth.js';
import { parse } from '../http/validate.js';
import { createKeyBody, keyIdParam, replaceTokenBody, setupBody } from '../schemas/auth.schemas.js';
import type { AuthService } from '../services/auth.service.js';

export function authRoutes(deps: { auth: AuthService; authenticated: RequestHandler[]; setupLimit: RequestHandler; body: BodyPolicy }): Router {
  const router = Router();
  const { auth } = deps;

  router.post('/v1/auth/setup', deps.setupLimit, ...deps.body.smallJson, async (req, res) => {
    const body = parse(setupBody, req.body);
    const out = await auth.setup(body.tabpfn_token, body.key_name);
    res.status(201).json({ user_id: out.userId, api_key: out.apiKey, api_key_id: out.apiKeyRow.id, created: out.created });
  });

  router.get('/v1/auth/keys', ...deps.authenticated, async (_req, res) => {
    const rows = await auth.listKeys(principal(res).userId);
    res.json({ data: rows.map(toApiKey) });
  });

  router.post('/v1/auth/keys', ...deps.authenticated, ...deps.body.smallJson, async (req, res) => {
    const body = parse(createKeyBody, req.body ?? {});
    const { apiKey, row } = await auth.createKey(principal(res).userId, body.name);
    res.status(201).json({ ...toApiKey(row), api_key: apiKey });
  });

  router.delete('/v1/auth/keys/:key_id', ...deps.authenticated, async (req, res) => {
    const { key_id } = parse(keyIdParam, req.params);
    const row = await auth.revokeKey(principal(res).userId, key_id);
    res.json(toApiKey(row));
  });

  router.put('/v1/auth/tabpfn-token', ...deps.authenticated, ...deps.body.smallJson, async (req, res) => {
    const body = parse(replaceTokenBody, req.body);
    await auth.replaceTabPFNToken(principal(res).userId, body.tabpfn_token);
    res.status(204).end();
  });

  return router;
}
