import { describe, expect, it } from '@jest/globals';
import ipaddr from 'ipaddr.js';
import { isPublicAddress } from './url-guard.js';

/**
 * What ipaddr.js itself says about the ranges the guard cares about. `isPublicAddress` trusts its
 * IPv4 `unicast` and patches its IPv6 answers; an upgrade that moves any of these lines must make
 * someone re-read the guard. The hostile URL table is in tests/webhooks/url-guard.test.ts.
 */
describe('ipaddr.js as the guard relies on it', () => {
  // IANA special-purpose IPv4 blocks that are not globally reachable: ipaddr.js names every one,
  // so `unicast` alone is enough for IPv4 and the guard adds no IPv4 list of its own.
  it.each([
    ['0.1.2.3', 'unspecified'],
    ['10.0.0.1', 'private'],
    ['100.64.0.1', 'carrierGradeNat'],
    ['127.0.0.1', 'loopback'],
    ['169.254.169.254', 'linkLocal'],
    ['172.16.0.1', 'private'],
    ['192.0.0.170', 'reserved'],
    ['192.0.2.1', 'reserved'],
    ['192.88.99.1', 'reserved'],
    ['192.168.0.1', 'private'],
    ['198.18.0.1', 'reserved'],
    ['198.51.100.1', 'reserved'],
    ['203.0.113.1', 'reserved'],
    ['224.0.0.1', 'multicast'],
    ['240.0.0.1', 'reserved'],
    ['255.255.255.255', 'broadcast'],
  ])('names %s %s', (address, range) => {
    expect(ipaddr.parse(address).range()).toBe(range);
    expect(isPublicAddress(address)).toBe(false);
  });

  // Where ipaddr.js would let a non-global IPv6 address through, and the guard must not.
  it.each([
    ['::7f00:1', 'IPv4-compatible ::/96 is plain `unicast`'],
    ['::a9fe:a9fe', 'IPv4-compatible ::/96 is plain `unicast`'],
    ['4000::1', 'unassigned space outside 2000::/3 is `unicast`'],
    ['fe00::1', 'unassigned space outside 2000::/3 is `unicast`'],
    ['100:0:0:1::1', 'only 100::/64 of 100::/8 is `discard`'],
  ])('calls %s unicast (%s); the guard refuses it', (address) => {
    expect(ipaddr.parse(address).range()).toBe('unicast');
    expect(isPublicAddress(address)).toBe(false);
  });

  it('reads the dotted IPv4-compatible ::a.b.c.d as IPv4-mapped; the guard refuses it', () => {
    expect(ipaddr.process('::8.8.8.8').toString()).toBe('8.8.8.8');
    expect(ipaddr.process('::127.0.0.1').toString()).toBe('127.0.0.1');
    expect(isPublicAddress('::8.8.8.8')).toBe(false);
  });

  it('reads inet_aton spellings that no resolver returns; the guard refuses them', () => {
    expect(ipaddr.parse('010.0.0.1').toString()).toBe('8.0.0.1');
    expect(isPublicAddress('010.0.0.1')).toBe(false);
  });

  it('still passes ordinary public addresses', () => {
    for (const address of ['8.8.8.8', '2606:4700::1111', '::ffff:8.8.8.8', '2001:200::1']) expect(isPublicAddress(address)).toBe(true);
  });
});
