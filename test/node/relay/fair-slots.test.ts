import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { createServer, type Server, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey, Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import { createHost, type Host } from '../../../node/host/host.ts'
import { Meter } from '../../../node/relay/meter.ts'
import { TokenBucket } from '../../../node/relay/token-bucket.ts'
import { type ExitDecision, type TunnelLimits, TunnelServer } from '../../../node/relay/tunnel-server.ts'
import { openCircuit, openTunnelStream } from '../../../node/tunnel/client.ts'
import { decodeReply, encodeRequest } from '../../../node/tunnel/wire.ts'
import { pumpForever } from '../../helpers/servers.ts'

// Cheap identities against a relay's tunnel slots and buffer memory: real libp2p hosts on loopback, the
// real tunnel server, limits lowered so the attack stays small.

const NET = 'fair-slots-test'
const MiB = 1024 * 1024
const toLoopback = async (): Promise<ExitDecision> => ({ ok: true, address: '127.0.0.1', family: 4 })

async function newHost(privateKey?: PrivateKey): Promise<Host> {
  return createHost({
    local: true,
    networkId: NET,
    privateKey: privateKey ?? (await generateKeyPair('Ed25519')),
    listen: ['/ip4/127.0.0.1/tcp/0'],
  })
}

async function listen(onSocket: (socket: Socket) => void): Promise<{ server: Server; port: number }> {
  const server = createServer(socket => {
    socket.on('error', () => {})
    onSocket(socket)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return { server, port: (server.address() as { port: number }).port }
}

async function startRelay(limits: Partial<TunnelLimits>, bytesPerSecond: number) {
  const privateKey = await generateKeyPair('Ed25519')
  const host = await newHost(privateKey)
  const meter = new Meter()
  const server = new TunnelServer(host, {
    networkId: NET,
    privateKey,
    meter,
    resolveExit: toLoopback,
    mayDial: () => true,
    limits,
    bucket: new TokenBucket(bytesPerSecond),
  })
  await server.start()
  return { host, meter, server, address: host.getMultiaddrs()[0]! }
}

/** An exit tunnel opened by hand, so the test sees the raw libp2p stream (its write buffer, its reset). */
async function rawTunnel(client: Host, relay: Host, port: number): Promise<Stream> {
  const stream = await openTunnelStream(client, relay.getMultiaddrs()[0]!, NET)
  const lp = lpStream(stream)
  await lp.write(encodeRequest({ kind: 'exit', host: '127.0.0.1', port }))
  const code = decodeReply((await lp.read()).subarray())
  assert.equal(code, 'ok')
  return lp.unwrap()
}

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms))

describe('tunnel slots and buffers shared fairly (real libp2p hosts)', function () {
  this.timeout(60_000)
  const hosts: Host[] = []
  const servers: Server[] = []

  after(async () => {
    for (const server of servers) {
      server.close()
    }
    await Promise.all(hosts.map(h => h.stop()))
  })

  it('four identities holding every slot idle: a fresh peer still gets one and reads the cap within 10%', async () => {
    const CAP = 2_000_000
    const relay = await startRelay({ maxTunnels: 32, maxTunnelsPerPeer: 8 }, CAP)
    hosts.push(relay.host)
    const held = await listen(socket => socket.resume())
    const block = randomBytes(256 * 1024)
    const source = await listen(socket => pumpForever(socket, block))
    servers.push(held.server, source.server)

    const attackers = await Promise.all([1, 2, 3, 4].map(() => newHost()))
    hosts.push(...attackers)
    const idle: Duplex[] = []
    for (const attacker of attackers) {
      for (let i = 0; i < 8; i++) {
        idle.push(await openCircuit(attacker, NET, [relay.address], { host: '127.0.0.1', port: held.port }))
      }
    }
    assert.equal(relay.meter.openTunnels, 32, 'the attackers hold every slot')
    for (const tunnel of idle) tunnel.on('error', () => {})

    const fresh = await newHost()
    hosts.push(fresh)
    const circuit = await openCircuit(fresh, NET, [relay.address], { host: '127.0.0.1', port: source.port })
    let bytes = 0
    circuit.on('data', (chunk: Buffer) => {
      bytes += chunk.length
    })
    // After a second (the bucket's burst and the window's growth are behind), four seconds of reading.
    await sleep(1000)
    const from = bytes
    const started = performance.now()
    await sleep(4000)
    const rate = (bytes - from) / ((performance.now() - started) / 1000)
    circuit.destroy()
    assert(
      Math.abs(rate - CAP) / CAP < 0.1,
      `read ${(rate / 1e6).toFixed(2)} MB/s through a ${CAP / 1e6} MB/s relay`,
    )
    assert.equal(idle.filter(t => t.destroyed).length, 1, "one attacker's idlest tunnel made room")
    for (const tunnel of idle) tunnel.destroy()
  })

  it('identities pushing into a shaped relay: buffers stay within the budget and a fresh peer gets through', async () => {
    const BUDGET = 16 * MiB
    const relay = await startRelay(
      { maxTunnels: 16, maxTunnelsPerPeer: 4, maxBufferBytes: BUDGET },
      1_000_000,
    )
    hosts.push(relay.host)
    // The exit target reads everything and counts it per tunnel (each tunnel's first 4 bytes name it).
    const delivered = new Map<number, number>()
    const sink = await listen(socket => {
      let id: number | undefined
      socket.on('data', (chunk: Buffer) => {
        if (id === undefined) {
          id = chunk.readUInt32BE(0)
          chunk = chunk.subarray(4)
        }
        delivered.set(id, (delivered.get(id) ?? 0) + chunk.length)
      })
    })
    servers.push(sink.server)

    const attackers = await Promise.all([1, 2, 3, 4].map(() => newHost()))
    hosts.push(...attackers)
    const tunnels: { id: number; stream: Stream; given: number }[] = []
    for (const attacker of attackers) {
      for (let i = 0; i < 4; i++) {
        const stream = await rawTunnel(attacker, relay.host, sink.port)
        const id = tunnels.length
        const header = Buffer.alloc(4)
        header.writeUInt32BE(id)
        stream.send(header)
        tunnels.push({ id, stream, given: 0 })
      }
    }
    // Each tunnel gets 4 MiB pushed as fast as the relay takes them (its buffers can hold that much
    // long before the 1 MB/s cap forwards it): 64 MiB in all against a 16 MiB budget.
    const PUSH = 4 * MiB
    const chunk = randomBytes(256 * 1024)
    await Promise.all(
      tunnels.map(async t => {
        while (t.stream.status === 'open' && t.given < PUSH) {
          t.given += chunk.length
          if (t.stream.send(chunk)) continue
          await Promise.race([once(t.stream, 'drain'), once(t.stream, 'close')])
        }
      }),
    )
    // What the relay holds for the tunnels still open: sent to it, not yet delivered to the target. Bytes
    // still in the attackers' sockets count until the relay reads them, so allow it a few seconds.
    const held = () =>
      tunnels
        .filter(t => t.stream.status === 'open')
        .reduce((sum, t) => sum + t.given - t.stream.writeBufferLength - (delivered.get(t.id) ?? 0), 0)
    const deadline = performance.now() + 10_000
    while (held() > BUDGET + 2 * MiB && performance.now() < deadline) await sleep(250)
    const alive = tunnels.filter(t => t.stream.status === 'open').length
    assert(
      held() <= BUDGET + 2 * MiB,
      `the relay holds ${(held() / MiB).toFixed(1)} MiB of ${alive} attackers' tunnels, budget ${BUDGET / MiB} MiB`,
    )
    assert(alive < tunnels.length, 'tunnels over the budget were closed')

    const fresh = await newHost()
    hosts.push(fresh)
    const probe = await rawTunnel(fresh, relay.host, sink.port)
    probe.abort(new Error('done'))
    for (const t of tunnels) t.stream.abort(new Error('done'))
  })
})
