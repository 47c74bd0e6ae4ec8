// Outbound requests go to public addresses only: a destination URL must not become a way
// into the internal network (loopback, private ranges, link-local — cloud metadata at
// 169.254.169.254 among them —, unique-local, multicast, unspecified, and every other range
// that is not globally reachable). The check runs on
// what DNS answers and again on the address each connection actually reached, so a name
// that re-resolves to an internal address later (DNS rebinding) is caught too.
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import ipaddr from 'ipaddr.js';
import { BlockList, isIP, type Socket } from 'node:net';

/**
 * Every range a destination may not reach: IANA's special-purpose address registries (IPv4
 * and IPv6) where an address is not globally reachable, plus multicast, and every IPv6 form
 * that embeds an IPv4 address a gateway could forward inside (IPv4-compatible, IPv4-translated,
 * 6to4, NAT64, Teredo). IPv4-mapped addresses (::ffff:a.b.c.d) are checked as the IPv4 address
 * they are, and so are ISATAP ones (any prefix, interface id 0:5efe or 200:5efe + IPv4).
 * The first matching entry names the reason, so narrower ranges come first.
 */
const forbidden: [cidr: string, label: string][] = [
  ['0.0.0.0/8', 'unspecified'],
  ['10.0.0.0/8', 'private'],
  ['100.64.0.0/10', 'shared (carrier-grade NAT)'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link-local (cloud metadata)'],
  ['172.16.0.0/12', 'private'],
  ['192.0.0.0/24', 'reserved (IETF protocol assignments)'],
  ['192.0.2.0/24', 'documentation'],
  ['192.88.99.0/24', 'reserved (deprecated 6to4 relays)'],
  ['192.168.0.0/16', 'private'],
  ['198.18.0.0/15', 'benchmarking'],
  ['198.51.100.0/24', 'documentation'],
  ['203.0.113.0/24', 'documentation'],
  ['224.0.0.0/4', 'multicast'],
  ['255.255.255.255/32', 'broadcast'],
  ['240.0.0.0/4', 'reserved'],
  ['::/128', 'unspecified'],
  ['::1/128', 'loopback'],
  ['::/96', 'IPv4-compatible (deprecated)'],
  ['::ffff:0:0:0/96', 'IPv4-translated (SIIT)'],
  ['64:ff9b::/96', 'NAT64'],
  ['64:ff9b:1::/48', 'NAT64 (local use)'],
  ['100::/64', 'discard-only'],
  ['2001::/32', 'Teredo'],
  ['2001:2::/48', 'benchmarking'],
  ['2001:10::/28', 'reserved (deprecated ORCHID)'],
  ['2001:db8::/32', 'documentation'],
  ['2002::/16', '6to4'],
  ['3fff::/20', 'documentation'],
  ['5f00::/16', 'segment routing (SRv6)'],
  ['fc00::/7', 'unique-local'],
  ['fe80::/10', 'link-local'],
  ['fec0::/10', 'site-local (deprecated)'],
  ['ff00::/8', 'multicast'],
];

const forbiddenLists = forbidden.map(([cidr, label]) => {
  const [network, bits] = cidr.split('/');
  const list = new BlockList();
  list.addSubnet(network, Number(bits), isIP(network) === 6 ? 'ipv6' : 'ipv4');
  return { list, label };
});

/** The IPv4 address an ISATAP address (RFC 5214) carries in its interface id, if it is one. */
function isatapIpv4(address: string): string | undefined {
  const bytes = ipaddr.IPv6.parse(address).toByteArray();
  const isatap = (bytes[8] === 0x00 || bytes[8] === 0x02) && bytes[9] === 0x00 && bytes[10] === 0x5e && bytes[11] === 0xfe;
  return isatap ? bytes.slice(12).join('.') : undefined;
}

export class EgressBlockedError extends Error {
  readonly code = 'EGRESS_BLOCKED';
}

export class EgressPolicy {
  private readonly allowed = new BlockList();

  /** `allowedNetworks`: CIDRs let through anyway (tests and local trials: 127.0.0.1/32). */
  constructor(readonly allowedNetworks: string[] = []) {
    for (const cidr of allowedNetworks) {
      const [address, bits] = cidr.split('/');
      const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
      if (isIP(address) === 0) throw new Error(`not a network in CIDR form: "${cidr}"`);
      this.allowed.addSubnet(address, Number(bits ?? (family === 'ipv6' ? 128 : 32)), family);
    }
  }

  /** Why an address may not be connected to, or undefined when it may. */
  refusal(address: string): string | undefined {
    const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (this.allowed.check(address, family)) return undefined;
    const match = forbiddenLists.find(({ list }) => list.check(address, family));
    if (match) return `${address} is not a public address (${match.label})`;
    const embedded = family === 'ipv6' ? isatapIpv4(address) : undefined;
    const inner = embedded === undefined ? undefined : forbiddenLists.find(({ list }) => list.check(embedded, 'ipv4'));
    return inner ? `${address} is not a public address (ISATAP, embedding ${embedded}: ${inner.label})` : undefined;
  }

  /** A drop-in for dns.lookup that refuses names resolving to non-public addresses. */
  readonly lookup = (hostname: string, options: object, callback: (...args: any[]) => void): void => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
      if (error) return callback(error);
      const blocked = addresses.map((a) => this.refusal(a.address)).find(Boolean);
      if (blocked) return callback(new EgressBlockedError(`refused to connect to ${hostname}: ${blocked}`));
      if ((options as { all?: boolean }).all) return callback(null, addresses);
      callback(null, addresses[0].address, addresses[0].family);
    });
  };

  /** An error for a host given as a non-public IP literal, which no DNS lookup would check. */
  refuseLiteral(hostname: string): EgressBlockedError | undefined {
    const host = hostname.replace(/^\[|\]$/g, '');
    const blocked = isIP(host) ? this.refusal(host) : undefined;
    return blocked ? new EgressBlockedError(`refused to connect to ${host}: ${blocked}`) : undefined;
  }

  /** Checks the address a connection actually reached; destroys it when it is not allowed. */
  verifySocket(socket: Socket, host: string): EgressBlockedError | undefined {
    const remote = socket.remoteAddress;
    const blocked = remote ? this.refusal(remote) : `no remote address for ${host}`;
    if (!blocked) return undefined;
    socket.destroy();
    return new EgressBlockedError(`refused to connect to ${host}: ${blocked}`);
  }

  /** For the API: the endpoint's host must not name or resolve to a non-public address. */
  async checkHost(hostname: string): Promise<string | undefined> {
    const host = hostname.replace(/^\[|\]$/g, '');
    if (isIP(host)) return this.refusal(host);
    const addresses = await new Promise<LookupAddress[] | undefined>((resolve) =>
      dnsLookup(host, { all: true }, (error, found) => resolve(error ? undefined : found)),
    );
    // A name that does not resolve yet is checked again on every connection.
    return addresses?.map((a) => this.refusal(a.address)).find(Boolean);
  }
}
