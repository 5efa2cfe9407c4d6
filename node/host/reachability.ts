import type { Connection, PeerStore } from '@libp2p/interface'
import { isPrivate } from '@libp2p/utils'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import type { Logger } from './log.ts'
import { type MappingBehaviour, natMapping, type StunServer } from './nat-mapping.ts'

/** How the network's peers reach this node. */
export type ReachabilityState = 'public' | 'port-mapped' | 'hole-punching' | 'unreachable' | 'local'

export interface Reachability {
  state: ReachabilityState
  reason: string
  /** what the operator can do about it; absent when nothing is to be done, or while checks run */
  remedy?: string
  /** the addresses the network's peers are told to dial */
  addresses: string[]
}

/** An address as libp2p's address manager holds it (its NodeAddress). */
export interface HeldAddress {
  multiaddr: Multiaddr
  verified: boolean
  type: 'transport' | 'announce' | 'observed' | 'dns-mapping' | 'ip-mapping'
}

/**
 * Whether a peer elsewhere on the Internet can dial an address: not loopback, private, link-local or
 * any other reserved range (libp2p's rule, which its AutoNAT and DHT apply too), and not a relayed
 * circuit. A DNS name counts as the operator's word that it resolves to such an address.
 */
export function isDialableAddress(address: Multiaddr): boolean {
  return !isPrivate(address) && !address.getComponents().some(c => c.name === 'p2p-circuit')
}

/**
 * Whether a peer elsewhere can reach this node at an address by hole punching: a WebRTC address behind a
 * circuit-relay hop that is itself dialable. The hop carries only the signalling; the connection that
 * results is direct.
 */
export function isPunchableAddress(address: Multiaddr): boolean {
  const [relay, rest] = address.toString().split('/p2p-circuit')
  return (
    relay !== undefined &&
    rest !== undefined &&
    /^\/webrtc(\/p2p\/[^/]+)?$/.test(rest) &&
    relay !== '' &&
    isDialableAddress(multiaddr(relay))
  )
}

/**
 * What a node tells the network to dial: its dialable addresses when it has any, else (behind a NAT that
 * hole punching gets through) its punchable ones, else nothing.
 */
export function addressesToAnnounce(addresses: Multiaddr[], punchable: boolean): Multiaddr[] {
  const direct = addresses.filter(isDialableAddress)
  if (direct.length > 0 || !punchable) return direct
  return addresses.filter(isPunchableAddress)
}

export interface ReachabilityOptions {
  /** the network definition says the network is local: loopback and private addresses are dialable */
  local: boolean
  /** this node asks the router for a port mapping (UPnP IGD) */
  portMapping: boolean
  /**
   * Where it asks how its NAT maps ports, to learn whether peers can punch through it; a node without
   * them (or on a local network) never reports `hole-punching`.
   */
  stunServers?: StunServer[]
}

/** What the node knows of punching through its NAT: how it maps, and whether it listens for punches. */
export interface PunchingView {
  mapping?: MappingBehaviour
  /** it holds a circuit-relay reservation and listens for WebRTC */
  punchable: Multiaddr[]
}

// An address AutoNAT peers have not dialled back within this long is reported as not dialable.
const CHECK_MS = 60_000

/**
 * Judges reachability from the addresses libp2p holds. `checking` says whether an unconfirmed address
 * is still new enough for AutoNAT peers to be dialling it back.
 */
export function judgeReachability(
  held: readonly HeldAddress[],
  o: ReachabilityOptions & { checking: (address: Multiaddr) => boolean; punching?: PunchingView },
): Reachability {
  const verified = held.filter(a => a.verified)
  if (o.local) {
    return {
      state: 'local',
      reason: 'the network is local: its peers dial loopback and private addresses',
      addresses: unique(verified.map(a => a.multiaddr.toString())),
    }
  }
  const dialable = verified.filter(a => isDialableAddress(a.multiaddr))
  const addresses = unique(dialable.map(a => a.multiaddr.toString()))
  const of = (...types: HeldAddress['type'][]) => dialable.filter(a => types.includes(a.type))
  if (of('announce').length > 0)
    return { state: 'public', reason: 'the operator announces its address (--announce)', addresses }
  if (of('transport', 'observed', 'dns-mapping').length > 0)
    return { state: 'public', reason: 'AutoNAT peers dialled its public address back', addresses }
  const mapped = of('ip-mapping')[0]
  if (mapped !== undefined)
    return {
      state: 'port-mapped',
      reason: `the router forwards ${hostPort(mapped.multiaddr)} to this machine (UPnP), and AutoNAT peers dialled it back`,
      addresses,
    }
  const { reason, remedy } = whyUnreachable(held, o)
  if (o.punching === undefined || remedy === undefined)
    return { state: 'unreachable', reason, ...(remedy ? { remedy } : {}), addresses: [] }
  return judgePunching(o.punching, reason, remedy)
}

/**
 * A node no peer can dial directly (`reason`, `remedy`): whether peers can punch through its NAT
 * instead. While that is still being learnt there is no remedy yet; once it cannot work, the direct one.
 */
function judgePunching(p: PunchingView, reason: string, remedy: string): Reachability {
  const unreachable = (why: string, fix?: string): Reachability => ({
    state: 'unreachable',
    reason: `${reason}; ${why}`,
    ...(fix ? { remedy: fix } : {}),
    addresses: [],
  })
  const m = p.mapping
  if (m === undefined) return unreachable('asking STUN servers whether hole punching can work')
  if (m.kind === 'unknown') return unreachable(`hole punching was not tried: ${m.reason}`, remedy)
  if (m.kind === 'endpoint-dependent')
    return unreachable(
      `the router gives each destination a new port (a symmetric NAT: STUN servers saw ${m.mapped.join(' and ')}), so no hole can be punched`,
      remedy,
    )
  if (p.punchable.length === 0)
    return unreachable(
      `its NAT keeps one port per socket (STUN saw ${m.mapped}), and it is waiting for a public relay to relay hole-punch signalling`,
    )
  const relays = unique(
    p.punchable.map(a => hostPort(multiaddr(a.toString().split('/p2p-circuit')[0] ?? ''))),
  )
  return {
    state: 'hole-punching',
    reason: `${reason}, but its NAT keeps one port per socket (STUN saw ${m.mapped}): peers punch through it over WebRTC, signalled through ${relays.join(', ')}`,
    addresses: unique(p.punchable.map(String)),
  }
}

function whyUnreachable(
  held: readonly HeldAddress[],
  o: ReachabilityOptions & { checking: (address: Multiaddr) => boolean },
): { reason: string; remedy?: string } {
  const candidate = (type: HeldAddress['type']) =>
    held.find(a => a.type === type && isDialableAddress(a.multiaddr))?.multiaddr
  const mapped = candidate('ip-mapping')
  if (mapped !== undefined) {
    return o.checking(mapped)
      ? {
          reason: `the router maps ${hostPort(mapped)} to this machine (UPnP); AutoNAT peers are dialling it back`,
        }
      : {
          reason: `the router maps ${hostPort(mapped)} to this machine (UPnP), but AutoNAT peers could not dial it`,
          remedy: `let TCP port ${portOf(mapped)} through this machine's firewall, or forward it on the router by hand and --announce ${mapped}`,
        }
  }
  const direct = candidate('transport')
  if (direct !== undefined) {
    return o.checking(direct)
      ? { reason: `it listens on the public address ${hostPort(direct)}; AutoNAT peers are dialling it back` }
      : {
          reason: `it listens on the public address ${hostPort(direct)}, but AutoNAT peers could not dial it`,
          remedy: `let TCP port ${portOf(direct)} through the firewall, or --announce the address peers should dial`,
        }
  }
  const transports = held.filter(a => a.type === 'transport').map(a => a.multiaddr)
  const lan = transports.find(a => !/^\/ip[46]\/(127\.|::1\/)/.test(a.toString()))
  if (lan === undefined) {
    return {
      reason:
        transports.length === 0
          ? 'it listens nowhere'
          : 'it listens only on loopback, which no other machine can dial',
      remedy:
        'listen on every interface (--listen /ip4/0.0.0.0/tcp/4001) and let the router map or forward that port',
    }
  }
  const forward = `forward TCP port ${portOf(lan)} on the router to ${hostPort(lan)} and --announce /ip4/<the router's public address>/tcp/${portOf(lan)}`
  return o.portMapping
    ? {
        reason: `it is behind a NAT (it listens on ${hostPort(lan)}) and no router mapped a port for it through UPnP`,
        remedy: `enable UPnP IGD on the router, or ${forward}`,
      }
    : {
        reason: `it is behind a NAT (it listens on ${hostPort(lan)}) and port mapping is off (--no-port-mapping)`,
        remedy: `drop --no-port-mapping and enable UPnP IGD on the router, or ${forward}`,
      }
}

const unique = (list: string[]): string[] => [...new Set(list)]

function hostPort(address: Multiaddr): string {
  const [ip, port] = address.getComponents()
  return `${ip?.value}:${port?.value}`
}

const portOf = (address: Multiaddr): string => address.getComponents()[1]?.value ?? '?'

/** The components the reachability service reads. */
interface ReachabilityComponents {
  addressManager: { getAddressesWithMetadata(): HeldAddress[] }
  connectionManager: { getConnections(): Connection[] }
  peerStore: PeerStore
}

/** The DHT's switch between answering queries (server) and only asking them (client). */
interface DhtMode {
  getMode(): 'client' | 'server'
  setMode(mode: 'client' | 'server'): Promise<void>
}

const AUTONAT_DIAL_REQUEST = '/libp2p/autonat/2/dial-request'
const TICK_MS = 2000
// A router's NAT behaviour rarely changes, but a laptop moves between networks.
const MAPPING_MS = 300_000

/**
 * A libp2p service that judges, every few seconds, how the network's peers reach this node, and tells
 * its listeners when that changes. Created with `autonat`, the AutoNAT v2 service, when there is one.
 */
export class ReachabilityService {
  private firstSeen = new Map<string, number>()
  private readonly listeners = new Set<(r: Reachability) => void>()
  private last: Reachability | undefined
  private asked = ''
  private timer: NodeJS.Timeout | undefined
  private mappingTimer: NodeJS.Timeout | undefined
  /** how the NAT maps ports, once STUN servers said (stunServers only) */
  private mapping: MappingBehaviour | undefined

  constructor(
    private readonly components: ReachabilityComponents,
    private readonly options: ReachabilityOptions,
    private readonly autonat: unknown,
    private readonly dht: DhtMode | undefined,
    private readonly now: () => number = Date.now,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.tick(), TICK_MS)
    this.timer.unref()
    const servers = this.options.stunServers ?? []
    if (this.options.local || servers.length === 0) return
    const ask = () =>
      void natMapping(servers).then(m => {
        this.mapping = m
      })
    ask()
    this.mappingTimer = setInterval(ask, MAPPING_MS)
    this.mappingTimer.unref()
  }

  stop(): void {
    clearInterval(this.timer)
    clearInterval(this.mappingTimer)
  }

  /** Whether peers may be told this node's punchable addresses (addressesToAnnounce). */
  punchable(): boolean {
    return this.mapping?.kind === 'endpoint-independent'
  }

  current(): Reachability {
    const held = this.components.addressManager.getAddressesWithMetadata()
    const now = this.now()
    // addresses that left (observed ones come and go) are forgotten
    this.firstSeen = new Map(
      held.map(a => a.multiaddr.toString()).map(key => [key, this.firstSeen.get(key) ?? now]),
    )
    const punching =
      this.options.local || (this.options.stunServers ?? []).length === 0
        ? undefined
        : { mapping: this.mapping, punchable: held.map(a => a.multiaddr).filter(isPunchableAddress) }
    return judgeReachability(held, {
      ...this.options,
      checking: address => now - (this.firstSeen.get(address.toString()) ?? now) < CHECK_MS,
      ...(punching ? { punching } : {}),
    })
  }

  /** Calls `listener` with every new judgement; returns how to stop. */
  onChange(listener: (r: Reachability) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  private tick(): void {
    this.askAutoNat()
    const r = this.current()
    this.serveDhtWhenDialable(r)
    const before = this.last
    this.last = r
    if (before === undefined || JSON.stringify(before) === JSON.stringify(r)) return
    for (const listener of this.listeners) listener(r)
  }

  /**
   * Off a local network the DHT starts as a client and serves only while peers can dial this node
   * directly: a peer reached only by hole punching would make every query that meets it slow.
   */
  private serveDhtWhenDialable(r: Reachability): void {
    if (this.dht === undefined || this.options.local) return
    const mode = r.state === 'public' || r.state === 'port-mapped' ? 'server' : 'client'
    if (this.dht.getMode() !== mode) this.dht.setMode(mode).catch(() => {})
  }

  /**
   * AutoNAT v2 (2.0.15, pinned) asks a peer to dial an address back only when it connects to that peer,
   * so an address that appears later (the port a router maps once UPnP found it) would wait for a new
   * peer, which may never come. When the unconfirmed public addresses change, its client's check is run
   * again over the connections open to AutoNAT servers.
   */
  private askAutoNat(): void {
    const client = (this.autonat as { client?: { verifyExternalAddresses?: unknown } } | undefined)?.client
    const verify = client?.verifyExternalAddresses
    if (typeof verify !== 'function') return
    const pending = this.components.addressManager
      .getAddressesWithMetadata()
      .filter(a => !a.verified && a.type !== 'observed' && isDialableAddress(a.multiaddr))
      .map(a => a.multiaddr.toString())
      .sort()
      .join(' ')
    if (pending === this.asked) return
    this.asked = pending
    if (pending === '') return
    for (const connection of this.components.connectionManager.getConnections()) {
      this.components.peerStore
        .get(connection.remotePeer)
        .then(peer => {
          if (peer.protocols.includes(AUTONAT_DIAL_REQUEST)) return verify.call(client, connection)
        })
        .catch(() => {})
    }
  }
}

export function reachability(options: ReachabilityOptions) {
  return (components: ReachabilityComponents & { autonat?: unknown; dht?: DhtMode }) =>
    new ReachabilityService(
      components,
      options,
      options.local ? undefined : components.autonat,
      components.dht,
    )
}

/** Logs the reachability at start and on every change: unreachable with what to do as a problem. */
export function logReachability(service: ReachabilityService, log: Logger): () => void {
  const tell = (r: Reachability) => {
    const fields = { state: r.state, addresses: r.addresses.join(' ') }
    const msg = `reachability: ${r.state}: ${r.reason}`
    if (r.remedy !== undefined) log.problem('reachability', msg, r.remedy, fields)
    else if (!log.resolved('reachability', msg, fields)) log.info(msg, fields)
  }
  tell(service.current())
  return service.onChange(tell)
}
