import { createRequire } from 'node:module'
import { execFileSync } from 'node:child_process'
import { createReadStream, createWriteStream, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { dirname, join } from 'node:path'
import { finished } from 'node:stream/promises'
import { stringify } from 'yaml'
import { sha256 } from '../protocol/hash.ts'
import { utf8 } from '../protocol/bytes.ts'
import { type Job, type JobResult, runJob } from './job.ts'
import { NODES_HEADER, type PointSummary, summarizePoint } from './metrics.ts'
import { breakdownDocument } from './breakdown.ts'
import { writeReport } from './report.ts'
import { moduleWorker } from './threads.ts'
import { type AdversaryName, type Scenario, sweepPoints } from './scenario.ts'

export interface SweepOptions {
  out: string
  /** worker threads; 0 runs in this thread (the default for a single run) */
  workers?: number
  /** draws a progress line; called often */
  progress?: (line: string) => void
}

export interface SweepResult {
  fingerprint: string
  results: JobResult[]
  points: PointSummary[]
  codeVersion: string
  wallMs: number
}

export function codeVersion(): string {
  // #root/ is the package root (package.json's "imports"), from the sources or from dist/ alike
  const pkg = JSON.parse(readFileSync(createRequire(import.meta.url).resolve('#root/package.json'), 'utf8'))
  let commit = 'unknown'
  try {
    commit = execFileSync('git', ['describe', '--always', '--dirty', '--abbrev=12'], {
      cwd: dirname(createRequire(import.meta.url).resolve('#root/package.json')),
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim()
  } catch {}
  return `weir ${pkg.version} (${commit})`
}

/** Runs jobs on a pool of worker threads, results in job order. */
async function runOnWorkers(
  jobs: Job[],
  workers: number,
  onProgress: (index: number, epochs: number) => void,
) {
  const results: JobResult[] = new Array(jobs.length)
  const queue = [...jobs]
  const pool = Array.from({ length: Math.min(workers, jobs.length) }, () => {
    const worker = moduleWorker('./worker', import.meta.url)
    return new Promise<void>((resolve, reject) => {
      const next = () => {
        const job = queue.shift()
        if (!job) {
          worker.terminate().then(() => resolve(), reject)
          return
        }
        worker.postMessage(job)
      }
      worker.on('message', msg => {
        if (msg.type === 'progress') onProgress(msg.index, msg.epochs)
        else if (msg.type === 'result') {
          results[msg.result.index] = msg.result
          next()
        } else {
          worker.terminate()
          reject(new Error(`run ${msg.index} failed: ${msg.message}`))
        }
      })
      worker.on('error', reject)
      next()
    })
  })
  await Promise.all(pool)
  return results
}

/**
 * Runs every sweep point × `runs` seeds (seed, seed+1, …) and writes the run folder: scenario.yaml (resolved),
 * meta.json (seeds, code version, fingerprints), epochs.csv, nodes.csv, runs.csv, summary.json, breakdown.md and report.html.
 */
export async function runSweep(scenario: Scenario, options: SweepOptions): Promise<SweepResult> {
  const started = performance.now()
  const { out } = options
  mkdirSync(out, { recursive: true })
  const parts = join(out, '.parts')
  mkdirSync(parts, { recursive: true })
  const points = sweepPoints(scenario)
  const jobs: Job[] = points.flatMap((p, i) =>
    Array.from({ length: scenario.runs }, (_, r) => ({
      index: i * scenario.runs + r,
      point: p.label || scenario.name,
      seed: scenario.seed + r,
      scenario: p.scenario,
      nodesFile: join(parts, `${i * scenario.runs + r}.csv`),
    })),
  )
  const epochsTotal = jobs.length * scenario.epochs
  const done = new Array<number>(jobs.length).fill(0)
  const onProgress = (index: number, epochs: number) => {
    done[index] = epochs
    const sum = done.reduce((a, b) => a + b, 0)
    const runsDone = done.filter(d => d === scenario.epochs).length
    const width = 30
    const filled = Math.round((sum / epochsTotal) * width)
    options.progress?.(
      `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${sum}/${epochsTotal} epochs, ${runsDone}/${jobs.length} runs`,
    )
  }
  const workers = options.workers ?? (jobs.length > 1 ? availableParallelism() : 0)
  const results =
    workers > 0
      ? await runOnWorkers(jobs, workers, onProgress)
      : jobs.map(job => runJob({ ...job, parallelClose: true }, epochs => onProgress(job.index, epochs)))

  const fingerprint =
    results.length === 1
      ? (results[0] as JobResult).fingerprint
      : Buffer.from(sha256(utf8(results.map(r => r.fingerprint).join('\n')))).toString('hex')
  const summaries = points.map(p => {
    const label = p.label || scenario.name
    return summarizePoint(
      label,
      results.filter(r => r.point === label).map(r => r.headline),
    )
  })
  const version = codeVersion()

  writeFileSync(join(out, 'scenario.yaml'), stringify({ ...scenario, capacity: { ...scenario.capacity } }))
  writeEpochsCsv(join(out, 'epochs.csv'), results)
  writeRunsCsv(join(out, 'runs.csv'), results)
  await concatenate(
    join(out, 'nodes.csv'),
    `point,seed,${NODES_HEADER}\n`,
    jobs.map(j => j.nodesFile as string),
  )
  rmSync(parts, { recursive: true, force: true })
  const wallMs = performance.now() - started
  const meta = {
    scenario: scenario.name,
    seeds: jobs.map(j => j.seed).filter((s, i, all) => all.indexOf(s) === i),
    runs: results.map(r => ({ point: r.point, seed: r.seed, fingerprint: r.fingerprint, events: r.events })),
    fingerprint,
    codeVersion: version,
    rerun: `weir sim ${join(out, 'scenario.yaml')} --seed ${scenario.seed} --runs ${scenario.runs}`,
  }
  writeFileSync(join(out, 'meta.json'), `${JSON.stringify(meta, null, 2)}\n`)
  writeFileSync(join(out, 'breakdown.md'), breakdownDocument(scenario.name, summaries))
  writeFileSync(join(out, 'summary.json'), `${JSON.stringify({ fingerprint, points: summaries }, null, 2)}\n`)
  writeFileSync(
    join(out, 'report.html'),
    writeReport(scenario, results, summaries, { fingerprint, codeVersion: version }),
  )
  return { fingerprint, results, points: summaries, codeVersion: version, wallMs }
}

const num = (v: number) => (Number.isFinite(v) ? String(Number(v.toPrecision(6))) : '')
const quote = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s)

function adversaryNames(results: JobResult[]): AdversaryName[] {
  return [...new Set(results.flatMap(r => Object.keys(r.headline.gains)))].sort() as AdversaryName[]
}

function writeEpochsCsv(path: string, results: JobResult[]): void {
  const names = adversaryNames(results)
  const header = [
    'point,seed,epoch,certified,conflicting_certificates,eligible,probes,attestations,content',
    'coverage,median_rel_error,p95_rel_error,spearman,gini',
    ...names.map(n => `gain_${n}`),
  ].join(',')
  const rows = results.flatMap(r =>
    r.epochs.map(e =>
      [
        quote(r.point),
        r.seed,
        e.epoch,
        e.certified ? 1 : 0,
        e.conflicting,
        e.eligible,
        e.probes,
        e.attestations,
        e.content,
        num(e.coverage),
        num(e.medianRelError),
        num(e.p95RelError),
        num(e.spearman),
        num(e.gini),
        ...names.map(n => num(e.gains[n] ?? Number.NaN)),
      ].join(','),
    ),
  )
  writeFileSync(path, `${header}\n${rows.join('\n')}\n`)
}

function writeRunsCsv(path: string, results: JobResult[]): void {
  const names = adversaryNames(results)
  const header = [
    'point,seed,fingerprint,events,median_rel_error,p95_rel_error,spearman,gini',
    ...names.map(n => `gain_${n}`),
  ]
  const rows = results.map(r =>
    [
      quote(r.point),
      r.seed,
      r.fingerprint,
      r.events,
      num(r.headline.medianRelError),
      num(r.headline.p95RelError),
      num(r.headline.spearman),
      num(r.headline.gini),
      ...names.map(n => num(r.headline.gains[n] ?? Number.NaN)),
    ].join(','),
  )
  writeFileSync(path, `${header.join(',')}\n${rows.join('\n')}\n`)
}

async function concatenate(path: string, header: string, files: string[]): Promise<void> {
  const out = createWriteStream(path)
  out.write(header)
  for (const file of files) {
    try {
      for await (const chunk of createReadStream(file))
        if (!out.write(chunk)) await new Promise<void>(r => out.once('drain', () => r()))
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    }
  }
  out.end()
  await finished(out)
}
