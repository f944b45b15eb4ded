import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { AppProcess } from '../helpers/processes.js';
import { send } from './wire.js';
import { startEmulatorProcess } from './process.js';

// The recorded-requests log is for tests and anyone holding the control API: the passwords of the
// login form, of register's JSON and of Gen L's `?confirm_password=` must never show up in it.
const USER = { email: 'ada@example.com', password: 'correct-horse-battery', token: 'ada-token' };
let emulator: AppProcess;
let base: string;

beforeAll(async () => {
  ({ app: emulator, url: base } = await startEmulatorProcess({
    EMULATOR_CONTROL: 'true',
    EMULATOR_USERS: `${USER.email}:${USER.password}:${USER.token}`,
  }));
});
afterAll(async () => {
  await emulator.stop();
});

describe('recorded requests', () => {
  it('hold no password, while the routes still read the real ones', async () => {
    const login = await send(base, 'POST', '/auth/login/', {
      form: { grant_type: 'password', username: USER.email, password: USER.password },
    });
    expect(login.json?.access_token).toBe(USER.token);
    const register = await send(base, 'POST', '/auth/register/', {
      json: { email: 'new@example.com', password: 'new-secret-pw', password_confirm: 'new-secret-pw', agreed_terms_and_cond: true },
    });
    expect(register.status).toBe(200);
    const deleted = await send(base, 'DELETE', '/delete_user_account/?confirm_password=legacy-secret', { token: USER.token });
    expect(deleted.status).toBe(200);

    const log = await send(base, 'GET', '/_emulator/requests');
    const text = JSON.stringify(log.json);
    for (const secret of [USER.password, 'new-secret-pw', 'legacy-secret']) expect(text).not.toContain(secret);
    const requests = log.json?.requests as { path: string; body: Record<string, unknown>; query: Record<string, unknown> }[];
    const byPath = (p: string) => requests.find((r) => r.path === p);
    expect(byPath('/auth/login/')?.body).toMatchObject({ username: USER.email, password: '[redacted]' });
    expect(byPath('/auth/register/')?.body).toMatchObject({
      email: 'new@example.com',
      password: '[redacted]',
      password_confirm: '[redacted]',
    });
    expect(byPath('/delete_user_account/')?.query).toEqual({ confirm_password: '[redacted]' });
  });
});
