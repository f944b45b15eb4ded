/**
 * Fields that carry a password on the wire: the login form's `password`, register's JSON `password` and
 * `password_confirm`, and Gen L's `?confirm_password=` on account deletion. The recorded-requests log is
 * read by tests and by anyone with the control API, so these never reach it.
 */
const SECRET_FIELDS = new Set(['password', 'password_confirm', 'confirm_password']);
export const REDACTED = '[redacted]';

/** A copy of a parsed body or query with password fields replaced; anything else comes back as is. */
export function redactSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactSecrets);
  if (value === null || typeof value !== 'object' || Buffer.isBuffer(value)) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, SECRET_FIELDS.has(k.toLowerCase()) ? REDACTED : redactSecrets(v)]));
}
