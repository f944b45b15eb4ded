import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { LookupAddress } from 'node:dns';
import { ValidationError } from '@tabpfn-jobs/shared/errors';
import { type UrlGuardOptions, type WebhookUrlError, type WebhookUrlRefusal, assertWebhookUrlAllowed, createGuardedLookup, isPublicAddress } from '@tabpfn-jobs/shared/webhooks';
import { createWebhookSender } from '../../apps/worker/src/webhooks/webhook-sender.js';
import { type TestApi, startTestApi } from '../helpers/api.js';
import { type TestDatabase, createTestDatabase } from '../helpers/database.js';
import { type TestEmulator, VALID_TOKEN, startTestEmulator } from '../helpers/emulator.js';
import { request } from '../helpers/http.js';
import { createTestRedis } from '../helpers/redis.js';
import { type Receiver, startReceiver } from './support.js';

/**
 * What the stubbed resolver answers. Like a real resolver it treats `name.` (fully qualified) as
 * `name`; a name missing here does not resolve.
 */
const DNS: Record<string, string[]> = {
  localhost: ['127.0.0.1', '::1'],
  'metadata.google.internal': ['169.254.169.254'],
  'alibaba-metadata.example': ['100.100.100.200'],
  'inside.example': ['127.0.0.1'],
  'mixed.example': ['93.184.216.34', '10.1.2.3'],
  'mixed6.example': ['93.184.216.34', 'fd00::1'],
  'loop6.example': ['2606:4700::1111', '::1'],
  // glibc's inet_ntop prints an AAAA record in ::/96 in this dotted form.
  'compat.example': ['::8.8.8.8'],
  'compat-loop.example': ['::127.0.0.1'],
  'nat64.example': ['64:ff9b::a9fe:a9fe'],
  'teredo.example': ['2001:0:4136:e378:8000:63bf:3fff:fdd2'],
  'zone.example': ['fe80::1%eth0'],
  'empty.example': [],
  'example.com': ['93.184.216.34'],
  'hooks.example': ['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946'],
  'v6.example': ['2606:4700::1111'],
};

const fakeDns =
  (table: Record<string, string[]>) =>
  async (host: string): Promise<LookupAddress[]> => {
    const addrs = table[host.replace(/\.$/, '')];
    if (!addrs) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    return addrs.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };

const lookup = fakeDns(DNS);
const strict = { allowPrivate: false, lookup };

interface Hostile {
  url: string;
  expected: WebhookUrlRefusal;
  /** Also submitted through the API (its resolver is the real one, so only rows that do not need the stub). */
  api?: true;
}

const refused = (url: string, api?: true): Hostile => ({ url, expected: 'refused', ...(api ? { api } : {}) });
const invalid = (url: string): Hostile => ({ url, expected: 'invalid' });
const unresolvable = (url: string): Hostile => ({ url, expected: 'unresolvable' });

/** Every URL a caller might use to reach inside our network, and what the guard must say about it. */
const HOSTILE: Hostile[] = [
  // Loopback, in every spelling the URL parser folds to 127.0.0.1, ::1 or ::.
  refused('http://127.0.0.1/hook'),
  refused('http://127.0.0.1:8080/h', true),
  refused('http://127.1/hook'),
  refused('http://0x7f.1/hook'),
  refused('http://0x7f000001/hook'),
  refused('http://2130706433/hook'),
  refused('http://017700000001/hook'),
  refused('http://0177.0.0.1/hook'),
  refused('http://127.000.000.001/hook'),
  refused('http://127.255.255.254/hook'),
  refused('http://127.0.0.1./hook'),
  refused('http://%31%32%37.0.0.1/hook'),
  refused('http://①②⑦.0.0.1/hook'),
  refused('HTTP://127.0.0.1/hook'),
  refused('http:\\\\127.0.0.1\\hook'),
  refused('http://127.0.0.1#@example.com/'),
  refused('http://127.0.0.1:80\\@example.com/'),
  refused('http://[::1]:8080/hook', true),
  refused('http://[0:0:0:0:0:0:0:1]/hook'),
  refused('http://[::ffff:127.0.0.1]/hook'),
  refused('http://[::ffff:7f00:1]/hook'),
  refused('http://[0:0:0:0:0:ffff:127.0.0.1]/hook'),
  refused('http://localhost:3000/hook', true),
  refused('http://localhost./hook'),
  refused('http://inside.example/hook'),
  refused('http://0.0.0.0/hook'),
  refused('http://0/hook'),
  refused('http://0.1.2.3/hook'),
  refused('http://[::]/hook'),
  // Private: RFC 1918 and IPv6 unique local.
  refused('http://10.0.0.1/hook', true),
  refused('http://10.255.255.254/hook'),
  refused('http://172.16.0.1/hook'),
  refused('http://172.31.255.254/hook'),
  refused('https://192.168.1.20/hook'),
  refused('http://[fc00::1]/hook'),
  refused('http://[fd00::1]/hook'),
  refused('http://[::ffff:10.0.0.1]/hook'),
  // Link-local, where cloud metadata lives. WHATWG URLs reject zone ids outright.
  refused('http://169.254.0.1/hook'),
  refused('http://[fe80::1]/hook'),
  refused('http://[febf::1]/hook'),
  invalid('http://[fe80::1%25eth0]/hook'),
  refused('http://zone.example/hook'),
  // Metadata endpoints.
  refused('http://169.254.169.254/latest/meta-data/', true),
  refused('http://[::ffff:169.254.169.254]/latest/meta-data/'),
  refused('http://[fd00:ec2::254]/latest/meta-data/'),
  refused('http://metadata.google.internal/computeMetadata/v1/'),
  refused('http://metadata.google.internal./computeMetadata/v1/'),
  refused('http://alibaba-metadata.example/latest/meta-data/'),
  // CGNAT 100.64/10 (Alibaba's metadata is 100.100.100.200).
  refused('http://100.64.0.1/hook'),
  refused('http://100.100.100.200/latest/meta-data/'),
  refused('http://100.127.255.254/hook'),
  // IPv4-compatible ::/96: deprecated, and not global unicast whatever it embeds.
  refused('http://[::127.0.0.1]/hook', true),
  refused('http://[::7f00:1]/hook', true),
  refused('http://[::10.0.0.1]/hook', true),
  refused('http://[::8.8.8.8]/hook', true),
  refused('http://[::a9fe:a9fe]/hook'),
  refused('http://compat.example/hook'),
  refused('http://compat-loop.example/hook'),
  // IPv4 embedded some other way: NAT64 (well-known and local-use), IPv4-translated, 6to4, Teredo.
  refused('http://[64:ff9b::7f00:1]/hook', true),
  refused('http://[64:ff9b::a9fe:a9fe]/hook', true),
  refused('http://[64:ff9b::8.8.8.8]/hook'),
  refused('http://[64:ff9b:1::a00:1]/hook'),
  refused('http://nat64.example/hook'),
  refused('http://[::ffff:0:8.8.8.8]/hook'),
  refused('http://[2002:7f00:1::]/hook'),
  refused('http://[2002:a9fe:a9fe::1]/hook'),
  refused('http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/hook'),
  refused('http://[2001::1]/hook'),
  refused('http://teredo.example/hook'),
  // Other IPv6 that is not global unicast, inside 2000::/3 and outside it.
  refused('http://[2001:db8::1]/hook'),
  refused('http://[3fff::1]/hook'),
  refused('http://[2001:2::1]/hook'),
  refused('http://[2001:10::1]/hook'),
  refused('http://[2001:20::1]/hook'),
  refused('http://[100::1]/hook'),
  refused('http://[fec0::1]/hook'),
  refused('http://[fe00::1]/hook'),
  refused('http://[4000::1]/hook'),
  refused('http://[5f00::1]/hook'),
  // Multicast and broadcast.
  refused('http://224.0.0.1/hook'),
  refused('http://239.255.255.250:1900/hook'),
  refused('http://255.255.255.255/hook'),
  refused('http://[ff02::1]/hook'),
  refused('http://[ff0e::1]/hook'),
  // IPv4 special-purpose blocks: IETF assignments, TEST-NETs, 6to4 relay, benchmarking, class E.
  refused('http://192.0.0.1/hook'),
  refused('http://192.0.0.170/hook'),
  refused('http://192.0.2.1/hook'),
  refused('http://198.51.100.1/hook'),
  refused('http://203.0.113.1/hook'),
  refused('http://192.88.99.1/hook'),
  refused('http://198.18.0.1/hook'),
  refused('http://198.19.255.254/hook'),
  refused('http://240.0.0.1/hook'),
  // A hostname is refused when any of its addresses is: a client may connect to any of them.
  refused('https://mixed.example/h'),
  refused('https://mixed6.example/h'),
  refused('https://loop6.example/h'),
  // Not http(s), credentials, unparsable, too long.
  invalid('ftp://example.com/x'),
  invalid('file:///etc/passwd'),
  invalid('gopher://127.0.0.1:6379/_INFO'),
  invalid('dict://127.0.0.1:11211/stat'),
  invalid('javascript:alert(1)'),
  invalid('data:text/plain,hi'),
  invalid('ws://example.com/socket'),
  invalid('wss://example.com/socket'),
  invalid('https://user:pw@example.com/hook'),
  invalid('http://user:pass@example.com/'),
  invalid('http://user@example.com/'),
  invalid('http://:pass@example.com/'),
  invalid('http://127.0.0.1:80@example.com/'),
  invalid('http://example.com@127.0.0.1/'),
  invalid('not a url'),
  invalid(''),
  invalid('//127.0.0.1/hook'),
  invalid('/relative/hook'),
  invalid('http://'),
  invalid('http://[::1/hook'),
  invalid('http://256.0.0.1/hook'),
  invalid('http://1.2.3.4.5/hook'),
  invalid(`https://example.com/${'a'.repeat(2048)}`),
  // Nothing to connect to.
  unresolvable('https://nowhere.example/hook'),
  unresolvable('https://empty.example/hook'),
];

/** URLs that must pass, with the addresses the guard checked. */
const GOOD: [url: string, addresses: string[]][] = [
  ['http://8.8.8.8/x', ['8.8.8.8']],
  ['https://1.1.1.1:8443/hook', ['1.1.1.1']],
  ['http://93.184.216.34./hook', ['93.184.216.34']],
  ['http://[2606:4700::1111]/hook', ['2606:4700::1111']],
  ['http://[2606:4700:4700::1111]:8443/hook', ['2606:4700:4700::1111']],
  ['http://[::ffff:8.8.8.8]/hook', ['::ffff:808:808']],
  ['https://hooks.example/x?y=1', ['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946']],
  ['https://HOOKS.example./x', ['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946']],
  ['https://v6.example/hook', ['2606:4700::1111']],
  ['https://example.com#@127.0.0.1', ['93.184.216.34']],
];

async function refusal(url: string, opts: UrlGuardOptions = strict) {
  try {
    await assertWebhookUrlAllowed(url, opts);
  } catch (err) {
    return err as WebhookUrlError;
  }
  throw new Error(`${url} was accepted`);
}

/** Runs `createGuardedLookup` the way a socket does, settling with the error or the addresses. */
function guardedLookup(opts: UrlGuardOptions, hostname: string): Promise<NodeJS.ErrnoException | LookupAddress[]> {
  return new Promise((resolve) => {
    createGuardedLookup(opts)(hostname, { all: true }, (err, addresses) => resolve(err ?? (addresses as LookupAddress[])));
  });
}

describe('the hostile URL table', () => {
  it('is large enough to mean something', () => {
    expect(HOSTILE.length).toBeGreaterThanOrEqual(70);
    expect(new Set(HOSTILE.map((r) => r.url)).size).toBe(HOSTILE.length);
  });

  it.each(HOSTILE.map((r) => [r.url.length > 80 ? `${r.url.slice(0, 60)}…` : r.url, r] as const))(
    'assertWebhookUrlAllowed: %s',
    async (_name, row) => {
      const err = await refusal(row.url);
      expect(err).toBeInstanceOf(ValidationError);
      expect(err.status).toBe(422);
      expect(err.reason).toBe(row.expected);
      expect(err.errors).toEqual([
        { field: 'webhook_url', message: row.expected === 'refused' ? expect.stringContaining('loopback') : expect.any(String) },
      ]);
    },
  );

  // Sockets only call lookup for hostnames, so each refused target is served as a hostname.
  it.each(HOSTILE.filter((r) => r.expected === 'refused').map((r) => [r.url, r] as const))(
    'createGuardedLookup refuses what %s resolves to',
    async (_name, row) => {
      const { addresses } = await assertWebhookUrlAllowed(row.url, { allowPrivate: true, lookup });
      const opts = { allowPrivate: false, lookup: fakeDns({ 'target.example': addresses }) };
      const err = await guardedLookup(opts, 'target.example');
      expect(err).toMatchObject({ code: 'EWEBHOOKREFUSED' });
      // Private targets allowed: the very same addresses come through.
      const allowed = await guardedLookup({ ...opts, allowPrivate: true }, 'target.example');
      expect((allowed as LookupAddress[]).map((a) => a.address)).toEqual(addresses);
    },
  );

  it.each(GOOD)('accepts %s, returning what was checked', async (url, addresses) => {
    const ok = await assertWebhookUrlAllowed(url, strict);
    expect(ok.addresses).toEqual(addresses);
    const resolved = await guardedLookup({ allowPrivate: false, lookup: fakeDns({ 'target.example': addresses }) }, 'target.example');
    expect((resolved as LookupAddress[]).map((a) => a.address)).toEqual(addresses);
  });

  it('isPublicAddress judges IPv4-mapped IPv6 by its IPv4 address and refuses IPv4-compatible outright', () => {
    expect(isPublicAddress('::ffff:8.8.8.8')).toBe(true);
    expect(isPublicAddress('::ffff:808:808')).toBe(true);
    expect(isPublicAddress('::ffff:10.0.0.1')).toBe(false);
    expect(isPublicAddress('64:ff9b::7f00:1')).toBe(false);
    expect(isPublicAddress('::8.8.8.8')).toBe(false);
    expect(isPublicAddress('::808:808')).toBe(false);
  });

  it('isPublicAddress refuses spellings a resolver would never hand back', () => {
    // 010.0.0.1 would be 8.0.0.1 to inet_aton and ipaddr.js; it is not what DNS or URL produce.
    for (const odd of ['127.1', '0x7f.1', '2130706433', '010.0.0.1', '2606:4700::1111%eth0', '', 'example.com']) {
      expect(isPublicAddress(odd)).toBe(false);
    }
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

  it.each(HOSTILE.filter((r) => r.api).map((r) => r.url))(
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

  it.each(HOSTILE.filter((r) => r.api).map((r) => r.url))('a CSV upload with webhook_url %s → the same 422', async (url) => {
    const form = new FormData();
    form.append('target_column', 'y');
    form.append('webhook_url', url);
    form.append('file', new Blob(['a,y\n1,0\n2,1\n3,0\n4,1\n'], { type: 'text/csv' }), 'data.csv');
    const res = await fetch(`${api.url}/v1/models/fit`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}` }, body: form });
    expect(res.status).toBe(422);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(((await res.json()) as { errors: unknown }).errors).toEqual([{ field: 'webhook_url', message: expect.any(String) }]);
    expect((await request(api.url, apiKey).get('/v1/jobs')).body.data).toEqual([]);
  });
});
