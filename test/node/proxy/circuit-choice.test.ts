import assert from 'node:assert/strict'
import { chooseRelays } from '../../../node/proxy/circuit-choice.ts'

/** A deterministic stream of numbers in [0, 1) for repeatable draws. */
function seeded(seed: number): () => number {
  let s = seed
  return () => {
    s = (s * 1103515245 + 12345) % 2 ** 31
    return s / 2 ** 31
  }
}

describe('choosing relays for a circuit', () => {
  it('picks distinct relays, weighted by measured capacity', () => {
    const candidates = [
      { peerId: 'fast', capacityBps: 30e6 },
      { peerId: 'slow', capacityBps: 10e6 },
    ]
    const random = seeded(1)
    const firsts = Array.from({ length: 4000 }, () => chooseRelays(candidates, 1, random)[0])
    const share = firsts.filter(p => p === 'fast').length / firsts.length
    assert(Math.abs(share - 0.75) < 0.03, `fast relay chosen ${share} of the time`)
    for (let i = 0; i < 100; i++)
      assert.deepEqual(chooseRelays(candidates, 2, random).sort(), ['fast', 'slow'])
  })

  it('weighs unmeasured relays as the median measured one, or all equally', () => {
    const random = seeded(7)
    const draws = (candidates: { peerId: string; capacityBps?: number }[]) => {
      const counts = new Map<string, number>()
      for (let i = 0; i < 3000; i++) {
        const id = chooseRelays(candidates, 1, random)[0]!
        counts.set(id, (counts.get(id) ?? 0) + 1)
      }
      return counts
    }
    const none = draws([{ peerId: 'a' }, { peerId: 'b' }, { peerId: 'c' }])
    for (const id of ['a', 'b', 'c']) assert(Math.abs(none.get(id)! / 3000 - 1 / 3) < 0.04)
    const some = draws([{ peerId: 'new' }, { peerId: 'm', capacityBps: 5e6 }])
    assert(Math.abs(some.get('new')! / 3000 - 0.5) < 0.04)
  })

  it('refuses when too few relays are known', () => {
    assert.throws(() => chooseRelays([{ peerId: 'only' }], 2), /needs 2 relays, 1 known/)
  })
})
