import type { Duplex } from 'node:stream'
import type { AbortOptions, PeerId, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { lpStream } from '@libp2p/utils'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Libp2p } from 'libp2p'
import { peerIdOfAddress, protocolId } from '../host/host.ts'
import { openExitChannel } from './exit-channel.ts'
import { type DuplexSource, streamToDuplex } from './stream-duplex.ts'
import { decodeReply, encodeRequest, MAX_REPLY_BYTES, type ReplyCode, type TunnelTarget } from './wire.ts'

/** A relay on the circuit refused, or failed to open, its part of the tunnel. */
export class TunnelRefusedError extends Error {
  override name = 'TunnelRefusedError'
  constructor(
    readonly code: ReplyCode,
    /** 0 for the first relay of the circuit. */
    readonly hop: number,
    /** why the reply could not be read, when it could not */
    detail?: string,
  ) {
    super(`relay ${hop + 1} of the circuit answered '${code}'${detail ? ` (${detail})` : ''}`)
  }
}

/** What opens tunnels: any libp2p node (a role's host, or a probe's short-lived one). */
export type TunnelDialer = Pick<Libp2p, 'dialProtocol' | 'logger'>

/** A relay by PeerId (dialled at its known addresses) or by a multiaddr ending in `/p2p/<peerId>`. */
export type RelayRef = PeerId | Multiaddr

/** Opens a raw tunnel stream to a relay; many tunnels share one connection. */
export async function openTunnelStream(
  host: TunnelDialer,
  relay: RelayRef,
  networkId: string,
  options: AbortOptions = {},
): Promise<Stream> {
  return host.dialProtocol(relay, protocolId(networkId, 'tunnel'), { ...options, maxOutboundStreams: 4096 })
}

/**
 * Builds a circuit through `relays` (one or two; the first is dialled, the second reached through it) to
 * `target` and returns it as a Duplex of raw bytes. Each relay sees only its neighbours. Through two
 * relays, the client asks the first for a hop to the second only, then opens an end-to-end channel to
 * the second (node/tunnel/exit-channel.ts) and names the target inside it: the first relay never sees
 * the target. Throws TunnelRefusedError when a relay refuses (policy, busy, …).
 */
export async function openCircuit(
  host: TunnelDialer,
  networkId: string,
  relays: RelayRef[],
  target: { host: string; port: number },
  options: AbortOptions = {},
): Promise<Duplex> {
  const [first, second, ...more] = relays
  if (first === undefined) throw new RangeError('a circuit needs at least one relay')
  if (more.length > 0) throw new RangeError('a circuit has at most two relays')
  const exit: TunnelTarget = { kind: 'exit', host: target.host, port: target.port }
  const stream = await openTunnelStream(host, first, networkId, options)
  try {
    if (second === undefined) return streamToDuplex(await request(stream, exit, 0, options))
    const exitRelay = peerOf(second)
    const tunnel = await request(stream, { kind: 'hop', relay: exitRelay }, 0, options)
    let channel: DuplexSource
    try {
      channel = await openExitChannel(tunnel, exitRelay, networkId, host.logger, options)
    } catch (err) {
      if (options.signal?.aborted) throw err
      throw new TunnelRefusedError('failure', 1, `no channel to the relay: ${(err as Error).message}`)
    }
    return streamToDuplex(await request(channel, exit, 1, options))
  } catch (err) {
    stream.abort(err as Error)
    throw err
  }
}

/** Sends one request over `stream`, reads the reply and returns the stream once the relay said ok. */
async function request<S extends DuplexSource>(
  stream: S,
  target: TunnelTarget,
  hop: number,
  options: AbortOptions,
): Promise<S> {
  const lp = lpStream(stream, { maxDataLength: MAX_REPLY_BYTES })
  await lp.write(encodeRequest(target), options)
  let code: ReplyCode
  try {
    code = decodeReply((await lp.read(options)).subarray())
  } catch (err) {
    if (options.signal?.aborted) throw err
    throw new TunnelRefusedError('failure', hop, (err as Error).message)
  }
  if (code !== 'ok') throw new TunnelRefusedError(code, hop)
  return lp.unwrap()
}

function peerOf(relay: RelayRef): PeerId {
  if (!('getComponents' in relay)) return relay
  const id = peerIdOfAddress(relay)
  if (id === undefined) throw new RangeError(`relay address ${relay} has no /p2p/<peerId>`)
  return peerIdFromString(id)
}
