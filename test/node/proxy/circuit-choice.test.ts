import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import { Logger } from '../../../node/host/log.ts'
import { chooseRelays } from '../../../node/proxy/circuit-choice.ts'
import { LedgerCapacities } from '../../../node/proxy/ledger-capacities.ts'
import type { relaysAnswer } from '../../../protocol/ledger-api.ts'
import type { Answer } from '../../../protocol/ledger-api.ts'

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

  describe('with capacities from a ledger', () => {
    let ledger: Server
    let url: string
    let failing = false
    const scores: Record<string, number | null> = { r1: 1e6, r2: 2e6, r4: 4e6, r8: 8e6, zero: 0, none: null }
    const answer: Answer<typeof relaysAnswer> = {
      relays: Object.entries(scores).map(([peerId, score]) => ({
        peerId,
        payout: `0x${'ab'.repeat(20)}`,
        addrs: [],
        registeredIn: 'genesis',
        lastScore: score === null ? null : { epoch: 3, score, reward: '1' },
      })),
    }
    before(async () => {
      ledger = createServer((req, res) => {
        if (failing) res.writeHead(503).end('{"error":"closing"}')
        else if (req.url === '/relays') res.end(JSON.stringify(answer))
        else res.writeHead(404).end('{"error":"not found"}')
      })
      await new Promise<void>(resolve => ledger.listen(0, '127.0.0.1', resolve))
      url = `http://127.0.0.1:${(ledger.address() as { port: number }).port}`
    })
    after(() => ledger.close())

    it('spreads 2,000 choices over relays of capacities 1:2:4:8 as a chi-square test expects (p > 0.01)', async () => {
      const capacities = new LedgerCapacities(url, new Logger({ role: 'proxy', write: () => {} }))
      await capacities.refresh()
      const ids = ['r1', 'r2', 'r4', 'r8']
      const candidates = ids.map(peerId => ({ peerId, capacityBps: capacities.get(peerId) }))
      assert.deepEqual(
        candidates.map(c => c.capacityBps),
        [1e6, 2e6, 4e6, 8e6],
      )
      const random = seeded(2025)
      const counts = new Map(ids.map(id => [id, 0]))
      const n = 2000
      for (let i = 0; i < n; i++) {
        const id = chooseRelays(candidates, 1, random)[0]!
        counts.set(id, counts.get(id)! + 1)
      }
      const weights = [1, 2, 4, 8]
      const chiSquare = ids.reduce((sum, id, i) => {
        const expected = (n * weights[i]!) / 15
        return sum + (counts.get(id)! - expected) ** 2 / expected
      }, 0)
      // the chi-square distribution with 3 degrees of freedom exceeds 11.345 with probability 0.01
      assert(chiSquare < 11.345, `chi-square ${chiSquare.toFixed(2)} for counts ${[...counts.values()]}`)
    })

    it('counts a score of 0 or none as unmeasured, and keeps the last scores when the ledger fails', async () => {
      const log: string[] = []
      const capacities = new LedgerCapacities(
        url,
        new Logger({ role: 'proxy', write: line => log.push(line) }),
      )
      await capacities.refresh()
      assert.equal(capacities.get('zero'), undefined)
      assert.equal(capacities.get('none'), undefined)
      assert.equal(capacities.size, 4)
      failing = true
      await capacities.refresh()
      failing = false
      assert.equal(capacities.get('r8'), 8e6)
      assert.match(log.join('\n'), /cannot read relay capacities from the ledger: .*answered 503/)
    })
  })
})
