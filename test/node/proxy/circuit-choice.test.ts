import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import { Logger } from '../../../node/host/log.ts'
import { chooseRelays } from '../../../node/proxy/circuit-choice.ts'
import { CertifiedCapacities } from '../../../node/proxy/certified-capacities.ts'
import type { LedgerApi } from '../../../ledger/api.ts'
import { graceEnd } from '../../../protocol/epoch.ts'
import { party, testNetwork } from '../../helpers/network.ts'
import {
  certify,
  GENESIS,
  ingestAttestations,
  type MemoryLedger,
  memoryLedger,
  serveApi,
} from '../../ledger/memory-ledger.ts'

const quiet = () => new Logger({ role: 'proxy', write: () => {} })

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

  describe('with capacities a ledger certified, verified by the proxy', () => {
    // a real ledger's store, ingest, votes and HTTP API (test/ledger/memory-ledger.ts): 4 relays whose
    // assigned witnesses attest 1, 2, 4 and 8 MB/s in epoch 0, certified by the committee fixture
    const t = testNetwork({
      label: 'certified-choice',
      relays: 4,
      overrides: { id: 'certified-choice', genesis: GENESIS, epochSeconds: 3600, graceSeconds: 10 },
    })
    const ids = t.relays.map(r => r.text)
    let m: MemoryLedger
    let api: LedgerApi
    let url: string
    let tamperer: Server
    let tampered: string

    before(async () => {
      m = memoryLedger(t)
      await ingestAttestations(m, 0, { capacity: r => 1_000_000 * 2 ** r })
      certify(m, 0)
      m.clock.ms = graceEnd(m.network, 0) + 1000
      ;({ api, url } = await serveApi(m))
      // the same ledger behind a front that flips one bit of a proof in the 8 MB/s relay's answer
      tamperer = createServer(async (req, res) => {
        const answer = await (await fetch(`${url}${req.url}`)).json()
        if (req.url === `/relays/${ids[3]}/capacity`) {
          const proof = answer.attestations[0].proof
          proof[0] = `${proof[0].slice(0, -1)}${proof[0].endsWith('0') ? '1' : '0'}`
        }
        res.end(JSON.stringify(answer))
      })
      await new Promise<void>(resolve => tamperer.listen(0, '127.0.0.1', resolve))
      tampered = `http://127.0.0.1:${(tamperer.address() as { port: number }).port}`
    })
    after(async () => {
      tamperer?.close()
      await api?.close()
      m?.store.close()
    })

    it('spreads 2,000 choices over relays of certified capacities 1:2:4:8 as a chi-square test expects (p > 0.01)', async () => {
      const capacities = new CertifiedCapacities(url, m.network, () => ids, quiet(), m.clock.now)
      await capacities.refresh()
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

    it('leaves a relay whose evidence does not verify unmeasured, and says why once', async () => {
      const lines: string[] = []
      const log = new Logger({ role: 'proxy', write: line => lines.push(line) })
      const stranger = party('certified-choice/stranger').text
      const capacities = new CertifiedCapacities(
        tampered,
        m.network,
        () => [...ids, stranger],
        log,
        m.clock.now,
      )
      await capacities.refresh()
      m.clock.ms += 6 * 60_000
      await capacities.refresh()
      assert.deepEqual(
        [...ids, stranger].map(id => capacities.get(id)),
        [1e6, 2e6, 4e6, undefined, undefined],
      )
      const why = lines.filter(l => l.includes('no certified capacity'))
      assert.equal(why.length, 2, why.join('\n'))
      assert.match(why[0]!, /attestation is not proven to be in the certified content of epoch 0.*relay=/)
      assert.match(why[1]!, /it scored 0 in epoch 0 \(0 attestations shown\)/)
    })

    it('keeps the figures it verified while the ledger cannot be read', async () => {
      const lines: string[] = []
      const log = new Logger({ role: 'proxy', write: line => lines.push(line) })
      const capacities = new CertifiedCapacities(url, m.network, () => ids, log, m.clock.now)
      await capacities.refresh()
      await api.close()
      m.clock.ms += 6 * 60_000
      await capacities.refresh()
      assert.equal(capacities.get(ids[3]!), 8e6)
      assert.match(lines.join('\n'), /cannot read relay capacities from the ledger/)
    })
  })
})
