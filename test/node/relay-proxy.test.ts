import assert from 'node:assert/strict'
import type { ChildProcess } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { createSocket, type Socket } from 'node:dgram'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { connect, isIPv4, isIPv6 } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { createHost, protocolId } from '../../node/host/host.ts'
import { decodeReply, encodeRequest } from '../../node/tunnel/wire.ts'
import { waitFor } from '../helpers/wait.ts'
import { exited, Processes } from './processes.ts'

// End to end with real processes on 127.0.0.1: `weir relay` and `weir proxy` started from the CLI,
// curl as the SOCKS5 client, a local HTTP server as the target.

interface RelayInfo {
  peerId: string
  addresses: string[]
  status: string
}

const BIG = randomBytes(50 * 1024 * 1024)
const BIG_SHA = createHash('sha256').update(BIG).digest('hex')
const CAP = 5_000_000
const CAP_SECONDS = 15

describe('weir relay and weir proxy (real processes, curl)', function () {
  this.timeout(120_000)
  const procs = new Processes()
  let work: string
  let networkId: string
  let web: Server
  let webPort: number
  let webConnections = 0
  const relays: Record<string, RelayInfo> = {}
  const socks: Record<string, number> = {}
  let killableProxy: ChildProcess
  let dnsServer: Socket | undefined
  const dnsQueries: string[] = []

  function initRelayDir(dir: string): void {
    procs.run([
      'init',
      '--dir',
      dir,
      '--network',
      join(work, 'net', 'network.json'),
      '--payout',
      `0x${'ab'.repeat(20)}`,
    ])
  }

  async function startRelay(name: string, flags: string[]): Promise<RelayInfo> {
    const dir = join(work, name)
    initRelayDir(dir)
    const { info } = await procs.start<RelayInfo>([
      'relay',
      '--dir',
      dir,
      '--status',
      '127.0.0.1:0',
      ...flags,
    ])
    relays[name] = info
    return info
  }

  async function startProxy(name: string, flags: string[]): Promise<ChildProcess> {
    const { child, info } = await procs.start<{ socks: string }>([
      'proxy',
      '--socks',
      '127.0.0.1:0',
      ...flags,
    ])
    socks[name] = Number(info.socks.split(':').pop())
    return child
  }

  async function status(relay: string): Promise<{ openTunnels: number; tunnels: number }> {
    return (await fetch(`http://${relays[relay]!.status}/status`)).json() as Promise<{
      openTunnels: number
      tunnels: number
    }>
  }

  const openTunnels = (relay: string, n: number) =>
    waitFor(async () => (await status(relay)).openTunnels === n, {
      what: `${n} open tunnels at relay ${relay}`,
      timeoutMs: 15_000,
      intervalMs: 100,
    })

  /** curl through a proxy; resolves with the body's sha256, its length and curl's exit code. */
  function curl(proxy: string, path: string, extra: string[] = []) {
    const child = procs.spawn('curl', [
      '-sS',
      '--socks5-hostname',
      `127.0.0.1:${socks[proxy]}`,
      ...extra,
      `http://127.0.0.1:${webPort}${path}`,
    ])
    const hash = createHash('sha256')
    let bytes = 0
    child.stdout!.on('data', (d: Buffer) => {
      hash.update(d)
      bytes += d.length
    })
    const result = exited(child).then(code => ({ code, bytes, sha: hash.digest('hex') }))
    return { child, result, bytesSoFar: () => bytes }
  }

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'weir-e2e-'))
    web = createServer((req, res) => {
      if (req.url === '/big') return res.end(BIG)
      const stream = /^\/bytes\/(\d+)$/.exec(req.url ?? '')
      if (stream) return sendBytes(res, Number(stream[1]))
      res.end('hello through weir\n')
    })
    web.on('connection', () => webConnections++)
    await new Promise<void>(resolve => web.listen(0, '127.0.0.1', resolve))
    webPort = (web.address() as { port: number }).port

    const dns = createSocket('udp4')
    dns.on('message', (query, peer) => {
      const answer = loopbackAnswer(query)
      dnsQueries.push(answer.name)
      dns.send(answer.reply, peer.port, peer.address)
    })
    await new Promise<void>(resolve => dns.bind(0, '127.0.0.1', resolve))
    dnsServer = dns
    const dnsPort = dns.address().port

    procs.run(['network', 'new', '--out', join(work, 'net'), '--witnesses', '1', '--committee', '1'])
    networkId = JSON.parse(readFileSync(join(work, 'net', 'network.json'), 'utf8')).id
    const a = await startRelay('a', ['--allow-private-exits'])
    await Promise.all([
      startRelay('b', ['--allow-private-exits', '--bootstrap', a.addresses[0]!]),
      startRelay('strict', ['--exit-dns', `127.0.0.1:${dnsPort}`]),
      startRelay('capped', ['--allow-private-exits', '--max-bandwidth', '5MB/s']),
    ])
    await Promise.all([
      startProxy('one', ['--relay', a.addresses[0]!]),
      startProxy('two', ['--relay', a.addresses[0]!, '--relay', relays.b!.addresses[0]!, '--hops', '2']),
      startProxy('strict', ['--relay', relays.strict!.addresses[0]!]),
      startProxy('capped', ['--relay', relays.capped!.addresses[0]!]),
      startProxy('killable', ['--relay', a.addresses[0]!]).then(child => {
        killableProxy = child
      }),
    ])
  })

  after(async () => {
    procs.killAll()
    dnsServer?.close()
    web?.closeAllConnections()
    web?.close()
    if (work) rmSync(work, { recursive: true, force: true })
  })

  it('fetches pages byte for byte through one relay and through two, including 50 MB', async () => {
    for (const proxy of ['one', 'two']) {
      const small = await curl(proxy, '/').result
      assert.deepEqual(small, {
        code: 0,
        bytes: 19,
        sha: createHash('sha256').update('hello through weir\n').digest('hex'),
      })
      const big = await curl(proxy, '/big').result
      assert.deepEqual(big, { code: 0, bytes: BIG.length, sha: BIG_SHA })
    }
    await openTunnels('a', 0)
    await openTunnels('b', 0)
    assert((await status('b')).tunnels >= 2, 'the two-hop circuits went through relay b')
  })

  it('refuses every loopback, private and metadata spelling with reply 0x02 and never connects', async () => {
    const loopbackName = 'rebind.weir.test' // the relay's DNS server (below) answers 127.0.0.1
    const targets = [
      '127.0.0.1',
      'localhost',
      '::1',
      '::ffff:127.0.0.1',
      '0.0.0.0',
      '2130706433',
      '0x7f000001',
      '0177.0.0.1',
      '127.1',
      '10.0.0.1',
      '172.16.0.1',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      'fd00::1',
      'fe80::1',
      loopbackName,
    ]
    const before = webConnections
    for (const target of targets) {
      assert.equal(await socksReply(socks.strict!, target, webPort), 0x02, `reply for ${target}`)
    }
    assert.equal(webConnections, before, 'no connection reached the target')
    assert(
      dnsQueries.some(q => q.startsWith(loopbackName)),
      'the name was resolved, then refused',
    )
    const viaCurl = await curl('strict', '/').result
    assert.equal(viaCurl.code, 97, 'curl reports the SOCKS refusal')
  })

  it('refuses malformed tunnel requests, resets slow ones, and keeps serving', async function () {
    this.timeout(30_000)
    const client = await createHost({ local: true, networkId, privateKey: await generateKeyPair('Ed25519') })
    try {
      const relayA = multiaddr(relays.a!.addresses[0]!)
      const open = () => client.dialProtocol(relayA, protocolId(networkId, 'tunnel'))
      for (const request of [randomBytes(64), randomBytes(4000)]) {
        const lp = lpStream(await open())
        await lp.write(request)
        assert.equal(decodeReply((await lp.read()).subarray()), 'bad-request')
      }
      const frame = lengthPrefixed(encodeRequest({ kind: 'exit', host: '127.0.0.1', port: webPort }))
      const truncated = await open()
      truncated.send(frame.subarray(0, frame.length - 3))
      const slow = await open()
      const drip = setInterval(() => {
        if (slow.writeStatus === 'writable') slow.send(frame.subarray(0, 1))
      }, 1000)
      const resets = [truncated, slow].map(
        s => new Promise(r => s.addEventListener('close', r, { once: true })),
      )
      // Other clients are served while those handshakes hang.
      assert.equal((await curl('one', '/').result).code, 0)
      await Promise.all(resets)
      clearInterval(drip)
      assert.equal((await curl('one', '/').result).code, 0)
    } finally {
      await client.stop()
    }
  })

  it('leaves no open tunnel behind when the client or the proxy is killed mid-transfer', async () => {
    const transfer = curl('one', '/big', ['--limit-rate', '2M'])
    await openTunnels('a', 1)
    await waitFor(() => transfer.bytesSoFar() > 0, { what: 'the first bytes through relay a' })
    transfer.child.kill('SIGKILL')
    await openTunnels('a', 0)

    const viaKillable = curl('killable', '/big', ['--limit-rate', '2M'])
    await openTunnels('a', 1)
    await waitFor(() => viaKillable.bytesSoFar() > 0, { what: 'the first bytes through the killable proxy' })
    killableProxy.kill('SIGKILL')
    await openTunnels('a', 0)
    assert.notEqual((await viaKillable.result).code, 0, 'curl saw the proxy die')
  })

  it(`holds a ${CAP / 1e6} MB/s cap: a ${CAP_SECONDS} s transfer averages within 5%`, async function () {
    this.timeout((CAP_SECONDS + 30) * 1000)
    const size = CAP * CAP_SECONDS
    const started = performance.now()
    const result = await curl('capped', `/bytes/${size}`).result
    const seconds = (performance.now() - started) / 1000
    assert.equal(result.bytes, size)
    const rate = size / seconds
    assert(
      Math.abs(rate - CAP) / CAP < 0.05,
      `averaged ${(rate / 1e6).toFixed(3)} MB/s over ${seconds.toFixed(1)} s`,
    )
  })

  it('exits cleanly on SIGTERM', async () => {
    // a data dir of its own: one is open in one process at a time
    initRelayDir(join(work, 'sigterm'))
    const { child } = await procs.start<RelayInfo>(['relay', '--dir', join(work, 'sigterm')])
    child.kill('SIGTERM')
    assert.equal(await exited(child), 0)
  })
})

/** Streams `size` bytes (a repeated random block) with back-pressure. */
function sendBytes(res: import('node:http').ServerResponse, size: number): void {
  const block = randomBytes(256 * 1024)
  res.writeHead(200, { 'content-length': String(size) })
  let left = size
  const pump = () => {
    while (left > 0) {
      const chunk = left >= block.length ? block : block.subarray(0, left)
      left -= chunk.length
      if (!res.write(chunk)) return void res.once('drain', pump)
    }
    res.end()
  }
  pump()
}

function lengthPrefixed(body: Uint8Array): Uint8Array {
  return Buffer.concat([Uint8Array.of(body.length), body])
}

/** A minimal SOCKS5 client: no-auth greeting, CONNECT, and the reply code. */
async function socksReply(proxyPort: number, host: string, port: number): Promise<number> {
  const socket = connect(proxyPort, '127.0.0.1')
  const chunks: Buffer[] = []
  let waiting: (() => void) | undefined
  socket.on('data', d => {
    chunks.push(d)
    waiting?.()
  })
  socket.on('error', () => {})
  const read = async (n: number) => {
    while (Buffer.concat(chunks).length < n) await new Promise<void>(r => (waiting = r))
    const all = Buffer.concat(chunks)
    chunks.length = 0
    chunks.push(all.subarray(n))
    return all.subarray(0, n)
  }
  socket.write(Uint8Array.of(5, 1, 0))
  assert.deepEqual([...(await read(2))], [5, 0])
  const address = isIPv4(host)
    ? [1, ...host.split('.').map(Number)]
    : isIPv6(host)
      ? [4, ...ipv6Bytes(host)]
      : [3, host.length, ...Buffer.from(host)]
  socket.write(Uint8Array.from([5, 1, 0, ...address, port >> 8, port & 0xff]))
  const reply = await read(2)
  socket.destroy()
  return reply[1]!
}

function ipv6Bytes(text: string): number[] {
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)
  const hex = v4
    ? text.replace(
        v4[1]!,
        (() => {
          const [a, b, c, d] = v4[1]!.split('.').map(Number) as [number, number, number, number]
          return `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
        })(),
      )
    : text
  const [head, tail] = hex.split('::') as [string, string | undefined]
  const left = head ? head.split(':') : []
  const right = tail ? tail.split(':') : []
  const groups = [...left, ...Array(8 - left.length - right.length).fill('0'), ...right]
  return groups.flatMap(g => [Number.parseInt(g, 16) >> 8, Number.parseInt(g, 16) & 0xff])
}

/** A DNS answer for any query: A → 127.0.0.1, anything else → no records. Enough for c-ares. */
function loopbackAnswer(query: Buffer): { name: string; reply: Buffer } {
  let offset = 12
  const labels: string[] = []
  while (query[offset]! > 0) {
    labels.push(query.subarray(offset + 1, offset + 1 + query[offset]!).toString('ascii'))
    offset += 1 + query[offset]!
  }
  const questionEnd = offset + 5
  const isA = query.readUInt16BE(offset + 1) === 1
  const header = Buffer.from([query[0]!, query[1]!, 0x81, 0x80, 0, 1, 0, isA ? 1 : 0, 0, 0, 0, 0])
  const question = query.subarray(12, questionEnd)
  const answer = isA ? Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1]) : Buffer.alloc(0)
  return {
    name: `${labels.join('.')} ${isA ? 'A' : 'other'}`,
    reply: Buffer.concat([header, question, answer]),
  }
}
