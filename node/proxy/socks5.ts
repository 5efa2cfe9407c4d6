// Local SOCKS5 entry (RFC 1928): no authentication, CONNECT only, IPv4, IPv6 and domain targets. Domain
// names are passed through unresolved so they are resolved, and policed, at the exit.
//
// Where the bytes go is the caller's `connect`; it returns a plain Node `Duplex`. Contract for that stream:
// - writing to it sends toward the target, reading from it yields the target's bytes;
// - `end()` half-closes toward the target, and the stream ends its readable side when the target does;
// - `destroy()` tears both directions down at once;
// - it emits 'close' once both directions are finished or it is destroyed (Node's default, autoDestroy).
// A libp2p v3 stream fits with a small adapter: `_write` → `stream.send(chunk)` (await `onDrain()` when it
// returns false), `_final` → `stream.close()`, `_destroy` → `stream.abort(err)`, and push every chunk of
// `for await (const chunk of stream)` (`.subarray()` for Uint8ArrayList), then push(null).
import { createServer, type Socket } from 'node:net'
import { type Duplex, pipeline } from 'node:stream'
import { listenTcp } from '../host/listen.ts'

export const SocksReply = {
  Succeeded: 0x00,
  GeneralFailure: 0x01,
  NotAllowed: 0x02,
  NetworkUnreachable: 0x03,
  HostUnreachable: 0x04,
  ConnectionRefused: 0x05,
  TtlExpired: 0x06,
  CommandNotSupported: 0x07,
  AddressTypeNotSupported: 0x08,
} as const
export type SocksReply = (typeof SocksReply)[keyof typeof SocksReply]

export interface SocksTarget {
  /** Dotted IPv4, full-form IPv6 without brackets, or the domain name exactly as the client sent it. */
  host: string
  port: number
  addressType: 'ipv4' | 'ipv6' | 'domain'
}

/** Bytes a client connection has carried so far, after its SOCKS or HTTP handshake. */
export interface Traffic {
  /** from the client towards the target */
  up(): number
  /** from the target back to the client */
  down(): number
}

export type SocksConnectResult =
  | {
      ok: true
      stream: Duplex
      /** Given the connection's live byte counts once the server starts piping. */
      track?: (traffic: Traffic) => void
    }
  | {
      ok: false
      reply: SocksReply
      /** Why, in words (the HTTP listener sends it to the client). */
      reason?: string
    }

/** Opens the path to a target. `signal` aborts when the client leaves, the server closes or time runs out. */
export type SocksConnect = (target: SocksTarget, signal: AbortSignal) => Promise<SocksConnectResult>

export interface SocksServerOptions {
  /** Address to listen on; 127.0.0.1 unless the caller asks otherwise. */
  host?: string
  port?: number
  connect: SocksConnect
  /** Bound on the greeting and request together (slow or silent clients). */
  handshakeTimeoutMs?: number
  /** Bound on `connect`; on expiry the client gets HostUnreachable (0x04). */
  connectTimeoutMs?: number
}

export interface SocksServer {
  address: { host: string; port: number }
  close(): Promise<void>
  /** Client connections whose socket or upstream stream is not yet closed. */
  openConnections(): number
}

const VERSION = 0x05
const NO_AUTH = 0x00
const NO_ACCEPTABLE_METHOD = 0xff
const CMD_CONNECT = 0x01
const ATYP_IPV4 = 0x01
const ATYP_DOMAIN = 0x03
const ATYP_IPV6 = 0x04

export async function startSocksServer(options: SocksServerOptions): Promise<SocksServer> {
  const handshakeTimeoutMs = options.handshakeTimeoutMs ?? 10_000
  const connectTimeoutMs = options.connectTimeoutMs ?? 30_000
  const live = new Set<() => void>()
  let drained: (() => void) | undefined

  const server = createServer({ allowHalfOpen: true, noDelay: true }, socket => {
    const stop = serve(socket, options.connect, handshakeTimeoutMs, connectTimeoutMs, () => {
      live.delete(stop)
      if (live.size === 0) drained?.()
    })
    live.add(stop)
  })
  const address = await listenTcp(server, options.host ?? '127.0.0.1', options.port ?? 0)
  return {
    address,
    openConnections: () => live.size,
    close: async () => {
      const closed = new Promise<void>(resolve => server.close(() => resolve()))
      const empty = new Promise<void>(resolve => (drained = resolve))
      for (const stop of [...live]) stop()
      if (live.size > 0) await empty
      await closed
    },
  }
}

type Parsed<T> = { value: T; length: number } | 'incomplete' | { reply: SocksReply } | 'garbage'

/** Serves one client; returns a function that tears it down. `done` runs once everything is closed. */
function serve(
  socket: Socket,
  connect: SocksConnect,
  handshakeTimeoutMs: number,
  connectTimeoutMs: number,
  done: () => void,
): () => void {
  const abort = new AbortController()
  let upstream: Duplex | undefined
  let socketClosed = false
  let upstreamClosed = true
  let finished = false
  const settle = () => {
    if (finished || !socketClosed || !upstreamClosed) return
    finished = true
    clearTimeout(timer)
    done()
  }
  const stop = () => {
    abort.abort()
    socket.destroy()
    upstream?.destroy()
  }
  socket.once('close', () => {
    socketClosed = true
    abort.abort()
    upstream?.destroy()
    settle()
  })
  socket.on('error', () => socket.destroy())
  let timer = setTimeout(stop, handshakeTimeoutMs)

  // After a refusal, let the reply reach the client, then close even if the client does not.
  const refuse = (bytes: Uint8Array) => {
    if (socket.destroyed) return
    socket.removeListener('data', onData)
    socket.removeListener('end', onEarlyEnd)
    socket.on('data', () => {})
    socket.on('end', () => socket.destroy())
    socket.resume()
    socket.end(bytes)
    clearTimeout(timer)
    timer = setTimeout(stop, handshakeTimeoutMs)
  }

  let buffer: Buffer = Buffer.alloc(0)
  let handshakeBytes = 0
  let stage: 'greeting' | 'request' = 'greeting'
  const onEarlyEnd = () => socket.destroy()
  const onData = (chunk: Buffer) => {
    buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk])
    if (stage === 'greeting') {
      const greeting = parseGreeting(buffer)
      if (greeting === 'incomplete') return
      if (greeting === 'garbage' || 'reply' in greeting) return void socket.destroy()
      buffer = buffer.subarray(greeting.length)
      if (!greeting.value.includes(NO_AUTH)) return refuse(Uint8Array.of(VERSION, NO_ACCEPTABLE_METHOD))
      socket.write(Uint8Array.of(VERSION, NO_AUTH))
      stage = 'request'
    }
    const request = parseRequest(buffer)
    if (request === 'incomplete') return
    if (request === 'garbage') return void socket.destroy()
    if ('reply' in request) return refuse(reply(request.reply))
    socket.pause()
    socket.removeListener('data', onData)
    socket.removeListener('end', onEarlyEnd)
    const rest = buffer.subarray(request.length)
    if (rest.length > 0) socket.unshift(rest)
    handshakeBytes = socket.bytesRead - rest.length
    clearTimeout(timer)
    timer = setTimeout(() => abort.abort(), connectTimeoutMs)
    void open(request.value)
  }
  socket.on('data', onData)
  socket.on('end', onEarlyEnd)

  const open = async (target: SocksTarget) => {
    const attempt = connect(target, abort.signal).catch(
      (): SocksConnectResult => ({ ok: false, reply: SocksReply.GeneralFailure }),
    )
    const aborted = new Promise<undefined>(resolve =>
      abort.signal.addEventListener('abort', () => resolve(undefined), { once: true }),
    )
    const result = await Promise.race([attempt, aborted])
    if (result === undefined) {
      // Timed out, client gone or server closing: a stream that still arrives is not wanted.
      void attempt.then(late => late.ok && late.stream.destroy())
      return refuse(reply(SocksReply.HostUnreachable))
    }
    if (!result.ok) return refuse(reply(result.reply))
    const stream = result.stream
    upstream = stream
    upstreamClosed = stream.destroyed && stream.closed
    if (!upstreamClosed) {
      stream.once('close', () => {
        upstreamClosed = true
        settle()
      })
    }
    clearTimeout(timer)
    if (socketClosed || abort.signal.aborted) return void stream.destroy()
    socket.write(reply(SocksReply.Succeeded))
    const repliedBytes = socket.bytesWritten
    result.track?.({
      up: () => socket.bytesRead - handshakeBytes,
      down: () => socket.bytesWritten - repliedBytes,
    })
    const fail = (err: Error | null | undefined) => {
      if (err) stop()
    }
    // Each direction ends the other's writable side when it ends (half-close); an error anywhere
    // destroys both, so nothing is left half-dead.
    pipeline(socket, stream, fail)
    pipeline(stream, socket, fail)
    socket.resume()
  }
  return stop
}

function parseGreeting(b: Buffer): Parsed<Uint8Array> {
  if (b.length < 2) return 'incomplete'
  if (b[0] !== VERSION) return 'garbage'
  const n = b[1]!
  if (b.length < 2 + n) return 'incomplete'
  return { value: b.subarray(2, 2 + n), length: 2 + n }
}

function parseRequest(b: Buffer): Parsed<SocksTarget> {
  if (b.length < 4) return 'incomplete'
  if (b[0] !== VERSION || b[2] !== 0x00) return 'garbage'
  if (b[1] !== CMD_CONNECT) return { reply: SocksReply.CommandNotSupported }
  const atyp = b[3]
  let host: string
  let addressType: SocksTarget['addressType']
  let end: number
  if (atyp === ATYP_IPV4) {
    end = 4 + 4
    if (b.length < end + 2) return 'incomplete'
    host = Array.from(b.subarray(4, end)).join('.')
    addressType = 'ipv4'
  } else if (atyp === ATYP_IPV6) {
    end = 4 + 16
    if (b.length < end + 2) return 'incomplete'
    const words: string[] = []
    for (let i = 4; i < end; i += 2) words.push(b.readUInt16BE(i).toString(16))
    host = words.join(':')
    addressType = 'ipv6'
  } else if (atyp === ATYP_DOMAIN) {
    if (b.length < 5) return 'incomplete'
    end = 5 + b[4]!
    if (b.length < end + 2) return 'incomplete'
    const name = b.subarray(5, end)
    // Only printable ASCII goes further: clients send IDNs as punycode, anything else is garbage.
    if (name.length === 0 || !name.every(c => c > 0x20 && c < 0x7f))
      return { reply: SocksReply.HostUnreachable }
    host = name.toString('latin1')
    addressType = 'domain'
  } else {
    return { reply: SocksReply.AddressTypeNotSupported }
  }
  return { value: { host, port: b.readUInt16BE(end), addressType }, length: end + 2 }
}

/** Replies carry an unspecified bound address: the real one is at the far end of the tunnel. */
function reply(code: SocksReply): Uint8Array {
  return Uint8Array.of(VERSION, code, 0x00, ATYP_IPV4, 0, 0, 0, 0, 0, 0)
}
