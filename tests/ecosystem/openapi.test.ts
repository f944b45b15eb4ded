import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import SwaggerParser from '@apidevtools/swagger-parser';
import { createApp } from '@tabpfn-jobs/api';
import { type TestApi, startTestApi } from '../helpers/api.js';
import { type TestDatabase, createTestDatabase } from '../helpers/database.js';
import { type Json, request } from '../helpers/http.js';
import { type TestRedis, createTestRedis } from '../helpers/redis.js';
import { documentedRoutes, servedRoutes } from './route-table.js';

let db: TestDatabase;
let redis: TestRedis;
let api: TestApi;
let doc: Json;

beforeAll(async () => {
  redis = createTestRedis();
  db = await createTestDatabase();
  api = await startTestApi({ DATABASE_URL: db.url, REDIS_URL: redis.url, QUEUE_PREFIX: redis.prefix, TABPFN_API_URL: 'http://127.0.0.1:9' });
  doc = (await request(api.url).get('/openapi.json')).body;
});
afterAll(async () => {
  await api?.close();
  await redis?.cleanup();
  await db?.drop();
});

describe('GET /openapi.json', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    const res = await request(api.url).get('/openapi.json');
    expect(res.status).toBe(200);
    expect(res.body.openapi).toBe('3.1.0');
    // validate() dereferences in place: give it a copy.
    await expect(SwaggerParser.validate(structuredClone(res.body))).resolves.toBeDefined();
  });

  it('describes every operation and schema, with examples, bearer security and problem+json errors', async () => {
    const doc = (await request(api.url).get('/openapi.json')).body;
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
    for (const [path, item] of Object.entries<Record<string, Json>>(doc.paths)) {
      for (const [method, op] of Object.entries<Json>(item)) {
        const where = `${method.toUpperCase()} ${path}`;
        expect([where, typeof op.summary]).toEqual([where, 'string']);
        expect([where, (op.description ?? '').length > 10]).toEqual([where, true]);
        const errors = Object.entries<Json>(op.responses).filter(([code]) => Number(code) >= 400 && path.startsWith('/v1/'));
        for (const [code, r] of errors) expect([where, code, Object.keys(r.content)]).toEqual([where, code, ['application/problem+json']]);
        if (path.startsWith('/v1/') && path !== '/v1/auth/setup' && path !== '/v1/models/available') {
          expect([where, op.security]).toEqual([where, [{ bearerAuth: [] }]]);
        }
        const body = op.requestBody?.content?.['application/json']?.schema;
        if (body?.$ref) expect([where, doc.components.schemas[body.$ref.split('/').pop()].example]).not.toEqual([where, undefined]);
      }
    }
    for (const [name, schema] of Object.entries<Json>(doc.components.schemas)) {
      expect([name, typeof schema.description]).toEqual([name, 'string']);
    }
  });
});

describe('routes and spec agree', () => {
  it('every route the app serves is documented, and every documented path is served', () => {
    const served = servedRoutes(createApp(api.ctx));
    const documented = documentedRoutes(doc);
    expect(served.filter((r) => !documented.includes(r))).toEqual([]);
    expect(documented.filter((r) => !served.includes(r))).toEqual([]);
    expect(served.length).toBeGreaterThan(25);
  });

  it('the route walker notices a route added without docs', async () => {
    const app = createApp(api.ctx);
    app.get('/v1/undocumented', (_req, res) => {
      res.json({});
    });
    const documented = documentedRoutes(doc);
    expect(servedRoutes(app).filter((r) => !documented.includes(r))).toContain('GET /v1/undocumented');
  });
});

describe('GET /docs', () => {
  it('serves Swagger UI from the swagger-ui-dist package, pointed at /openapi.json', async () => {
    const page = await request(api.url).get('/docs');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(page.text).toContain('/docs/assets/swagger-ui-bundle.js');
    const bundle = await fetch(`${api.url}/docs/assets/swagger-ui-bundle.js`);
    expect(bundle.status).toBe(200);
    expect((await bundle.arrayBuffer()).byteLength).toBeGreaterThan(100_000);
    const init = await request(api.url).get('/docs/assets/swagger-initializer.js');
    expect(init.text).toContain("url: '/openapi.json'");
    expect((await fetch(`${api.url}/docs/assets/swagger-ui.css`)).status).toBe(200);
  });
});
