import { type LookupAddress, type LookupOptions, lookup as dnsLookup } from 'node:dns';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { ValidationError } from '../errors.js';

/**
 * SSRF guard for webhook targets. A webhook URL is chosen by the caller, and the worker POSTs to it
 * from inside our network, so a URL must not reach loopback, private ranges, link-local (cloud
 * metadata lives at 169.254.169.254 / fd00:ec2::254), CGNAT, multicast and the like.
 *
 * Two checks, because DNS can change between them (rebinding):
 *  - `assertWebhookUrlAllowed` at submit and before every attempt: scheme, credentials, resolution;
 *    the only check that sees IP-literal hosts, since `net.connect` skips `lookup` for those.
 *  - `createGuardedLookup` as the socket's `lookup` (undici `Agent({ connect: { lookup } })`): the
 *    address the socket connects to is the one this function just resolved and checked.
 */

export type ResolveFn = (hostname: string) => Promise<LookupAddress[]>;

export interface UrlGuardOptions {
  /** Development and tests: private and loopback targets are allowed (the scheme rules still apply). */
  allowPrivate: boolean;
  /** Replaces `dns.lookup(host, { all: true })`, for tests. */
  lookup?: ResolveFn;
}

export type WebhookUrlRefusal = 'invalid' | 'unresolvable' | 'refused';

/** A 422 on `webhook_url`; `reason` tells the worker whether retrying can help (only `unresolvable`). */
export class WebhookUrlError extends ValidationError {
  readonly reason: WebhookUrlRefusal;
  constructor(reason: WebhookUrlRefusal, message: string) {
    super([{ field: 'webhook_url', message }]);
    this.reason = reason;
  }
}

const MAX_URL_LENGTH = 2048;

const systemResolve: ResolveFn = (hostname) =>
  new Promise((resolve, reject) => {
    dnsLookup(hostname, { all: true, verbatim: true }, (err, addresses) => (err ? reject(err) : resolve(addresses)));
  });

/**
 * True for addresses a webhook may reach. An allowlist: only ranges ipaddr.js calls `unicast`
 * (ordinary public addresses). IPv4-mapped IPv6 is judged by its IPv4 address; NAT64, 6to4 and
 * Teredo embed IPv4 addresses too and are refused outright.
 */
export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  // process() turns ::ffff:a.b.c.d into a.b.c.d, so the IPv4 rules apply to it.
  return ipaddr.process(address).range() === 'unicast';
}

/** `[::1]` → `::1`; URL keeps the brackets on IPv6 hostnames. */
function bareHost(hostname: string): string {
  return hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
}

/** Parses and checks a webhook URL; throws `WebhookUrlError` (422 naming `webhook_url`). */
export async function assertWebhookUrlAllowed(raw: string, opts: UrlGuardOptions): Promise<{ url: URL; addresses: string[] }> {
  if (raw.length > MAX_URL_LENGTH) throw new WebhookUrlError('invalid', `must be at most ${MAX_URL_LENGTH} characters`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new WebhookUrlError('invalid', 'must be an absolute http or https URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new WebhookUrlError('invalid', 'must use http or https');
  if (url.username || url.password) throw new WebhookUrlError('invalid', 'must not contain credentials');
  const host = bareHost(url.hostname);
  if (!host) throw new WebhookUrlError('invalid', 'must name a host');

  // The URL parser already normalised IPv4 spellings like 0x7f.1 or 2130706433 to dotted form.
  let addresses: string[];
  if (isIP(host)) {
    addresses = [host];
  } else {
    try {
      addresses = (await (opts.lookup ?? systemResolve)(host)).map((a) => a.address);
    } catch {
      throw new WebhookUrlError('unresolvable', 'host does not resolve');
    }
    if (addresses.length === 0) throw new WebhookUrlError('unresolvable', 'host does not resolve');
  }
  // Every address must pass: a client may connect to any of them.
  if (!opts.allowPrivate && !addresses.every(isPublicAddress)) {
    throw new WebhookUrlError('refused', 'must not point at a loopback, private, link-local or metadata address');
  }
  return { url, addresses };
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;
export type SocketLookup = (hostname: string, options: LookupOptions, callback: LookupCallback) => void;

/**
 * A `lookup` for `net.connect`/`tls.connect` (pass it as undici's `connect.lookup`): resolves,
 * refuses the connection when any address is not public (unless `allowPrivate`), and hands the
 * socket exactly the checked addresses, so DNS rebinding between check and connect cannot work.
 */
export function createGuardedLookup(opts: UrlGuardOptions): SocketLookup {
  const resolve = opts.lookup ?? systemResolve;
  return (hostname, options, callback) => {
    resolve(hostname).then(
      (all) => {
        const family = typeof options?.family === 'number' ? options.family : 0;
        const candidates = family ? all.filter((a) => a.family === family) : all;
        if (candidates.length === 0) {
          const err: NodeJS.ErrnoException = new Error(`getaddrinfo ENOTFOUND ${hostname}`);
          err.code = 'ENOTFOUND';
          callback(err, '', 0);
          return;
        }
        if (!opts.allowPrivate && !candidates.every((a) => isPublicAddress(a.address))) {
          const err: NodeJS.ErrnoException = new Error(`webhook target ${hostname} resolves to a non-public address`);
          err.code = 'EWEBHOOKREFUSED';
          callback(err, '', 0);
          return;
        }
        if (options?.all) callback(null, candidates);
        else callback(null, candidates[0]!.address, candidates[0]!.family);
      },
      (err: NodeJS.ErrnoException) => callback(err, '', 0),
    );
  };
}
