import type { RelayOutcome } from './closer.ts'
import type { AdversaryName } from './scenario.ts'
import { gini, type Interval, quantile, sortedCopy, spearman, tInterval } from './stats.ts'
import { ROLE, type World } from './world.ts'

export interface EpochInput {
  epoch: number
  eligible: Int32Array
  wholeEpoch: Uint8Array
  lazyAssigned: Uint8Array
  /** the certified tally's relays, undefined if the epoch was not certified */
  relays: RelayOutcome[] | undefined
  certified: boolean
  conflicting: number
  probes: number
  attestations: number
  content: number
  coverage: number
  events: number
  /** per relay, its readings' medians (ESTIMATES values each, see ESTIMATE; NaN if not probed) */
  estimates: Float64Array
}

/** The per-epoch summary row (epochs.csv). */
export interface EpochMetrics {
  epoch: number
  certified: boolean
  conflicting: number
  eligible: number
  probes: number
  attestations: number
  content: number
  /** the worst honest ledger member's share of published attestations it received before reconciling */
  coverage: number
  medianRelError: number
  p95RelError: number
  spearman: number
  gini: number
  /** per adversary: its rewards ÷ what honest relays of the same true capacity received */
  gains: Partial<Record<AdversaryName, number>>
  gainParts: Partial<Record<AdversaryName, { rewards: number; expected: number }>>
  events: number
}

export const HISTOGRAM_BINS = 40

/**
 * A probe's readings for the error breakdown: the capacity attested (background credit included), the
 * probe's own min(forward, reverse), and the flow model's what-ifs (flows.ts Measurement)
 */
export const ESTIMATES = 5
export const ESTIMATE = { attested: 0, probe: 1, targetOnly: 2, usersOnly: 3, ideal: 4 } as const

/** Relay sizes the error is broken down by: ranges of true capacity's quantiles, smallest first. */
export const SIZE_BUCKETS: readonly [number, number][] = [
  [0, 0.2],
  [0.2, 0.4],
  [0.4, 0.6],
  [0.6, 0.8],
  [0.8, 0.95],
  [0.95, 0.99],
  [0.99, 1],
]

/**
 * Where the relative error comes from, by cause: each term is a mean share of true capacity the score
 * falls short by, so the terms of a row add up to its `bias` (mean of truth − score, ÷ truth):
 * `sampling` slow start and the per-second median (the whole target to the probe), `users` capacity the
 * target's user sessions took, `probes` other probes crossing the target (as their helper or target),
 * `helpers` the probe's helpers (and witness) carrying less than the target had for it, `credit` the
 * background credited (negative: it adds), `tally` what gossip losses and the tally's median of
 * different witnesses' probes add.
 */
export interface ErrorBreakdownRow {
  /** "q0-20" etc. (capacity quantiles), or "all" */
  size: string
  /** the smallest true capacity in the range (bytes/s) */
  fromBps: number
  /** relay-epochs observed */
  count: number
  median: number
  p95: number
  bias: number
  sampling: number
  users: number
  probes: number
  helpers: number
  credit: number
  tally: number
}

export const CAUSES = ['sampling', 'users', 'probes', 'helpers', 'credit', 'tally'] as const

export interface Headline {
  medianRelError: number
  p95RelError: number
  spearman: number
  gini: number
  gains: Partial<Record<AdversaryName, number>>
  breakdown: ErrorBreakdownRow[]
}

/** Accumulates steady-state relay-epochs for one row of the breakdown. */
class BreakdownBucket {
  errors: number[] = []
  sums = new Float64Array(CAUSES.length + 1)
  constructor(
    readonly size: string,
    readonly fromBps: number,
  ) {}

  add(truth: number, score: number, e: ArrayLike<number>): void {
    // e: attested, probe, targetOnly, usersOnly, ideal (ESTIMATE)
    const [attested, probe, targetOnly, usersOnly, ideal] = Array.from(e)
    this.errors.push(Math.abs(score / truth - 1))
    const terms = [
      truth - (ideal as number),
      (ideal as number) - (usersOnly as number),
      (usersOnly as number) - (targetOnly as number),
      (targetOnly as number) - (probe as number),
      (probe as number) - (attested as number),
      (attested as number) - score,
      truth - score,
    ]
    terms.forEach((t, i) => {
      this.sums[i] = (this.sums[i] as number) + t / truth
    })
  }

  row(): ErrorBreakdownRow {
    const n = this.errors.length
    const sorted = sortedCopy(this.errors)
    const mean = (i: number) => (n ? (this.sums[i] as number) / n : Number.NaN)
    return {
      size: this.size,
      fromBps: this.fromBps,
      count: n,
      median: quantile(sorted, 0.5),
      p95: quantile(sorted, 0.95),
      bias: mean(CAUSES.length),
      sampling: mean(0),
      users: mean(1),
      probes: mean(2),
      helpers: mean(3),
      credit: mean(4),
      tally: mean(5),
    }
  }
}

/**
 * What an honest relay of a given true capacity earns: the reward per unit of true capacity of the honest
 * relays nearest in capacity (by rank), times the capacity. Matching capacity matters because the
 * measurement's accuracy depends on it (large relays are harder to saturate), so a network-wide
 * average would credit or blame adversaries for the size of their relays.
 */
class HonestReference {
  private truth: Float64Array
  private reward: Float64Array
  constructor(
    honest: [number, number][],
    private neighbours = 50,
  ) {
    honest.sort((a, b) => a[0] - b[0])
    this.truth = Float64Array.from(honest, h => h[0])
    this.reward = Float64Array.from(honest, h => h[1])
  }

  expected(capacity: number): number {
    const n = this.truth.length
    if (n === 0) return 0
    let lo = 0
    let hi = n
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if ((this.truth[mid] as number) < capacity) lo = mid + 1
      else hi = mid
    }
    const k = Math.min(this.neighbours, n)
    const from = Math.max(0, Math.min(n - k, lo - (k >> 1)))
    let truth = 0
    let reward = 0
    for (let i = from; i < from + k; i++) {
      truth += this.truth[i] as number
      reward += this.reward[i] as number
    }
    return truth > 0 ? (reward / truth) * capacity : 0
  }
}

/** Who benefits from each adversary: the relays whose gain ratio measures what it achieves. */
function beneficiaries(name: AdversaryName, role: number, lazy: number): boolean {
  switch (name) {
    case 'inflating':
      return (role & ROLE.inflating) !== 0
    case 'colluding':
      return (role & ROLE.target) !== 0
    case 'sybil':
      return (role & ROLE.sybil) !== 0
    case 'droppers':
      return (role & ROLE.dropper) !== 0
    case 'byzantine':
      return (role & ROLE.favoured) !== 0
    case 'lazy':
      return lazy === 1
  }
}

function roleName(role: number): string {
  const names = Object.entries(ROLE).filter(([, bit]) => role & bit)
  return names.length ? names.map(([name]) => name).join('+') : 'honest'
}

/**
 * Turns each closed epoch into metrics: relative capacity error (|estimate − truth| ÷ truth) over eligible
 * relays online all epoch, Spearman correlation of reward with true capacity, Gini of rewards, and each
 * adversary's gain ratio; and streams the epoch × node rows.
 */
export class EpochRecorder {
  readonly epochs: EpochMetrics[] = []
  private errors: number[] = []
  readonly histogram = new Float64Array(HISTOGRAM_BINS)
  readonly cumulativeReward: Float64Array
  /** the last certified epoch's (true capacity, estimate, reward, role) for a sample of relays */
  sample: { truth: number; estimate: number; reward: number; role: string }[] = []
  private adversaries: AdversaryName[]
  private steadyFrom: number
  /** each relay's size range (index into SIZE_BUCKETS) by its true capacity's rank */
  private sizeOf: Uint8Array
  private buckets: BreakdownBucket[]
  private overall = new BreakdownBucket('all', 0)

  constructor(
    readonly world: World,
    private nodes?: (chunk: string) => void,
    private rowPrefix = '',
  ) {
    this.cumulativeReward = new Float64Array(world.relays.length)
    this.adversaries = (Object.keys(world.scenario.adversaries) as AdversaryName[]).sort()
    // Headline figures describe the steady state: the second half of the run. Before, the proxy is still
    // learning capacities (epochs 0 and 1 spread users evenly, as nothing is certified yet).
    const epochs = world.scenario.epochs
    this.steadyFrom = Math.min(epochs - 1, Math.max(2, Math.floor(epochs / 2)))
    const n = world.relays.length
    const byTruth = Array.from({ length: n }, (_, r) => r).sort(
      (a, b) => (world.relayTruth[a] as number) - (world.relayTruth[b] as number) || a - b,
    )
    this.sizeOf = new Uint8Array(n)
    this.buckets = SIZE_BUCKETS.map(([lo, hi], b) => {
      const first = Math.ceil(lo * n)
      for (let i = first; i < Math.ceil(hi * n); i++) this.sizeOf[byTruth[i] as number] = b
      const from = world.relayTruth[byTruth[Math.min(first, n - 1)] as number] as number
      return new BreakdownBucket(`q${Math.round(lo * 100)}-${Math.round(hi * 100)}`, from)
    })
  }

  record(input: EpochInput): void {
    const w = this.world
    const score = new Map<number, { score: number; reward: number; count: number }>()
    const exact = new Map<number, bigint>()
    for (const t of input.relays ?? []) {
      const r = w.relayIndex.get(Buffer.from(t.relay).toString('hex')) as number
      score.set(r, { score: t.score, reward: Number(t.reward), count: t.attestations })
      exact.set(r, t.reward)
    }
    const truths: number[] = []
    const rewards: number[] = []
    const errors: number[] = []
    const parts: EpochMetrics['gainParts'] = {}
    const honest: [number, number][] = []
    const lines: string[] = []
    const steady = input.epoch >= this.steadyFrom
    for (const r of input.eligible) {
      const truth = w.relayTruth[r] as number
      const got = score.get(r) ?? { score: 0, reward: 0, count: 0 }
      const whole = input.wholeEpoch[r] === 1
      const role = w.relayRole[r] as number
      this.cumulativeReward[r] = (this.cumulativeReward[r] as number) + got.reward
      if (this.nodes) {
        const reward = String(exact.get(r) ?? 0n)
        lines.push(
          `${this.rowPrefix}${input.epoch},${w.relays[r]?.id},${roleName(role)},${input.lazyAssigned[r]},${w.relayMachine[r]},${whole ? 1 : 0},${Math.round(truth)},${got.score},${got.count},${reward}`,
        )
      }
      if (!whole) continue
      truths.push(truth)
      rewards.push(got.reward)
      const signed = got.score / truth - 1
      errors.push(Math.abs(signed))
      if (steady) {
        const estimates = input.estimates.subarray(r * ESTIMATES, (r + 1) * ESTIMATES)
        if (Number.isFinite(estimates[0])) {
          this.overall.add(truth, got.score, estimates)
          this.buckets[this.sizeOf[r] as number]?.add(truth, got.score, estimates)
        }
        this.errors.push(Math.abs(signed))
        const bin = Math.floor(((Math.max(-1, Math.min(1, signed)) + 1) / 2) * HISTOGRAM_BINS)
        const at = Math.min(HISTOGRAM_BINS - 1, bin)
        this.histogram[at] = (this.histogram[at] as number) + 1
      }
      if (role === 0 && input.lazyAssigned[r] === 0) honest.push([truth, got.reward])
    }
    const reference = new HonestReference(honest)
    const gains: EpochMetrics['gains'] = {}
    for (const name of this.adversaries) {
      // the units an honest operator would be: one relay, or one Sybil machine with all its identities
      const units = new Map<number, { reward: number; truth: number }>()
      for (const r of input.eligible) {
        if (input.wholeEpoch[r] !== 1) continue
        if (!beneficiaries(name, w.relayRole[r] as number, input.lazyAssigned[r] as number)) continue
        const key = name === 'sybil' ? -1 - (w.relayOperator[r] as number) : r
        const unit = units.get(key) ?? { reward: 0, truth: 0 }
        unit.reward += score.get(r)?.reward ?? 0
        unit.truth += w.relayTruth[r] as number
        units.set(key, unit)
      }
      let got = 0
      let expected = 0
      for (const unit of units.values()) {
        got += unit.reward
        expected += reference.expected(unit.truth)
      }
      parts[name] = { rewards: got, expected }
      gains[name] = expected > 0 ? got / expected : Number.NaN
    }
    if (this.nodes && lines.length) this.nodes(`${lines.join('\n')}\n`)
    const sorted = sortedCopy(errors)
    this.epochs.push({
      epoch: input.epoch,
      certified: input.certified,
      conflicting: input.conflicting,
      eligible: input.eligible.length,
      probes: input.probes,
      attestations: input.attestations,
      content: input.content,
      coverage: input.coverage,
      medianRelError: quantile(sorted, 0.5),
      p95RelError: quantile(sorted, 0.95),
      spearman: input.certified ? spearman(rewards, truths) : Number.NaN,
      gini: input.certified ? gini(rewards) : Number.NaN,
      gains,
      gainParts: parts,
      events: input.events,
    })
    if (input.certified) this.takeSample(input, score)
  }

  private takeSample(input: EpochInput, score: Map<number, { score: number; reward: number }>): void {
    const w = this.world
    const eligible = Array.from(input.eligible).filter(r => input.wholeEpoch[r] === 1)
    const stride = Math.max(1, Math.ceil(eligible.length / 1500))
    this.sample = []
    for (let i = 0; i < eligible.length; i += stride) {
      const r = eligible[i] as number
      this.sample.push({
        truth: w.relayTruth[r] as number,
        estimate: score.get(r)?.score ?? 0,
        reward: score.get(r)?.reward ?? 0,
        role: roleName(w.relayRole[r] as number),
      })
    }
  }

  roleOf(r: number): string {
    return roleName(this.world.relayRole[r] as number)
  }

  headline(): Headline {
    const steady = this.epochs.filter(e => e.epoch >= this.steadyFrom && e.certified)
    const sorted = sortedCopy(this.errors)
    const mean = (xs: number[]) => {
      const v = xs.filter(Number.isFinite)
      return v.length ? v.reduce((a, b) => a + b, 0) / v.length : Number.NaN
    }
    const gains: Headline['gains'] = {}
    for (const name of this.adversaries) {
      let rewards = 0
      let expected = 0
      for (const e of steady) {
        rewards += e.gainParts[name]?.rewards ?? 0
        expected += e.gainParts[name]?.expected ?? 0
      }
      gains[name] = expected > 0 ? rewards / expected : Number.NaN
    }
    return {
      medianRelError: quantile(sorted, 0.5),
      p95RelError: quantile(sorted, 0.95),
      spearman: mean(steady.map(e => e.spearman)),
      gini: mean(steady.map(e => e.gini)),
      gains,
      breakdown: [...this.buckets, this.overall].map(b => b.row()),
    }
  }
}

export const NODES_HEADER =
  'epoch,node,role,lazy_witness,machine,online,true_bps,estimate_bps,attestations,reward'

export interface PointSummary {
  point: string
  runs: number
  medianRelError: Interval
  p95RelError: Interval
  spearman: Interval
  gini: Interval
  gains: Partial<Record<AdversaryName, Interval>>
  /** the runs' breakdowns, each figure the mean over runs */
  breakdown: ErrorBreakdownRow[]
}

/** One sweep point's headline figures over its seeds, each as a t-interval. */
export function summarizePoint(point: string, headlines: Headline[]): PointSummary {
  const names = [...new Set(headlines.flatMap(h => Object.keys(h.gains)))].sort() as AdversaryName[]
  const gains: PointSummary['gains'] = {}
  for (const name of names) gains[name] = tInterval(headlines.map(h => h.gains[name] ?? Number.NaN))
  return {
    point,
    runs: headlines.length,
    medianRelError: tInterval(headlines.map(h => h.medianRelError)),
    p95RelError: tInterval(headlines.map(h => h.p95RelError)),
    spearman: tInterval(headlines.map(h => h.spearman)),
    gini: tInterval(headlines.map(h => h.gini)),
    gains,
    breakdown: meanBreakdown(headlines.map(h => h.breakdown)),
  }
}

function meanBreakdown(runs: ErrorBreakdownRow[][]): ErrorBreakdownRow[] {
  const first = runs[0] ?? []
  const mean = (xs: number[]) => {
    const v = xs.filter(Number.isFinite)
    return v.length ? v.reduce((a, b) => a + b, 0) / v.length : Number.NaN
  }
  return first.map((row, i) => {
    const rows = runs.map(run => run[i] as ErrorBreakdownRow)
    const of = (key: Exclude<keyof ErrorBreakdownRow, 'size'>) => mean(rows.map(r => r[key]))
    return {
      size: row.size,
      fromBps: of('fromBps'),
      count: rows.reduce((a, r) => a + r.count, 0),
      median: of('median'),
      p95: of('p95'),
      bias: of('bias'),
      sampling: of('sampling'),
      users: of('users'),
      probes: of('probes'),
      helpers: of('helpers'),
      credit: of('credit'),
      tally: of('tally'),
    }
  })
}
