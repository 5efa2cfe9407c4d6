import { join } from 'node:path'
import { loadScenario, ScenarioError } from '../../simulations/scenario.ts'
import { breakdownMarkdown, pointsMarkdown } from '../../simulations/breakdown.ts'
import { runSweep } from '../../simulations/sweep.ts'
import type { Interval } from '../../simulations/stats.ts'
import { intFlag, parseFlags, UsageError } from '../args.ts'
import type { Command } from '../command.ts'

const USAGE = `weir sim SCENARIO.yaml [--out DIR] [--seed N] [--runs N] [--workers N]

Runs the scenario (every sweep point × N seeds, in parallel on worker threads) and writes DIR:
scenario.yaml (resolved), meta.json (seeds, code version, fingerprints), epochs.csv, nodes.csv,
runs.csv, summary.json, breakdown.md (error by relay size and cause) and report.html. The last line
printed is one JSON object.`

const show = (v: Interval) =>
  v.n > 1 ? `${v.mean.toFixed(4)} [${v.low.toFixed(4)}, ${v.high.toFixed(4)}]` : v.mean.toFixed(4)
const json = (v: number) => (Number.isFinite(v) ? Number(v.toFixed(6)) : null)

export const command: Command = {
  summary: 'simulate a Weir network from a scenario file (accuracy, fairness, attacks)',
  usage: USAGE,
  async run(argv) {
    const { values: v, positionals } = parseFlags(
      argv,
      {
        out: { type: 'string' },
        seed: { type: 'string' },
        runs: { type: 'string' },
        workers: { type: 'string' },
      },
      1,
    )
    const file = positionals[0]
    if (!file) throw new UsageError('expected a scenario file (e.g. simulations/scenarios/baseline.yaml)')
    let scenario: ReturnType<typeof loadScenario>
    try {
      scenario = loadScenario(file)
    } catch (err) {
      // read and parse errors name the file already; field errors name only the key
      if (err instanceof ScenarioError)
        throw new UsageError(err.message.startsWith(file) ? err.message : `${file}: ${err.message}`)
      throw err
    }
    scenario.seed = intFlag(v.seed, 'seed', scenario.seed, 0, 2 ** 31)
    scenario.runs = intFlag(v.runs, 'runs', scenario.runs, 1, 1000)
    const out = v.out ?? join('out', `sim-${scenario.name}-seed${scenario.seed}`)
    const tty = process.stderr.isTTY
    const result = await runSweep(scenario, {
      out,
      ...(v.workers === undefined ? {} : { workers: intFlag(v.workers, 'workers', 0, 0, 64) }),
      progress: line => {
        if (tty) process.stderr.write(`\r${line}`)
      },
    })
    if (tty) process.stderr.write('\n')

    console.log(`scenario ${scenario.name}: ${scenario.description}`)
    console.log(
      `${result.results.length} run(s), seeds from ${scenario.seed}, ${result.codeVersion}, ${(result.wallMs / 1000).toFixed(1)} s`,
    )
    for (const r of result.results)
      console.log(`  ${r.point} seed ${r.seed}: fingerprint ${r.fingerprint}, ${r.events} events`)
    for (const p of result.points) {
      console.log(`${p.point} (${p.runs} run(s); mean [95% t-interval]):`)
      console.log(`  median relative capacity error  ${show(p.medianRelError)}`)
      console.log(`  p95 relative capacity error     ${show(p.p95RelError)}`)
      console.log(`  Spearman(reward, true capacity) ${show(p.spearman)}`)
      console.log(`  Gini of rewards                 ${show(p.gini)}`)
      for (const [name, gain] of Object.entries(p.gains))
        console.log(`  gain ratio: ${name.padEnd(19)} ${show(gain)}`)
      console.log(`  error by relay size and cause (% of true capacity; breakdown.md explains):\n`)
      console.log(`${breakdownMarkdown(p)}\n`)
    }
    if (result.points.length > 1) console.log(`${pointsMarkdown(result.points)}\n`)
    console.log(`wrote ${out}/ (report.html, breakdown.md, epochs.csv, nodes.csv, runs.csv, meta.json)`)
    const first = result.points[0]
    const summary = {
      fingerprint: result.fingerprint,
      medianRelError: json(first?.medianRelError.mean ?? Number.NaN),
      p95RelError: json(first?.p95RelError.mean ?? Number.NaN),
      spearman: json(first?.spearman.mean ?? Number.NaN),
      gains: Object.fromEntries(Object.entries(first?.gains ?? {}).map(([k, g]) => [k, json(g.mean)])),
      ...(result.points.length > 1
        ? {
            points: result.points.map(p => ({
              point: p.point,
              medianRelError: json(p.medianRelError.mean),
              p95RelError: json(p.p95RelError.mean),
              spearman: json(p.spearman.mean),
              gains: Object.fromEntries(Object.entries(p.gains).map(([k, g]) => [k, json(g.mean)])),
            })),
          }
        : {}),
    }
    console.log(JSON.stringify(summary))
    return 0
  },
}
