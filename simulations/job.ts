import { closeSync, openSync, writeSync } from 'node:fs'
import { runSimulation } from './engine.ts'
import type { EpochMetrics, Headline } from './metrics.ts'
import type { Scenario } from './scenario.ts'

/** One run of a sweep: a resolved scenario (one grid point) and a seed. */
export interface Job {
  index: number
  point: string
  seed: number
  scenario: Scenario
  /** where this run's epoch × node rows go (header-less; the sweep concatenates them) */
  nodesFile?: string
  /** close epochs on a second thread (for runs not already spread over worker threads) */
  parallelClose?: boolean
}

/** What a run hands back: small enough to pass between threads. */
export interface JobResult {
  index: number
  point: string
  seed: number
  fingerprint: string
  events: number
  wallMs: number
  headline: Headline
  epochs: EpochMetrics[]
  histogram: number[]
  sample: { truth: number; estimate: number; reward: number; role: string }[]
  cumulative: { truth: number; reward: number; role: string }[]
}

const csvText = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s)

export function runJob(job: Job, progress?: (epochsDone: number) => void): JobResult {
  const started = performance.now()
  const fd = job.nodesFile && job.scenario.output.nodes ? openSync(job.nodesFile, 'w') : undefined
  try {
    const result = runSimulation(job.scenario, job.seed, {
      ...(fd === undefined ? {} : { nodes: (chunk: string) => writeSync(fd, chunk) }),
      rowPrefix: `${csvText(job.point)},${job.seed},`,
      parallelClose: job.parallelClose ?? false,
      ...(progress ? { progress } : {}),
    })
    const rec = result.recorder
    const world = rec.world
    const stride = Math.max(1, Math.ceil(world.relays.length / 1500))
    const cumulative: JobResult['cumulative'] = []
    for (let r = 0; r < world.relays.length; r += stride) {
      cumulative.push({
        truth: world.relayTruth[r] as number,
        reward: rec.cumulativeReward[r] as number,
        role: rec.roleOf(r),
      })
    }
    return {
      index: job.index,
      point: job.point,
      seed: job.seed,
      fingerprint: result.fingerprint,
      events: result.events,
      wallMs: performance.now() - started,
      headline: rec.headline(),
      epochs: result.epochs,
      histogram: Array.from(rec.histogram),
      sample: rec.sample,
      cumulative,
    }
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
}
