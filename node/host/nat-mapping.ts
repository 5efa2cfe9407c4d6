import { randomBytes } from 'node:crypto'
import { createSocket, type Socket } from 'node:dgram'

// How this machine's NAT maps one UDP socket towards different destinations (RFC 5780 §4.3), asked of
// STUN servers with Binding requests (RFC 8489). Hole punching needs the same outside port for every
// destination: a peer learns the port from a STUN server and sends to it. Only the one request is
// needed, so it is written here rather than pulled in with a STUN library.

/** A STUN server as `host:port` (the `stun:` prefix of an ICE URL may be given too). */
export type StunServer = string

export type MappingBehaviour =
  /** one outside address for every destination: peers can punch through */
  | { kind: 'endpoint-independent'; mapped: string }
  /** a new outside port per destination (a symmetric NAT): no hole can be punched */
  | { kind: 'endpoint-dependent'; mapped: string[] }
  /** fewer than two servers answered */
  | { kind: 'unknown'; reason: string }

const BINDING_REQUEST = 0x0001
const BINDING_SUCCESS = 0x0101
const MAGIC_COOKIE = 0x2112a442
const XOR_MAPPED_ADDRESS = 0x0020
const MAPPED_ADDRESS = 0x0001

export function parseStunServer(text: string): { host: string; port: number } {
  const m = /^(?:stun:)?(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(text)
  const port = Number(m?.[2])
  if (!m?.[1] || !(port > 0 && port < 65536))
    throw new RangeError(`a STUN server is host:port, e.g. stun.l.google.com:19302; got '${text}'`)
  return { host: m[1].replace(/^\[|\]$/g, ''), port }
}

export function bindingRequest(transaction: Uint8Array): Buffer {
  const message = Buffer.alloc(20)
  message.writeUInt16BE(BINDING_REQUEST, 0)
  message.writeUInt16BE(0, 2)
  message.writeUInt32BE(MAGIC_COOKIE, 4)
  message.set(transaction, 8)
  return message
}

/** The address:port a Binding success response for `transaction` reports, or undefined for anything else. */
export function mappedAddress(response: Buffer, transaction: Uint8Array): string | undefined {
  if (response.length < 20 || response.readUInt16BE(0) !== BINDING_SUCCESS) return undefined
  if (response.readUInt32BE(4) !== MAGIC_COOKIE || !response.subarray(8, 20).equals(transaction))
    return undefined
  const end = Math.min(response.length, 20 + response.readUInt16BE(2))
  let plain: string | undefined
  for (let at = 20; at + 4 <= end; ) {
    const type = response.readUInt16BE(at)
    const length = response.readUInt16BE(at + 2)
    const value = response.subarray(at + 4, at + 4 + length)
    if (value.length === length && length >= 8 && value[1] === 0x01) {
      if (type === XOR_MAPPED_ADDRESS) {
        const port = value.readUInt16BE(2) ^ (MAGIC_COOKIE >>> 16)
        const ip = (value.readUInt32BE(4) ^ MAGIC_COOKIE) >>> 0
        return `${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}:${port}`
      }
      if (type === MAPPED_ADDRESS)
        plain = `${value[4]}.${value[5]}.${value[6]}.${value[7]}:${value.readUInt16BE(2)}`
    }
    at += 4 + Math.ceil(length / 4) * 4
  }
  return plain
}

/** Asks one server, from `socket`, where it sees us; retransmits twice (RFC 8489 §6.2.1, shortened). */
function ask(socket: Socket, server: StunServer, timeoutMs: number): Promise<string | undefined> {
  const { host, port } = parseStunServer(server)
  const transaction = randomBytes(12)
  const request = bindingRequest(transaction)
  return new Promise(resolve => {
    const timers = [0, timeoutMs / 4, timeoutMs / 2].map(delay =>
      setTimeout(() => socket.send(request, port, host, () => {}), delay),
    )
    const done = (answer: string | undefined) => {
      for (const t of timers) clearTimeout(t)
      clearTimeout(deadline)
      socket.off('message', heard)
      resolve(answer)
    }
    const heard = (message: Buffer) => {
      const mapped = mappedAddress(message, transaction)
      if (mapped !== undefined) done(mapped)
    }
    const deadline = setTimeout(() => done(undefined), timeoutMs)
    socket.on('message', heard)
  })
}

/** Sends Binding requests from one socket to up to three servers and compares the addresses they saw. */
export async function natMapping(servers: StunServer[], timeoutMs = 3000): Promise<MappingBehaviour> {
  const socket = createSocket('udp4')
  socket.on('error', () => {})
  await new Promise<void>(resolve => socket.bind(0, resolve))
  try {
    const answers = await Promise.all(servers.slice(0, 3).map(s => ask(socket, s, timeoutMs)))
    const mapped = [...new Set(answers.filter(a => a !== undefined))]
    const answered = answers.filter(a => a !== undefined).length
    if (answered < 2)
      return {
        kind: 'unknown',
        reason: `${answered} of ${servers.length} STUN servers answered (2 are needed)`,
      }
    return mapped.length === 1
      ? { kind: 'endpoint-independent', mapped: mapped[0] as string }
      : { kind: 'endpoint-dependent', mapped }
  } finally {
    socket.close()
  }
}
