import { describe, expect, it } from 'vitest';
import { EgressPolicy } from '../../src/providers/egress.js';

describe('egress policy', () => {
  const policy = new EgressPolicy();
  it.each([
    ['127.0.0.1', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.20.0.1', 'private'],
    ['192.168.0.10', 'private'],
    ['169.254.169.254', 'link-local (cloud metadata)'],
    ['100.64.0.1', 'shared (carrier-grade NAT)'],
    ['0.0.0.0', 'unspecified'],
    ['224.0.0.251', 'multicast'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fe80::1', 'link-local'],
    ['fd12:3456::1', 'unique-local'],
    ['ff02::1', 'multicast'],
    ['::ffff:169.254.169.254', 'link-local (cloud metadata)'],
    ['64:ff9b::a00:1', 'NAT64'],
  ])('refuses %s (%s)', (address, label) => {
    expect(policy.refusal(address)).toBe(`${address} is not a public address (${label})`);
  });

  it.each(['93.184.216.34', '8.8.8.8', '2606:4700:4700::1111', '172.32.0.1'])('allows the public address %s', (address) => {
    expect(policy.refusal(address)).toBeUndefined();
  });

  it('lets an explicitly allowed network through, and only that one', () => {
    const local = new EgressPolicy(['127.0.0.1/32']);
    expect(local.refusal('127.0.0.1')).toBeUndefined();
    expect(local.refusal('127.0.0.2')).toMatch(/loopback/);
    expect(() => new EgressPolicy(['not-a-network'])).toThrow(/CIDR/);
  });
});
