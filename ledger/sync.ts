import type { Libp2p, PeerId, Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import type { Multiaddr } from '@multiformats/multiaddr'
import { DecodeError } from '../protocol/errors.ts'
import { answerRequest, IdSet, Reconciler, SyncError, type SyncResult } from './reconcile.ts'
import {
  type Body,
  decodeRequest,
  decodeResponse,
  encodeRequest,
  encodeResponse,
  MAX_MESSAGE_BYTES,
} from './sync-wire.ts'

// The ledger's anti-entropy protocol (/weir/<net>/sync/1.0.0, docs/sync.md) on libp2p streams: one
// stream per (peer, epoch); the dialer asks, the listener answers, until the dialer knows the difference
// in both directions and holds the bodies it lacked.

export { SyncError, type SyncResult } from './reconcile.ts'
export type { Body as SyncItem } from './sync-wire.ts'

/** What one side holds of an epoch's content. */
export interface SyncSource {
  /** ascending 32-byte item ids of the epoch's content */
  ids(epoch: number): Uint8Array[] | Promise<Uint8Array[]>
  /** bodies for ids this side holds (unknown ids are skipped) */
  bodies(epoch: number, ids: Uint8Array[]): Body[] | Promise<Body[]>
}

export interface SyncServerLimits {
  /** whom to answer (default everyone); others' streams are reset before anything is read for them */
  serves?: (peer: PeerId) => boolean
  /** exchanges per stream (default 1024) */
  maxRounds?: number
  /** longest wait for the next request (default 10 s) */
  idleTimeoutMs?: number
  /** concurrent sync streams per connection (default 4) */
  maxStreams?: number
}

export interface SyncClientLimits {
  /** exchanges before giving up (default 512) */
  maxRounds?: number
  /** the whole sync (default 60 s) */
  timeoutMs?: number
  /** bytes sent plus received (default 128 MiB) */
  maxBytes?: number
  /** ranges waiting to be asked about (default 65,536) */
  maxPending?: number
}

const frameOptions = { maxDataLength: MAX_MESSAGE_BYTES }

/** Bytes a frame takes on the stream: its unsigned-varint length prefix and itself. */
const framed = (length: number): number => length + Math.max(1, Math.ceil(Math.log2(length + 1) / 7))

/** Answers sync requests for `protocol` from `source`. */
export async function handleSync(
  node: Libp2p,
  protocol: string,
  source: SyncSource,
  limits: SyncServerLimits = {},
): Promise<void> {
  const maxRounds = limits.maxRounds ?? 1024
  const idleTimeoutMs = limits.idleTimeoutMs ?? 10_000
  const serves = limits.serves ?? (() => true)
  await node.handle(
    protocol,
    (stream, connection) => {
      if (serves(connection.remotePeer)) return serve(stream, source, maxRounds, idleTimeoutMs)
      stream.abort(new SyncError('protocol', `${connection.remotePeer} may not sync`))
    },
    { maxInboundStreams: limits.maxStreams ?? 4 },
  )
}

async function serve(stream: Stream, source: SyncSource, maxRounds: number, idleTimeoutMs: number) {
  const lp = lpStream(stream, frameOptions)
  let session: { epoch: number; set: IdSet } | undefined
  try {
    for (let round = 0; ; round++) {
      const signal = AbortSignal.timeout(idleTimeoutMs)
      let frame: Uint8Array
      try {
        frame = (await lp.read({ signal })).subarray()
      } catch (err) {
        // the asker closed its side: done
        if ((err as Error).name === 'UnexpectedEOFError') break
        throw err
      }
      if (round >= maxRounds) throw new SyncError('limit', `more than ${maxRounds} rounds`)
      const req = decodeRequest(frame)
      session ??= { epoch: req.epoch, set: IdSet.from(await source.ids(req.epoch)) }
      if (req.epoch !== session.epoch) throw new SyncError('protocol', 'epoch changed within a stream')
      const bodies = req.wants.length > 0 ? await source.bodies(session.epoch, req.wants) : []
      await lp.write(encodeResponse(answerRequest(session.set, req, bodies)), { signal })
    }
    await stream.close({ signal: AbortSignal.timeout(idleTimeoutMs) })
  } catch (err) {
    stream.abort(err as Error)
  }
}

/**
 * Reconciles one epoch with `peer`: hands the bodies we lacked to `onItems` as they arrive (untrusted:
 * the caller validates them; we only guarantee each one's item id is one we asked for) and reports the
 * ids the peer lacks. Throws SyncError (with `partial`) when the peer misbehaves or a limit is hit.
 */
export async function syncEpoch(
  node: Libp2p,
  peer: PeerId | Multiaddr,
  protocol: string,
  epoch: number,
  source: SyncSource,
  onItems: (items: Body[]) => Promise<void> | void,
  limits: SyncClientLimits = {},
): Promise<SyncResult> {
  const maxRounds = limits.maxRounds ?? 512
  const maxBytes = limits.maxBytes ?? 128 * 1024 * 1024
  const signal = AbortSignal.timeout(limits.timeoutMs ?? 60_000)
  const reconciler = new Reconciler(IdSet.from(await source.ids(epoch)), epoch, limits.maxPending)
  const result = (): SyncResult => ({
    received,
    dropped: reconciler.dropped,
    theyLack: reconciler.theyLack,
    theyHave: reconciler.theyHave,
    bytesSent,
    bytesReceived,
    rounds,
  })
  let received = 0
  let bytesSent = 0
  let bytesReceived = 0
  let rounds = 0
  let stream: Stream | undefined
  let callerFailed = false
  try {
    stream = await node.dialProtocol(peer, protocol, { signal })
    const lp = lpStream(stream, frameOptions)
    while (!reconciler.done) {
      if (rounds >= maxRounds) throw new SyncError('limit', `more than ${maxRounds} rounds`)
      if (bytesSent + bytesReceived > maxBytes) throw new SyncError('limit', `more than ${maxBytes} bytes`)
      const request = encodeRequest(reconciler.nextRequest())
      await lp.write(request, { signal })
      bytesSent += framed(request.length)
      const response = (await lp.read({ signal })).subarray()
      bytesReceived += framed(response.length)
      rounds++
      const items = reconciler.acceptResponse(decodeResponse(response))
      received += items.length
      if (items.length > 0) {
        callerFailed = true
        await onItems(items)
        callerFailed = false
      }
    }
    await stream.close({ signal })
    return result()
  } catch (err) {
    stream?.abort(err as Error)
    const failure = callerFailed ? undefined : asSyncError(err, signal)
    if (!failure) throw err
    failure.partial = result()
    throw failure
  }
}

/** Classifies what stopped a sync; undefined for errors that are ours rather than the peer's or the network's. */
function asSyncError(err: unknown, signal: AbortSignal): SyncError | undefined {
  if (err instanceof SyncError) return err
  if (signal.aborted) return new SyncError('timeout', 'sync timed out')
  if (err instanceof DecodeError) return new SyncError('protocol', err.message)
  const name = (err as Error)?.name ?? ''
  if (name.startsWith('Invalid') || name === 'StreamBufferError')
    return new SyncError('protocol', String(err))
  if (/Stream|EOF|Connection|Dial|Muxer|Unsupported|NoValidAddresses/.test(name)) {
    return new SyncError('closed', `${name}: ${(err as Error).message}`)
  }
  return undefined
}
