import { connect, type NetConnectOpts, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { Connection, Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import { type Host, protocolId } from '../host/host.ts'
import type { Meter } from './meter.ts'
import { splice } from './splice.ts'
import { streamToDuplex } from '../tunnel/stream-duplex.ts'
import type { TokenBucket } from './token-bucket.ts'
import { openTunnelStream } from '../tunnel/client.ts'
import {
  decodeRequest,
  encodeReply,
  MAX_REQUEST_BYTES,
  type ReplyCode,
  type TunnelTarget,
} from '../tunnel/wire.ts'

/** What the exit policy decided: the checked address to connect to, or why not. */
export type ExitDecision =
  | { ok: true; address: string; family: 4 | 6 }
  | { ok: false; reason: 'policy' | 'port' | 'unresolvable' | 'invalid' }

export interface TunnelLimits {
  maxTunnels: number
  maxTunnelsPerPeer: number
  /** From stream open until the request is read and the target connected. */
  handshakeTimeoutMs: number
  idleTimeoutMs: number
}

export const DEFAULT_LIMITS: TunnelLimits = {
  maxTunnels: 512,
  // A proxy carries a whole browser's connections over one peer identity.
  maxTunnelsPerPeer: 128,
  handshakeTimeoutMs: 10_000,
  idleTimeoutMs: 120_000,
}

export interface TunnelServerOptions {
  networkId: string
  resolveExit: (host: string, port: number) => Promise<ExitDecision>
  meter: Meter
  limits?: Partial<TunnelLimits>
  bucket?: TokenBucket
  /** Returns false once the operator's quota is spent; checked when a tunnel opens. */
  admit?: () => boolean
  /** Every relayed byte, for quota accounting. */
  onBytes?: (bytes: number) => void
}

/**
 * The relay side of `/weir/<net>/tunnel/1.0.0`: reads one request, connects to the exit target (after
 * the exit policy) or opens a tunnel to the next relay, replies, then splices raw bytes both ways.
 */
export class TunnelServer {
  private readonly limits: TunnelLimits
  private readonly open = new Set<Duplex>()
  private readonly protocol: string

  constructor(
    private readonly host: Host,
    private readonly options: TunnelServerOptions,
  ) {
    this.limits = { ...DEFAULT_LIMITS, ...options.limits }
    this.protocol = protocolId(options.networkId, 'tunnel')
  }

  async start(): Promise<void> {
    await this.host.handle(this.protocol, (stream, connection) => this.serve(stream, connection), {
      // Our own limits answer 'busy'; libp2p's would just reset the stream.
      maxInboundStreams: this.limits.maxTunnels + 1,
    })
  }

  /** Stops accepting tunnels and tears down the open ones. */
  async stop(): Promise<void> {
    await this.host.unhandle(this.protocol)
    for (const side of this.open) side.destroy(new Error('relay shutting down'))
  }

  private async serve(stream: Stream, connection: Connection): Promise<void> {
    const peer = connection.remotePeer.toString()
    const { meter } = this.options
    const lp = lpStream(stream, { maxDataLength: MAX_REQUEST_BYTES, maxBufferSize: 64 * 1024 })
    const refuse = async (code: ReplyCode) => {
      try {
        await lp.write(encodeReply(code), { signal: AbortSignal.timeout(1000) })
        await stream.close({ signal: AbortSignal.timeout(1000) })
      } catch (err) {
        stream.abort(err as Error)
      }
    }
    if (
      meter.openTunnels >= this.limits.maxTunnels ||
      meter.openTunnelsOf(peer) >= this.limits.maxTunnelsPerPeer
    ) {
      return refuse('busy')
    }
    if (this.options.admit?.() === false) return refuse('quota')

    const tunnel = meter.open(peer)
    const signal = AbortSignal.timeout(this.limits.handshakeTimeoutMs)
    let target: TunnelTarget
    try {
      target = decodeRequest((await lp.read({ signal })).subarray())
    } catch {
      tunnel.close()
      if (signal.aborted) return stream.abort(new Error('tunnel handshake timed out'))
      return refuse('bad-request')
    }

    const opened = await this.connectTarget(target, signal)
    if (typeof opened === 'string') {
      tunnel.close()
      return refuse(opened)
    }
    try {
      await lp.write(encodeReply('ok'), { signal })
    } catch (err) {
      tunnel.close()
      opened.destroy()
      return stream.abort(err as Error)
    }
    const client = streamToDuplex(lp.unwrap())
    this.open.add(client)
    this.open.add(opened)
    try {
      await splice(client, opened, {
        bucket: this.options.bucket,
        idleTimeoutMs: this.limits.idleTimeoutMs,
        onBytes: (direction, bytes) => {
          tunnel.add(direction, bytes)
          this.options.onBytes?.(bytes)
        },
      })
    } finally {
      this.open.delete(client)
      this.open.delete(opened)
      tunnel.close()
    }
  }

  private async connectTarget(target: TunnelTarget, signal: AbortSignal): Promise<Duplex | ReplyCode> {
    if (target.kind === 'hop') {
      if (target.relay.equals(this.host.peerId)) return 'bad-request'
      try {
        const next = streamToDuplex(
          await openTunnelStream(this.host, target.relay, this.options.networkId, { signal }),
        )
        next.on('error', () => {})
        return next
      } catch {
        return 'hop-failed'
      }
    }
    let decision: ExitDecision
    try {
      decision = await this.options.resolveExit(target.host, target.port)
    } catch {
      return 'failure'
    }
    if (!decision.ok) return decision.reason === 'invalid' ? 'bad-request' : decision.reason
    return connectTcp(decision.address, target.port, signal)
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
