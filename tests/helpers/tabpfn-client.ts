import { type EmulatorOptions, type RunningEmulator, startEmulator } from '@tabpfn-jobs/tabpfn-emulator';
import { SettingsCache, TabPFNClient, type TabPFNClientOptions } from '@tabpfn-jobs/tabpfn';

// The packages/tabpfn tests' emulator and client (moved out of packages/tabpfn/src/test-support: a package
// never imports an app, see .dependency-cruiser.cjs). The cross-app suites use ./emulator.ts instead.

export const TOKEN = 'test-token';
export const UNVERIFIED = 'unverified-token';

/** Test-only: an in-process emulator on a random port with zero latency and control on. */
export function startTestEmulator(options: EmulatorOptions = {}): Promise<RunningEmulator> {
  return startEmulator({
    port: 0,
    tokens: [TOKEN, 'other-token'],
    unverifiedTokens: [UNVERIFIED],
    control: true,
    latencyMs: { fit: 0, predict: 0 },
    retryInSecs: 0.001,
    ...options,
  });
}

export interface WarnRecord {
  obj: object;
  msg: string | undefined;
}

/** A client with tiny poll intervals and its own settings cache, so tests do not leak into each other. */
export function testClient(
  emulator: RunningEmulator,
  options: Partial<TabPFNClientOptions> = {},
): TabPFNClient & { warnings: WarnRecord[] } {
  const warnings: WarnRecord[] = [];
  const client = new TabPFNClient({
    token: TOKEN,
    baseUrl: emulator.url,
    pollIntervalMs: 5,
    minPollIntervalMs: 1,
    settingsCache: new SettingsCache(),
    logger: { warn: (obj, msg) => warnings.push({ obj, msg }), debug: () => {} },
    ...options,
  });
  return Object.assign(client, { warnings });
}
