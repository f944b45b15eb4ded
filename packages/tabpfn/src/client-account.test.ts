import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { RunningEmulator } from '@tabpfn-jobs/tabpfn-emulator';
import { TabPFNClient } from './client.js';
import { DataError, UpstreamUnavailableError } from './errors.js';
import { SettingsCache } from './settings.js';
import { startTestEmulator, TOKEN, testClient, UNVERIFIED } from '../../../tests/helpers/tabpfn-client.js';

let emulator: RunningEmulator;

beforeAll(async () => {
  emulator = await startTestEmulator({ asyncThresholdBytes: 1234 });
});
afterAll(async () => {
  await emulator.close();
});
beforeEach(() => {
  emulator.state.reset();
});

describe('token check', () => {
  it('answers valid, unverified and invalid', async () => {
    expect(await testClient(emulator).verifyToken()).toBe('valid');
    expect(await testClient(emulator, { token: UNVERIFIED }).verifyToken()).toBe('unverified');
    expect(await testClient(emulator, { token: 'not-a-token' }).verifyToken()).toBe('invalid');
  });

  it('throws instead of calling a token invalid when upstream is down', async () => {
    emulator.state.addFault({ route: 'protected', status: 503 });
    await expect(testClient(emulator).verifyToken()).rejects.toBeInstanceOf(UpstreamUnavailableError);
  });

  it('aborts on a fired signal before sending', async () => {
    const controller = new AbortController();
    controller.abort(new Error('stop'));
    await expect(testClient(emulator).verifyToken(controller.signal)).rejects.toThrow('stop');
  });
});

describe('settings', () => {
  it('fetches once per hour per base URL, shared across clients through one cache', async () => {
    const cache = new SettingsCache();
    const a = testClient(emulator, { settingsCache: cache });
    const b = testClient(emulator, { settingsCache: cache, token: 'other-token' });
    const [s1, s2] = await Promise.all([a.getSettings(), b.getSettings()]);
    expect(s1?.async_settings?.use_above_trainset_size_bytes).toBe(1234);
    expect(s1?.default_model_version).toBe('v3');
    expect(s2).toBe(s1);
    await a.getSettings();
    expect(emulator.state.requests.filter((r) => r.route === 'get_settings')).toHaveLength(1);
  });

  it('returns the stale value, or null, when the fetch fails', async () => {
    const cache = new SettingsCache(0);
    const client = testClient(emulator, { settingsCache: cache });
    emulator.state.addFault({ route: 'get_settings', status: 500 });
    expect(await client.getSettings()).toBeNull();
    expect(client.warnings).toHaveLength(1);
    const fresh = await client.getSettings();
    expect(fresh).not.toBeNull();
    emulator.state.addFault({ route: 'get_settings', status: 503 });
    expect(await client.getSettings()).toBe(fresh);
  });
});

describe('usage', () => {
  it('normalises both usage field sets', async () => {
    emulator.state.setUsage(TOKEN, { daily: 42, monthly: 99 });
    const usage = await testClient(emulator).getUsage();
    expect(usage).toMatchObject({
      currentUsage: 42,
      usageLimit: 50_000_000,
      dailyTokensUsed: 42,
      dailyTokenLimit: 50_000_000,
      monthlyTokensUsed: 99,
      monthlyTokenLimit: 200_000_000,
    });
    expect(usage.resetTime).toMatch(/T00:00:00.000Z$/);
  });

  it('reads -1 as unlimited', async () => {
    emulator.state.configure({ dailyTokenLimit: -1 });
    expect(await testClient(emulator).getUsage()).toMatchObject({ usageLimit: null, dailyTokenLimit: null });
  });
});

describe('models', () => {
  it('lists the static models and maps names to model paths', () => {
    expect(TabPFNClient.availableModels('classification')).toContain('v2.5_large-samples');
    expect(TabPFNClient.availableModels('regression')).toContain('v2.5_quantiles');
    expect(TabPFNClient.availableModels('regression')).not.toContain('gn2p4bpt');
    expect(TabPFNClient.modelPath('v3_default', 'classification')).toBe('tabpfn-v3-classifier-v3_default.ckpt');
    expect(TabPFNClient.modelPath('v2.6_default', 'regression')).toBe('tabpfn-v2.6-regressor-v2.6_default.ckpt');
    expect(TabPFNClient.modelPath('v2.5_default', 'classification')).toBe('tabpfn-v2.5-classifier-v2.5_default.ckpt');
    expect(TabPFNClient.modelPath('gn2p4bpt', 'classification')).toBe('tabpfn-v2-classifier-gn2p4bpt.ckpt');
    expect(TabPFNClient.modelPath('auto', 'classification')).toBeUndefined();
    expect(TabPFNClient.modelPath('default', 'regression')).toBeUndefined();
    expect(() => TabPFNClient.modelPath('v9_best', 'regression')).toThrow(DataError);
  });
});
