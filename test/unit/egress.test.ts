import { describe, expect, it } from 'vitest';
import { EgressPolicy } from '../../src/providers/egress.js';

describe('egress policy', () => {
  const policy = new EgressPolicy();
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.20.0.1', 'private'],
    ['192.168.0.10', 'private'],
    ['169.254.169.254', 'link-local (cloud metadata)'],
    ['100.64.0.1', 'shared (carrier-grade NAT)'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['192.0.0.8', 'reserved (IETF protocol assignments)'],
    ['192.0.2.1', 'documentation'],
    ['198.51.100.7', 'documentation'],
    ['203.0.113.9', 'documentation'],
    ['192.88.99.1', 'reserved (deprecated 6to4 relays)'],
    ['198.18.0.1', 'benchmarking'],
    ['198.19.255.255', 'benchmarking'],
    ['240.0.0.1', 'reserved'],
    ['255.255.255.255', 'broadcast'],
    ['224.0.0.251', 'multicast'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fe80::1', 'link-local'],
    ['fd12:3456::1', 'unique-local'],
    ['ff02::1', 'multicast'],
    ['::ffff:169.254.169.254', 'link-local (cloud metadata)'],
    ['64:ff9b::a00:1', 'NAT64'],
    ['64:ff9b:1::7f00:1', 'NAT64 (local use)'],
    ['::7f00:1', 'IPv4-compatible (deprecated)'],
    ['::a9fe:a9fe', 'IPv4-compatible (deprecated)'],
    ['2002:7f00:1::', '6to4'],
    ['2002:a9fe:a9fe::1', '6to4'],
    ['2001::1', 'Teredo'],
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'Teredo'],
    ['2001:2::1', 'benchmarking'],
    ['2001:10::1', 'reserved (deprecated ORCHID)'],
    ['2001:db8::1', 'documentation'],
    ['3fff::1', 'documentation'],
    ['100::1', 'discard-only'],
    ['5f00::1', 'segment routing (SRv6)'],
    ['fec0::1', 'site-local (deprecated)'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:0:7f00:1', 'IPv4-translated (SIIT)'],
    ['::ffff:0:127.0.0.1', 'IPv4-translated (SIIT)'],
    ['::ffff:0:808:808', 'IPv4-translated (SIIT)'],
    ['2a00:1450:4001::5efe:10.0.0.1', 'ISATAP, embedding 10.0.0.1: private'],
    ['2a00:1450:4001:0:200:5efe:a9fe:a9fe', 'ISATAP, embedding 169.254.169.254: link-local (cloud metadata)'],
  ])('refuses %s (%s)', (address, label) => {
    expect(policy.refusal(address)).toBe(`${address} is not a public address (${label})`);
  });

  it.each(['93.184.216.34', '8.8.8.8', '1.1.1.1', '192.0.3.1', '198.20.0.1', '2606:4700:4700::1111', '2a00:1450:4001::1', '172.32.0.1', '::ffff:8.8.8.8', '2a00:1450:4001::5efe:8.8.8.8'])('allows the public address %s', (address) => {
    expect(policy.refusal(address)).toBeUndefined();
  });

  it('refuses bracketed IPv6 literals of an endpoint before any packet', () => {
    for (const host of ['[::7f00:1]', '[2002:7f00:1::]', '[64:ff9b:1::7f00:1]', '[::ffff:7f00:1]', '[::ffff:0:7f00:1]']) {
      expect(policy.refuseLiteral(host)?.message).toMatch(/^refused to connect to .+ is not a public address/);
    }
    expect(policy.refuseLiteral('[2606:4700:4700::1111]')).toBeUndefined();
  });

  it('lets an explicitly allowed network through, and only that one', () => {
    const local = new EgressPolicy(['127.0.0.1/32']);
    expect(local.refusal('127.0.0.1')).toBeUndefined();
    expect(local.refusal('127.0.0.2')).toMatch(/loopback/);
    expect(() => new EgressPolicy(['not-a-network'])).toThrow(/CIDR/);
  });
});
