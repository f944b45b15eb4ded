import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { LookupAddress } from 'node:dns';
import { ValidationError, type WebhookUrlError, assertWebhookUrlAllowed, isPublicAddress } from '@tabpfn-jobs/shared';
import { createWebhookSender } from '../../apps/worker/src/webhooks/webhook-sender.js';
import { type TestApi, startTestApi } from '../helpers/api.js';
import { type TestDatabase, createTestDatabase } from '../helpers/database.js';
import { type TestEmulator, VALID_TOKEN, startTestEmulator } from '../helpers/emulator.js';
import { request } from '../helpers/http.js';
import { createTestRedis } from '../helpers/redis.js';
import { type Receiver, startReceiver } from './support.js';

const fakeDns =
  (table: Record<string, string[]>) =>
  async (host: string): Promise<LookupAddress[]> => {
    const addrs = table[host];
    if (!addrs) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    return addrs.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };

const strict = { allowPrivate: false };

async function refusal(url: string, opts: Parameters<typeof assertWebhookUrlAllowed>[1] = strict) {
  try {
    await assertWebhookUrlAllowed(url, opts);
  } catch (err) {
    return err as WebhookUrlError;
  }
  throw new Error(`${url} was accepted`);
}

describe('assertWebhookUrlAllowed with private targets disallowed', () => {
  it.each([
    'http://127.0.0.1/hook',
    'http://10.0.0.1/hook',
    'http://169.254.169.254/latest/meta-data/',
    'http://[::1]:8080/hook',
    'http://localhost:3000/hook',
    'http://[::ffff:127.0.0.1]/hook',
    'http://[fd00:ec2::254]/hook',
    'http://100.64.0.1/hook',
    'http://0.0.0.0/hook',
    'http://2130706433/hook',
    'http://0x7f.1/hook',
    'https://192.168.1.20/hook',
    'http://[fe80::1]/hook',
  ])('refuses %s with a 422 naming webhook_url', async (url) => {
    const err = await refusal(url);
    expect(err).toBeInstanceOf(ValidationError);
    expect(err.status).toBe(422);
    expect(err.reason).toBe('refused');
    expect(err.errors).toEqual([{ field: 'webhook_url', message: expect.stringContaining('loopback') }]);
  });

  it('refuses a hostname when any of its addresses is private', async () => {
    const lookup = fakeDns({ 'mixed.example': ['93.184.216.34', '10.1.2.3'], 'inside.example': ['127.0.0.1'] });
    expect((await refusal('https://mixed.example/h', { allowPrivate: false, lookup })).reason).toBe('refused');
    expect((await refusal('https://inside.example/h', { allowPrivate: false, lookup })).reason).toBe('refused');
  });

  it.each([
    ['ftp://example.com/x', 'invalid'],
    ['file:///etc/passwd', 'invalid'],
    ['not a url', 'invalid'],
    ['https://user:pw@example.com/hook', 'invalid'],
    ['https://nowhere.example/hook', 'unresolvable'],
  ])('refuses %s (%s)', async (url, reason) => {
    const err = await refusal(url, { allowPrivate: false, lookup: fakeDns({}) });
    expect(err.reason).toBe(reason);
    expect(err.errors?.[0]?.field).toBe('webhook_url');
  });

  it('accepts public addresses and public hostnames, returning what was checked', async () => {
    const lookup = fakeDns({ 'hooks.example': ['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946'] });
    const a = await assertWebhookUrlAllowed('https://hooks.example/x?y=1', { allowPrivate: false, lookup });
    expect(a.url.hostname).toBe('hooks.example');
    expect(a.addresses).toEqual(['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946']);
    const b = await assertWebhookUrlAllowed('http://8.8.8.8/x', strict);
    expect(b.addresses).toEqual(['8.8.8.8']);
  });

  it('isPublicAddress judges IPv4-mapped IPv6 by its IPv4 address', () => {
    expect(isPublicAddress('::ffff:8.8.8.8')).toBe(true);
    expect(isPublicAddress('::ffff:10.0.0.1')).toBe(false);
    expect(isPublicAddress('64:ff9b::7f00:1')).toBe(false);
  });
});

describe('WEBHOOK_ALLOW_PRIVATE', () => {
  it('lifts the address check but not the scheme and credential rules', async () => {
    const ok = await assertWebhookUrlAllowed('http://127.0.0.1:9/x', { allowPrivate: true });
    expect(ok.addresses).toEqual(['127.0.0.1']);
    expect((await refusal('ftp://127.0.0.1/x', { allowPrivate: true })).reason).toBe('invalid');
    expect((await refusal('http://a:b@127.0.0.1/x', { allowPrivate: true })).reason).toBe('invalid');
  });
});

describe('the delivery connection', () => {
  let receiver: Receiver;
  beforeAll(async () => {
    receiver = await startReceiver();
  });
  afterAll(async () => {
    await receiver.close();
  });

  const port = () => new URL(receiver.url).port;

  it('refuses loopback targets before sending when private targets are disallowed', async () => {
    const sender = createWebhookSender({ allowPrivate: false, timeoutMs: 2_000 });
    try {
      const out = await sender.send(`${receiver.url}/literal`, '{}', { 'content-type': 'application/json' });
      expect(out.kind).toBe('refused');
      expect(out.statusCode).toBeNull();
      expect(receiver.forPath('/literal')).toHaveLength(0);
    } finally {
      await sender.close();
    }
  });

  it('connects only to the address it checked: a host that re-resolves to loopback at connect time is refused', async () => {
    // The first lookup (the pre-check) says public, every later one (the socket's) says loopback:
    // a DNS rebinding attack. The socket must not reach the receiver.
    let calls = 0;
    const rebinding = async (host: string): Promise<LookupAddress[]> => {
      calls++;
      if (host !== 'rebind.example') throw Object.assign(new Error('ENOTFOUND'), { code: 'ENOTFOUND' });
      return [{ address: calls === 1 ? '93.184.216.34' : '127.0.0.1', family: 4 }];
    };
    const sender = createWebhookSender({ allowPrivate: false, timeoutMs: 2_000, lookup: rebinding });
    try {
      const out = await sender.send(`http://rebind.example:${port()}/rebind`, '{}', { 'content-type': 'application/json' });
      expect(calls).toBeGreaterThanOrEqual(2);
      expect(out.kind).toBe('refused');
      expect(receiver.forPath('/rebind')).toHaveLength(0);
    } finally {
      await sender.close();
    }
  });

  it('with private targets allowed the same hostname reaches the receiver through the guarded lookup', async () => {
    const lookup = async (): Promise<LookupAddress[]> => [{ address: '127.0.0.1', family: 4 }];
    const sender = createWebhookSender({ allowPrivate: true, timeoutMs: 2_000, lookup });
    try {
      const out = await sender.send(`http://rebind.example:${port()}/allowed`, '{"a":1}', { 'content-type': 'application/json' });
      expect(out).toMatchObject({ kind: 'delivered', statusCode: 200, error: null });
      expect(receiver.forPath('/allowed').map((r) => r.body)).toEqual(['{"a":1}']);
    } finally {
      await sender.close();
    }
  });
});

describe('job submission with private targets disallowed (the default)', () => {
  const redis = createTestRedis();
  let db: TestDatabase;
  let emulator: TestEmulator;
  let api: TestApi;
  let apiKey: string;
  beforeAll(async () => {
    db = await createTestDatabase();
    emulator = await startTestEmulator();
    api = await startTestApi({ DATABASE_URL: db.url, REDIS_URL: redis.url, QUEUE_PREFIX: redis.prefix, TABPFN_API_URL: emulator.url });
    apiKey = (await request(api.url).post('/v1/auth/setup', { tabpfn_token: VALID_TOKEN })).body.api_key;
  });
  afterAll(async () => {
    await api?.close();
    await emulator?.close();
    await redis.cleanup();
    await db?.drop();
  });

  it.each(['http://127.0.0.1:8080/h', 'http://10.0.0.1/h', 'http://169.254.169.254/latest', 'http://[::1]/h', 'http://localhost/h'])(
    'POST /v1/models/fit with webhook_url %s → 422 naming webhook_url, no job created',
    async (url) => {
      const res = await request(api.url, apiKey).post('/v1/models/fit', {
        features: [
          [1, 2],
          [3, 4],
          [5, 6],
          [7, 8],
        ],
        target: [0, 1, 0, 1],
        webhook_url: url,
      });
      expect(res.status).toBe(422);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      expect(res.body.errors).toEqual([{ field: 'webhook_url', message: expect.any(String) }]);
      const jobs = await request(api.url, apiKey).get('/v1/jobs');
      expect(jobs.body.data).toEqual([]);
    },
  );
});
