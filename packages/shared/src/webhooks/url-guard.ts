import { type LookupAddress, type LookupOptions, lookup as dnsLookup } from 'node:dns';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { ValidationError } from '../errors.js';

/**
 * SSRF guard for webhook targets. A webhook URL is chosen by the caller, and the worker POSTs to it
 * from inside our network, so a URL may only reach global unicast addresses: not loopback, private
 * ranges, link-local (cloud metadata lives at 169.254.169.254 / fd00:ec2::254), CGNAT, multicast,
 * reserved space, or IPv6 forms that embed an IPv4 address (NAT64, 6to4, Teredo, ::/96).
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

/** IPv6 global unicast (RFC 4291): everything outside it is loopback, local, multicast, reserved or an IPv4 embedding. */
const GLOBAL_UNICAST_V6 = ipaddr.IPv6.parseCIDR('2000::/3');

/** `::a.b.c.d`, the deprecated IPv4-compatible spelling (glibc prints AAAA records in ::/96 this way). */
const IPV4_COMPATIBLE_DOTTED = /^::[\d.]+$/;

/**
 * True for addresses a webhook may reach: the one decision behind both checks below. An allowlist:
 *  - IPv4: only what ipaddr.js calls `unicast`. It names every block IANA lists as not globally
 *    reachable (private, loopback, link-local, CGNAT, 0/8, 192.0.0/24, TEST-NETs, 6to4 relay,
 *    benchmarking, 240/4, broadcast) and a few anycast ones (AS112, AMT) no webhook lives on, so
 *    what it cannot name is an ordinary public address; the tests pin that.
 *  - IPv6: only global unicast 2000::/3, minus the blocks ipaddr.js names inside it (6to4, Teredo,
 *    documentation, benchmarking, ORCHID, ...). ipaddr.js calls all unnamed space `unicast`,
 *    IPv4-compatible ::/96 and unassigned prefixes included, hence the prefix check.
 *  - IPv4-mapped ::ffff:a.b.c.d is judged by its IPv4 address; NAT64, 6to4 and Teredo are refused
 *    whatever they embed, since the translator or relay connects on our behalf.
 * Callers pass resolved addresses and URL-normalised hosts, so a spelling Node would not accept as
 * an IP (127.1, 010.0.0.1) is refused here rather than interpreted.
 */
export function isPublicAddress(address: string): boolean {
  switch (isIP(address)) {
    case 4:
      return isPublicIPv4(ipaddr.IPv4.parse(address));
    case 6:
      return isPublicIPv6(address);
    default:
      return false;
  }
}

function isPublicIPv4(addr: ipaddr.IPv4): boolean {
  return addr.range() === 'unicast';
}

function isPublicIPv6(address: string): boolean {
  // A zone id (fe80::1%eth0) scopes an address to a local interface: never a public target.
  if (address.includes('%')) return false;
  // ipaddr.js parses ::a.b.c.d as ::ffff:a.b.c.d (IPv4-mapped), which would judge ::8.8.8.8 by
  // 8.8.8.8; it lies in ::/96, outside 2000::/3, so refuse it before ipaddr.js reinterprets it.
  if (IPV4_COMPATIBLE_DOTTED.test(address)) return false;
  const addr = ipaddr.IPv6.parse(address);
  if (addr.isIPv4MappedAddress()) return isPublicIPv4(addr.toIPv4Address());
  return addr.match(GLOBAL_UNICAST_V6) && addr.range() === 'unicast';
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
