import assert from 'node:assert/strict'
import { runSimulation } from '../../simulations/engine.ts'
import { CAUSES, type EpochRecorder, type ErrorBreakdownRow } from '../../simulations/metrics.ts'
import { loadScenario, resolveScenario, type Scenario } from '../../simulations/scenario.ts'

// The error breakdown, helper lanes and background credit, on small networks with fixed seeds.

const network = (extra: Record<string, unknown> = {}): Scenario =>
  resolveScenario({
    name: 'accuracy',
    epochs: 12,
    network: { relays: 300 },
    ...extra,
  })

const breakdown = (s: Scenario, seed = 1) => runSimulation(s, seed).recorder.headline().breakdown
const row = (rows: ErrorBreakdownRow[], size: string) => rows.find(r => r.size === size) as ErrorBreakdownRow

describe('simulator accuracy', () => {
  // the default network at 20% load, shared by the tests that read it
  let headline: ReturnType<EpochRecorder['headline']>
  before(() => {
    headline = runSimulation(network(), 2).recorder.headline()
  })

  it('breaks the error down by relay size, and the causes add up to the shortfall', () => {
    const rows = headline.breakdown
    assert.deepEqual(
      rows.map(r => r.size),
      ['q0-20', 'q20-40', 'q40-60', 'q60-80', 'q80-95', 'q95-99', 'q99-100', 'all'],
    )
    const all = row(rows, 'all')
    assert.equal(
      all.count,
      rows.slice(0, -1).reduce((a, r) => a + r.count, 0),
    )
    for (const r of rows) {
      const sum = CAUSES.reduce((a, c) => a + r[c], 0)
      assert.ok(Math.abs(sum - r.bias) < 1e-9, `${r.size}: causes ${sum} against shortfall ${r.bias}`)
      assert.ok(r.median <= r.p95)
    }
    // users take capacity at 20% load, and the credited background gives most of it back
    assert.ok(all.users > 0.02 && all.credit < -0.5 * all.users, JSON.stringify(all))
  })

  it('without user traffic only other probes and helpers cost anything, and there is nothing to credit from users', () => {
    const all = row(breakdown(network({ traffic: { load: 0 } })), 'all')
    assert.ok(Math.abs(all.users) < 1e-9, `users ${all.users}`)
    assert.ok(all.median < 1e-6, `median ${all.median}`)
  })

  it('probes the biggest relays through several helper lanes, which reads them closer to their capacity', () => {
    const big = (lanes: number) =>
      row(breakdown(network({ helperLanes: lanes, traffic: { load: 0 } })), 'q95-99').helpers
    const one = big(1)
    const several = big(3)
    assert.ok(one > 0.05, `one helper: helpers cost ${one}`)
    assert.ok(several < one / 2, `lanes: helpers cost ${several}, one helper ${one}`)
  })

  it('background credit cuts the error at 20% load, and a relay that fakes background gains at most 4/3', () => {
    const credit = headline
    const none = runSimulation(network({ backgroundCredit: false }), 2).recorder.headline()
    assert.ok(credit.p95RelError < none.p95RelError / 2, `p95 ${credit.p95RelError} vs ${none.p95RelError}`)
    const inflating = (fakeBackground: boolean) =>
      runSimulation(
        network({ adversaries: { inflating: { fraction: 0.1, detection: 0.5, fakeBackground } } }),
        2,
      ).recorder.headline().gains.inflating as number
    const honestLie = inflating(false)
    const fake = inflating(true)
    assert.ok(fake > honestLie, `faking background gains something: ${fake} vs ${honestLie}`)
    assert.ok(fake <= 4 / 3, `fake background gain ${fake}`)
  })

  it('holds users to a fair share with 32 streams per lane: p95 within 5% at 20% load and 10% at 50%', () => {
    const at = (load: number, probeStreams: number) =>
      runSimulation(network({ probeStreams, traffic: { load } }), 2).recorder.headline()
    assert.ok(headline.medianRelError <= 0.02 && headline.p95RelError <= 0.05, JSON.stringify(headline))
    assert.ok(headline.spearman >= 0.99, `spearman ${headline.spearman}`)
    const half = at(0.5, 32)
    assert.ok(half.p95RelError <= 0.1, `p95 at 50% load ${half.p95RelError}`)
    // with 4 streams the users keep more than the credit can give back
    assert.ok(at(0.5, 4).p95RelError > 0.2)
  })

  it('ships a load sweep from 0 to 60% and the fake-background scenario', () => {
    const sweep = loadScenario('simulations/scenarios/load-sweep.yaml')
    assert.deepEqual(sweep.sweep['traffic.load'], [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    const fake = loadScenario('simulations/scenarios/inflating-background.yaml')
    assert.equal(fake.adversaries.inflating?.fakeBackground, true)
  })
})
