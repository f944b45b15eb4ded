import type { RequestHandler } from 'express';
import { BadRequestError } from '@tabpfn-jobs/shared/errors';

/** Query parameters that carry credentials in other APIs; this one takes keys only in `Authorization`. */
const CREDENTIAL_PARAMS = new Set(['api_key', 'apikey', 'api-key', 'key', 'access_token', 'token', 'tabpfn_token', 'authorization', 'auth']);
/** Names whose values are redacted from request logs, whatever route they reach. */
const SECRET_NAME = /key|token|secret|passw|auth|sig/i;
/** An API key of ours anywhere in a URL, under any name (or none). */
const API_KEY_VALUE = /tpk_[A-Za-z0-9_-]+/g;

/**
 * The URL as request logs show it: values of credential-like parameters are replaced, and so is
 * anything shaped like one of our API keys, so a key pasted into a URL never reaches a log line.
 */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url.replace(API_KEY_VALUE, 'tpk_[redacted]');
  const query = url
    .slice(q + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      if (eq < 0) return pair;
      let name: string;
      try {
        name = decodeURIComponent(pair.slice(0, eq));
      } catch {
        name = pair.slice(0, eq);
      }
      return SECRET_NAME.test(name) ? `${pair.slice(0, eq)}=[redacted]` : pair;
    })
    .join('&');
  return `${url.slice(0, q)}?${query}`.replace(API_KEY_VALUE, 'tpk_[redacted]');
}

/**
 * A key in the query string ends up in proxy logs, browser history and Referer headers, so it is
 * refused outright (before authentication, on every route) with a 400 that says where keys go.
 */
export const refuseCredentialsInQuery: RequestHandler = (req, _res, next) => {
  const q = req.originalUrl.indexOf('?');
  if (q >= 0) {
    for (const name of new URLSearchParams(req.originalUrl.slice(q + 1)).keys()) {
      if (CREDENTIAL_PARAMS.has(name.toLowerCase())) {
        throw new BadRequestError(
          'credentials_in_query',
          `Send the API key in the Authorization header ("Authorization: Bearer tpk_…"), not in the query string ("${name}"): URLs are logged and cached. If it was a real key, revoke it.`,
          { errors: [{ field: `query.${name}`, message: 'credentials are not accepted in the URL' }] },
        );
      }
    }
  }
  next();
};
