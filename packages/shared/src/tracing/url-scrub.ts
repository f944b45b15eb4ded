/** Names whose values are credentials in some URL (signed upload URLs, a receiver's `?token=`). */
const SECRET_NAME = /key|token|secret|passw|auth|sig|credential/i;
/** One of our API keys, wherever it appears. */
const API_KEY_VALUE = /tpk_[A-Za-z0-9_-]+/g;

/**
 * A URL's query as spans may show it: values of credential-like parameters replaced, and anything
 * shaped like one of our API keys. Upstream's signed upload URLs and user webhook URLs carry secrets
 * in their query; request URLs can carry a key pasted by mistake.
 */
export function scrubQuery(search: string): string {
  const query = search.startsWith('?') ? search.slice(1) : search;
  if (!query) return '';
  return query
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      if (eq < 0) return pair.replace(API_KEY_VALUE, 'tpk_REDACTED');
      const name = pair.slice(0, eq);
      return SECRET_NAME.test(name) ? `${name}=REDACTED` : pair.replace(API_KEY_VALUE, 'tpk_REDACTED');
    })
    .join('&');
}

/** A URL with its query scrubbed (see `scrubQuery`) and no user info. */
export function scrubUrl(url: URL): string {
  const query = scrubQuery(url.search);
  return `${url.protocol}//${url.host}${url.pathname.replace(API_KEY_VALUE, 'tpk_REDACTED')}${query ? `?${query}` : ''}`;
}
