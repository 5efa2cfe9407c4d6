import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { createServer, type Server, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { PrivateKey } from '@libp2p/interface'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { lpStream } from '@libp2p/utils'
import { createHost, type Host } from '../../../node/host/host.ts'
import { Meter } from '../../../node/relay/meter.ts'
import { openCircuit, openTunnelStream, type TunnelRefusedError } from '../../../node/tunnel/client.ts'
import { openExitChannel } from '../../../node/tunnel/exit-channel.ts'
import { type ExitDecision, type TunnelLimits, TunnelServer } from '../../../node/relay/tunnel-server.ts'
import { decodeReply, encodeRequest } from '../../../node/tunnel/wire.ts'
import { waitFor } from '../../helpers/wait.ts'

const NET = 'tunnel-test'
const allowAll = async (): Promise<ExitDecision> => ({ ok: true, address: '127.0.0.1', family: 4 })

async function newHost(privateKey?: PrivateKey): Promise<Host> {
  return createHost({
    local: true,
    networkId: NET,
    privateKey: privateKey ?? (await generateKeyPair('Ed25519')),
    listen: ['/ip4/127.0.0.1/tcp/0'],
  })
}

/** Echoes a sha256 of everything received, then `size` bytes derived from the seed, then closes. */
async function startTarget(): Promise<{ server: Server; port: number; connections: () => number }> {
  let connections = 0
  const server = createServer({ allowHalfOpen: true }, socket => {
    connections++
    const hash = createHash('sha256')
    socket.on('data', d => hash.update(d))
    socket.on('error', () => {})
    socket.on('end', () => socket.end(hash.digest('hex')))
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  assert(address !== null && typeof address === 'object')
  return { server, port: address.port, connections: () => connections }
}

async function roundTrip(circuit: Duplex, payload: Buffer): Promise<string> {
  circuit.end(payload)
  let reply = ''
  for await (const chunk of circuit) reply += chunk
  return reply
}

describe('tunnels between libp2p hosts', () => {
  let relayA: Host
  let relayB: Host
  let client: Host
  let meterA: Meter
  let meterB: Meter
  let target: Awaited<ReturnType<typeof startTarget>>
  const limits: Partial<TunnelLimits> = { maxTunnelsPerPeer: 4, handshakeTimeoutMs: 800, idleTimeoutMs: 5000 }

  before(async () => {
    const [keyA, keyB] = await Promise.all([generateKeyPair('Ed25519'), generateKeyPair('Ed25519')])
    ;[relayA, relayB, client] = await Promise.all([newHost(keyA), newHost(keyB), newHost()])
    meterA = new Meter()
    meterB = new Meter()
    await new TunnelServer(relayA, {
      networkId: NET,
      privateKey: keyA,
      meter: meterA,
      resolveExit: allowAll,
      mayDial: () => true,
      limits,
    }).start()
    await new TunnelServer(relayB, {
      networkId: NET,
      privateKey: keyB,
      meter: meterB,
      mayDial: () => true,
      limits,
      resolveExit: async host => (host === 'denied.example' ? { ok: false, reason: 'policy' } : allowAll()),
    }).start()
    await relayB.dial(relayA.getMultiaddrs()[0]!)
    target = await startTarget()
  })

  after(async () => {
    target.server.close()
    await Promise.all([relayA, relayB, client].map(h => h.stop()))
  })

  it('carries bytes exactly through one relay and through two', async () => {
    const payload = randomBytes(3 * 1024 * 1024 + 17)
    const digest = createHash('sha256').update(payload).digest('hex')
    const hops = [[relayA.getMultiaddrs()[0]!], [relayA.getMultiaddrs()[0]!, relayB.peerId]]
    for (const relays of hops) {
      const circuit = await openCircuit(client, NET, relays, { host: '127.0.0.1', port: target.port })
      assert.equal(await roundTrip(circuit, payload), digest)
    }
    await waitFor(() => meterA.openTunnels === 0 && meterB.openTunnels === 0, {
      what: 'both relays to count the tunnel closed',
    })
    // Through two relays, A carried the client's channel to B: the Noise handshake, the exit request and
    // reply inside it, and every chunk's length and tag (18 bytes per ≤ 64 KiB); B counts what it decrypted.
    const channelIn = meterA.total.bytesIn - 2 * payload.length
    const channelOut = meterA.total.bytesOut - 2 * digest.length
    assert.ok(channelIn > 0 && channelIn < 4096, `A carried ${channelIn} bytes more towards B`)
    assert.ok(channelOut > 0 && channelOut < 2048, `A carried ${channelOut} bytes more back`)
    assert.deepEqual(meterB.total, { bytesIn: payload.length, bytesOut: digest.length })
    assert.equal(meterA.peers.get(client.peerId.toString())?.tunnels, 2)
  })

  it('passes the exit relay refusal back to the client, naming the hop', async () => {
    const relays = [relayA.getMultiaddrs()[0]!, relayB.peerId]
    await assert.rejects(
      openCircuit(client, NET, relays, { host: 'denied.example', port: 80 }),
      (err: TunnelRefusedError) => err.code === 'policy' && err.hop === 1,
    )
    await assert.rejects(
      openCircuit(client, NET, [relayA.getMultiaddrs()[0]!], { host: '127.0.0.1', port: 1 }),
      (err: TunnelRefusedError) => err.code === 'refused' && err.hop === 0,
    )
  })

  it('answers busy beyond the per-peer limit', async () => {
    const relays = [relayA.getMultiaddrs()[0]!]
    const open = await Promise.all(
      [1, 2, 3, 4].map(() => openCircuit(client, NET, relays, { host: '127.0.0.1', port: target.port })),
    )
    await assert.rejects(
      openCircuit(client, NET, relays, { host: '127.0.0.1', port: target.port }),
      (err: TunnelRefusedError) => err.code === 'busy',
    )
    for (const circuit of open) circuit.destroy()
    await waitFor(() => meterA.openTunnels === 0, { what: 'A to count the tunnel closed' })
  })

  it('refuses malformed requests and times out silent ones, and keeps serving', async () => {
    const bad = [
      randomBytes(40),
      Uint8Array.of(1, 1, 0, 80),
      Uint8Array.of(3, 1, 0, 80, 65),
      // whole requests of wire versions 1 and 2 (exit to A:80): an older client is refused plainly
      Uint8Array.of(1, 1, 0, 80, 65),
      Uint8Array.of(2, 1, 0, 0, 80, 65),
      Uint8Array.of(1, 2, 65),
      Uint8Array.of(3, 2, 0, 65),
      // `forwarded` carries nothing after its padding
      Uint8Array.of(3, 3, 0, 7),
    ]
    for (const request of bad) {
      const stream = await openTunnelStream(client, relayA.getMultiaddrs()[0]!, NET)
      const lp = lpStream(stream)
      await lp.write(request)
      assert.equal(decodeReply((await lp.read()).subarray()), 'bad-request')
      stream.abort(new Error('refused'))
    }
    // Oversize: the length prefix alone exceeds the limit, so the relay stops reading.
    const oversize = lpStream(await openTunnelStream(client, relayA.getMultiaddrs()[0]!, NET))
    await oversize.write(randomBytes(4096))
    assert.equal(decodeReply((await oversize.read()).subarray()), 'bad-request')
    // Truncated and slowloris: the frame never completes; the handshake timeout resets the stream.
    const truncated = await openTunnelStream(client, relayA.getMultiaddrs()[0]!, NET)
    truncated.send(
      lpFrame(encodeRequest({ kind: 'exit', host: '127.0.0.1', port: target.port })).subarray(0, 6),
    )
    await new Promise(r => truncated.addEventListener('close', r, { once: true }))
    const before = target.connections()
    const circuit = await openCircuit(client, NET, [relayA.getMultiaddrs()[0]!], {
      host: '127.0.0.1',
      port: target.port,
    })
    assert.equal(await roundTrip(circuit, Buffer.from('hi')), createHash('sha256').update('hi').digest('hex'))
    assert.equal(target.connections(), before + 1)
    await waitFor(() => meterA.openTunnels === 0, { what: 'A to count the tunnel closed' })
  })

  it('resets a forwarded tunnel whose exit channel fails, and refuses a hop inside one', async () => {
    // `forwarded` then a plain exit request (what a version-2 relay would pass on): no Noise handshake
    const plainStream = await openTunnelStream(client, relayB.getMultiaddrs()[0]!, NET)
    const plain = lpStream(plainStream)
    await plain.write(encodeRequest({ kind: 'forwarded' }))
    await plain.write(encodeRequest({ kind: 'exit', host: '127.0.0.1', port: target.port }))
    await assert.rejects(plain.read())
    // a client that sends `forwarded` itself, then a hop request inside the channel: B is the last relay
    const stream = await openTunnelStream(client, relayB.getMultiaddrs()[0]!, NET)
    const lp = lpStream(stream)
    await lp.write(encodeRequest({ kind: 'forwarded' }))
    const channel = await openExitChannel(lp.unwrap(), relayB.peerId, NET, client.logger)
    const inside = lpStream(channel)
    await inside.write(encodeRequest({ kind: 'hop', relay: relayA.peerId }))
    assert.equal(decodeReply((await inside.read()).subarray()), 'policy')
    // a channel to the wrong relay: the handshake proves B's key, not A's
    const wrongStream = await openTunnelStream(client, relayB.getMultiaddrs()[0]!, NET)
    const wrong = lpStream(wrongStream)
    await wrong.write(encodeRequest({ kind: 'forwarded' }))
    await assert.rejects(openExitChannel(wrong.unwrap(), relayA.peerId, NET, client.logger))
    for (const s of [plainStream, stream, wrongStream]) s.abort(new Error('test done'))
    await waitFor(() => meterB.openTunnels === 0, { what: 'B to count the tunnels closed' })
  })

  it('tears the whole circuit down when the client side dies', async () => {
    const sockets: Socket[] = []
    let closedAtTarget = 0
    const held = createServer(socket => {
      sockets.push(socket)
      socket.on('error', () => {})
      socket.on('close', () => closedAtTarget++)
      socket.resume()
    })
    await new Promise<void>(resolve => held.listen(0, '127.0.0.1', resolve))
    const port = (held.address() as { port: number }).port
    const circuit = await openCircuit(client, NET, [relayA.getMultiaddrs()[0]!, relayB.peerId], {
      host: '127.0.0.1',
      port,
    })
    circuit.write(randomBytes(1000))
    await waitFor(() => meterA.openTunnels === 1 && meterB.openTunnels === 1 && sockets.length === 1, {
      what: 'the tunnel open at both relays and at the target',
    })
    circuit.destroy()
    await waitFor(() => meterA.openTunnels === 0 && meterB.openTunnels === 0 && closedAtTarget === 1, {
      what: 'the tunnel closed at both relays and at the target',
    })
    held.close()
  })
})

/** A length-prefixed frame (unsigned varint length, up to 2^14 − 1 bytes). */
function lpFrame(body: Uint8Array): Uint8Array {
  const prefix = body.length < 0x80 ? [body.length] : [(body.length & 0x7f) | 0x80, body.length >> 7]
  return Buffer.concat([Uint8Array.from(prefix), body])
}
