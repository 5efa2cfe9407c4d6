import assert from 'node:assert/strict'
import {
  MIN_EPOCH_SECONDS,
  machineProbeConcurrency,
  type ProbeLoad,
  probesFit,
  shortestEpochSeconds,
  testnetTiming,
} from '../../../simulations/testnet/feasibility.ts'
import { whyUnmeasured } from '../../../simulations/testnet/testnet.ts'
import { probeBudgetMs } from '../../../witness/schedule.ts'

/**
 * An independent account of one epoch on a testnet: probes drawn at `draws` (ms from the epoch start)
 * wait for one of `concurrency` leases, first come first served, each held for a probe's planned length;
 * the latest moment any of them starts.
 */
function lastLeaseStart(draws: number[], concurrency: number, probeMs: number): number {
  const free = Array.from({ length: concurrency }, () => 0)
  let last = 0
  for (const at of [...draws].sort((a, b) => a - b)) {
    const lease = free.indexOf(Math.min(...free))
    const start = Math.max(at, free[lease] as number)
    free[lease] = start + probeMs
    last = Math.max(last, start)
  }
  return last
}

/** Whether every probe drawn at `draws` starts by its last start (grace end − P). */
function allStartInTime(load: ProbeLoad, epochSeconds: number, draws: number[]): boolean {
  const t = testnetTiming(epochSeconds)
  const probeMs = probeBudgetMs(t)
  return lastLeaseStart(draws, load.concurrency, probeMs) <= (epochSeconds + t.graceSeconds) * 1000 - probeMs
}

describe('testnet feasibility', () => {
  const reviewed: ProbeLoad = { relays: 4, witnesses: 3, concurrency: 1 }

  it('refuses 20 s epochs for 4 relays on 2 cores and names the shortest that fits', () => {
    assert.equal(probesFit(reviewed, 20), false)
    assert.equal(shortestEpochSeconds(reviewed), 48)
    assert.equal(probesFit(reviewed, 47), false)
    assert.equal(probesFit(reviewed, 48), true)
  })

  it('fits every epoch length from the shortest on, and more leases shorten it', () => {
    for (const load of [
      reviewed,
      { relays: 8, witnesses: 4, concurrency: 1 },
      { relays: 5, witnesses: 3, concurrency: 2 },
    ]) {
      const shortest = shortestEpochSeconds(load)
      for (let e = shortest; e < shortest + 200; e++) assert.ok(probesFit(load, e), `${e} s`)
    }
    assert.equal(shortestEpochSeconds({ relays: 8, witnesses: 4, concurrency: 1 }), 112)
    assert.equal(shortestEpochSeconds({ relays: 8, witnesses: 4, concurrency: 4 }), 16)
    assert.equal(shortestEpochSeconds({ relays: 2, witnesses: 1, concurrency: 2 }), MIN_EPOCH_SECONDS)
  })

  it('agrees with the lease queue: any draws fit at the shortest length, draws at the last moment do not below it', () => {
    for (const load of [
      reviewed,
      { relays: 7, witnesses: 4, concurrency: 2 },
      { relays: 3, witnesses: 3, concurrency: 1 },
    ]) {
      const shortest = shortestEpochSeconds(load)
      const probeMs = probeBudgetMs(testnetTiming(shortest))
      const lastDraw = shortest * 1000 - probeMs
      // deterministic pseudo-random draws over [0, last draw], and the worst case of all at the last draw
      let x = 12345
      for (let run = 0; run < 200; run++) {
        const draws = Array.from({ length: load.relays }, () => {
          x = (x * 1103515245 + 12345) % 2 ** 31
          return Math.floor((x / 2 ** 31) * lastDraw)
        })
        assert.ok(allStartInTime(load, shortest, draws), `draws ${draws}`)
      }
      assert.ok(allStartInTime(load, shortest, Array(load.relays).fill(lastDraw)))
      const shorter = shortest - 1
      if (shorter < MIN_EPOCH_SECONDS) continue
      const late = Array(load.relays).fill(shorter * 1000 - probeBudgetMs(testnetTiming(shorter)))
      assert.equal(allStartInTime(load, shorter, late), false, `${shorter} s`)
    }
  })

  it('runs one probe at a time per two cores', () => {
    assert.deepEqual([1, 2, 3, 4, 8].map(machineProbeConcurrency), [1, 1, 1, 2, 4])
  })
})

describe('testnet: why a relay went unmeasured', () => {
  const ends = [
    {
      witness: 'witness-1',
      epoch: 3,
      relay: 'A',
      end: 'skipped' as const,
      reason: 'probe gate still closed at its last start',
    },
    {
      witness: 'witness-2',
      epoch: 3,
      relay: 'B',
      end: 'unpublished' as const,
      outcome: 'ok' as const,
      reason: 'finished after the grace',
    },
    {
      witness: 'witness-2',
      epoch: 4,
      relay: 'B',
      end: 'published' as const,
      outcome: 'unreachable' as const,
    },
    { witness: 'witness-3', epoch: 4, end: 'skipped' as const, reason: 'seed never became known' },
  ]

  it('gives the assigned witness its say, else what kept a witness from the whole epoch', () => {
    assert.equal(
      whyUnmeasured(ends, 3, 'A'),
      'no probe: probe gate still closed at its last start (witness-1)',
    )
    assert.equal(whyUnmeasured(ends, 3, 'B'), 'ok probe not published: finished after the grace (witness-2)')
    assert.equal(whyUnmeasured(ends, 4, 'B'), 'probe unreachable (witness-2)')
    assert.equal(whyUnmeasured(ends, 4, 'A'), 'no probe: seed never became known (witness-3)')
    assert.equal(whyUnmeasured(ends, 3, 'C'), 'no witness logged a probe of it')
  })
})
