import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'

// The tunnel handshake: one length-prefixed request, one length-prefixed reply, then raw bytes.
//   request  = version(1) kind(1) body       kind 1 (exit): port(u16 BE) host(ASCII, 1..255)
//                                             kind 2 (hop):  relay PeerId (base58 text)
//                                             kind 3 (forwarded): empty
//   reply    = version(1) code(1)
// A relay opening a tunnel for a hop sends `forwarded` first, so the next relay knows the request that
// follows came through a relay and refuses to extend the circuit further (version 2 added it).

export const WIRE_VERSION = 2
/** The largest request frame a relay reads; anything longer is refused before it is buffered. */
export const MAX_REQUEST_BYTES = 512

export type TunnelTarget = { kind: 'exit'; host: string; port: number } | { kind: 'hop'; relay: PeerId }
/** A target, or a relay's note that the request after it arrives through that relay. */
export type TunnelRequest = TunnelTarget | { kind: 'forwarded' }

/** Why a relay did not open a tunnel. Every code maps to one SOCKS5 reply in `socksReply`. */
export const REPLY_CODES = [
  'ok',
  'bad-request',
  'policy',
  'port',
  'unresolvable',
  'unreachable',
  'refused',
  'timeout',
  'busy',
  'hop-failed',
  'quota',
  'failure',
] as const
export type ReplyCode = (typeof REPLY_CODES)[number]

const SOCKS_REPLY: Record<ReplyCode, number> = {
  ok: 0x00,
  'bad-request': 0x01,
  policy: 0x02,
  port: 0x02,
  unresolvable: 0x04,
  unreachable: 0x04,
  refused: 0x05,
  timeout: 0x06,
  busy: 0x01,
  'hop-failed': 0x01,
  quota: 0x01,
  failure: 0x01,
}

export function socksReply(code: ReplyCode): number {
  return SOCKS_REPLY[code]
}

export class TunnelWireError extends Error {
  override name = 'TunnelWireError'
}

const KIND_EXIT = 1
const KIND_HOP = 2
const KIND_FORWARDED = 3
// Host names, IPv4 and IPv6 literals (no brackets, no zone ids): nothing a resolver could misread.
const HOST = /^[A-Za-z0-9._:-]{1,255}$/

export function encodeRequest(target: TunnelRequest): Uint8Array {
  if (target.kind === 'forwarded') return Uint8Array.of(WIRE_VERSION, KIND_FORWARDED)
  if (target.kind === 'exit') {
    if (!HOST.test(target.host)) throw new TunnelWireError(`invalid target host '${target.host}'`)
    if (!Number.isInteger(target.port) || target.port < 1 || target.port > 65535) {
      throw new TunnelWireError(`invalid target port ${target.port}`)
    }
    const host = Buffer.from(target.host, 'ascii')
    const out = new Uint8Array(4 + host.length)
    out.set([WIRE_VERSION, KIND_EXIT, target.port >> 8, target.port & 0xff])
    out.set(host, 4)
    return out
  }
  const relay = Buffer.from(target.relay.toString(), 'ascii')
  const out = new Uint8Array(2 + relay.length)
  out.set([WIRE_VERSION, KIND_HOP])
  out.set(relay, 2)
  return out
}

/** Strict: wrong version, unknown kind, bad host or port, or a non-canonical PeerId is an error. */
export function decodeRequest(bytes: Uint8Array): TunnelRequest {
  if (bytes.length > MAX_REQUEST_BYTES) throw new TunnelWireError('request too long')
  if (bytes[0] !== WIRE_VERSION) throw new TunnelWireError(`unsupported version ${bytes[0]}`)
  const text = Buffer.from(bytes.subarray(bytes[1] === KIND_EXIT ? 4 : 2)).toString('latin1')
  if (bytes[1] === KIND_EXIT) {
    const port = ((bytes[2] ?? 0) << 8) | (bytes[3] ?? 0)
    if (bytes.length < 5 || port === 0) throw new TunnelWireError('invalid exit port')
    if (!HOST.test(text)) throw new TunnelWireError('invalid exit host')
    return { kind: 'exit', host: text, port }
  }
  if (bytes[1] === KIND_HOP) {
    let relay: PeerId
    try {
      relay = peerIdFromString(text)
    } catch {
      throw new TunnelWireError('invalid relay peer id')
    }
    if (relay.toString() !== text) throw new TunnelWireError('non-canonical relay peer id')
    return { kind: 'hop', relay }
  }
  if (bytes[1] === KIND_FORWARDED) {
    if (bytes.length !== 2) throw new TunnelWireError('trailing bytes after forwarded')
    return { kind: 'forwarded' }
  }
  throw new TunnelWireError(`unknown request kind ${bytes[1]}`)
}

export function encodeReply(code: ReplyCode): Uint8Array {
  return Uint8Array.of(WIRE_VERSION, REPLY_CODES.indexOf(code))
}

export function decodeReply(bytes: Uint8Array): ReplyCode {
  const code = bytes.length === 2 && bytes[0] === WIRE_VERSION ? REPLY_CODES[bytes[1] ?? -1] : undefined
  if (code === undefined) throw new TunnelWireError('malformed tunnel reply')
  return code
}
