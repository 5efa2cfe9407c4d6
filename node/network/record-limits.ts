import type { Message } from '@libp2p/gossipsub'
import type { Connection, PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { peerIdToString } from '../../protocol/peer.ts'

/** A bucket's size (what may arrive at once) and its refill (what may arrive per second after that). */
export interface Budget {
  burst: number
  perSecond: number
}

/**
 * Anyone can sign valid relay records with fresh keys, so validity alone does not bound how many a node
 * stores and forwards. Gossiped records are budgeted per address of the peer that delivered them (IPv4
 * address or IPv6 /64: one machine, whatever its identities), per peer for the records it published
 * itself, and per relay identity. Docs/ledger.md ("Floods") states what these bound.
 */
export const RECORD_BUDGETS = {
  /** every record delivered by peers at one address, forwarded or their own */
  address: { burst: 500, perSecond: 50 },
  /** records a peer publishes itself; beyond this it is flooding, and penalised */
  publisher: { burst: 10, perSecond: 1 },
  /**
   * records of one relay identity that would be kept (new and valid): twice the republishing rate of a
   * relay once epochs last 2 minutes or more (it republishes every min(60 s, epoch / 2))
   */
  identity: { burst: 10, perSecond: 1 / 30 },
} as const satisfies Record<string, Budget>

/** Keys remembered per kind of budget; the least recently used are forgotten (as if their bucket were full). */
const MAX_KEYS = 100_000

/** Token buckets by key, refilled on use; bounded in number, so fresh keys cannot grow them without end. */
export class Buckets {
  private readonly levels = new Map<string, { tokens: number; at: number }>()

  constructor(
    private readonly budget: Budget,
    private readonly maxKeys = MAX_KEYS,
  ) {}

  /** Takes one token for `key`; false when its bucket is empty. */
  take(key: string, nowMs: number): boolean {
    const { burst, perSecond } = this.budget
    const level = this.levels.get(key)
    const tokens = level ? Math.min(burst, level.tokens + ((nowMs - level.at) / 1000) * perSecond) : burst
    this.levels.delete(key)
    if (this.levels.size >= this.maxKeys) this.levels.delete(this.levels.keys().next().value as string)
    this.levels.set(key, { tokens: tokens >= 1 ? tokens - 1 : tokens, at: nowMs })
    return tokens >= 1
  }
}

/** The machine a multiaddr reaches: its IPv4 address or its IPv6 /64, or undefined for other transports. */
export function machineOf(address: Multiaddr): string | undefined {
  for (const c of address.getComponents()) {
    if (c.name === 'ip4') return c.value
    if (c.name === 'ip6' && c.value) return ipv6Prefix64(c.value)
  }
  return undefined
}

function ipv6Prefix64(ip: string): string {
  const [head = '', tail] = ip.split('::')
  const left = head === '' ? [] : head.split(':')
  const right = tail === undefined || tail === '' ? [] : tail.split(':')
  const groups = (
    tail === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill('0'), ...right]
  ).map(g => Number.parseInt(g, 16))
  // IPv4-mapped (::ffff:a.b.c.d): the IPv4 address
  if (groups.slice(0, 5).every(g => g === 0) && groups[5] === 0xffff) {
    const [hi = 0, lo = 0] = groups.slice(6)
    return [hi >> 8, hi & 255, lo >> 8, lo & 255].join('.')
  }
  return `${groups
    .slice(0, 4)
    .map(g => g.toString(16))
    .join(':')}::/64`
}

export type Admission = 'admit' | 'ignore' | 'penalise'

/** What the budgets need of the host: the peer's connections, to learn its address and to close them. */
export interface PeerConnections {
  getConnections(peer: PeerId): Connection[]
  hangUp(peer: PeerId): Promise<void>
}

/** The record budgets of one node's relays topic validator. */
export class RecordLimits {
  private readonly byAddress = new Buckets(RECORD_BUDGETS.address)
  private readonly byPublisher = new Buckets(RECORD_BUDGETS.publisher)
  private readonly byIdentity = new Buckets(RECORD_BUDGETS.identity)

  constructor(
    private readonly peers: PeerConnections,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Before a gossiped record is even verified: the budget of the address it came from, and, when the peer
   * that delivered it also published it, that peer's own. Over its own budget a peer is flooding: it is
   * penalised (the caller rejects the record, which gossipsub's score remembers for hours) and
   * disconnected at once, so the messages it has queued are not verified one by one while its score
   * catches up. Over the address's budget a record is only ignored, since an honest peer forwarding
   * others' records (or sharing an address with a flooder) is not to blame.
   */
  admitGossip(source: PeerId, message: Message): Admission {
    const now = this.now()
    const own = message.type === 'signed' && message.from.equals(source)
    if (own && !this.byPublisher.take(source.toString(), now)) {
      this.peers.hangUp(source).catch(() => {})
      return 'penalise'
    }
    const remote = this.peers.getConnections(source)[0]?.remoteAddr
    const machine = (remote && machineOf(remote)) ?? `peer:${source.toString()}`
    return this.byAddress.take(machine, now) ? 'admit' : 'ignore'
  }

  /** After a record proved valid and new: its relay identity's budget (false: ignore it). */
  admitRecord(relay: Uint8Array): boolean {
    return this.byIdentity.take(peerIdToString(relay), this.now())
  }
}
