import { type Request, type Response, Router } from 'express';
import { looksLikeEmail, PASSWORD_MIN_LENGTH, registeredToken } from '../accounts.js';
import type { EmulatorState } from '../emulator-state.js';
import { injectFaults, requireToken, tagRoute } from '../middleware.js';

/**
 * The interactive auth flow of tabpfn-client (protocol doc §2), kept minimal and deterministic: no email
 * is sent, so any non-empty verification token verifies. Errors are `{message}`, which is what the client
 * displays.
 */
const message = (res: Response, status: number, text: string) => res.status(status).json({ message: text });

const stringField = (body: unknown, key: string): string | undefined => {
  const v = (body as Record<string, unknown> | undefined)?.[key];
  return typeof v === 'string' ? v : undefined;
};

/** Form `username=<email>&password=<pw>`: 200 `{access_token}`, 403 with the token in a header if unverified, 401 otherwise. */
function login(state: EmulatorState, req: Request, res: Response): void {
  const account = state.accounts.find(stringField(req.body, 'username') ?? '');
  const status = account ? state.tokenStatus(account.token) : 'invalid';
  if (!account || account.password !== stringField(req.body, 'password') || status === 'invalid') {
    message(res, 401, 'Incorrect email or password');
    return;
  }
  if (status === 'unverified') {
    res.setHeader('access_token', account.token);
    message(res, 403, 'Please verify your email address');
    return;
  }
  // Upstream sets a session cookie too; nothing in the emulator reads it, so it need not be a real session.
  res.cookie('session_id', account.token, { httpOnly: true, sameSite: 'lax' });
  res.json({ access_token: account.token, token_type: 'bearer' });
}

function registrationProblem(state: EmulatorState, body: unknown): string | undefined {
  const email = stringField(body, 'email');
  const password = stringField(body, 'password') ?? '';
  if (!looksLikeEmail(email)) return 'Invalid email address';
  if (state.accounts.find(email)) return 'An account with this email already exists';
  if (password.length < PASSWORD_MIN_LENGTH) return `Password must be at least ${PASSWORD_MIN_LENGTH} characters long`;
  if (password !== stringField(body, 'password_confirm')) return 'Passwords do not match';
  return undefined;
}

function register(state: EmulatorState, req: Request, res: Response): void {
  const problem = registrationProblem(state, req.body);
  if (problem) {
    message(res, 400, problem);
    return;
  }
  const email = stringField(req.body, 'email') as string;
  const token = registeredToken(email);
  state.accounts.add({ email, password: stringField(req.body, 'password') as string, token });
  state.addRegisteredToken(token);
  res.json({ message: 'Account created. Please verify your email address.', token });
}

export function authRoutes(state: EmulatorState, router: Router = Router()): Router {
  const tag = tagRoute(state, 'auth');
  const faults = injectFaults(state);
  const query = (req: Request, key: string) => (typeof req.query[key] === 'string' ? (req.query[key] as string) : '');

  router.post('/auth/login/', tag, faults, (req, res) => login(state, req, res));
  router.post('/auth/register/', tag, faults, (req, res) => register(state, req, res));

  router.get('/auth/password_policy/', tag, faults, (_req, res) => {
    res.json({ requirements: [`Minimum length: ${PASSWORD_MIN_LENGTH}`] });
  });

  router.post('/auth/validate_email/', tag, faults, (req, res) => {
    const email = query(req, 'email');
    if (!looksLikeEmail(email)) return message(res, 400, 'Invalid email address');
    if (state.accounts.find(email)) return message(res, 400, 'An account with this email already exists');
    message(res, 200, 'Email is valid');
  });

  router.get('/auth/verify_email/', tag, faults, (req, res) => {
    if (!query(req, 'token') || !state.verifyToken(query(req, 'access_token'))) {
      return message(res, 400, 'Invalid or expired verification link');
    }
    message(res, 200, 'Email verified');
  });

  router.post('/auth/send_verification_email/', tag, faults, requireToken(state, { allowUnverified: true }), (_req, res) => {
    message(res, 200, 'Verification email sent');
  });

  // Answers the same for unknown addresses, so the route does not reveal which emails have accounts.
  router.post('/auth/send_reset_password_email/', tag, faults, (_req, res) => {
    message(res, 200, 'If an account exists for this email, a reset link has been sent');
  });

  return router;
}
