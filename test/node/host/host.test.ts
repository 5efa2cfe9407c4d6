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
})
