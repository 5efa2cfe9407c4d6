import { connect, type NetConnectOpts, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { Connection, PeerId, PrivateKey, Stream } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { type LengthPrefixedStream, lpStream } from '@libp2p/utils'
import type { Multiaddr } from '@multiformats/multiaddr'
import { type Host, peerIdOfAddress, protocolId } from '../host/host.ts'
import type { Meter, TunnelMeter } from './meter.ts'
import { ipOfMultiaddr } from './own-addresses.ts'
import { type Slot, TunnelSlots } from './slots.ts'
import { splice } from './splice.ts'
import { acceptExitChannel } from '../tunnel/exit-channel.ts'
import { type DuplexSource, streamToDuplex } from '../tunnel/stream-duplex.ts'
import type { TokenBucket } from './token-bucket.ts'
import {
  decodeRequest,
  encodeReply,
  encodeRequest,
  MAX_REQUEST_BYTES,
  type ReplyCode,
  type TunnelRequest,
  type TunnelTarget,
} from '../tunnel/wire.ts'

/** What the exit policy decided: the checked address to connect to, or why not. */
export type ExitDecision =
  | { ok: true; address: string; family: 4 | 6 }
  | { ok: false; reason: 'policy' | 'port' | 'unresolvable' | 'invalid' }

export interface TunnelLimits {
  maxTunnels: number
  maxTunnelsPerPeer: number
  /** Bytes every tunnel's buffers may hold together; beyond it the biggest holder's tunnels close. */
  maxBufferBytes: number
  /** From stream open until the request is read and the target connected. */
  handshakeTimeoutMs: number
  idleTimeoutMs: number
}

export const DEFAULT_LIMITS: TunnelLimits = {
  maxTunnels: 512,
  // A proxy carries a whole browser's connections over one peer identity.
  maxTunnelsPerPeer: 128,
  // A tunnel from a fast sender through a capped relay holds up to ~36 MiB (docs/relay.md).
  maxBufferBytes: 256 * 1024 * 1024,
  handshakeTimeoutMs: 10_000,
  idleTimeoutMs: 120_000,
}

const MEMORY_CHECK_MS = 100

export interface TunnelServerOptions {
  networkId: string
  /** The host's libp2p key: it answers the exit channels of circuits whose second relay this is. */
  privateKey: PrivateKey
  resolveExit: (host: string, port: number) => Promise<ExitDecision>
  /** The exit policy's address rules, for hop dials: whether this relay may connect to an IP address. */
  mayDial: (address: string) => boolean
  meter: Meter
  limits?: Partial<TunnelLimits>
  /** the relay's shaper, asked for every chunk, so a change of its rate reaches open tunnels */
  bucket?: Pick<TokenBucket, 'take'>
  /** Returns false once the operator's quota is spent; checked when a tunnel opens. */
  admit?: () => boolean
  /** Every relayed byte, for quota accounting. */
  onBytes?: (bytes: number) => void
}

/** One end of a tunnel as a Duplex, and the bytes waiting in its buffers. */
interface TunnelEnd {
  duplex: Duplex
  buffered: () => number
}

/**
 * The relay side of `/weir/<net>/tunnel/1.0.0`: reads one request, connects to the exit target (after
 * the exit policy) or opens a tunnel to the next relay, replies, then splices raw bytes both ways.
 * Slots and buffer memory are shared fairly between peers and addresses (see TunnelSlots).
 */
export class TunnelServer {
  private readonly limits: TunnelLimits
  private readonly slots: TunnelSlots
  private readonly protocol: string
  private memoryTimer: NodeJS.Timeout | undefined
  /** every tunnel being served, until it ends */
  private readonly serving = new Set<Promise<void>>()

  constructor(
    private readonly host: Host,
    private readonly options: TunnelServerOptions,
  ) {
    if (!peerIdFromPrivateKey(options.privateKey).equals(host.peerId))
      throw new RangeError("the tunnel server's privateKey is not its host's key")
    this.limits = { ...DEFAULT_LIMITS, ...options.limits }
    this.slots = new TunnelSlots(this.limits)
    this.protocol = protocolId(options.networkId, 'tunnel')
  }

  async start(): Promise<void> {
    const handler = (stream: Stream, connection: Connection) => {
      const served = this.serve(stream, connection)
      this.serving.add(served)
      const done = () => this.serving.delete(served)
      served.then(done, done)
      return served
    }
    await this.host.handle(this.protocol, handler, {
      // Our own limits answer 'busy'; libp2p's would just reset the stream.
      maxInboundStreams: this.limits.maxTunnels + 1,
    })
    this.memoryTimer = setInterval(() => this.slots.reclaimMemory(), MEMORY_CHECK_MS)
    this.memoryTimer.unref()
  }

  /** Bytes the open tunnels hold in buffers now. */
  get bufferedBytes(): number {
    return this.slots.bufferedBytes()
  }

  /**
   * Stops accepting tunnels, gives the open ones up to `drainMs` to finish, then tears down the rest.
   * Resolves with how many were still open at the bound.
   */
  async stop(drainMs = 0): Promise<number> {
    await this.host.unhandle(this.protocol)
    if (drainMs > 0 && this.serving.size > 0) {
      let timer: NodeJS.Timeout | undefined
      const bound = new Promise<void>(resolve => {
        timer = setTimeout(resolve, drainMs)
      })
      await Promise.race([Promise.allSettled([...this.serving]), bound])
      clearTimeout(timer)
    }
    const cut = this.serving.size
    clearInterval(this.memoryTimer)
    this.slots.closeAll(new Error('relay shutting down'))
    return cut
  }

  /** Tunnels being served now (including those still in their handshake). */
  get open(): number {
    return this.serving.size
  }

  private async serve(stream: Stream, connection: Connection): Promise<void> {
    const peer = connection.remotePeer.toString()
    const channel = new RequestChannel(stream)
    if (this.options.admit?.() === false) return channel.refuse('quota')
    const remote = ipOfMultiaddr(connection.remoteAddr) ?? connection.remoteAddr.toString()
    const slot = this.slots.admit(peer, remote)
    if (slot === undefined) return channel.refuse('busy')
    slot.evict = err => stream.abort(err)
    const tunnel = this.options.meter.open(peer)
    try {
      await this.carry(stream, channel, slot, tunnel)
    } finally {
      this.slots.release(slot)
      tunnel.close()
    }
  }

  /** Reads the request, connects its target and splices the two until either side is done. */
  private async carry(
    stream: Stream,
    plain: RequestChannel<Stream>,
    slot: Slot,
    tunnel: TunnelMeter,
  ): Promise<void> {
    const signal = AbortSignal.timeout(this.limits.handshakeTimeoutMs)
    const request = await this.readRequest(stream, plain, signal)
    if (request === undefined) return
    const { channel, target } = request
    const far = await this.connectTarget(target, signal)
    if (typeof far === 'string') return channel.refuse(far)
    try {
      // Evicted while connecting: the stream is already reset.
      if (slot.released) throw new Error('tunnel evicted')
      await channel.reply('ok', signal)
    } catch (err) {
      far.duplex.destroy()
      return stream.abort(err as Error)
    }
    const near = streamEnd(channel.unwrap(), stream)
    slot.buffered = () => near.buffered() + far.buffered()
    slot.evict = err => {
      near.duplex.destroy(err)
      far.duplex.destroy(err)
    }
    await splice(near.duplex, far.duplex, {
      bucket: this.options.bucket,
      idleTimeoutMs: this.limits.idleTimeoutMs,
      onBytes: (direction, bytes) => {
        this.slots.touch(slot)
        tunnel.add(direction, bytes)
        this.options.onBytes?.(bytes)
      },
    })
  }

  /**
   * The request and the channel it came on; undefined once the tunnel was refused or reset. A tunnel that
   * arrives `forwarded` from another relay is the second hop of a circuit: its request comes inside the
   * client's end-to-end channel to this relay, and so do the reply and every byte after it.
   */
  private async readRequest(
    stream: Stream,
    plain: RequestChannel<Stream>,
    signal: AbortSignal,
  ): Promise<{ channel: RequestChannel; target: TunnelTarget } | undefined> {
    const failed = async (channel: RequestChannel | undefined) => {
      if (signal.aborted) stream.abort(new Error('tunnel handshake timed out'))
      // A channel whose handshake failed has no way to carry a reply.
      else if (channel === undefined) stream.abort(new Error('exit channel handshake failed'))
      else await channel.refuse('bad-request')
      return undefined
    }
    let request: TunnelRequest
    try {
      request = await plain.read(signal)
    } catch {
      return failed(plain)
    }
    if (request.kind !== 'forwarded') return { channel: plain, target: request }
    let channel: RequestChannel
    try {
      const { privateKey, networkId } = this.options
      const secured = await acceptExitChannel(plain.unwrap(), privateKey, networkId, this.host.logger, {
        signal,
      })
      channel = new RequestChannel(secured)
    } catch {
      return failed(undefined)
    }
    try {
      request = await channel.read(signal)
    } catch {
      return failed(channel)
    }
    if (request.kind === 'forwarded') return failed(channel)
    // Circuits have at most two relays: one that was reached through another relay is the exit.
    if (request.kind === 'hop') return void (await channel.refuse('policy'))
    return { channel, target: request }
  }

  private async connectTarget(target: TunnelTarget, signal: AbortSignal): Promise<TunnelEnd | ReplyCode> {
    if (target.kind === 'hop') {
      if (target.relay.equals(this.host.peerId)) return 'bad-request'
      return this.dialHop(target.relay, signal)
    }
    let decision: ExitDecision
    try {
      decision = await this.options.resolveExit(target.host, target.port)
    } catch {
      return 'failure'
    }
    if (!decision.ok) return decision.reason === 'invalid' ? 'bad-request' : decision.reason
    const socket = await connectTcp(decision.address, target.port, signal)
    if (typeof socket === 'string') return socket
    return { duplex: socket, buffered: () => socket.readableLength + socket.writableLength }
  }

  /**
   * Opens a tunnel to the next relay at an address the exit policy allows (never one a record or the
   * DHT names on the operator's LAN or machine), and tells it the request that follows is forwarded.
   */
  private async dialHop(relay: PeerId, signal: AbortSignal): Promise<TunnelEnd | ReplyCode> {
    const allowed = (address: Multiaddr) => {
      const ip = ipOfMultiaddr(address)
      return ip !== undefined && this.options.mayDial(ip)
    }
    try {
      let connection = this.host
        .getConnections(relay)
        .find(c => c.status === 'open' && c.limits === undefined && allowed(c.remoteAddr))
      if (connection === undefined) {
        const addresses = (await this.addressesOf(relay, signal)).filter(allowed)
        if (addresses.length === 0) return 'hop-failed'
        connection = await this.host.dial(addresses, { signal })
        // A dial already under way to this relay may have been joined, at addresses of its own; and a
        // circuit-relay connection is for hole-punch signalling only, never a tunnel's bytes.
        if (!allowed(connection.remoteAddr) || connection.limits !== undefined) return 'hop-failed'
      }
      const stream = await connection.newStream(this.protocol, { signal, maxOutboundStreams: 4096 })
      const next = lpStream(stream)
      await next.write(encodeRequest({ kind: 'forwarded' }), { signal })
      const end = streamEnd(next.unwrap(), stream)
      end.duplex.on('error', () => {})
      return end
    } catch {
      return 'hop-failed'
    }
  }

  /** The relay's addresses from the peer store (records, identify), else from the DHT; with /p2p. */
  private async addressesOf(relay: PeerId, signal: AbortSignal): Promise<Multiaddr[]> {
    let known: Multiaddr[] = []
    try {
      known = (await this.host.peerStore.get(relay)).addresses.map(a => a.multiaddr)
    } catch {}
    if (known.length === 0) {
      try {
        known = (await this.host.peerRouting.findPeer(relay, { signal })).multiaddrs
      } catch {}
    }
    return known.map(address =>
      peerIdOfAddress(address) === undefined ? address.encapsulate(`/p2p/${relay}`) : address,
    )
  }
}

/**
 * The requests and replies of one tunnel: in the clear on the tunnel stream, or inside the exit channel
 * layered on it.
 */
class RequestChannel<S extends DuplexSource = DuplexSource> {
  private readonly lp: LengthPrefixedStream<S>

  constructor(private readonly stream: S) {
    this.lp = lpStream(stream, { maxDataLength: MAX_REQUEST_BYTES, maxBufferSize: 64 * 1024 })
  }

  async read(signal: AbortSignal): Promise<TunnelRequest> {
    return decodeRequest((await this.lp.read({ signal })).subarray())
  }

  reply(code: ReplyCode, signal: AbortSignal): Promise<void> {
    return this.lp.write(encodeReply(code), { signal })
  }

  async refuse(code: ReplyCode): Promise<void> {
    try {
      await this.lp.write(encodeReply(code), { signal: AbortSignal.timeout(1000) })
      await this.stream.close({ signal: AbortSignal.timeout(1000) })
    } catch (err) {
      this.stream.abort(err as Error)
    }
  }

  /** The stream after the handshake, with anything read past the last request back in it. */
  unwrap(): S {
    return this.lp.unwrap()
  }
}

/** `stream` as a Duplex, counting the buffers of the tunnel stream `under` it too. */
function streamEnd(stream: DuplexSource, under: Stream): TunnelEnd {
  const duplex = streamToDuplex(stream)
  const layers: DuplexSource[] = stream === under ? [stream] : [stream, under]
  return {
    duplex,
    buffered: () =>
      layers.reduce(
        (sum, layer) => sum + layer.readBufferLength + layer.writeBufferLength,
        duplex.readableLength + duplex.writableLength,
      ),
  }
}

const SOCKET_HIGH_WATER_MARK = 1024 * 1024

/** Connects to exactly `address` (already checked by the exit policy: never re-resolved here). */
function connectTcp(address: string, port: number, signal: AbortSignal): Promise<Socket | ReplyCode> {
  return new Promise(resolve => {
    // Bulk tunnels: Node's 16 KiB default would stall the splice on every write. (Node accepts the
    // high-water marks here; @types/node does not list them.)
    const options: NetConnectOpts & { readableHighWaterMark: number; writableHighWaterMark: number } = {
      host: address,
      port,
      allowHalfOpen: true,
      noDelay: true,
      readableHighWaterMark: SOCKET_HIGH_WATER_MARK,
      writableHighWaterMark: SOCKET_HIGH_WATER_MARK,
    }
    const socket = connect(options)
    const onAbort = () => {
      socket.destroy()
      resolve('timeout')
    }
    signal.addEventListener('abort', onAbort, { once: true })
    socket.once('connect', () => {
      // The 'error' listener stays: an error before the splice takes over must not crash the relay.
      signal.removeEventListener('abort', onAbort)
      resolve(socket)
    })
    socket.once('error', (err: NodeJS.ErrnoException) => {
      signal.removeEventListener('abort', onAbort)
      resolve(socketErrorCode(err))
    })
  })
}

function socketErrorCode(err: NodeJS.ErrnoException): ReplyCode {
  switch (err.code) {
    case 'ECONNREFUSED':
      return 'refused'
    case 'ETIMEDOUT':
      return 'timeout'
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'unreachable'
    default:
      return 'failure'
  }
}
