// Local HTTP proxy entry: CONNECT only (RFC 9110 §9.3.6), the way browsers and most HTTP clients tunnel
// TLS and anything else through a proxy. Plain-HTTP forwarding (absolute-form GETs) is not offered: the
// proxy would have to parse and rewrite the client's requests, where CONNECT passes bytes through.
// The target opens through the same `connect` as the SOCKS5 listener, and its replies map onto statuses.
import { createServer, type IncomingMessage } from 'node:http'
import { isIP, type Socket } from 'node:net'
import { pipeline } from 'node:stream'
import { type SocksConnect, SocksReply, type SocksTarget } from './socks5.ts'
import { listenTcp } from '../host/listen.ts'

export interface HttpConnectServerOptions {
  /** Address to listen on; 127.0.0.1 unless the caller asks otherwise. */
  host?: string
  port?: number
  connect: SocksConnect
  /** Bound on the request head (slow or silent clients). */
  headersTimeoutMs?: number
  /** Bound on `connect`; on expiry the client gets 504. */
  connectTimeoutMs?: number
}

export interface HttpConnectServer {
  address: { host: string; port: number }
  close(): Promise<void>
}

const STATUS: Record<SocksReply, [number, string]> = {
  [SocksReply.Succeeded]: [200, 'Connection Established'],
  [SocksReply.GeneralFailure]: [502, 'Bad Gateway'],
  [SocksReply.NotAllowed]: [403, 'Forbidden'],
  [SocksReply.NetworkUnreachable]: [502, 'Bad Gateway'],
  [SocksReply.HostUnreachable]: [502, 'Bad Gateway'],
  [SocksReply.ConnectionRefused]: [502, 'Bad Gateway'],
  [SocksReply.TtlExpired]: [504, 'Gateway Timeout'],
  [SocksReply.CommandNotSupported]: [405, 'Method Not Allowed'],
  [SocksReply.AddressTypeNotSupported]: [400, 'Bad Request'],
}

export async function startHttpConnectServer(options: HttpConnectServerOptions): Promise<HttpConnectServer> {
  const connectTimeoutMs = options.connectTimeoutMs ?? 30_000
  const server = createServer((req, res) => {
    const body = `weir proxy tunnels with CONNECT only: configure it as an HTTP proxy (not as a web server), or use its SOCKS5 listener; got ${req.method}\n`
    res.writeHead(405, { allow: 'CONNECT', 'content-type': 'text/plain', connection: 'close' }).end(body)
  })
  server.headersTimeout = options.headersTimeoutMs ?? 10_000
  server.requestTimeout = server.headersTimeout
  const clients = new Set<Socket>()
  server.on('connection', (socket: Socket) => {
    socket.setNoDelay(true)
    clients.add(socket)
    socket.once('close', () => clients.delete(socket))
  })
  server.on(
    'connect',
    (req: IncomingMessage, socket: Socket, head: Buffer) =>
      void tunnel(req, socket, head, options.connect, connectTimeoutMs),
  )
  const address = await listenTcp(server, options.host ?? '127.0.0.1', options.port ?? 0)
  return {
    address,
    close: async () => {
      const closed = new Promise<void>(resolve => server.close(() => resolve()))
      for (const socket of clients) socket.destroy()
      await closed
    },
  }
}

async function tunnel(
  req: IncomingMessage,
  socket: Socket,
  head: Buffer,
  connect: SocksConnect,
  connectTimeoutMs: number,
): Promise<void> {
  socket.on('error', () => socket.destroy())
  const target = parseAuthority(req.url ?? '')
  if (target === undefined) {
    return refuse(socket, 400, 'Bad Request', `CONNECT expects host:port or [IPv6]:port, got '${req.url}'`)
  }
  const handshakeBytes = socket.bytesRead - head.length
  const abort = new AbortController()
  const timer = setTimeout(() => abort.abort(), connectTimeoutMs)
  const onClose = () => abort.abort()
  socket.once('close', onClose)
  const attempt = connect(target, abort.signal).catch(() => ({
    ok: false as const,
    reply: SocksReply.GeneralFailure,
    reason: 'internal error',
  }))
  const aborted = new Promise<undefined>(resolve =>
    abort.signal.addEventListener('abort', () => resolve(undefined), { once: true }),
  )
  const result = await Promise.race([attempt, aborted])
  clearTimeout(timer)
  socket.off('close', onClose)
  if (result === undefined) {
    void attempt.then(late => late.ok && late.stream.destroy())
    return refuse(socket, 504, 'Gateway Timeout', `no tunnel to ${req.url} within ${connectTimeoutMs} ms`)
  }
  if (!result.ok) {
    const [status, text] = STATUS[result.reply]
    return refuse(socket, status, text, result.reason ?? text)
  }
  const stream = result.stream
  if (socket.destroyed) return void stream.destroy()
  socket.write('HTTP/1.1 200 Connection Established\r\n\r\n')
  const repliedBytes = socket.bytesWritten
  result.track?.({
    up: () => socket.bytesRead - handshakeBytes,
    down: () => socket.bytesWritten - repliedBytes,
  })
  if (head.length > 0) stream.write(head)
  const fail = (err: Error | null | undefined) => {
    if (!err) return
    socket.destroy()
    stream.destroy()
  }
  pipeline(socket, stream, fail)
  pipeline(stream, socket, fail)
}

function refuse(socket: Socket, status: number, text: string, reason: string): void {
  if (socket.destroyed) return
  const body = `${reason}\n`
  socket.end(
    `HTTP/1.1 ${status} ${text}\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  )
}

/** `host:port` or `[IPv6]:port`, as CONNECT's authority-form gives it. */
export function parseAuthority(text: string): SocksTarget | undefined {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9._-]+)):(\d{1,5})$/.exec(text)
  const port = Number(m?.[3])
  if (!m || port < 1 || port > 65535) return undefined
  const host = (m[1] ?? m[2]) as string
  const family = isIP(host)
  if (m[1] !== undefined && family !== 6) return undefined
  return { host, port, addressType: family === 6 ? 'ipv6' : family === 4 ? 'ipv4' : 'domain' }
}
