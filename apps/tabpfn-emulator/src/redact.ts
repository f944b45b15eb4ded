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
  // A plain loop: this runs for every recorded request, and Object.fromEntries(Object.entries(...)) costs
  // several times as much.
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    const v = SECRET_FIELDS.has(key.toLowerCase()) ? REDACTED : redactSecrets((value as Record<string, unknown>)[key]);
    // JSON.parse makes `__proto__` an ordinary key; assigning it would set the copy's prototype instead.
    if (key === '__proto__') Object.defineProperty(copy, key, { value: v, enumerable: true, writable: true, configurable: true });
    else copy[key] = v;
  }
  return copy;
}
