import { startEmulator } from '@tabpfn-jobs/tabpfn-emulator';

export const VALID_TOKEN = 'tok-valid-aaaaaaaaaaaaaaaaaaaa';
export const OTHER_TOKEN = 'tok-valid-bbbbbbbbbbbbbbbbbbbb';
export const THIRD_TOKEN = 'tok-valid-cccccccccccccccccccc';
export const UNVERIFIED_TOKEN = 'tok-unverified-dddddddddddddd';

export type TestEmulator = Awaited<ReturnType<typeof startEmulator>>;

/** The TabPFN emulator over real HTTP on a random port, control endpoints on. */
export function startTestEmulator(extra: Parameters<typeof startEmulator>[0] = {}): Promise<TestEmulator> {
  return startEmulator({
    port: 0,
    host: '127.0.0.1',
    tokens: [VALID_TOKEN, OTHER_TOKEN, THIRD_TOKEN],
    unverifiedTokens: [UNVERIFIED_TOKEN],
    control: true,
    ...extra,
  });
}

/** An address where nothing listens: upstream unreachable. */
export const DEAD_UPSTREAM = 'http://127.0.0.1:9';
