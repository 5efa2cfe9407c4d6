import { strict as assert } from 'node:assert'
import { assignedWitnessIndices } from '../../protocol/assignment.ts'
import { epochEnd, epochStart } from '../../protocol/epoch.ts'
import { peerIdFromString, peerIdToString } from '../../protocol/peer.ts'
import { buildRegistry } from '../../protocol/registry.ts'
import { chooseHelpers, helperReach, planEpoch, probeBudgetMs } from '../../witness/schedule.ts'
import { witnessNetwork } from './attestations.ts'

describe('witness schedule', () => {
  const t = witnessNetwork()
  const seed = t.seedOf(t.epoch) as Uint8Array

  it('plans exactly the eligible relays assigned to the witness, at times that leave room to finish', () => {
    let total = 0
    for (const w of t.network.witnesses) {
      const index = t.network.witnesses.indexOf(w)
      const plan = planEpoch({
        network: t.network,
        epoch: t.epoch,
        seed,
        registry: t.registry,
        witness: peerIdFromString(w),
      })
      const expected = t.relays.filter(r => assignedWitnessIndices(seed, r, 3, 2).includes(index))
      assert.deepEqual(plan.map(p => peerIdToString(p.relay)).sort(), expected.map(peerIdToString).sort())
      for (const p of plan) {
        assert.ok(p.at >= epochStart(t.network, t.epoch))
        assert.ok(p.at + probeBudgetMs(t.network) <= epochEnd(t.network, t.epoch))
      }
      total += plan.length
    }
    assert.equal(total, t.relays.length * t.network.witnessesPerRelay)
  })

  it('plans nothing for a stranger, and nothing for relays not yet eligible', () => {
    const stranger = t.relays[0] as Uint8Array
    assert.deepEqual(
      planEpoch({ network: t.network, epoch: t.epoch, seed, registry: t.registry, witness: stranger }),
      [],
    )
    const late = { ...t.network, relays: [], eligibilityDelay: 3 }
    const records = buildRegistry(late, [])
    const w = peerIdFromString(t.network.witnesses[0] as string)
    assert.deepEqual(planEpoch({ network: late, epoch: t.epoch, seed, registry: records, witness: w }), [])
  })

  it('draws probe times from its random source', () => {
    // keys are random, so pick a witness the seed assigns at least one relay (some witness always has one)
    const index = [0, 1, 2].find(i => t.relays.some(r => assignedWitnessIndices(seed, r, 3, 2).includes(i)))
    const w = peerIdFromString(t.network.witnesses[index as number] as string)
    const at = (r: number) =>
      planEpoch({
        network: t.network,
        epoch: t.epoch,
        seed,
        registry: t.registry,
        witness: w,
        random: () => r,
      })
    const early = at(0)
    const late = at(0.999)
    assert.ok(early.length > 0)
    assert.equal(early[0]?.at, epochStart(t.network, t.epoch))
    const length = epochEnd(t.network, t.epoch) - epochStart(t.network, t.epoch)
    assert.ok(
      (late[0]?.at as number) > epochEnd(t.network, t.epoch) - probeBudgetMs(t.network) - 0.002 * length,
    )
  })

  it('chooses one helper with at least twice the target capacity, else the fastest adding up to twice it, none under a third of it', () => {
    const candidates = [
      { peerId: 'slow', capacityBps: 2e6 },
      { peerId: 'mid', capacityBps: 10e6 },
      { peerId: 'fast', capacityBps: 50e6 },
      { peerId: 'unknown' },
    ]
    for (const r of [0, 0.5, 0.99]) {
      assert.ok(['mid', 'fast'].includes(chooseHelpers(candidates, 5e6, () => r)[0] as string))
      assert.equal(chooseHelpers(candidates, 5e6, () => r).length, 1)
      assert.deepEqual(
        chooseHelpers(candidates, 25e6, () => r),
        ['fast'],
      )
      assert.deepEqual(
        chooseHelpers(candidates, 28e6, () => r),
        ['fast', 'mid'],
      )
      assert.deepEqual(
        chooseHelpers(candidates, 24e6, () => r),
        ['fast'],
      )
      assert.deepEqual(
        chooseHelpers(
          [
            { peerId: '1', capacityBps: 1e6 },
            { peerId: '13.7', capacityBps: 13.7e6 },
            { peerId: '7.3', capacityBps: 7.3e6 },
          ],
          20e6,
          () => r,
        ),
        ['13.7', '7.3'],
        'no lane slower than a third of the target',
      )
    }
    assert.deepEqual(
      chooseHelpers([{ peerId: 'a' }, { peerId: 'b' }], undefined, () => 0.7),
      ['b'],
    )
    assert.deepEqual(
      chooseHelpers([{ peerId: 'a' }, { peerId: 'b' }], 1e6, () => 0.2),
      ['a'],
    )
    assert.deepEqual(chooseHelpers([], 1e6), [])
  })

  it('tells what the chosen helpers carry, capped at twice the target: what waiting for a busy relay would gain', () => {
    const relays = [
      { peerId: '1', capacityBps: 1e6 },
      { peerId: '7.3', capacityBps: 7.3e6 },
      { peerId: '20', capacityBps: 20e6 },
      { peerId: 'unknown' },
    ]
    const without20 = relays.filter(r => r.peerId !== '20')
    // the e2e case: the 13.7 MB/s relay while the 20 MB/s one is being probed
    assert.equal(helperReach(without20, 13.7e6), 7.3e6)
    assert.equal(helperReach(relays, 13.7e6), 27.3e6)
    assert.equal(helperReach(relays, 5e6), 10e6, 'one fast helper reaches the goal')
    assert.equal(helperReach(without20, 3e6), 6e6)
    assert.equal(helperReach(relays, 20e6), 27.3e6, 'the 1 MB/s lane is under a third of the target')
    assert.equal(helperReach(relays, 30e6), 20e6, 'so is the 7.3 MB/s one')
    assert.equal(helperReach([{ peerId: 'unlimited', capacityBps: Number.POSITIVE_INFINITY }], 50e6), 100e6)
    assert.equal(helperReach([{ peerId: 'unknown' }], 1e6), 0)
    for (const target of [1e6, 5e6, 13.7e6, 30e6]) {
      const chosen = chooseHelpers(relays, target, () => 0)
      const carried = chosen.reduce(
        (sum, id) => sum + (relays.find(r => r.peerId === id)?.capacityBps ?? 0),
        0,
      )
      assert.equal(helperReach(relays, target), Math.min(carried, 2 * target), `target ${target}`)
    }
  })
})
