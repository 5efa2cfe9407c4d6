import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http'
import { connect as netConnect, createServer as createNetServer, type Server } from 'node:net'
import fc from 'fast-check'
import {
  type ExitPolicy,
  type ExitRefusal,
  type Lookup,
  resolveExit,
} from '../../../node/relay/exit-policy.ts'
import {
  type SocksConnect,
  SocksReply,
  type SocksServer,
  type SocksTarget,
  startSocksServer,
} from '../../../node/proxy/socks5.ts'
import { sleep, waitFor } from '../../helpers/wait.ts'

const BIG = randomBytes(50 * 1024 * 1024)
const BIG_SHA256 = createHash('sha256').update(BIG).digest('hex')

const REFUSAL_REPLY: Record<ExitRefusal, SocksReply> = {
  policy: SocksReply.NotAllowed,
  port: SocksReply.NotAllowed,
  invalid: SocksReply.NotAllowed,
  unresolvable: SocksReply.HostUnreachable,
}
const ERROR_REPLY: Record<string, SocksReply> = {
  ECONNREFUSED: SocksReply.ConnectionRefused,
  ENETUNREACH: SocksReply.NetworkUnreachable,
  EHOSTUNREACH: SocksReply.HostUnreachable,
  ETIMEDOUT: SocksReply.TtlExpired,
}

/** A direct exit: the policy decides, then a TCP connection to exactly the address it checked. */
function policyConnect(policy: ExitPolicy, lookup?: Lookup, seen: SocksTarget[] = []): SocksConnect {
  return async (target, signal) => {
    seen.push(target)
    const decision = await resolveExit(target.host, target.port, policy, lookup)
    if (!decision.ok) return { ok: false, reply: REFUSAL_REPLY[decision.reason] }
    const socket = netConnect({ host: decision.address, port: target.port, signal })
    try {
      await once(socket, 'connect')
      return { ok: true, stream: socket }
    } catch (err) {
      socket.destroy()
      const code = (err as { code?: string }).code ?? ''
      return { ok: false, reply: ERROR_REPLY[code] ?? SocksReply.GeneralFailure }
    }
  }
}

const loopbackDns: Lookup = async name => {
  if (name === 'exit.test.') return [{ address: '127.0.0.1', family: 4 }]
  if (name === 'rebind.test.') return [{ address: '127.0.0.1', family: 4 }]
  throw Object.assign(new Error(`ENOTFOUND ${name}`), { code: 'ENOTFOUND' })
}

function serverConnections(server: Server | HttpServer): Promise<number> {
  return new Promise((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n))))
}

async function listen<T extends Server | HttpServer>(server: T, host: string): Promise<T & { port: number }> {
  server.listen(0, host)
  await once(server, 'listening')
  const address = server.address()
  assert.ok(address !== null && typeof address === 'object')
  return Object.assign(server, { port: address.port })
}

function webServer() {
  return createHttpServer((req, res) => {
    if (req.url === '/small') return void res.end('hello through weir\n')
    if (req.url === '/big') {
      res.setHeader('content-length', BIG.length)
      return void res.end(BIG)
    }
    if (req.url === '/endless') {
      const chunk = Buffer.alloc(64 * 1024, 7)
      const pump = () => {
        while (!res.destroyed && res.write(chunk));
      }
      res.on('drain', pump)
      return pump()
    }
    if (req.url === '/upload') {
      const hash = createHash('sha256')
      req.on('data', c => hash.update(c))
      req.on('end', () => res.end(hash.digest('hex')))
      return
    }
    res.statusCode = 404
    res.end()
  })
}

/** TCP service that hashes everything until the client half-closes, then answers and closes. */
function hashServer() {
  return createNetServer({ allowHalfOpen: true }, socket => {
    const hash = createHash('sha256')
    socket.on('data', c => hash.update(c))
    socket.on('end', () => socket.end(hash.digest('hex')))
    socket.on('error', () => socket.destroy())
  })
}

interface CurlResult {
  code: number | null
  sha256: string
  bytes: number
  body: string
  stderr: string
}

const children = new Set<ChildProcess>()

function curl(args: string[], onBytes?: (total: number, child: ChildProcess) => void): Promise<CurlResult> {
  const child = spawn('curl', ['--silent', '--show-error', '--max-time', '60', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.add(child)
  const hash = createHash('sha256')
  const head: Buffer[] = []
  let bytes = 0
  let stderr = ''
  child.stdout!.on('data', (c: Buffer) => {
    hash.update(c)
    if (bytes < 4096) head.push(c)
    bytes += c.length
    onBytes?.(bytes, child)
  })
  child.stderr!.on('data', c => (stderr += c))
  return new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('close', code => {
      children.delete(child)
      resolve({ code, sha256: hash.digest('hex'), bytes, body: Buffer.concat(head).toString(), stderr })
    })
  })
}

/** A raw SOCKS client: sends `bytes`, optionally half-closes, collects everything until the server closes. */
async function raw(
  port: number,
  bytes: Uint8Array | Uint8Array[],
  opts: { end?: boolean; ms?: number } = {},
) {
  const socket = netConnect({ host: '127.0.0.1', port, allowHalfOpen: true })
  socket.on('error', () => {})
  await once(socket, 'connect')
  const received: Buffer[] = []
  socket.on('data', c => received.push(c))
  // The server has finished talking once it half-closes; it is then up to the client to close.
  const closed = new Promise<void>(resolve => {
    socket.once('end', resolve)
    socket.once('close', resolve)
  })
  for (const part of Array.isArray(bytes) ? bytes : [bytes]) socket.write(part)
  if (opts.end ?? true) socket.end()
  const timeout = new Promise<'timeout'>(r => setTimeout(() => r('timeout'), opts.ms ?? 3000).unref())
  const outcome = await Promise.race([closed.then(() => 'closed' as const), timeout])
  socket.destroy()
  return { outcome, data: Buffer.concat(received) }
}

const GREETING = Uint8Array.of(5, 1, 0)

function connectRequest(host: string | Uint8Array, port: number, atyp?: number): Uint8Array {
  let address: Uint8Array
  let type: number
  if (typeof host === 'string' && /^\d+\.\d+\.\d+\.\d+$/.test(host)) {
    type = 1
    address = Uint8Array.from(host.split('.').map(Number))
  } else {
    type = 3
    const name = typeof host === 'string' ? Buffer.from(host, 'latin1') : host
    address = Uint8Array.of(name.length, ...name)
  }
  const p = Buffer.alloc(2)
  p.writeUInt16BE(port)
  return Uint8Array.of(5, 1, 0, atyp ?? type, ...address, ...p)
}

describe('SOCKS5 server', function () {
  this.timeout(60_000)
  let web: HttpServer & { port: number }
  let web6: (HttpServer & { port: number }) | undefined
  let hasher: Server & { port: number }
  let socks: SocksServer
  let targets: SocksTarget[]
  const extraServers: SocksServer[] = []

  before(async () => {
    web = await listen(webServer(), '127.0.0.1')
    hasher = await listen(hashServer(), '127.0.0.1')
    try {
      web6 = await listen(webServer(), '::1')
    } catch {
      web6 = undefined
    }
  })

  beforeEach(async () => {
    targets = []
    socks = await startSocksServer({
      connect: policyConnect({ allowPrivate: true }, loopbackDns, targets),
      handshakeTimeoutMs: 500,
    })
  })

  afterEach(async () => {
    for (const child of children) child.kill('SIGKILL')
    children.clear()
    await socks.close()
    assert.equal(socks.openConnections(), 0)
    for (const s of extraServers.splice(0)) await s.close()
    web.closeAllConnections()
    web6?.closeAllConnections()
  })

  after(() => {
    web.close()
    web6?.close()
    hasher.close()
  })

  const proxy = () => `127.0.0.1:${socks.address.port}`

  it('listens only where asked', async () => {
    assert.equal(socks.address.host, '127.0.0.1')
    const v6 = await startSocksServer({ host: '::1', connect: policyConnect({ allowPrivate: true }) })
    extraServers.push(v6)
    assert.equal(v6.address.host, '::1')
  })

  it('serves curl with remote DNS (--socks5-hostname): the name reaches the exit unresolved', async () => {
    const byIp = await curl(['--socks5-hostname', proxy(), `http://127.0.0.1:${web.port}/small`])
    assert.equal(byIp.code, 0, byIp.stderr)
    assert.equal(byIp.body, 'hello through weir\n')
    // exit.test exists only in the exit's resolver: curl can only succeed if it did not resolve it.
    const byName = await curl(['--socks5-hostname', proxy(), `http://exit.test:${web.port}/small`])
    assert.equal(byName.code, 0, byName.stderr)
    assert.equal(byName.body, 'hello through weir\n')
    assert.deepEqual(targets.at(-1), { host: 'exit.test', port: web.port, addressType: 'domain' })
    await waitFor(() => socks.openConnections() === 0, { what: 'connections to close' })
  })

  it('serves curl with IPv4 and IPv6 literals (--socks5)', async () => {
    const v4 = await curl(['--socks5', proxy(), `http://127.0.0.1:${web.port}/small`])
    assert.equal(v4.code, 0, v4.stderr)
    assert.equal(v4.body, 'hello through weir\n')
    assert.deepEqual(targets.at(-1), { host: '127.0.0.1', port: web.port, addressType: 'ipv4' })
    if (web6 === undefined) return
    const v6 = await curl(['--socks5', proxy(), `http://[::1]:${web6.port}/small`])
    assert.equal(v6.code, 0, v6.stderr)
    assert.equal(v6.body, 'hello through weir\n')
    assert.deepEqual(targets.at(-1), { host: '0:0:0:0:0:0:0:1', port: web6.port, addressType: 'ipv6' })
  })

  it('carries a 50 MB body intact (sha256) and a 10 MB upload', async () => {
    const down = await curl(['--socks5-hostname', proxy(), `http://127.0.0.1:${web.port}/big`])
    assert.equal(down.code, 0, down.stderr)
    assert.equal(down.bytes, BIG.length)
    assert.equal(down.sha256, BIG_SHA256)
    const upload = BIG.subarray(0, 10 * 1024 * 1024)
    const child = spawn(
      'curl',
      ['-sS', '--socks5-hostname', proxy(), '--data-binary', '@-', `http://exit.test:${web.port}/upload`],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    )
    children.add(child)
    let out = ''
    child.stdout.on('data', c => (out += c))
    child.stdin.end(upload)
    const [code] = await once(child, 'close')
    children.delete(child)
    assert.equal(code, 0)
    assert.equal(out, createHash('sha256').update(upload).digest('hex'))
    await waitFor(() => socks.openConnections() === 0, { what: 'connections to close' })
  })

  it('propagates half-close both ways and forwards data sent before the reply', async () => {
    const payload = randomBytes(3 * 1024 * 1024)
    // Greeting, request and payload in one go, then FIN: the target must see all of it and its end.
    const { outcome, data } = await raw(socks.address.port, [
      GREETING,
      connectRequest('127.0.0.1', hasher.port),
      payload,
    ])
    assert.equal(outcome, 'closed')
    assert.deepEqual([...data.subarray(0, 2)], [5, 0])
    assert.equal(data[3], SocksReply.Succeeded)
    assert.equal(data.subarray(12).toString(), createHash('sha256').update(payload).digest('hex'))
    await waitFor(() => socks.openConnections() === 0, { what: 'connections to close' })
  })

  describe('with the default exit policy', () => {
    beforeEach(async () => {
      await socks.close()
      socks = await startSocksServer({
        connect: policyConnect({ allowPrivate: false }, loopbackDns, targets),
      })
    })

    it('curl fails and the reply is 0x02 (not allowed by ruleset) for every loopback spelling', async () => {
      const result = await curl(['--socks5-hostname', proxy(), `http://127.0.0.1:${web.port}/small`])
      assert.notEqual(result.code, 0)
      assert.equal(result.bytes, 0)
      for (const host of [
        '127.0.0.1',
        'localhost',
        'rebind.test',
        '2130706433',
        '0x7f.1',
        '::ffff:127.0.0.1',
      ]) {
        const { data } = await raw(socks.address.port, [GREETING, connectRequest(host, web.port)])
        assert.deepEqual([...data], [5, 0, 5, SocksReply.NotAllowed, 0, 1, 0, 0, 0, 0, 0, 0], host)
      }
      const v6 = Uint8Array.of(5, 1, 0, 4, ...new Uint8Array(15), 1, 0, 80)
      const { data } = await raw(socks.address.port, [GREETING, v6])
      assert.equal(data[3], SocksReply.NotAllowed)
      await waitFor(() => socks.openConnections() === 0, { what: 'connections to close' })
    })
  })

  it('negotiates only no-auth, only CONNECT, only known address types', async () => {
    const noAuth = await raw(socks.address.port, Uint8Array.of(5, 2, 1, 2), { end: false })
    assert.equal(noAuth.outcome, 'closed')
    assert.deepEqual([...noAuth.data], [5, 0xff])
    const noMethods = await raw(socks.address.port, Uint8Array.of(5, 0), { end: false })
    assert.deepEqual([...noMethods.data], [5, 0xff])
    for (const cmd of [2, 3]) {
      const request = Uint8Array.of(5, cmd, 0, 1, 127, 0, 0, 1, 0, 80)
      const { outcome, data } = await raw(socks.address.port, [GREETING, request], { end: false })
      assert.equal(outcome, 'closed')
      assert.equal(data[3], SocksReply.CommandNotSupported)
    }
    const badType = await raw(socks.address.port, [GREETING, Uint8Array.of(5, 1, 0, 9, 1, 2, 3, 4, 0, 80)], {
      end: false,
    })
    assert.equal(badType.data[3], SocksReply.AddressTypeNotSupported)
    assert.equal(targets.length, 0)
    await waitFor(() => socks.openConnections() === 0, { what: 'connections to close' })
  })

  it('survives garbage, truncation, oversize names and slow clients, then serves the next request', async () => {
    const cases: Array<[string, Uint8Array[]]> = [
      ['http instead of socks', [Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')]],
      ['socks4', [Uint8Array.of(4, 1, 0, 80, 127, 0, 0, 1, 0)]],
      ['truncated greeting', [Uint8Array.of(5, 3, 0)]],
      ['truncated request', [GREETING, Uint8Array.of(5, 1, 0, 1, 127, 0)]],
      ['truncated name', [GREETING, Uint8Array.of(5, 1, 0, 3, 255, 97, 98)]],
      ['bad reserved byte', [GREETING, Uint8Array.of(5, 1, 7, 1, 127, 0, 0, 1, 0, 80)]],
      ['empty name', [GREETING, Uint8Array.of(5, 1, 0, 3, 0, 0, 80)]],
    ]
    for (const [what, bytes] of cases) {
      const { outcome, data } = await raw(socks.address.port, bytes)
      assert.equal(outcome, 'closed', what)
      assert.ok(data.length <= 12 && data[3] !== SocksReply.Succeeded, what)
    }
    // Oversize (255-byte) and binary names are refused with a reply, never connected.
    const oversize = await raw(socks.address.port, [GREETING, connectRequest('a'.repeat(255), 80)])
    assert.equal(oversize.data[3], SocksReply.NotAllowed)
    const binary = await raw(socks.address.port, [GREETING, connectRequest(Uint8Array.of(0x31, 0, 0x32), 80)])
    assert.equal(binary.data[3], SocksReply.HostUnreachable)

    // A slowloris client is cut off by the handshake bound (500 ms here) while still dribbling.
    const slow = netConnect({ host: '127.0.0.1', port: socks.address.port })
    slow.on('error', () => {})
    await once(slow, 'connect')
    const started = Date.now()
    const closed = new Promise(resolve => slow.once('close', resolve))
    const request = [...GREETING, ...connectRequest('exit.test', web.port)]
    for (let i = 0; i < request.length && !slow.destroyed; i++) {
      slow.write(Uint8Array.of(request[i]!))
      await sleep(100) // the dribbling is the attack
    }
    await closed
    assert.ok(Date.now() - started < 3000)

    // Random bytes go to a server whose exit reaches nothing but exit.test, so a random but well-formed
    // request can never open a connection to a real address.
    const fuzzed: SocksTarget[] = []
    const direct = policyConnect({ allowPrivate: true }, loopbackDns)
    const fuzz = await startSocksServer({
      handshakeTimeoutMs: 500,
      connect: async (target, signal) => {
        fuzzed.push(target)
        return target.host === 'exit.test'
          ? direct(target, signal)
          : { ok: false, reply: SocksReply.NotAllowed }
      },
    })
    extraServers.push(fuzz)
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 0, maxLength: 300 }),
        fc.boolean(),
        async (bytes, socksish) => {
          const input = socksish ? Uint8Array.of(5, 1, 0, 5, ...bytes) : bytes
          const { outcome } = await raw(fuzz.address.port, input)
          assert.equal(outcome, 'closed')
        },
      ),
      { numRuns: 150 },
    )
    assert.ok(
      fuzzed.every(t => t.host !== '' && t.port >= 0),
      'only well-formed targets reach connect',
    )
    await waitFor(() => fuzz.openConnections() === 0, { what: 'fuzzed connections to close' })

    for (const port of [socks.address.port, fuzz.address.port]) {
      const good = await curl([
        '--socks5-hostname',
        `127.0.0.1:${port}`,
        `http://exit.test:${web.port}/small`,
      ])
      assert.equal(good.code, 0, good.stderr)
      assert.equal(good.body, 'hello through weir\n')
    }
    await waitFor(() => socks.openConnections() === 0, { what: 'connections to close' })
  })

  it('leaves nothing open when clients vanish mid-handshake or mid-transfer', async () => {
    const half = netConnect({ host: '127.0.0.1', port: socks.address.port })
    await once(half, 'connect')
    half.write(Uint8Array.of(5, 1))
    await waitFor(() => socks.openConnections() === 1, { what: 'the server to see the client' })
    half.destroy()
    await waitFor(() => socks.openConnections() === 0, { what: 'connections to close', timeoutMs: 2000 })

    const upstreamBefore = await serverConnections(web)
    let killed = false
    const result = await curl(
      ['--socks5-hostname', proxy(), `http://exit.test:${web.port}/endless`],
      (n, child) => {
        if (n >= 8 * 1024 * 1024 && !killed) {
          killed = true
          child.kill('SIGKILL')
        }
      },
    )
    assert.ok(killed && result.code === null, 'curl was killed mid-transfer')
    await waitFor(() => socks.openConnections() === 0, {
      what: 'SOCKS connections to close',
      timeoutMs: 5000,
    })
    await waitFor(async () => (await serverConnections(web)) <= upstreamBefore, {
      what: 'upstream connections to close',
    })
  })

  it('bounds connect time, aborts a pending connect when asked, and closes with connections open', async () => {
    const aborted: string[] = []
    const hanging = await startSocksServer({
      connectTimeoutMs: 300,
      connect: (target, signal) =>
        new Promise(() => signal.addEventListener('abort', () => aborted.push(target.host), { once: true })),
    })
    extraServers.push(hanging)
    const { outcome, data } = await raw(hanging.address.port, [GREETING, connectRequest('slow.test', 80)], {
      end: false,
    })
    assert.equal(outcome, 'closed')
    assert.equal(data[3], SocksReply.HostUnreachable)
    assert.deepEqual(aborted, ['slow.test'])
    await waitFor(() => hanging.openConnections() === 0, { what: 'connections to close' })

    const client = netConnect({ host: '127.0.0.1', port: socks.address.port })
    client.on('error', () => {})
    await once(client, 'connect')
    client.write(Buffer.concat([GREETING, connectRequest('127.0.0.1', hasher.port)]))
    await waitFor(async () => (await serverConnections(hasher)) > 0, { what: 'the tunnel to open' })
    client.resume()
    const clientClosed = new Promise(resolve => client.once('close', resolve))
    await socks.close()
    assert.equal(socks.openConnections(), 0)
    await clientClosed
  })
})
