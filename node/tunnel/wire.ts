import { randomInt } from 'node:crypto'
import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'

// The tunnel handshake: one length-prefixed request, one length-prefixed reply, then raw bytes.
//   request  = version(1) kind(1) padding  body   kind 1 (exit): port(u16 BE) host(ASCII, 1..255)
//                                                  kind 2 (hop):  relay PeerId (base58 text)
//                                                  kind 3 (forwarded): empty
//   reply    = version(1) code(1) padding
//   padding  = length(1) zero bytes(length)
// Every message carries a random amount of padding, so no message of the handshake has a fixed size:
// a relay cannot tell a witness's probe from a user's tunnel by the sizes of its frames. The padding
// is zeros, so each message has one encoding for a given padding length. A relay opening a tunnel for a
// hop sends `forwarded` first, so the next relay knows the request that follows came through a relay
// and refuses to extend the circuit further: circuits have at most two relays.
//
// Two hops telescope: after `forwarded`, the client and the second relay run a libp2p Noise handshake
// (XX, with `exitChannelPrologue`) through the first relay, and the exit request and its reply travel
// inside that channel, as does everything after them. The first relay sees the second relay's PeerId
// (it dials it) and ciphertext, never the destination.

export const WIRE_VERSION = 3
export const MAX_PADDING = 255
/** The largest request frame a relay reads; anything longer is refused before it is buffered. */
export const MAX_REQUEST_BYTES = 3 + MAX_PADDING + 2 + 255
/** The largest reply frame a client reads. */
export const MAX_REPLY_BYTES = 3 + MAX_PADDING

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

/**
 * The Noise prologue of the channel a client runs to the second relay of a circuit: both ends hash it
 * into the handshake, so a channel of one network, protocol or wire version completes in no other.
 */
export function exitChannelPrologue(networkId: string): Uint8Array {
  return new TextEncoder().encode(`/weir/${networkId}/tunnel/1.0.0 exit channel v${WIRE_VERSION}`)
}

/** A padding length drawn uniformly from 0..MAX_PADDING with the OS's CSPRNG. */
export const randomPadding = (): number => randomInt(MAX_PADDING + 1)

function checkPadding(padding: number): void {
  if (!Number.isInteger(padding) || padding < 0 || padding > MAX_PADDING) {
    throw new TunnelWireError(`invalid padding length ${padding}`)
  }
}

/** `version kind padding body`; the padding length is random unless given (test vectors give it). */
export function encodeRequest(target: TunnelRequest, padding = randomPadding()): Uint8Array {
  checkPadding(padding)
  let body: Uint8Array = new Uint8Array(0)
  if (target.kind === 'exit') {
    if (!HOST.test(target.host)) throw new TunnelWireError(`invalid target host '${target.host}'`)
    if (!Number.isInteger(target.port) || target.port < 1 || target.port > 65535) {
      throw new TunnelWireError(`invalid target port ${target.port}`)
    }
    body = Buffer.concat([
      Uint8Array.of(target.port >> 8, target.port & 0xff),
      Buffer.from(target.host, 'ascii'),
    ])
  } else if (target.kind === 'hop') body = Buffer.from(target.relay.toString(), 'ascii')
  const kind = target.kind === 'exit' ? KIND_EXIT : target.kind === 'hop' ? KIND_HOP : KIND_FORWARDED
  const out = new Uint8Array(3 + padding + body.length)
  out.set([WIRE_VERSION, kind, padding])
  out.set(body, 3 + padding)
  return out
}

/** The version byte of a frame: an older or newer peer gets an error that says so. */
function checkVersion(bytes: Uint8Array, what: string): void {
  if (bytes.length > 0 && bytes[0] !== WIRE_VERSION) {
    throw new TunnelWireError(
      `tunnel ${what} of wire version ${bytes[0]}; this node speaks version ${WIRE_VERSION} (upgrade the older side)`,
    )
  }
}

/** The bytes after a frame's padding; throws unless the padding is whole and all zeros. */
function afterPadding(bytes: Uint8Array, at: number): Uint8Array {
  const padding = bytes[at]
  if (padding === undefined || bytes.length < at + 1 + padding) throw new TunnelWireError('truncated padding')
  for (let i = at + 1; i < at + 1 + padding; i++) {
    if (bytes[i] !== 0) throw new TunnelWireError('non-zero padding')
  }
  return bytes.subarray(at + 1 + padding)
}

/** Strict: wrong version, unknown kind, bad padding, host or port, or a non-canonical PeerId is an error. */
export function decodeRequest(bytes: Uint8Array): TunnelRequest {
  if (bytes.length > MAX_REQUEST_BYTES) throw new TunnelWireError('request too long')
  if (bytes.length < 2) throw new TunnelWireError('request too short')
  checkVersion(bytes, 'request')
  const kind = bytes[1]
  if (kind !== KIND_EXIT && kind !== KIND_HOP && kind !== KIND_FORWARDED)
    throw new TunnelWireError(`unknown request kind ${kind}`)
  const body = afterPadding(bytes, 2)
  if (kind === KIND_FORWARDED) {
    if (body.length !== 0) throw new TunnelWireError('trailing bytes after forwarded')
    return { kind: 'forwarded' }
  }
  if (kind === KIND_EXIT) {
    const port = ((body[0] ?? 0) << 8) | (body[1] ?? 0)
    if (body.length < 3 || port === 0) throw new TunnelWireError('invalid exit port')
    const host = Buffer.from(body.subarray(2)).toString('latin1')
    if (!HOST.test(host)) throw new TunnelWireError('invalid exit host')
    return { kind: 'exit', host, port }
  }
  const text = Buffer.from(body).toString('latin1')
  let relay: PeerId
  try {
    relay = peerIdFromString(text)
  } catch {
    throw new TunnelWireError('invalid relay peer id')
  }
  if (relay.toString() !== text) throw new TunnelWireError('non-canonical relay peer id')
  return { kind: 'hop', relay }
}

/** `version code padding`; the padding length is random unless given. */
export function encodeReply(code: ReplyCode, padding = randomPadding()): Uint8Array {
  checkPadding(padding)
  const out = new Uint8Array(3 + padding)
  out.set([WIRE_VERSION, REPLY_CODES.indexOf(code), padding])
  return out
}

export function decodeReply(bytes: Uint8Array): ReplyCode {
  if (bytes.length > MAX_REPLY_BYTES) throw new TunnelWireError('reply too long')
  checkVersion(bytes, 'reply')
  const code = bytes.length >= 3 ? REPLY_CODES[bytes[1] as number] : undefined
  if (code === undefined || afterPadding(bytes, 2).length !== 0)
    throw new TunnelWireError('malformed tunnel reply')
  return code
}
