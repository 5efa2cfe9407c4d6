import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createHost, type Host } from '../../../node/host/host.ts'

describe('libp2p host', () => {
  const hosts: Host[] = []
  after(async () => {
    await Promise.all(hosts.map(h => h.stop()))
  })

  const host = async (listen: string[]) => {
    const h = await createHost({
      local: true,
      networkId: 'host-test',
      privateKey: await generateKeyPair('Ed25519'),
      listen,
    })
    hosts.push(h)
    return h
  }

  // libp2p's default refuses a host's 6th inbound connection within a second, and every peer of a local
  // testnet (and of the relay/proxy tests) is 127.0.0.1
  it('accepts a burst of inbound connections from this machine', async () => {
    const target = await host(['/ip4/127.0.0.1/tcp/0'])
    const dialers = await Promise.all(Array.from({ length: 12 }, () => host([])))
    const results = await Promise.allSettled(dialers.map(d => d.dial(target.getMultiaddrs()[0]!)))
    assert.deepEqual(
      results.map(r => (r.status === 'fulfilled' ? 'ok' : (r.reason as Error).name)),
      Array(12).fill('ok'),
    )
  })

  // The DHT pings its contacts while libp2p's connection monitor pings every connection, and the monitor
  // closes a connection (with every tunnel on it) whose ping fails, as one does when the ping service
  // allows fewer concurrent pings than that
  it('answers pings that overlap on one connection, so the connection monitor keeps it open', async () => {
    const a = await host(['/ip4/127.0.0.1/tcp/0'])
    const b = await host([])
    await b.dial(a.getMultiaddrs()[0]!)
    const pings = await Promise.allSettled(Array.from({ length: 3 }, () => b.services.ping.ping(a.peerId)))
    assert.deepEqual(
      pings.map(p => (p.status === 'fulfilled' ? 'ok' : (p.reason as Error).name)),
      ['ok', 'ok', 'ok'],
    )
    assert.equal(b.getConnections(a.peerId).length, 1)
  })
})
