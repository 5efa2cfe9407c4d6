import assert from 'node:assert/strict'
import { addressGroups, EvictedError, type Slot, TunnelSlots } from '../../../node/relay/slots.ts'

/** A slot table on a fake clock, recording what it evicts. */
function table(maxTunnels: number, maxTunnelsPerPeer = maxTunnels, maxBufferBytes = Number.MAX_SAFE_INTEGER) {
  let now = 0
  const slots = new TunnelSlots({ maxTunnels, maxTunnelsPerPeer, maxBufferBytes }, () => now)
  const evicted: string[] = []
  const admit = (peer: string, address: string, buffered = 0): Slot | undefined => {
    now++
    const slot = slots.admit(peer, address)
    if (slot !== undefined) {
      slot.buffered = () => buffered
      slot.evict = err => {
        assert(err instanceof EvictedError)
        evicted.push(`${peer}@${address}`)
      }
    }
    return slot
  }
  return { slots, evicted, admit, tick: () => now++ }
}

describe('tunnel slots', () => {
  it('groups addresses by IPv4 address, IPv6 /48 and /64', () => {
    assert.deepEqual(addressGroups('203.0.114.7'), ['203.0.114.7', '203.0.114.7'])
    assert.deepEqual(addressGroups('::ffff:203.0.114.7'), ['203.0.114.7', '203.0.114.7'])
    assert.deepEqual(addressGroups('2a01:4f8:c17:9e3c::1'), ['2a01:4f8:c17::/48', '2a01:4f8:c17:9e3c::/64'])
    assert.deepEqual(addressGroups('2a01:4f8:c17:9e3c:1:2:3:4'), addressGroups('2a01:4f8:c17:9e3c::9'))
    assert.deepEqual(addressGroups('/p2p-circuit'), ['/p2p-circuit', '/p2p-circuit'])
  })

  it('a new peer at the same address takes the idlest tunnel of whoever holds most', () => {
    const { slots, evicted, admit, tick } = table(8, 4)
    const held = ['a', 'b'].flatMap(peer => [1, 2, 3, 4].map(() => admit(peer, '127.0.0.1')))
    assert(held.every(s => s !== undefined))
    assert.equal(admit('a', '127.0.0.1'), undefined, 'per-peer limit')
    for (const s of held.slice(1)) {
      tick()
      slots.touch(s!)
    }
    assert.ok(admit('probe', '127.0.0.1'))
    assert.deepEqual(evicted, ['a@127.0.0.1'])
    assert.equal(held[0]!.released, true, "a's idlest tunnel went")
    assert.equal(slots.open, 8)
    // b now holds most (4 against a's 3): the next newcomer takes from b, then from a and b in turn.
    assert.ok(admit('probe2', '127.0.0.1'))
    assert.deepEqual(evicted, ['a@127.0.0.1', 'b@127.0.0.1'])
  })

  it('does not evict towards equals: a peer holding one less than the most gets busy', () => {
    const { evicted, admit } = table(5)
    for (const peer of ['a', 'a', 'b', 'b', 'c']) assert.ok(admit(peer, '127.0.0.1'))
    assert.equal(admit('c', '127.0.0.1'), undefined, 'c would hold as many as a and b')
    assert.deepEqual(evicted, [])
    assert.ok(admit('d', '127.0.0.1'))
    assert.deepEqual(evicted, ['a@127.0.0.1'])
    assert.ok(admit('e', '127.0.0.1'))
    assert.deepEqual(evicted, ['a@127.0.0.1', 'b@127.0.0.1'])
    // Five peers with one tunnel each: the relay is shared as evenly as it can be.
    assert.equal(admit('f', '127.0.0.1'), undefined)
    assert.equal(evicted.length, 2)
  })

  it('shares by address before peers: many identities at one address cannot starve another address', () => {
    const { evicted, admit } = table(16, 4)
    for (const peer of ['s1', 's2', 's3', 's4'])
      for (let i = 0; i < 4; i++) assert.ok(admit(peer, '198.51.99.1'))
    // Another address gets half the relay, taken from the crowded one.
    for (let i = 0; i < 8; i++) assert.ok(admit(`fresh${i}`, '198.51.99.2'), `newcomer ${i}`)
    assert.equal(evicted.length, 8)
    assert(evicted.every(e => e.endsWith('@198.51.99.1')))
    // Now 8 against 8: a ninth from the second address would only swap them.
    assert.equal(admit('fresh-more', '198.51.99.2'), undefined)
    // A third address still gets in, from one of them.
    assert.ok(admit('third', '198.51.99.3'))
  })

  it('counts an IPv6 /48 as one network: a thousand /64s from one site are one share', () => {
    const { evicted, admit } = table(32, 4)
    for (let i = 0; i < 32; i++) assert.ok(admit(`sybil${i}`, `2001:470:8f00:${i.toString(16)}::1`))
    assert.ok(admit('probe', '2a01:4f8:c17:9e3c::1'))
    assert.equal(evicted.length, 1)
    assert.ok(evicted[0]!.startsWith('sybil'))
  })

  it('over the memory budget, closes the biggest buffer of whoever buffers most', () => {
    const mib = 1024 * 1024
    const { slots, evicted, admit } = table(64, 64, 100 * mib)
    for (let i = 0; i < 6; i++) admit('hog', '198.51.99.1', 20 * mib)
    admit('probe', '198.51.99.2', 15 * mib)
    admit('user', '198.51.99.3', 2 * mib)
    slots.reclaimMemory() // 137 MiB: two of the hog's go
    assert.deepEqual(evicted, ['hog@198.51.99.1', 'hog@198.51.99.1'])
    slots.reclaimMemory()
    assert.equal(evicted.length, 2, 'under budget now')
    assert.equal(slots.open, 6)
  })

  it('closes every tunnel on closeAll, and a released slot is released once', () => {
    const { slots, evicted, admit } = table(4)
    const a = admit('a', '127.0.0.1')!
    admit('b', '127.0.0.1')
    slots.release(a)
    slots.release(a)
    assert.equal(slots.open, 1)
    slots.closeAll(new EvictedError('stopping'))
    assert.deepEqual(evicted, ['b@127.0.0.1'])
    assert.equal(slots.open, 0)
  })
})
