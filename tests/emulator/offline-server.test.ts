import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { AppProcess } from '../helpers/processes.js';
import { startEmulatorProcess } from './process.js';

// The emulator as an offline TabPFN server for tabpfn-client users, started the way `pnpm start:emulator`
// does: accounts and the v3 cost model come from the environment, and the client's interactive login,
// data export and account deletion work over real HTTP.
const USER = { email: 'ada@example.com', password: 'correct-horse', token: 'ada-token' };
let emulator: AppProcess;
let url: string;

beforeAll(async () => {
  ({ app: emulator, url } = await startEmulatorProcess({
    EMULATOR_USERS: `${USER.email}:${USER.password}:${USER.token}`,
    EMULATOR_V3_COST_MODEL: 'linear',
  }));
});
afterAll(async () => {
  await emulator.stop();
});

const bearer = (token: string) => ({ authorization: `Bearer ${token}`, 'prior-client-version': '0.4.1' });

describe('emulator as an offline tabpfn-client server', () => {
  it('logs a configured user in with the client’s OAuth2 form and accepts the token it returns', async () => {
    const res = await fetch(`${url}/auth/login/`, {
      method: 'POST',
      headers: { 'prior-client-version': '0.4.1' },
      body: new URLSearchParams({ grant_type: 'password', username: USER.email, password: USER.password }),
    });
    expect(res.status).toBe(200);
    const { access_token } = (await res.json()) as { access_token: string };
    expect(access_token).toBe(USER.token);
    expect((await fetch(`${url}/protected/`, { headers: bearer(access_token) })).status).toBe(200);
  });

  it('meters v3 linearly when EMULATOR_V3_COST_MODEL=linear', async () => {
    const res = await fetch(`${url}/tabpfn/estimate_cost`, {
      method: 'POST',
      headers: { ...bearer(USER.token), 'content-type': 'application/json' },
      body: JSON.stringify({ train_rows: 800_000, test_rows: 0, raw_columns: 9 }),
    });
    expect(await res.json()).toMatchObject({ estimated_cost: 57_600_000, pricing_version: 'quota_v3' });
  });

  it('downloads the user’s data as a named attachment, then deletes the account', async () => {
    const download = await fetch(`${url}/download_all_data/`, { headers: bearer(USER.token) });
    expect(download.status).toBe(200);
    expect(download.headers.get('content-disposition')).toMatch(/^attachment; filename=tabpfn_data_[\w.-]+\.json$/);
    expect(await download.json()).toMatchObject({ train_sets: [], fitted_train_sets: [], test_sets: [] });
    const del = await fetch(`${url}/delete_user_account/`, { method: 'DELETE', headers: bearer(USER.token) });
    expect(del.status).toBe(200);
    expect((await fetch(`${url}/protected/`, { headers: bearer(USER.token) })).status).toBe(401);
  });
});
