import assert from 'node:assert/strict'
import type { Message } from '@libp2p/gossipsub'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Connection, PeerId } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { Buckets, machineOf, RECORD_BUDGETS, RecordLimits } from '../../../node/network/record-limits.ts'

const newPeer = async (): Promise<PeerId> => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))

describe('record budgets', () => {
  it('a bucket gives its burst at once, then its rate', () => {
    const b = new Buckets({ burst: 3, perSecond: 2 })
    assert.deepEqual(
      [0, 0, 0, 0].map(() => b.take('k', 1000)),
      [true, true, true, false],
    )
    assert.equal(b.take('k', 1400), false) // 0.8 of a token
    assert.equal(b.take('k', 1500), true)
    assert.equal(b.take('other', 1500), true, 'keys are independent')
    assert.equal(b.take('k', 100_000), true)
  })

  it('a bucket forgets its least recently used keys beyond its bound', () => {
    const b = new Buckets({ burst: 1, perSecond: 0 }, 2)
    assert.ok(b.take('a', 0) && b.take('b', 0))
    assert.equal(b.take('a', 0), false)
    assert.equal(b.take('c', 0), true) // forgets b, the least recently used
    assert.equal(b.take('a', 0), false)
    assert.equal(b.take('b', 0), true)
  })

  it('one machine is an IPv4 address or an IPv6 /64', () => {
    assert.equal(machineOf(multiaddr('/ip4/203.0.113.7/tcp/4001')), '203.0.113.7')
    assert.equal(machineOf(multiaddr('/ip6/2001:db8:1:2:aaaa::1/tcp/4001')), '2001:db8:1:2::/64')
    assert.equal(machineOf(multiaddr('/ip6/2001:db8:1:2::9/tcp/4001')), '2001:db8:1:2::/64')
    assert.equal(machineOf(multiaddr('/ip6/2001:db8::1/tcp/1')), '2001:db8:0:0::/64')
    assert.equal(machineOf(multiaddr('/ip6/::ffff:198.51.100.4/tcp/1')), '198.51.100.4')
    assert.equal(machineOf(multiaddr('/dns4/example.invalid/tcp/1')), undefined)
  })

  it('penalises a peer flooding its own records, only ignores what it forwards beyond its address budget', async () => {
    const [flooder, forwarder, author] = await Promise.all([newPeer(), newPeer(), newPeer()])
    const address = new Map<string, string>([
      [flooder.toString(), '/ip4/198.51.100.1/tcp/1'],
      [forwarder.toString(), '/ip4/198.51.100.2/tcp/1'],
    ])
    const hungUp: string[] = []
    const peers = {
      getConnections: (peer: PeerId) =>
        [{ remoteAddr: multiaddr(address.get(peer.toString()) as string) }] as unknown as Connection[],
      hangUp: async (peer: PeerId) => {
        hungUp.push(peer.toString())
      },
    }
    const limits = new RecordLimits(peers, () => 0)
    const message = (from: PeerId) => ({ type: 'signed', from }) as unknown as Message

    const own = Array.from({ length: RECORD_BUDGETS.publisher.burst + 1 }, () =>
      limits.admitGossip(flooder, message(flooder)),
    )
    assert.deepEqual(own.slice(0, -1), own.slice(0, -1).fill('admit'))
    assert.equal(own.at(-1), 'penalise')
    assert.deepEqual(hungUp, [flooder.toString()], 'the flooder is disconnected')

    const forwarded = Array.from({ length: RECORD_BUDGETS.address.burst + 1 }, () =>
      limits.admitGossip(forwarder, message(author)),
    )
    assert.equal(forwarded.filter(a => a === 'admit').length, RECORD_BUDGETS.address.burst)
    assert.equal(forwarded.at(-1), 'ignore')
    assert.equal(hungUp.length, 1, 'the forwarder is not')
  })
})
