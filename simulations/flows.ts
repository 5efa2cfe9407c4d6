import { lowerMedian } from '../protocol/tally.ts'
import type { Rng } from './rng.ts'
import type { Scenario } from './scenario.ts'

/** One epoch's probes in typed arrays (probe p of the epoch is index p everywhere). */
export class Probes {
  relay: Int32Array
  witness: Int32Array
  /** the helpers of each probe's lanes: `maxLanes` slots per probe, -1 where unused */
  helpers: Int32Array
  /** how many helper lanes (parallel circuits, each through its own helper) a probe runs */
  lanes: Uint8Array
  start: Float64Array
  /**
   * machines the probe crosses, `2 + maxLanes` slots per probe: target, first helper, witness (its sink runs
   * on the witness machine), then the other lanes' helpers
   */
  machines: Int32Array
  /** the target recognised the probe and gives it its whole capacity */
  priority: Uint8Array
  /** probed only alongside a co-located identity the witness is assigned: load, never attested */
  companion: Uint8Array
  /** `assigned` probes come first, their companions after */
  constructor(
    readonly count: number,
    readonly assigned = count,
    readonly maxLanes = 1,
  ) {
    this.relay = new Int32Array(count)
    this.witness = new Int32Array(count)
    this.helpers = new Int32Array(maxLanes * count).fill(-1)
    this.lanes = new Uint8Array(count).fill(1)
    this.start = new Float64Array(count)
    this.machines = new Int32Array((2 + maxLanes) * count)
    this.priority = new Uint8Array(count)
    this.companion = new Uint8Array(count)
  }
}

export interface Measurement {
  forwardBps: number
  reverseBps: number
  bytes: number
  /**
   * The target's other traffic while each window was measured (bytes/s over the seconds after warm-up):
   * its user sessions and the other probes crossing its machine, what an honest relay reports as
   * background (FlashFlow's rule credits part of it, protocol/attestation.ts)
   */
  forwardBackgroundBps: number
  reverseBackgroundBps: number
  /** the part of the background that is the machine's user sessions (bytes/s, each window) */
  forwardUsersBps: number
  reverseUsersBps: number
  /**
   * What the probe would have read, min(forward, reverse) without background, with parts of the contention
   * taken away, for the error breakdown by cause (never attested): `targetOnly` without the limits of the
   * helpers and the witness, `usersOnly` also without other probes on the target, `ideal` with the whole
   * target to itself (only slow start and the per-second median left)
   */
  targetOnly: number
  usersOnly: number
  ideal: number
}

/** Bins of one probe's per-second bytes: the measurement, its what-ifs and the target's background. */
const SERIES = { actual: 0, targetOnly: 1, usersOnly: 2, ideal: 3, background: 4, users: 5 } as const
const SERIES_COUNT = 6

/**
 * The flow-level network model. Every machine is one resource of capacity min(up, down): a relayed byte
 * enters and leaves it. At any instant a machine shares its capacity max-min fairly among the flows
 * crossing it: background user sessions (each capped by its own demand) and probe flows (elastic; a
 * probe opens `streams` parallel TCP streams per lane, as FlashFlow's measurers do, so it holds that many
 * shares on each helper and lanes × streams on the target and the witness).
 * A probe's rate is the smallest of its fair shares on the target and on the witness and the sum of its
 * lanes' shares on their helpers, further capped by slow start from an initial window per lane while its
 * windows ramp up. The witness records the bytes received in each second and keeps the median after
 * warm-up, as a real witness does, so contention, warm-up and concurrent probes all show up in the
 * measurement.
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
  private views: MachineView[]

  constructor(
    private capacity: Float64Array,
    private traffic: Scenario['traffic'],
    private windowMs: number,
    private warmupSeconds: number,
    private rngOf: (machine: number) => Rng,
    private streams: number,
    maxLanes = 1,
  ) {
    this.sessions = new Array(capacity.length)
    this.attached = new Array(capacity.length)
    this.horizon = new Float64Array(capacity.length).fill(Number.NEGATIVE_INFINITY)
    this.sessionRate = new Float64Array(capacity.length)
    this.views = Array.from({ length: 2 + maxLanes }, () => new MachineView())
  }

  /** A new epoch's probe table; probes of earlier epochs have all ended. */
  reset(probes: Probes): void {
    this.probes = probes
    this.attached = new Array(this.capacity.length)
  }

  /** The probe starts: its flows join its machines, and their background is sampled over its span. */
  attach(p: number, now: number): void {
    const span = 2 * this.windowMs
    const stride = 2 + this.probes.maxLanes
    const slots = 2 + (this.probes.lanes[p] as number)
    for (let i = 0; i < slots; i++) {
      const m = this.probes.machines[stride * p + i] as number
      this.background(m, now, now + span)
      // drop probes that ended before any probe still running could have started
      const list = this.attached[m] ?? (this.attached[m] = [])
      let kept = 0
      for (const q of list) if ((this.probes.start[q] as number) + span >= now - span) list[kept++] = q
      if (kept < list.length) list.length = kept
      list.push(p)
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
    if (!list || (this.horizon[m] as number) < from) {
      list = []
      const present = rng.poisson(rate * meanMs)
      for (let i = 0; i < present; i++)
        list.push(from, from + rng.exponential(meanMs), rng.lognormal(t.sessionMedianBps, t.sessionSigma))
      this.horizon[m] = from
    } else {
      // forget sessions that ended before any probe still running could have started (in place)
      const cutoff = from - 2 * this.windowMs
      let kept = 0
      for (let i = 0; i < list.length; i += 3) {
        if ((list[i + 1] as number) < cutoff) continue
        list[kept] = list[i] as number
        list[kept + 1] = list[i + 1] as number
        list[kept + 2] = list[i + 2] as number
        kept += 3
      }
      if (kept < list.length) list.length = kept
    }
    let at = this.horizon[m] as number
    for (;;) {
      at += rng.exponential(1 / rate)
      if (at > to) break
      list.push(at, at + rng.exponential(meanMs), rng.lognormal(t.sessionMedianBps, t.sessionSigma))
    }
    this.horizon[m] = Math.max(this.horizon[m] as number, to)
    this.sessions[m] = list
  }

  /**
   * what the user sessions and other probes on the machine got at the last share() of it (bytes/s),
   * leaving out the witness's own probes of other identities of the machine: the witness knows it sent
   * those, so it credits none of them as the target's background
   */
  private otherRate = 0
  /** the user sessions' part of otherRate */
  private usersRate = 0
  /**
   * the other probes active at the instant share() looks at, by ascending demand per stream: a reused
   * typed array and a count, since emptying an array by its length costs an allocation per call
   */
  private active = new Int32Array(64)

  /**
   * The fair share (bytes/s) one elastic flow (one TCP stream of a probe) gets on machine slot i of the
   * probe being measured at instant t: water-filling over the sessions active then (each capped by its
   * demand), the other probes active then (each capped by what the rest of its circuit carries, so a probe
   * bottlenecked elsewhere leaves the rest to others) and the measured probe's own streams (elastic),
   * satisfying the smallest demands per flow first. With `ownStreams` given, other probes are left out.
   * Leaves in `otherRate` what everything but the measured probe and its siblings gets.
   */
  private share(i: number, t: number, ownStreams = -1): number {
    const v = this.views[i] as MachineView
    let flows = 0
    const from = v.from
    const to = v.to
    for (let j = 0; j < v.sessions; j++) if ((from[j] as number) <= t && t < (to[j] as number)) flows++
    const sessions = flows
    const span = 2 * this.windowMs
    if (this.active.length < v.probes) this.active = new Int32Array(2 * v.probes)
    const active = this.active
    let actives = 0
    let siblingFlows = 0
    if (ownStreams >= 0) flows += ownStreams
    else
      for (let j = 0; j < v.probes; j++) {
        const s = v.probeStart[j] as number
        if (!(s <= t && t < s + span)) continue
        flows += this.streams * (v.probeWeight[j] as number)
        if (v.probeSibling[j]) siblingFlows += this.streams * (v.probeWeight[j] as number)
        if (v.probeCap[j] === Number.POSITIVE_INFINITY) continue
        // insertion by demand per stream: a machine has a few probes at a time
        const demand = (v.probeCap[j] as number) / (v.probeWeight[j] as number)
        let k = actives++
        while (
          k > 0 &&
          (v.probeCap[active[k - 1] as number] as number) /
            (v.probeWeight[active[k - 1] as number] as number) >
            demand
        ) {
          active[k] = active[k - 1] as number
          k--
        }
        active[k] = j
      }
    let left = this.capacity[v.machine] as number
    let satisfied = 0
    let users = 0
    let unserved = sessions
    let j = 0
    let a = 0
    for (;;) {
      while (j < v.sessions && !((from[j] as number) <= t && t < (to[j] as number))) j++
      const session = j < v.sessions ? (v.demand[j] as number) : Number.POSITIVE_INFINITY
      const q = a < actives ? active[a] : undefined
      const streams = q === undefined ? 0 : this.streams * (v.probeWeight[q] as number)
      const probe = q === undefined ? Number.POSITIVE_INFINITY : (v.probeCap[q] as number) / streams
      if (session <= probe) {
        if (session === Number.POSITIVE_INFINITY || session * flows > left) break
        left -= session
        satisfied += session
        users += session
        unserved--
        flows--
        j++
      } else {
        if (probe * flows > left) break
        left -= v.probeCap[q as number] as number
        if (v.probeSibling[q as number]) siblingFlows -= streams
        else satisfied += v.probeCap[q as number] as number
        flows -= streams
        a++
      }
    }
    const level = left / Math.max(1, flows)
    this.otherRate = satisfied + level * (flows - v.own * this.streams - siblingFlows)
    this.usersRate = users + level * unserved
    return level
  }

  private cuts = new Float64Array(256)
  private ncuts = 0
  private bins = new Float64Array(64 * SERIES_COUNT)

  /** What the witness measures for probe p: median per-second goodput after warm-up, each direction. */
  measure(p: number, rttMs: number): Measurement {
    const probes = this.probes
    const start = probes.start[p] as number
    const span = 2 * this.windowMs
    const end = start + span
    const prioritised = probes.priority[p] === 1
    const lanes = probes.lanes[p] as number
    const slots = 2 + lanes
    const stride = 2 + probes.maxLanes
    this.ncuts = 0
    for (let i = 0; i < slots; i++) {
      const v = this.views[i] as MachineView
      const m = probes.machines[stride * p + i] as number
      v.load(m, this.sessions[m], this.attached[m], probes, p, this.capacity, start, end, span)
      v.own = i === 1 || i > 2 ? 1 : lanes
      for (let j = 0; j < v.sessions; j++) {
        this.cut(v.from[j] as number)
        this.cut(v.to[j] as number)
      }
      for (let j = 0; j < v.probes; j++) {
        this.cut(v.probeStart[j] as number)
        this.cut((v.probeStart[j] as number) + span)
      }
    }
    const seconds = this.windowMs / 1000
    for (let phase = 0; phase < 2; phase++) {
      const a = start + phase * this.windowMs
      for (let s = 0; s <= seconds; s++) this.cut(a + 1000 * s)
    }
    const cuts = this.cuts.subarray(0, this.ncuts).sort()
    const rtt = Math.max(rttMs, 0.1) / 1000
    // each lane's streams start from the initial window
    const iw = this.traffic.initialWindowBytes * lanes
    const n = 2 * seconds
    if (this.bins.length < SERIES_COUNT * n) this.bins = new Float64Array(SERIES_COUNT * n)
    const bins = this.bins.fill(0, 0, SERIES_COUNT * n)
    const targetCapacity = this.capacity[(this.views[0] as MachineView).machine] as number
    const s = this.streams
    let bytes = 0
    for (let i = 0; i + 1 < cuts.length; i++) {
      const t0 = cuts[i] as number
      const t1 = cuts[i + 1] as number
      if (t1 <= t0 || t0 < start || t1 > end) continue
      const mid = (t0 + t1) / 2
      // a recognised probe gets the whole target: its users get nothing
      const target = prioritised ? targetCapacity : lanes * s * this.share(0, mid)
      const background = prioritised ? 0 : this.otherRate
      const users = prioritised ? 0 : this.usersRate
      const usersOnly = prioritised ? targetCapacity : lanes * s * this.share(0, mid, lanes * s)
      let helpers = s * this.share(1, mid)
      for (let h = 3; h < slots; h++) helpers += s * this.share(h, mid)
      const rate = Math.min(target, helpers, lanes * s * this.share(2, mid))
      const phase = t0 < start + this.windowMs ? 0 : 1
      const a = start + phase * this.windowMs
      const u0 = (t0 - a) / 1000
      const u1 = (t1 - a) / 1000
      const bin = phase * seconds + Math.min(seconds - 1, Math.floor(u0))
      const got = ramped(rate, u0, u1, rtt, iw)
      bins[SERIES.actual * n + bin] = (bins[SERIES.actual * n + bin] as number) + got
      bins[SERIES.targetOnly * n + bin] =
        (bins[SERIES.targetOnly * n + bin] as number) + ramped(target, u0, u1, rtt, iw)
      bins[SERIES.usersOnly * n + bin] =
        (bins[SERIES.usersOnly * n + bin] as number) + ramped(usersOnly, u0, u1, rtt, iw)
      bins[SERIES.ideal * n + bin] =
        (bins[SERIES.ideal * n + bin] as number) + ramped(targetCapacity, u0, u1, rtt, iw)
      bins[SERIES.background * n + bin] =
        (bins[SERIES.background * n + bin] as number) + background * (u1 - u0)
      bins[SERIES.users * n + bin] = (bins[SERIES.users * n + bin] as number) + users * (u1 - u0)
      bytes += got
    }
    const both = (series: number) => Math.min(this.median(series, 0), this.median(series, 1))
    return {
      forwardBps: Math.round(this.median(SERIES.actual, 0)),
      reverseBps: Math.round(this.median(SERIES.actual, 1)),
      bytes,
      forwardBackgroundBps: Math.round(this.mean(SERIES.background, 0)),
      reverseBackgroundBps: Math.round(this.mean(SERIES.background, 1)),
      forwardUsersBps: this.mean(SERIES.users, 0),
      reverseUsersBps: this.mean(SERIES.users, 1),
      targetOnly: both(SERIES.targetOnly),
      usersOnly: both(SERIES.usersOnly),
      ideal: both(SERIES.ideal),
    }
  }

  private cut(t: number): void {
    if (this.ncuts === this.cuts.length) {
      const grown = new Float64Array(this.ncuts * 2)
      grown.set(this.cuts)
      this.cuts = grown
    }
    this.cuts[this.ncuts++] = t
  }

  private window: number[] = []

  /** The median of one direction's per-second bins of one series after warm-up. */
  private median(series: number, phase: number): number {
    const seconds = this.windowMs / 1000
    const offset = series * 2 * seconds
    const w = this.window
    w.length = 0
    // a handful of values: insertion sort into a reused array
    for (let s = phase * seconds + this.warmupSeconds; s < (phase + 1) * seconds; s++) {
      const v = this.bins[offset + s] as number
      let i = w.length
      w.push(v)
      while (i > 0 && (w[i - 1] as number) > v) {
        w[i] = w[i - 1] as number
        i--
      }
      w[i] = v
    }
    return lowerMedian(w)
  }

  /** The mean of one direction's per-second bins of one series after warm-up. */
  private mean(series: number, phase: number): number {
    const seconds = this.windowMs / 1000
    const offset = series * 2 * seconds
    let sum = 0
    for (let s = phase * seconds + this.warmupSeconds; s < (phase + 1) * seconds; s++)
      sum += this.bins[offset + s] as number
    return sum / (seconds - this.warmupSeconds)
  }
}

/** The flows on one machine that overlap the probe being measured, in flat arrays reused between probes. */
class MachineView {
  machine = 0
  sessions = 0
  from = new Float64Array(64)
  to = new Float64Array(64)
  demand = new Float64Array(64)
  probes = 0
  probeStart = new Float64Array(64)
  /** each overlapping probe's lanes crossing the machine: all of them at its target and witness, one at a helper */
  probeWeight = new Float64Array(64)
  /**
   * each overlapping probe's demand here: what the rest of its circuit carries at most (its other machines'
   * capacities; a helper carries one lane's share of the target); unbounded for the measured probe
   */
  probeCap = new Float64Array(64)
  /** 1 for a probe of another identity of this machine by the measured probe's witness, started with it */
  probeSibling = new Uint8Array(64)
  /** the measured probe's own lanes crossing the machine */
  own = 1

  load(
    machine: number,
    list: number[] | undefined,
    attached: number[] | undefined,
    table: Probes,
    measured: number,
    capacity: Float64Array,
    start: number,
    end: number,
    span: number,
  ): void {
    this.machine = machine
    // sessions overlapping the window, by ascending demand, then position (what water-filling visits
    // first), inserted into the flat arrays: a machine has a few sessions at a time
    this.sessions = 0
    for (let j = 0; list && j < list.length; j += 3) {
      if (!((list[j] as number) < end && (list[j + 1] as number) > start)) continue
      if (this.sessions === this.from.length) {
        this.from = grown(this.from)
        this.to = grown(this.to)
        this.demand = grown(this.demand)
      }
      const d = list[j + 2] as number
      let k = this.sessions++
      for (; k > 0 && (this.demand[k - 1] as number) > d; k--) {
        this.from[k] = this.from[k - 1] as number
        this.to[k] = this.to[k - 1] as number
        this.demand[k] = this.demand[k - 1] as number
      }
      this.from[k] = list[j] as number
      this.to[k] = list[j + 1] as number
      this.demand[k] = d
    }
    this.probes = 0
    const stride = 2 + table.maxLanes
    for (const q of attached ?? []) {
      const s = table.start[q] as number
      if (s >= end || s + span <= start) continue
      if (this.probes === this.probeStart.length) {
        this.probeStart = grown(this.probeStart)
        this.probeWeight = grown(this.probeWeight)
        this.probeCap = grown(this.probeCap)
        this.probeSibling = grown(this.probeSibling)
      }
      const atEnds = table.machines[stride * q] === machine || table.machines[stride * q + 2] === machine
      this.probeWeight[this.probes] = atEnds ? (table.lanes[q] as number) : 1
      this.probeCap[this.probes] =
        q === measured ? Number.POSITIVE_INFINITY : elsewhere(table, q, machine, capacity)
      this.probeSibling[this.probes] =
        q !== measured &&
        table.machines[stride * q] === machine &&
        table.witness[q] === table.witness[measured] &&
        s === table.start[measured]
          ? 1
          : 0
      this.probeStart[this.probes++] = s
    }
  }
}

/** A typed array of twice the length with the same leading values. */
function grown<T extends Float64Array | Uint8Array>(a: T): T {
  const b = new (a.constructor as new (n: number) => T)(2 * a.length)
  b.set(a)
  return b
}

/** What probe q's circuit carries at most outside `machine` (bytes/s): its other machines' capacities. */
function elsewhere(table: Probes, q: number, machine: number, capacity: Float64Array): number {
  const base = (2 + table.maxLanes) * q
  const lanes = table.lanes[q] as number
  const target = capacity[table.machines[base] as number] as number
  const witness = capacity[table.machines[base + 2] as number] as number
  let helpers = 0
  for (let lane = 0; lane < lanes; lane++)
    helpers += capacity[table.machines[base + (lane === 0 ? 1 : 2 + lane)] as number] as number
  if (table.machines[base] === machine) return Math.min(helpers, witness)
  if (table.machines[base + 2] === machine) return Math.min(target, helpers)
  // one lane through this helper: its share of the target
  return Math.min(target, witness) / lanes
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
