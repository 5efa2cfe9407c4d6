import { lowerMedian } from '../protocol/tally.ts'
import type { Rng } from './rng.ts'
import type { Scenario } from './scenario.ts'

/** One epoch's probes in typed arrays (probe p of the epoch is index p everywhere). */
export class Probes {
  relay: Int32Array
  witness: Int32Array
  helper: Int32Array
  start: Float64Array
  /** machines the probe crosses: target, helper, witness (its sink runs on the witness machine) */
  machines: Int32Array
  /** the target recognised the probe and gives it its whole capacity */
  priority: Uint8Array
  constructor(readonly count: number) {
    this.relay = new Int32Array(count)
    this.witness = new Int32Array(count)
    this.helper = new Int32Array(count).fill(-1)
    this.start = new Float64Array(count)
    this.machines = new Int32Array(3 * count)
    this.priority = new Uint8Array(count)
  }
}

export interface Measurement {
  forwardBps: number
  reverseBps: number
  bytes: number
}

/**
 * The flow-level network model. Every machine is one resource of capacity min(up, down): a relayed byte
 * enters and leaves it. At any instant a machine shares its capacity max-min fairly among the flows
 * crossing it: background user sessions (each capped by its own demand) and probe flows (elastic; a
 * probe opens `streams` parallel TCP streams, as FlashFlow's measurers do, so it holds that many shares).
 * A probe's rate is the smallest fair share over the machines on its circuit (target, helper, witness),
 * further capped by slow start from an initial window while its window ramps up. The witness records
 * the bytes received in each second and keeps the median after warm-up, as a real witness does, so
 * contention, warm-up and concurrent probes all show up in the measurement.
 *
 * User sessions at a machine form an M/G/∞ process (Poisson arrivals at the rate the proxy sends it,
 * exponential lengths); it is sampled lazily around probes only: stationarity and memorylessness make
 * a fresh sample at a probe's start statistically the same as the continuous process.
 */
export class FlowModel {
  private sessions: (number[] | undefined)[]
  private horizon: Float64Array
  private attached: (number[] | undefined)[]
  /** user session arrivals per millisecond at each machine (set each epoch) */
  readonly sessionRate: Float64Array
  private probes: Probes = new Probes(0)
  private scratch: number[] = []

  constructor(
    private capacity: Float64Array,
    private traffic: Scenario['traffic'],
    private windowMs: number,
    private warmupSeconds: number,
    private rngOf: (machine: number) => Rng,
    private streams: number,
  ) {
    this.sessions = new Array(capacity.length)
    this.attached = new Array(capacity.length)
    this.horizon = new Float64Array(capacity.length).fill(Number.NEGATIVE_INFINITY)
    this.sessionRate = new Float64Array(capacity.length)
  }

  /** A new epoch's probe table; probes of earlier epochs have all ended. */
  reset(probes: Probes): void {
    this.probes = probes
    this.attached = new Array(this.capacity.length)
  }

  /** The probe starts: its flows join its machines, and their background is sampled over its span. */
  attach(p: number, now: number): void {
    const span = 2 * this.windowMs
    for (let i = 0; i < 3; i++) {
      const m = this.probes.machines[3 * p + i] as number
      this.background(m, now, now + span)
      const list = this.attached[m] ?? (this.attached[m] = [])
      const keep = list.filter(q => (this.probes.start[q] as number) + span >= now - span)
      keep.push(p)
      this.attached[m] = keep
    }
  }

  private background(m: number, from: number, to: number): void {
    const rate = this.sessionRate[m] as number
    const t = this.traffic
    const meanMs = t.sessionSeconds * 1000
    let list = this.sessions[m]
    if (rate <= 0) {
      this.sessions[m] = undefined
      return
    }
    const rng = this.rngOf(m)
    const demand = () => rng.lognormal(t.sessionMedianBps, t.sessionSigma)
    if (!list || (this.horizon[m] as number) < from) {
      list = []
      const present = rng.poisson(rate * meanMs)
      for (let i = 0; i < present; i++) list.push(from, from + rng.exponential(meanMs), demand())
      this.horizon[m] = from
    } else {
      const cutoff = from - 2 * this.windowMs
      const kept: number[] = []
      for (let i = 0; i < list.length; i += 3)
        if ((list[i + 1] as number) >= cutoff)
          kept.push(list[i] as number, list[i + 1] as number, list[i + 2] as number)
      list = kept
    }
    let at = this.horizon[m] as number
    for (;;) {
      at += rng.exponential(1 / rate)
      if (at > to) break
      list.push(at, at + rng.exponential(meanMs), demand())
    }
    this.horizon[m] = Math.max(this.horizon[m] as number, to)
    this.sessions[m] = list
  }

  /** The fair share (bytes/s) one elastic flow (one TCP stream of a probe) gets at machine m at instant t. */
  private share(m: number, t: number): number {
    const demands = this.scratch
    demands.length = 0
    const list = this.sessions[m]
    if (list) {
      for (let i = 0; i < list.length; i += 3)
        if ((list[i] as number) <= t && t < (list[i + 1] as number)) demands.push(list[i + 2] as number)
    }
    let flows = demands.length
    const span = 2 * this.windowMs
    for (const q of this.attached[m] ?? []) {
      const s = this.probes.start[q] as number
      if (s <= t && t < s + span) flows += this.streams
    }
    demands.sort((a, b) => a - b)
    let left = this.capacity[m] as number
    for (const d of demands) {
      if (d * flows > left) break
      left -= d
      flows--
    }
    return left / Math.max(1, flows)
  }

  /** What the witness measures for probe p: median per-second goodput after warm-up, each direction. */
  measure(p: number, rttMs: number): Measurement {
    const start = this.probes.start[p] as number
    const span = 2 * this.windowMs
    const target = this.probes.machines[3 * p] as number
    const prioritised = this.probes.priority[p] === 1
    const points: number[] = []
    for (let i = 0; i < 3; i++) {
      const m = this.probes.machines[3 * p + i] as number
      const list = this.sessions[m] ?? []
      for (let j = 0; j < list.length; j += 3) points.push(list[j] as number, list[j + 1] as number)
      for (const q of this.attached[m] ?? []) {
        const s = this.probes.start[q] as number
        points.push(s, s + span)
      }
    }
    const rtt = Math.max(rttMs, 0.1) / 1000
    const iw = this.traffic.initialWindowBytes
    const seconds = this.windowMs / 1000
    const result: number[] = []
    let bytes = 0
    for (let phase = 0; phase < 2; phase++) {
      const a = start + phase * this.windowMs
      const b = a + this.windowMs
      const cuts = points.filter(t => t > a && t < b)
      for (let s = 1; s < seconds; s++) cuts.push(a + 1000 * s)
      cuts.push(a, b)
      cuts.sort((x, y) => x - y)
      const bins = new Float64Array(seconds)
      for (let i = 0; i + 1 < cuts.length; i++) {
        const t0 = cuts[i] as number
        const t1 = cuts[i + 1] as number
        if (t1 <= t0) continue
        const mid = (t0 + t1) / 2
        let rate = prioritised ? (this.capacity[target] as number) : this.streams * this.share(target, mid)
        for (let k = 1; k < 3; k++)
          rate = Math.min(rate, this.streams * this.share(this.probes.machines[3 * p + k] as number, mid))
        const got = ramped(rate, (t0 - a) / 1000, (t1 - a) / 1000, rtt, iw)
        const bin = Math.min(seconds - 1, Math.floor((t0 - a) / 1000))
        bins[bin] = (bins[bin] as number) + got
        bytes += got
      }
      result.push(lowerMedian(Array.from(bins.subarray(this.warmupSeconds)).sort((x, y) => x - y)))
    }
    return { forwardBps: Math.round(result[0] as number), reverseBps: Math.round(result[1] as number), bytes }
  }
}

/**
 * Bytes a flow moves between u0 and u1 seconds after its start when the path allows `rate` bytes/s but
 * slow start caps it at (iw / rtt) · 2^(u / rtt) until that reaches the rate.
 */
export function ramped(rate: number, u0: number, u1: number, rtt: number, iw: number): number {
  if (rate <= 0) return 0
  const caught = rtt * Math.log2((rate * rtt) / iw)
  if (caught <= u0) return rate * (u1 - u0)
  const end = Math.min(u1, caught)
  return (iw / Math.LN2) * (2 ** (end / rtt) - 2 ** (u0 / rtt)) + rate * Math.max(0, u1 - caught)
}
