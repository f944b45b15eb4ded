import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { VALID_TOKEN } from '../helpers/emulator.js';
import { request } from '../helpers/http.js';
import { startApiStack } from '../helpers/stack.js';

let stack: Awaited<ReturnType<typeof startApiStack>>;

beforeAll(async () => {
  stack = await startApiStack({ MAX_API_KEYS: '3' });
});
afterAll(async () => {
  await stack?.close();
});

describe('API keys per account', () => {
  it('are capped, exactly under concurrency; revoking one makes room; setup counts too', async () => {
    const url = stack.api.url;
    const setup = await request(url).post('/v1/auth/setup', { tabpfn_token: VALID_TOKEN });
    const client = request(url, setup.body.api_key);
    // One key exists; five concurrent creations race for the two places left.
    const burst = await Promise.all(Array.from({ length: 5 }, () => client.post('/v1/auth/keys', {})));
    expect(burst.filter((r) => r.status === 201).length).toBe(2);
    const refused = burst.filter((r) => r.status === 409);
    expect(refused.length).toBe(3);
    expect(refused[0]!.body.code).toBe('too_many_api_keys');
    expect((await request(url).post('/v1/auth/setup', { tabpfn_token: VALID_TOKEN })).status).toBe(409);

    const created = burst.find((r) => r.status === 201)!.body;
    expect((await client.delete(`/v1/auth/keys/${created.id}`)).status).toBe(200);
    expect((await client.post('/v1/auth/keys', {})).status).toBe(201);
  });
});
