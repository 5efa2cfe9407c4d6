import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:net'
import type { PrivateKey } from '@libp2p/interface'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { createHost, type Host } from '../../../node/host/host.ts'
import { Relay } from '../../../node/relay/relay.ts'
import { openCircuit, openTunnelStream, type TunnelRefusedError } from '../../../node/tunnel/client.ts'
import { openExitChannel } from '../../../node/tunnel/exit-channel.ts'
import { decodeReply, encodeRequest } from '../../../node/tunnel/wire.ts'

// Relays stay in their lane: real libp2p hosts on loopback running the Relay role with the real exit
// policy, one relay strict (a relay on the Internet) and the others --allow-private-exits (a local
// testnet). Nothing here connects anywhere but 127.0.0.1: refusals happen before any connection.

const NET = 'hops-test'

async function newHost(privateKey?: PrivateKey): Promise<Host> {
  return createHost({
    local: true,
    networkId: NET,
    privateKey: privateKey ?? (await generateKeyPair('Ed25519')),
    listen: ['/ip4/127.0.0.1/tcp/0'],
  })
}

/** A relay role on a new host; `announced` are addresses libp2p would report for it (observed ones). */
async function startRelay(
  allowPrivate: boolean,
  announced: string[] = [],
): Promise<{ host: Host; relay: Relay }> {
  const privateKey = await generateKeyPair('Ed25519')
  const real = await newHost(privateKey)
  const host =
    announced.length === 0
      ? real
      : (new Proxy(real, {
          get: (target, key) =>
            key === 'getMultiaddrs'
              ? () => [...target.getMultiaddrs(), ...announced.map(a => multiaddr(a))]
              : Reflect.get(target, key),
        }) as Host)
  const relay = new Relay(host, { networkId: NET, privateKey, exitPolicy: { allowPrivate } })
  await relay.start()
  return { host: real, relay }
}

const refusedWith = (code: string, hop: number) => (err: TunnelRefusedError) => {
  assert.equal(`${err.code}@${err.hop}`, `${code}@${hop}`)
  return true
}

describe('relays stay in their lane (real libp2p hosts)', function () {
  this.timeout(30_000)
  const hosts: Host[] = []
  const relays: Relay[] = []
  let target: Server
  let targetPort: number
  let targetConnections = 0
  let client: Host

  const relay = async (allowPrivate: boolean, announced: string[] = []) => {
    const started = await startRelay(allowPrivate, announced)
    hosts.push(started.host)
    relays.push(started.relay)
    return started.host
  }

  before(async () => {
    target = createServer(socket => {
      targetConnections++
      socket.on('error', () => {})
      socket.end('hello')
    })
    await new Promise<void>(resolve => target.listen(0, '127.0.0.1', resolve))
    targetPort = (target.address() as { port: number }).port
    client = await newHost()
    hosts.push(client)
  })

  after(async () => {
    for (const r of relays) await r.stop()
    await Promise.all(hosts.map(h => h.stop()))
    target.close()
  })

  it('a strict relay refuses a hop to a relay whose record lists only 127.0.0.1, and never dials it', async () => {
    const strict = await relay(false)
    const onLoopback = await relay(true)
    // What the directory does with a relay record's addresses.
    await strict.peerStore.merge(onLoopback.peerId, { multiaddrs: onLoopback.getMultiaddrs() })
    await assert.rejects(
      openCircuit(client, NET, [strict.getMultiaddrs()[0]!, onLoopback.peerId], {
        host: '127.0.0.1',
        port: targetPort,
      }),
      refusedWith('hop-failed', 0),
    )
    assert.equal(onLoopback.getConnections(strict.peerId).length, 0, 'the strict relay never dialled it')
    // Even when that relay is connected already (it dialled the strict one from loopback).
    await onLoopback.dial(strict.getMultiaddrs()[0]!)
    await assert.rejects(
      openCircuit(client, NET, [strict.getMultiaddrs()[0]!, onLoopback.peerId], {
        host: '127.0.0.1',
        port: targetPort,
      }),
      refusedWith('hop-failed', 0),
    )
  })

  it('on a local testnet (--allow-private-exits) the same hop works', async () => {
    const [first, second] = [await relay(true), await relay(true)]
    await first.peerStore.merge(second.peerId, { multiaddrs: second.getMultiaddrs() })
    const circuit = await openCircuit(client, NET, [first.getMultiaddrs()[0]!, second.peerId], {
      host: '127.0.0.1',
      port: targetPort,
    })
    let reply = ''
    for await (const chunk of circuit) reply += chunk
    assert.equal(reply, 'hello')
  })

  it('refuses a third relay at the second, and a forwarded request cannot be stacked', async () => {
    const [a, b, c] = [await relay(true), await relay(true), await relay(true)]
    await a.peerStore.merge(b.peerId, { multiaddrs: b.getMultiaddrs() })
    await b.peerStore.merge(c.peerId, { multiaddrs: c.getMultiaddrs() })
    const before = targetConnections
    const target = { host: '127.0.0.1', port: targetPort }
    await assert.rejects(
      openCircuit(client, NET, [a.getMultiaddrs()[0]!, b.peerId, c.peerId], target),
      RangeError,
    )
    // A client that asks the second relay for one more hop anyway, inside its channel to it.
    const stream = await openTunnelStream(client, a.getMultiaddrs()[0]!, NET)
    const toA = lpStream(stream)
    await toA.write(encodeRequest({ kind: 'hop', relay: b.peerId }))
    assert.equal(decodeReply((await toA.read()).subarray()), 'ok')
    const toB = lpStream(await openExitChannel(toA.unwrap(), b.peerId, NET, client.logger))
    await toB.write(encodeRequest({ kind: 'hop', relay: c.peerId }))
    assert.equal(decodeReply((await toB.read()).subarray()), 'policy')
    stream.abort(new Error('done'))
    assert.equal(c.getConnections(b.peerId).length, 0, 'b never dialled c')
    assert.equal(targetConnections, before)
    // A client claiming to be forwarded only limits itself: it may exit, not hop.
    for (const [request, code] of [
      [{ kind: 'hop' as const, relay: c.peerId }, 'policy'],
      [{ kind: 'forwarded' as const }, 'bad-request'],
      [{ kind: 'exit' as const, host: '127.0.0.1', port: targetPort }, 'ok'],
    ] as const) {
      const stream = await openTunnelStream(client, b.getMultiaddrs()[0]!, NET)
      const lp = lpStream(stream)
      await lp.write(encodeRequest({ kind: 'forwarded' }))
      const inside = lpStream(await openExitChannel(lp.unwrap(), b.peerId, NET, client.logger))
      await inside.write(encodeRequest(request))
      assert.equal(decodeReply((await inside.read()).subarray()), code, request.kind)
      stream.abort(new Error('done'))
    }
  })

  it("refuses exits to the relay's own public addresses and IPv6 /64, and to port 25", async () => {
    // A relay on a host known as 198.51.99.7 and 2a01:4f8:c17:9e3c::1 (observed addresses libp2p reports).
    const own = await relay(false, ['/ip4/198.51.99.7/tcp/4001', '/ip6/2a01:4f8:c17:9e3c::1/tcp/4001'])
    for (const host of ['198.51.99.7', '2a01:4f8:c17:9e3c::1', '2a01:4f8:c17:9e3c::abcd']) {
      await assert.rejects(
        openCircuit(client, NET, [own.getMultiaddrs()[0]!], { host, port: 443 }),
        refusedWith('policy', 0),
        host,
      )
    }
    const testnet = await relay(true)
    const before = targetConnections
    await assert.rejects(
      openCircuit(client, NET, [testnet.getMultiaddrs()[0]!], { host: '127.0.0.1', port: 25 }),
      refusedWith('port', 0),
    )
    assert.equal(targetConnections, before)
  })
})
