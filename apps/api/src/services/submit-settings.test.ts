import { randomBytes } from 'node:crypto';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { parseKeyRing } from '@tabpfn-jobs/shared/crypto';
import { UnauthorizedError } from '@tabpfn-jobs/shared/errors';
import { createSettingsReader } from './submit-settings.js';
import { createTabPFNFactory } from './upstream.js';
import { settingsWith } from '../../../../tests/helpers/upstream-settings.js';

// The real factory and TabPFN client (and its process-wide settings cache) against a local HTTP
// server standing in for upstream; each test uses its own base URL path, so its own cache entry.

const SETTINGS = settingsWith({}, { datasetMaxBytes: 1_000_000 });

type Mode = 'ok' | 'fail' | 'hang';
const modes = new Map<string, Mode>();
const hits = new Map<string, string[]>();
let server: Server;
let origin: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    const prefix = (req.url ?? '').replace(/\/tabpfn\/get_settings$/, '');
    hits.set(prefix, [...(hits.get(prefix) ?? []), String(req.headers.authorization)]);
    const mode = modes.get(prefix) ?? 'ok';
    if (mode === 'hang') return;
    res.writeHead(mode === 'ok' ? 200 : 500, { 'content-type': 'application/json' });
    res.end(JSON.stringify(mode === 'ok' ? SETTINGS : { detail: 'down' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});
afterEach(() => {
  jest.restoreAllMocks();
});

const keyRing = parseKeyRing(`k1:${randomBytes(32).toString('base64')}`);
let nextPath = 0;

/** A reader over a fresh base URL, an account store that counts its lookups, and the upstream hits. */
function setup(mode: Mode = 'ok') {
  const prefix = `/upstream-${++nextPath}`;
  modes.set(prefix, mode);
  const tabpfnFor = createTabPFNFactory({ baseUrl: `${origin}${prefix}/`, timeoutMs: 10_000 });
  const lookups: string[] = [];
  const users = {
    async findById(id: string) {
      lookups.push(id);
      if (id === 'gone') return undefined;
      return { id, tabpfn_token_ciphertext: keyRing.encrypt(`token-of-${id}`, id), created_at: new Date(), updated_at: new Date() };
    },
  };
  const reader = () => createSettingsReader({ users, keyRing, tabpfnFor });
  return { prefix, tabpfnFor, lookups, reader, hits: () => hits.get(prefix) ?? [], setMode: (m: Mode) => modes.set(prefix, m) };
}

describe('settings for a submit', () => {
  it('a miss reads and decrypts the token and fetches once; later submits read the shared cache without the token', async () => {
    const s = setup();
    const settingsFor = s.reader();
    expect(await settingsFor('u1')).toMatchObject(SETTINGS);
    expect(s.hits()).toEqual(['Bearer token-of-u1']);
    expect(s.lookups).toEqual(['u1']);

    expect(await settingsFor('u2')).toMatchObject(SETTINGS);
    expect(await settingsFor('u1')).toMatchObject(SETTINGS);
    expect(s.lookups).toEqual(['u1']);
    expect(s.hits()).toHaveLength(1);
    expect(s.tabpfnFor.cachedSettings()).toMatchObject(SETTINGS);
  });

  it('there is one copy: another reader on the same factory finds it without a lookup', async () => {
    const s = setup();
    await s.reader()('u1');
    const other = s.reader();
    expect(await other('u2')).toMatchObject(SETTINGS);
    expect(s.lookups).toEqual(['u1']);
    expect(s.hits()).toHaveLength(1);
  });

  it('a failed fetch means no limit checks (null), and is not retried for a minute', async () => {
    const s = setup('fail');
    const settingsFor = s.reader();
    expect(await settingsFor('u1')).toBeNull();
    expect(await settingsFor('u1')).toBeNull();
    expect(s.hits()).toHaveLength(1);
    expect(s.lookups).toEqual(['u1']);

    s.setMode('ok');
    const now = Date.now();
    jest.spyOn(Date, 'now').mockReturnValue(now + 61_000);
    expect(await settingsFor('u1')).toMatchObject(SETTINGS);
    expect(s.hits()).toHaveLength(2);
  });

  it('when a refresh fails, the stale copy is used, also for the minute after', async () => {
    const s = setup();
    const settingsFor = s.reader();
    await settingsFor('u1');
    s.setMode('fail');
    const now = Date.now();
    jest.spyOn(Date, 'now').mockReturnValue(now + 3_600_001);
    expect(await settingsFor('u1')).toMatchObject(SETTINGS);
    expect(await settingsFor('u1')).toMatchObject(SETTINGS);
    expect(s.hits()).toHaveLength(2);
  });

  it('waits at most 3 s for upstream', async () => {
    const s = setup('hang');
    const started = performance.now();
    expect(await s.reader()('u1')).toBeNull();
    const waited = performance.now() - started;
    expect(waited).toBeGreaterThanOrEqual(2_900);
    expect(waited).toBeLessThan(5_000);
    expect(s.hits()).toHaveLength(1);
  });

  it('an account deleted mid-request is a 401 when its token is needed, not when settings are cached', async () => {
    const s = setup();
    await expect(s.reader()('gone')).rejects.toThrow(UnauthorizedError);
    await expect(s.reader()('gone')).rejects.toMatchObject({ code: 'account_deleted' });
    await s.reader()('u1');
    expect(await s.reader()('gone')).toMatchObject(SETTINGS);
  });
});
