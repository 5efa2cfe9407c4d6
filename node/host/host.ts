import { autoNATv2 } from '@libp2p/autonat-v2'
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { gossipsub } from '@libp2p/gossipsub'
import { identify, identifyPush } from '@libp2p/identify'
import { type ComponentLogger, KEEP_ALIVE, type PrivateKey } from '@libp2p/interface'
import { kadDHT, passthroughMapper, removePrivateAddressesMapper } from '@libp2p/kad-dht'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { uPnPNAT } from '@libp2p/upnp-nat'
import { webSockets } from '@libp2p/websockets'
import { yamux } from '@libp2p/yamux'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import type { Datastore } from 'interface-datastore'
import { createLibp2p } from 'libp2p'
import { gossipScoring } from './gossip-scoring.ts'
import type { Logger } from './log.ts'
import type { StunServer } from './nat-mapping.ts'
import { addressesToAnnounce, type ReachabilityService, reachability } from './reachability.ts'

/** Nothing listens publicly unless the operator asks for it. */
export const DEFAULT_LISTEN = ['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/tcp/0/ws']

// Tunnels carry bulk traffic over single yamux streams: a 16 MiB window lets one stream fill a fast
// link (the spec's 256 KiB start is kept for interoperability; the window grows with use). A paused
// stream may hold a whole window unread, so the read buffer limit must be at least that large.
const STREAM_WINDOW = 16 * 1024 * 1024
const BOOTSTRAP_RETRY_MS = 15_000

// libp2p's connection monitor pings every connection every 10 s and closes the connection, with every
// tunnel on it, when a ping fails, and a ping also fails when another ping is under way on that
// connection: the DHT pings its contacts through the same service, whose default allows one outbound
// ping stream per connection (and two inbound). A probe's circuits died that way about 10 s after relays met.
const pinging = () => ping({ maxInboundStreams: 4, maxOutboundStreams: 4 })

// libp2p refuses a host's 6th inbound connection within a second (the dialer sees EncryptionFailedError).
// Every peer of a local testnet is 127.0.0.1, and a relay dialled by a few proxies and witnesses at once
// refused them all while they kept retrying; peers on this machine are exempt (and never pruned).
const LOOPBACK = ['/ip4/127.0.0.0/ipcidr/8', '/ip6/::1/ipcidr/128']

/** @libp2p/webrtc's own default ICE servers: public STUN servers that tell a node its outside address. */
export const DEFAULT_STUN_SERVERS: StunServer[] = [
  'stun.l.google.com:19302',
  'global.stun.twilio.com:3478',
  'stun.cloudflare.com:3478',
  'stun.services.mozilla.com:3478',
]

// A relay that is reachable also relays hole-punch signalling for relays behind NATs (circuit relay v2):
// a few kilobytes of SDP and ICE candidates per connection, never a tunnel's bytes, so each relayed
// connection is cut at 128 KiB or 2 minutes. libp2p's defaults allow 128 KiB per connection as well.
const SIGNALLING = {
  reservations: {
    maxReservations: 64,
    defaultDataLimit: 128n * 1024n,
    defaultDurationLimit: 120_000,
  },
  maxInboundHopStreams: 64,
  maxOutboundStopStreams: 64,
}

export interface HostOptions {
  networkId: string
  privateKey: PrivateKey
  listen?: string[]
  /** Addresses to announce instead of the listen addresses (`--announce`). */
  announce?: string[]
  bootstrap?: string[]
  /**
   * The network definition's `local`: a local network's nodes announce loopback and private addresses
   * and always serve the DHT. Elsewhere a node announces only addresses dialable from the Internet
   * (announced, or confirmed by AutoNAT v2), and serves the DHT only while it has one.
   */
  local: boolean
  /** Asks the router to map the listening ports (UPnP IGD); never on a local network. */
  portMapping?: boolean
  /** where a node that reaches none of its bootstrap peers says so */
  log?: Logger
  /**
   * Where the peer store (and the DHT's provider records) persist: peers once reached through a
   * bootstrap address are redialled at the next start, which then needs no bootstrap address. In memory
   * when absent.
   */
  datastore?: Datastore
  /** Where libp2p's debug logs go (the `DEBUG` environment variable's stderr logger by default). */
  logger?: ComponentLogger
  /**
   * STUN servers for hole punching (ICE, and the NAT's mapping behaviour); DEFAULT_STUN_SERVERS when
   * absent. Not used on a local network.
   */
  stunServers?: StunServer[]
  /**
   * A relay: relays hole-punch signalling for others (used while it is reachable), and keeps a
   * reservation on a reachable relay and listens for WebRTC, so peers can punch through to it.
   */
  relay?: boolean
}

export function protocolId(networkId: string, name: string): string {
  return `/weir/${networkId}/${name}/1.0.0`
}

export function topic(networkId: string, name: string): string {
  return `weir/${networkId}/${name}/1`
}

/**
 * How a node off a local network reaches peers behind NATs: WebRTC, whose ICE punches a hole through both
 * NATs (docs/reachability.md has the measurements that chose it over QUIC), signalled over a
 * circuit-relay hop.
 */
export interface HolePunching {
  stunServers: StunServer[]
}

/** How a node punches through NATs: never on a local network, else with these or the default servers. */
export function holePunching(local: boolean, stunServers?: StunServer[]): HolePunching | undefined {
  return local ? undefined : { stunServers: stunServers ?? DEFAULT_STUN_SERVERS }
}

/**
 * WebRTC's native part (node-datachannel) comes as an optional npm dependency: it is loaded only off a
 * local network, so a local testnet runs where optional dependencies were left out.
 */
async function punchingTransports(p: HolePunching | undefined) {
  if (p === undefined) return []
  let webRTC: typeof import('@libp2p/webrtc').webRTC
  try {
    ;({ webRTC } = await import('@libp2p/webrtc'))
  } catch (err) {
    throw new Error(
      `hole punching needs @libp2p/webrtc and its native part, an optional dependency: install without --omit=optional (${(err as Error).message.split('\n')[0]})`,
    )
  }
  return [
    circuitRelayTransport(),
    webRTC({ rtcConfiguration: { iceServers: [{ urls: p.stunServers.map(s => `stun:${s}`) }] } }),
  ]
}

/** How every Weir node connects: the transports, encryption and stream settings tunnels rely on. */
const connecting = async (punching?: HolePunching) => ({
  connectionManager: { allow: LOOPBACK },
  transports: [tcp(), webSockets(), ...(await punchingTransports(punching))],
  connectionEncrypters: [noise()],
  streamMuxers: [
    yamux({
      maxMessageSize: 256 * 1024,
      streamOptions: { maxStreamWindowSize: STREAM_WINDOW, maxReadBufferLength: 2 * STREAM_WINDOW },
    }),
  ],
})

/** The libp2p node every role runs on; roles register their own handlers and topics on it. */
export async function createHost(options: HostOptions) {
  const { local } = options
  const portMapping = !local && options.portMapping === true
  const punching = holePunching(local, options.stunServers)
  // the announce filter asks the reachability service, which libp2p makes after it
  let judge: ReachabilityService | undefined
  const announceFilter = (addresses: Multiaddr[]) =>
    addressesToAnnounce(addresses, judge?.punchable() === true)
  const relay = options.relay === true && !local
  const node = await createLibp2p({
    privateKey: options.privateKey,
    logger: options.logger,
    ...(options.datastore ? { datastore: options.datastore } : {}),
    addresses: {
      listen: [...(options.listen ?? DEFAULT_LISTEN), ...(relay ? ['/p2p-circuit', '/webrtc'] : [])],
      announce: options.announce ?? [],
      ...(local ? {} : { announceFilter }),
    },
    ...(await connecting(punching)),
    services: {
      identify: identify(),
      // peers learn at once when this node starts or stops serving the DHT, and its new addresses
      identifyPush: identifyPush(),
      ping: pinging(),
      // On a local network the DHT passes loopback and private addresses on (the default mapper drops
      // them) and always serves; elsewhere it starts as a client and the reachability service switches
      // it to serving while the node is directly dialable.
      dht: kadDHT({
        protocol: protocolId(options.networkId, 'kad'),
        ...(local
          ? { clientMode: false, peerInfoMapper: passthroughMapper }
          : { clientMode: true, peerInfoMapper: removePrivateAddressesMapper }),
      }),
      pubsub: gossipsub({
        emitSelf: false,
        allowPublishToZeroTopicPeers: true,
        fastMsgIdFn: fastMessageId,
        ...gossipScoring(options.networkId),
      }),
      ...(local ? {} : { autonat: autoNATv2() }),
      ...(portMapping ? { upnp: uPnPNAT() } : {}),
      ...(relay ? { signalling: circuitRelayServer(SIGNALLING) } : {}),
      reachability: reachability({ local, portMapping, ...(punching ?? {}) }),
    },
  })
  judge = node.services.reachability
  keepBootstrapped(node, options.bootstrap ?? [], options.log)
  return node
}

export type Host = Awaited<ReturnType<typeof createHost>>

/**
 * A node that only dials out, under `privateKey`: no listener, no DHT, no gossip. A witness opens each
 * probe's circuits from a fresh one, so the relays a probe enters see a new identity every time.
 */
export async function createDialer(privateKey: PrivateKey, punching?: HolePunching) {
  return createLibp2p({
    privateKey,
    addresses: { listen: [] },
    ...(await connecting(punching)),
    services: { identify: identify(), ping: pinging() },
  })
}

const latin1 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1')

/**
 * Messages are signed, so a message's gossip id is a function of its author (`from`) and sequence number.
 * The same raw bytes, unparsed, name it in gossipsub's fast duplicate cache, which is consulted before the
 * signature is checked and filled only after it passed: a copy of a message from another mesh peer is then
 * dropped without a second Ed25519 verification.
 */
export function fastMessageId(msg: { from?: Uint8Array; seqno?: Uint8Array }): string {
  const from = msg.from ?? new Uint8Array(0)
  return `${from.length}:${latin1(from)}${latin1(msg.seqno ?? new Uint8Array(0))}`
}

/**
 * Dials every bootstrap address we are not connected to, now and periodically, until the node stops. A
 * round in which every dial failed and no bootstrap peer is connected is a problem told on `log`. A peer
 * reached is tagged keep-alive: libp2p redials it when the connection drops and, from a persistent peer
 * store, when the node starts again.
 */
function keepBootstrapped(node: Host, addresses: string[], log: Logger | undefined): void {
  const self = node.peerId.toString()
  const targets = addresses.map(a => multiaddr(a)).filter(a => peerIdOfAddress(a) !== self)
  if (targets.length === 0) return
  const connected = (target: Multiaddr) => {
    const peer = peerIdOfAddress(target)
    return peer !== undefined && node.getConnections().some(c => c.remotePeer.toString() === peer)
  }
  const dialAll = async () => {
    const pending = targets.filter(t => !connected(t))
    const failures = await Promise.all(
      pending.map(target =>
        node.dial(target).then(
          connection => {
            node.peerStore
              .merge(connection.remotePeer, { tags: { [KEEP_ALIVE]: { value: 1 } } })
              .catch(() => {})
            return undefined
          },
          (err: Error) => {
            node.logger.forComponent('weir:bootstrap').error('dial %a: %e', target, err)
            return `${target}: ${err.message}`
          },
        ),
      ),
    )
    if (node.status !== 'started') return
    if (failures.some(f => f === undefined) || targets.some(connected)) {
      log?.resolved('bootstrap', 'connected to a bootstrap peer')
      return
    }
    log?.problem(
      'bootstrap',
      'bootstrap unreachable: every bootstrap dial failed',
      "check this machine's Internet connection and firewall, and the bootstrap addresses (network.json, --bootstrap)",
      { tried: pending.length, first: failures[0] },
    )
  }
  void dialAll()
  const timer = setInterval(() => void dialAll(), BOOTSTRAP_RETRY_MS)
  timer.unref()
  node.addEventListener('stop', () => clearInterval(timer), { once: true })
}

/** The `/p2p/<peerId>` of a multiaddr, if it names one. */
export function peerIdOfAddress(address: Multiaddr): string | undefined {
  return address.getComponents().findLast(c => c.name === 'p2p')?.value
}
