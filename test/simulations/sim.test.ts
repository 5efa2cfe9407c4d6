import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runSimulation } from '../../simulations/engine.ts'
import { loadScenario, resolveScenario, type Scenario, ScenarioError } from '../../simulations/scenario.ts'
import { runSweep } from '../../simulations/sweep.ts'
import { nodeArgs, WEIR_ENTRY } from '../../simulations/testnet/supervisor.ts'

const small = (extra: Record<string, unknown> = {}): Scenario =>
  resolveScenario({
    name: 'small',
    epochs: 5,
    network: { relays: 150, witnesses: 12, epochSeconds: 600, graceSeconds: 60 },
    ...extra,
  })

describe('simulator', () => {
  const dirs: string[] = []
  const tmp = () => {
    const dir = mkdtempSync(join(tmpdir(), 'weir-sim-'))
    dirs.push(dir)
    return dir
  }
  after(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
  })

  it('gives the same fingerprint and byte-identical CSVs for the same scenario and seed', async () => {
    const [a, b] = [tmp(), tmp()]
    const ra = await runSweep(small(), { out: a, workers: 0 })
    const rb = await runSweep(small(), { out: b, workers: 0 })
    assert.equal(ra.fingerprint, rb.fingerprint)
    for (const file of ['epochs.csv', 'nodes.csv', 'runs.csv', 'summary.json']) {
      assert.equal(readFileSync(join(a, file), 'utf8'), readFileSync(join(b, file), 'utf8'), file)
    }
    assert.ok(readFileSync(join(a, 'nodes.csv'), 'utf8').split('\n').length > 150 * 5)
    const other = runSimulation(small(), 2)
    assert.notEqual(other.fingerprint, ra.fingerprint)
  })

  it('runs sweeps on worker threads with the same results as in this thread', async () => {
    const scenario = small({ runs: 2, epochs: 3, sweep: { 'traffic.load': [0.1, 0.3] } })
    const pooled = await runSweep(scenario, { out: tmp(), workers: 2 })
    assert.equal(pooled.results.length, 4)
    assert.deepEqual(
      pooled.points.map(p => p.point),
      ['traffic.load=0.1', 'traffic.load=0.3'],
    )
    const inline = await runSweep(scenario, { out: tmp(), workers: 0 })
    assert.deepEqual(
      pooled.results.map(r => r.fingerprint),
      inline.results.map(r => r.fingerprint),
    )
    assert.equal(new Set(pooled.results.map(r => r.fingerprint)).size, 4)
  })

  it('baseline scenario: rewards follow true capacity (Spearman ≥ 0.95)', () => {
    const run = runSimulation(loadScenario('simulations/scenarios/baseline.yaml'), 1)
    const h = run.recorder.headline()
    assert.ok(h.spearman >= 0.95, `spearman ${h.spearman}`)
    assert.ok(h.medianRelError < 0.2, `median error ${h.medianRelError}`)
    assert.ok(run.epochs.every(e => e.certified && e.conflicting === 0))
  })

  it('every adversary scenario file yields its gain ratio, reproducibly', () => {
    for (const name of ['inflating', 'lazy', 'colluding', 'sybil', 'byzantine', 'droppers']) {
      const scenario = loadScenario(`simulations/scenarios/${name}.yaml`)
      assert.ok(scenario.description.length > 40, `${name} says what it shows`)
      scenario.epochs = 4
      scenario.network.relays = 200
      scenario.network.witnesses = 12
      const a = runSimulation(scenario, 7)
      const gain = a.recorder.headline().gains[name as keyof Scenario['adversaries']]
      assert.ok(gain !== undefined && Number.isFinite(gain), `${name}: gain ${gain}`)
      if (name === 'colluding') {
        const b = runSimulation(scenario, 7)
        assert.equal(b.fingerprint, a.fingerprint)
        assert.equal(b.recorder.headline().gains.colluding, gain)
      }
    }
  })

  it('sybil-shared: identities at one address gain at most 1.1 per machine; behind five addresses, far more', function () {
    this.timeout(60_000)
    // All 12 epochs of the scenario (its steady state is the second half), on a smaller network.
    const gain = (seed: number, sybil: Record<string, unknown>): number => {
      const scenario = loadScenario('simulations/scenarios/sybil-shared.yaml')
      scenario.sweep = {}
      scenario.network.relays = 200
      scenario.network.witnesses = 12
      Object.assign(scenario.adversaries.sybil as object, sybil)
      return runSimulation(scenario, seed).recorder.headline().gains.sybil as number
    }
    const seeds = [1, 2, 3, 4, 5]
    const together = seeds.map(seed => gain(seed, { mode: 'shared', addresses: 1 }))
    const apart = seeds.map(seed => gain(seed, { mode: 'shared', addresses: 5 }))
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length
    seeds.forEach((seed, i) => {
      assert.ok((together[i] as number) <= 1.1, `seed ${seed}: shared ${together[i]}`)
    })
    // behind five addresses the rule cannot see the machine: each identity reads all of it
    assert.ok(mean(apart) > 2 * mean(together), `five addresses ${apart}, one ${together}`)
  })

  it('uses real signatures end to end when crypto is real', () => {
    const run = runSimulation(small({ crypto: 'real', epochs: 3, churn: { join: 3 } }), 1)
    assert.ok(run.epochs.every(e => e.certified))
    assert.ok(run.epochs.every(e => e.content > 0 && e.content === e.attestations))
  })

  it('applies churn: joiners become eligible after the eligibility delay', () => {
    const run = runSimulation(
      small({
        epochs: 6,
        churn: { join: 5, crash: 0.2, leave: 0.05 },
        network: { relays: 150, witnesses: 12, eligibilityDelay: 2 },
      }),
      3,
    )
    const eligible = run.epochs.map(e => e.eligible)
    assert.equal(eligible[0], 150)
    assert.ok((eligible[5] as number) > 150, `eligible ${eligible}`)
  })

  it('reports each adversary’s gain ratio', () => {
    const gain = (adversaries: Record<string, unknown>, seed = 1) =>
      runSimulation(small({ epochs: 6, adversaries }), seed).recorder.headline().gains
    const inflating = gain({ inflating: { fraction: 0.1, detection: 1 } }).inflating as number
    assert.ok(inflating > 1, `inflating ${inflating}`)
    const sybil = gain({ sybil: { machines: 5, identities: 4, mode: 'split' } }).sybil as number
    assert.ok(sybil > 0.6 && sybil < 1.5, `sybil ${sybil}`)
    // one colluder in the three witnesses of a relay cannot move the median
    const few = gain({ colluding: { witnesses: 0.1, targets: 10, inflation: 20 } }).colluding as number
    const many = gain({ colluding: { witnesses: 0.7, targets: 10, inflation: 20 } }).colluding as number
    assert.ok(few < 2 && many > 3, `colluding few ${few} many ${many}`)
    assert.ok(Number.isFinite(gain({ lazy: { fraction: 0.3 } }).lazy))
    assert.ok(Number.isFinite(gain({ droppers: { fraction: 0.3 } }).droppers))
    const byz = runSimulation(small({ epochs: 3, adversaries: { byzantine: { members: 2 } } }), 1)
    assert.ok(byz.epochs.every(e => e.certified && e.conflicting === 0))
  })

  it('prints a summary whose last line is one JSON object', () => {
    const dir = tmp()
    const file = join(dir, 'tiny.yaml')
    writeFileSync(
      file,
      'name: tiny\nepochs: 3\nnetwork: { relays: 60, witnesses: 6, epochSeconds: 600, graceSeconds: 60 }\nadversaries: { inflating: {} }\n',
    )
    const run = spawnSync(
      process.execPath,
      [...nodeArgs(WEIR_ENTRY), 'sim', file, '--out', join(dir, 'out'), '--seed', '4'],
      {
        encoding: 'utf8',
      },
    )
    assert.equal(run.status, 0, run.stderr)
    const last = JSON.parse(run.stdout.trim().split('\n').at(-1) as string)
    assert.match(last.fingerprint, /^[0-9a-f]{64}$/)
    for (const key of ['medianRelError', 'p95RelError', 'spearman'])
      assert.equal(typeof last[key], 'number', key)
    assert.equal(typeof last.gains.inflating, 'number')
    const meta = JSON.parse(readFileSync(join(dir, 'out', 'meta.json'), 'utf8'))
    assert.deepEqual(meta.seeds, [4])
    assert.equal(meta.fingerprint, last.fingerprint)
  })
})

describe('scenario schema', () => {
  it('fills defaults', () => {
    const s = resolveScenario({})
    assert.equal(s.network.witnessesPerRelay, 3)
    assert.equal(s.capacity.distribution, 'lognormal')
    assert.deepEqual(s.adversaries, {})
  })

  it('names the key in every error', () => {
    const cases: [unknown, RegExp][] = [
      [{ network: { relays: 'many' } }, /^network\.relays: expected a number/],
      [{ network: { relayz: 3 } }, /^network\.relayz: unknown key/],
      [
        { adversaries: { inflating: { detection: 2 } } },
        /^adversaries\.inflating\.detection: expected a number from 0 to 1/,
      ],
      [
        { capacity: { distribution: 'pareto' } },
        /^capacity\.distribution: expected one of lognormal, uniform, empirical/,
      ],
      [{ network: { witnesses: 2, witnessesPerRelay: 3 } }, /^network\.witnessesPerRelay/],
      [{ sweep: { 'traffic.load': [0.1, 7] } }, /^traffic\.load: expected a number from 0 to 1, got 7/],
      [{ capacity: { distribution: 'empirical' } }, /^capacity\.file/],
    ]
    for (const [input, message] of cases) {
      assert.throws(
        () => resolveScenario(input),
        (err: Error) => err instanceof ScenarioError && message.test(err.message),
        String(message),
      )
    }
  })

  it('draws capacities from an empirical CSV', () => {
    const dir = mkdtempSync(join(tmpdir(), 'weir-csv-'))
    try {
      const file = join(dir, 'caps.csv')
      writeFileSync(file, 'host,up\na,1000000\nb,2000000\n')
      const s = resolveScenario({
        epochs: 1,
        network: { relays: 40, witnesses: 4 },
        capacity: { distribution: 'empirical', file },
      })
      const run = runSimulation(s, 1)
      const truths = new Set(run.recorder.world.relayTruth)
      assert.deepEqual([...truths].sort(), [1_000_000, 2_000_000])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('parallel epoch closing', () => {
  it('closes epochs on a second thread with the same fingerprint', () => {
    const scenario = resolveScenario({
      epochs: 4,
      network: { relays: 120, witnesses: 8, epochSeconds: 600, graceSeconds: 60 },
      adversaries: { byzantine: { members: 2 } },
    })
    const inline = runSimulation(scenario, 5)
    const parallel = runSimulation(scenario, 5, { parallelClose: true })
    assert.equal(parallel.fingerprint, inline.fingerprint)
    assert.deepEqual(parallel.epochs, inline.epochs)
  })
})
