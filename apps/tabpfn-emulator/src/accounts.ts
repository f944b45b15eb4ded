import { createHash } from 'node:crypto';

/** An email/password account of the interactive login flow, and the API token it logs in to. */
export interface UserAccount {
  email: string;
  password: string;
  token: string;
}

/** Upstream's policy is not in the client; the emulator enforces one rule so register can fail deterministically. */
export const PASSWORD_MIN_LENGTH = 8;

export function looksLikeEmail(email: unknown): email is string {
  return typeof email === 'string' && /^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email);
}

/** Deterministic, so a test can predict the token a registration hands out. */
export function registeredToken(email: string): string {
  return `reg-${createHash('sha256').update(email.toLowerCase()).digest('hex').slice(0, 32)}`;
}

/** Accounts by email: the configured ones plus those registered since the last reset. */
export class AccountBook {
  private byEmail = new Map<string, UserAccount>();

  constructor(private readonly seed: UserAccount[]) {
    this.reset();
  }

  find(email: string): UserAccount | undefined {
    return this.byEmail.get(email.toLowerCase());
  }

  add(account: UserAccount): void {
    this.byEmail.set(account.email.toLowerCase(), account);
  }

  /** Drops the account behind a token (the account was deleted), so its credentials stop working. */
  removeToken(token: string): void {
    for (const [email, a] of this.byEmail) if (a.token === token) this.byEmail.delete(email);
  }

  reset(): void {
    this.byEmail = new Map(this.seed.map((a) => [a.email.toLowerCase(), { ...a }]));
  }
}
