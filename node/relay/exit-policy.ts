// Default-deny exit policy. A relay connects to `host:port` on behalf of strangers, so it must never
// reach the operator's LAN, the machine itself or a cloud metadata service. Every numeric spelling the
// system resolver would accept is parsed here and judged as the address it denotes, names are judged
// by every address they resolve to, and the caller connects to exactly the address that was checked.
import { lookup as dnsLookup } from 'node:dns/promises'
import { type ExitSummary, MAX_EXIT_PORT_RANGES } from '../../protocol/record.ts'

export interface ExitPolicy {
  /** Local testnets only: permit loopback, private, link-local, CGNAT and site-local targets. */
  allowPrivate: boolean
  /** Operator's port allow-list; undefined permits every port 1–65535 but the DEFAULT_REFUSED_PORTS. */
  ports?: ReadonlySet<number>
  /**
   * The relay's own addresses, read at every decision (interfaces come and go). None of them is an exit,
   * nor any address in the /64 of an own IPv6 address: the operator's other machines share that prefix.
   */
  ownAddresses?: () => Iterable<string>
}

/** SMTP: an exit that sends strangers' mail soon has its address on every blocklist. Allow-lists may name it. */
export const DEFAULT_REFUSED_PORTS: ReadonlySet<number> = new Set([25])

/**
 * What the relay's record advertises of its policy: both families (the policy refuses addresses, not
 * families) and its allowed ports as ranges; of an allow-list too scattered for a record, the lowest
 * MAX_EXIT_PORT_RANGES ranges, so clients may miss some ports it allows but never pick it for one it refuses.
 */
export function exitSummary(policy: Pick<ExitPolicy, 'ports'>): ExitSummary {
  const allowed = (port: number) => (policy.ports ? policy.ports.has(port) : !DEFAULT_REFUSED_PORTS.has(port))
  const ports: [number, number][] = []
  for (let port = 1; port <= 65535 && ports.length <= MAX_EXIT_PORT_RANGES; port++) {
    if (!allowed(port)) continue
    const last = ports.at(-1)
    if (last && last[1] === port - 1) last[1] = port
    else ports.push([port, port])
  }
  return { ipv4: true, ipv6: true, ports: ports.slice(0, MAX_EXIT_PORT_RANGES) }
}

export type ExitRefusal = 'policy' | 'port' | 'unresolvable' | 'invalid'

export type ExitDecision = { ok: true; address: string; family: 4 | 6 } | { ok: false; reason: ExitRefusal }

/** Resolves an absolute name (always with its trailing dot) to every address it has. */
export type Lookup = (name: string) => Promise<ReadonlyArray<{ address: string; family: number }>>

export interface IpAddress {
  family: 4 | 6
  /** 4 or 16 bytes, network order. An IPv4-mapped IPv6 address is stored as its IPv4 address. */
  bytes: Uint8Array
  zone?: string
}

export type AddressKind =
  | 'public'
  | 'unspecified'
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'site-local'
  | 'cgnat'
  | 'metadata'
  | 'multicast'
  | 'broadcast'
  | 'reserved'
  | 'documentation'
  | 'benchmarking'
  | 'ietf'
  | 'discard'

/** Kinds a local testnet may reach with allowPrivate. Metadata, unspecified, multicast, broadcast never. */
const PRIVATE_KINDS: ReadonlySet<AddressKind> = new Set([
  'loopback',
  'private',
  'link-local',
  'site-local',
  'cgnat',
])

export const defaultLookup: Lookup = name => dnsLookup(name, { all: true, verbatim: true })

export function isForbiddenAddress(ip: IpAddress, allowPrivate = false): boolean {
  const kind = classifyAddress(ip)
  return kind !== 'public' && !(allowPrivate && PRIVATE_KINDS.has(kind))
}

/**
 * Decides whether the relay may open `host:port` and, if so, which address to connect to. The caller
 * must connect to `address` and never re-resolve `host`: that is what defeats DNS rebinding.
 */
export async function resolveExit(
  host: string,
  port: number,
  policy: ExitPolicy,
  lookup: Lookup = defaultLookup,
): Promise<ExitDecision> {
  if (!Number.isInteger(port) || port < 0 || port > 65535) return { ok: false, reason: 'invalid' }
  const parsed = parseHost(host)
  if (parsed === 'invalid') return { ok: false, reason: 'invalid' }
  const portAllowed = policy.ports === undefined ? !DEFAULT_REFUSED_PORTS.has(port) : policy.ports.has(port)
  if (port === 0 || !portAllowed) return { ok: false, reason: 'port' }
  if (typeof parsed !== 'string') return judge([parsed], policy)

  // RFC 6761: localhost names are loopback by definition, whatever a resolver says about them.
  if (parsed === 'localhost' || parsed.endsWith('.localhost')) {
    return policy.allowPrivate
      ? { ok: true, address: '127.0.0.1', family: 4 }
      : { ok: false, reason: 'policy' }
  }
  let answers: ReadonlyArray<{ address: string }>
  try {
    // Always an absolute name: a stranger's "router" must not become "router.lan" through the
    // operator's resolv.conf search list (nor match the operator's hosts file on glibc).
    answers = await lookup(parsed + '.')
  } catch {
    return { ok: false, reason: 'unresolvable' }
  }
  const addresses: IpAddress[] = []
  for (const answer of answers) {
    const ip = parseIp(answer.address)
    if (ip === undefined) return { ok: false, reason: 'unresolvable' }
    addresses.push(ip)
  }
  if (addresses.length === 0) return { ok: false, reason: 'unresolvable' }
  return judge(addresses, policy)
}

// A name that resolves to both public and forbidden addresses is refused outright rather than filtered:
// public DNS has no business pointing at private space, such mixed answers are the classic set-up for
// rebinding and fallback tricks, and refusing keeps the decision independent of answer order.
function judge(addresses: readonly IpAddress[], policy: ExitPolicy): ExitDecision {
  if (!addresses.every(ip => mayConnect(ip, policy))) return { ok: false, reason: 'policy' }
  const first = addresses[0]!
  return { ok: true, address: formatIp(first), family: first.family }
}

/**
 * The policy's address rules alone (no port, no DNS): whether the relay may open a connection to `ip`.
 * Hop dials to other relays obey them too.
 */
export function mayConnect(ip: IpAddress, policy: ExitPolicy): boolean {
  if (isForbiddenAddress(ip, policy.allowPrivate)) return false
  // Non-public addresses got here only by allowPrivate, which lets a testnet reach its own machine.
  if (classifyAddress(ip) !== 'public' || policy.ownAddresses === undefined) return true
  const own = [...policy.ownAddresses()].flatMap(text => parseIp(text) ?? [])
  return !own.some(mine => sameMachine(mine, ip))
}

/** Equal IPv4 addresses (also when carried in NAT64 or 6to4), or IPv6 addresses in one /64. */
function sameMachine(mine: IpAddress, ip: IpAddress): boolean {
  const theirs = ip.family === 6 && mine.family === 4 ? carriedIPv4(ip.bytes) : ip.bytes
  if (theirs === undefined || theirs.length !== mine.bytes.length) return false
  const bytes = mine.family === 4 ? 4 : 8
  return mine.bytes.subarray(0, bytes).every((b, i) => b === theirs[i])
}

/** The IPv4 address a NAT64 or 6to4 address leads to. */
function carriedIPv4(b: Uint8Array): Uint8Array | undefined {
  if (hasPrefix(b, [0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0], 96)) return b.subarray(12)
  if (hasPrefix(b, [0x20, 0x02], 16)) return b.subarray(2, 6)
  return undefined
}

/** Parses an IP literal in any spelling the system resolver accepts; undefined if it is not one. */
export function parseIp(text: string): IpAddress | undefined {
  const parsed = parseHost(text)
  return typeof parsed === 'object' ? parsed : undefined
}

/**
 * An IP address, a lower-cased host name without its trailing dot, or 'invalid'. Anything numeric-looking
 * that does not parse is 'invalid' so it never reaches DNS, where resolvers differ in how they read it.
 */
function parseHost(text: string): IpAddress | string | 'invalid' {
  let host = text
  if (host.startsWith('[') || host.endsWith(']')) {
    if (!(host.startsWith('[') && host.endsWith(']'))) return 'invalid'
    host = host.slice(1, -1)
    if (!host.includes(':')) return 'invalid'
  }
  if (host.includes(':')) return parseIPv6WithZone(host) ?? 'invalid'
  if (host.endsWith('.')) host = host.slice(0, -1)
  if (host.length === 0 || host.length > 253 || !/^[A-Za-z0-9._-]+$/.test(host)) return 'invalid'
  const labels = host.split('.')
  const last = labels[labels.length - 1]!
  // The WHATWG URL rule, which is also where inet_aton and getaddrinfo start reading a number.
  if (/^(0[xX][0-9a-fA-F]*|[0-9]+)$/.test(last)) {
    const v4 = parseLooseIPv4(labels)
    return v4 === undefined ? 'invalid' : { family: 4, bytes: v4 }
  }
  if (labels.some(label => label.length === 0 || label.length > 63)) return 'invalid'
  return host.toLowerCase()
}

/** inet_aton: 1–4 parts, each decimal, 0x-hex or 0-octal; the last part fills the remaining bytes. */
function parseLooseIPv4(parts: readonly string[]): Uint8Array | undefined {
  if (parts.length > 4) return undefined
  const values: bigint[] = []
  for (const part of parts) {
    let value: bigint
    if (/^0[xX][0-9a-fA-F]+$/.test(part)) value = BigInt(part.toLowerCase())
    else if (/^0[0-7]+$/.test(part)) value = BigInt('0o' + part.slice(1))
    else if (/^(0|[1-9][0-9]*)$/.test(part)) value = BigInt(part)
    else return undefined
    values.push(value)
  }
  const lastBits = BigInt(8 * (5 - values.length))
  let n = 0n
  for (const [i, value] of values.entries()) {
    const isLast = i === values.length - 1
    if (value >= (isLast ? 1n << lastBits : 256n)) return undefined
    n = isLast ? (n << lastBits) | value : (n << 8n) | value
  }
  return Uint8Array.of(
    Number(n >> 24n),
    Number((n >> 16n) & 255n),
    Number((n >> 8n) & 255n),
    Number(n & 255n),
  )
}

function parseIPv6WithZone(text: string): IpAddress | undefined {
  const [address = '', zone, extra] = text.split('%')
  if (extra !== undefined || (zone !== undefined && !/^[A-Za-z0-9._-]+$/.test(zone))) return undefined
  const bytes = parseIPv6(address)
  if (bytes === undefined) return undefined
  if (isMapped(bytes)) return { family: 4, bytes: bytes.slice(12) }
  return zone === undefined ? { family: 6, bytes } : { family: 6, bytes, zone }
}

/** inet_pton(AF_INET6): hex groups, at most one '::', an optional strict dotted quad at the end. */
function parseIPv6(text: string): Uint8Array | undefined {
  let groups = text
  const tail: number[] = []
  if (text.includes('.')) {
    const cut = text.lastIndexOf(':')
    const quad = text.slice(cut + 1).split('.')
    if (quad.length !== 4 || !quad.every(p => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255))
      return undefined
    const [a, b, c, d] = quad.map(Number) as [number, number, number, number]
    tail.push((a << 8) | b, (c << 8) | d)
    const prefix = text.slice(0, cut + 1)
    groups = prefix.endsWith('::') ? prefix : prefix.slice(0, -1)
  }
  const halves = groups.split('::')
  if (halves.length > 2) return undefined
  const toGroups = (s: string): number[] | undefined => {
    if (s === '') return []
    const out: number[] = []
    for (const g of s.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined
      out.push(Number.parseInt(g, 16))
    }
    return out
  }
  const head = toGroups(halves[0]!)
  const rest = halves.length === 2 ? toGroups(halves[1]!) : []
  if (head === undefined || rest === undefined) return undefined
  const explicit = head.length + rest.length + tail.length
  const words =
    halves.length === 2
      ? explicit <= 7
        ? [...head, ...new Array<number>(8 - explicit).fill(0), ...rest, ...tail]
        : undefined
      : explicit === 8
        ? [...head, ...tail]
        : undefined
  if (words === undefined) return undefined
  const bytes = new Uint8Array(16)
  words.forEach((w, i) => {
    bytes[2 * i] = w >> 8
    bytes[2 * i + 1] = w & 255
  })
  return bytes
}

function isMapped(b: Uint8Array): boolean {
  return b.subarray(0, 10).every(x => x === 0) && b[10] === 0xff && b[11] === 0xff
}

export function formatIp(ip: IpAddress): string {
  if (ip.family === 4) return ip.bytes.join('.')
  const words = Array.from({ length: 8 }, (_, i) => (ip.bytes[2 * i]! << 8) | ip.bytes[2 * i + 1]!)
  // RFC 5952: compress the longest run (first on a tie) of two or more zero groups.
  let best = -1
  let bestLength = 1
  for (let i = 0; i < 8; ) {
    let j = i
    while (j < 8 && words[j] === 0) j++
    if (j - i > bestLength) [best, bestLength] = [i, j - i]
    i = j === i ? i + 1 : j
  }
  const hex = words.map(w => w.toString(16))
  const text =
    best < 0 ? hex.join(':') : hex.slice(0, best).join(':') + '::' + hex.slice(best + bestLength).join(':')
  return ip.zone === undefined ? text : text + '%' + ip.zone
}

export function classifyAddress(ip: IpAddress): AddressKind {
  return ip.family === 4 ? classifyV4(ip.bytes) : classifyV6(ip.bytes)
}

const V4_RANGES: ReadonlyArray<[string, number, AddressKind]> = [
  // Exact metadata endpoints come first: they sit inside link-local and CGNAT space.
  ['169.254.169.254', 32, 'metadata'], // AWS, GCP, Azure, OpenStack
  ['100.100.100.200', 32, 'metadata'], // Alibaba Cloud
  ['255.255.255.255', 32, 'broadcast'],
  ['0.0.0.0', 8, 'unspecified'],
  ['127.0.0.0', 8, 'loopback'],
  ['10.0.0.0', 8, 'private'],
  ['172.16.0.0', 12, 'private'],
  ['192.168.0.0', 16, 'private'],
  ['169.254.0.0', 16, 'link-local'],
  ['100.64.0.0', 10, 'cgnat'],
  ['192.0.0.0', 24, 'ietf'],
  ['192.0.2.0', 24, 'documentation'],
  ['198.51.100.0', 24, 'documentation'],
  ['203.0.113.0', 24, 'documentation'],
  ['198.18.0.0', 15, 'benchmarking'],
  ['192.88.99.0', 24, 'reserved'], // deprecated 6to4 relay anycast
  ['224.0.0.0', 4, 'multicast'],
  ['240.0.0.0', 4, 'reserved'],
]

function v4Number(b: Uint8Array): number {
  return ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0
}

const V4_TABLE = V4_RANGES.map(([base, bits, kind]) => {
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0
  return { base: v4Number(Uint8Array.from(base.split('.').map(Number))), mask, kind }
})

function classifyV4(b: Uint8Array): AddressKind {
  const n = v4Number(b)
  return V4_TABLE.find(r => (n & r.mask) >>> 0 === r.base)?.kind ?? 'public'
}

function hasPrefix(b: Uint8Array, prefix: readonly number[], bits: number): boolean {
  for (let i = 0; i < bits; i++) {
    const bit = 7 - (i % 8)
    if (((b[i >> 3]! >> bit) & 1) !== ((prefix[i >> 3]! >> bit) & 1)) return false
  }
  return true
}

const FD00_EC2_254 = parseIPv6('fd00:ec2::254')!

function classifyV6(b: Uint8Array): AddressKind {
  const zeroUpTo = (n: number) => b.subarray(0, n).every(x => x === 0)
  if (zeroUpTo(16)) return 'unspecified'
  if (zeroUpTo(15) && b[15] === 1) return 'loopback'
  // Addresses that carry an IPv4 address inherit its verdict when that one is forbidden.
  const embedded = (v4: Uint8Array, otherwise: AddressKind): AddressKind => {
    const kind = classifyV4(v4)
    return kind === 'public' ? otherwise : kind
  }
  if (zeroUpTo(12)) return embedded(b.subarray(12), 'reserved') // IPv4-compatible, deprecated
  if (zeroUpTo(8) && b[8] === 0xff && b[9] === 0xff && b[10] === 0 && b[11] === 0) {
    return embedded(b.subarray(12), 'reserved') // SIIT ::ffff:0:a.b.c.d
  }
  if (hasPrefix(b, [0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0], 96))
    return embedded(b.subarray(12), 'public') // NAT64
  if (hasPrefix(b, [0, 0x64, 0xff, 0x9b, 0, 1], 48)) return 'private' // local-use NAT64, RFC 8215
  if (hasPrefix(b, [0x20, 0x02], 16)) return embedded(b.subarray(2, 6), 'public') // 6to4
  if (hasPrefix(b, [0x20, 0x01, 0, 0], 32)) {
    // Teredo: server address, then the client address with every bit inverted.
    const server = classifyV4(b.subarray(4, 8))
    const client = classifyV4(b.subarray(12, 16).map(x => x ^ 0xff))
    return server !== 'public' ? server : client
  }
  if (b.every((x, i) => x === FD00_EC2_254[i])) return 'metadata' // AWS IPv6 metadata
  if (hasPrefix(b, [0x01, 0, 0, 0, 0, 0, 0, 0], 64)) return 'discard'
  if (hasPrefix(b, [0x20, 0x01, 0x0d, 0xb8], 32)) return 'documentation'
  if (hasPrefix(b, [0x3f, 0xff], 20)) return 'documentation' // RFC 9637
  if (hasPrefix(b, [0x20, 0x01, 0, 0x02, 0, 0], 48)) return 'benchmarking'
  if (hasPrefix(b, [0x20, 0x01, 0], 23)) return 'ietf'
  if (hasPrefix(b, [0xfc], 7)) return 'private'
  if (hasPrefix(b, [0xfe, 0x80], 10)) return 'link-local'
  if (hasPrefix(b, [0xfe, 0xc0], 10)) return 'site-local'
  if (hasPrefix(b, [0xff], 8)) return 'multicast'
  // Only 2000::/3 is allocated for global unicast; everything else is not a place to exit to.
  if (!hasPrefix(b, [0x20], 3)) return 'reserved'
  return 'public'
}
