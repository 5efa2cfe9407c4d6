import { assignedWitnessIndices } from '../protocol/assignment.ts'
import {
  type AttestationBody,
  capacityOf,
  encodeAttestation,
  signAttestation,
} from '../protocol/attestation.ts'
import { parseHex } from '../protocol/bytes.ts'
import { epochEnd, epochStart, graceEnd, isTimely } from '../protocol/epoch.ts'
import {
  encodeRelayRecord,
  type RelayRecord,
  type RelayRecordBody,
  signRelayRecord,
} from '../protocol/record.ts'
import { buildRegistry, eligibleRelays, type Registry, relayKey } from '../protocol/registry.ts'
import { epochSeed } from '../protocol/seed.ts'
import { type AttestationContext, validateAttestation, validateRelayRecord } from '../protocol/validate.ts'
import type { EpochRoot } from '../protocol/vote.ts'
import { FlowModel, type Measurement, Probes } from './flows.ts'
import { lowerMedian } from '../protocol/tally.ts'
import { finalize } from './ledger.ts'
import { ESTIMATE, ESTIMATES, type EpochInput, type EpochMetrics, EpochRecorder } from './metrics.ts'
import { Closer, type CloseResult } from './closer.ts'
import { EventQueue } from './queue.ts'
import type { Rng } from './rng.ts'
import { Trace } from './trace.ts'
import { buildWorld, ROLE, type World } from './world.ts'
import type { Scenario } from './scenario.ts'

const EPOCH_START = 0
const PROBE_START = 1
const PROBE_END = 2
const EPOCH_CLOSE = 3
const RELAY_DOWN = 4
const RELAY_UP = 5
const RELAY_JOIN = 6

// probes that did not measure: the target was down, or the witness is lazy
const UNREACHABLE = 1
const LAZY = 2

const NO_SIGNATURE = new Uint8Array(64)

/**
 * An epoch's accepted attestations, back to back in one growing buffer: hundreds of thousands of them
 * live until the epoch closes, and one buffer costs the garbage collector nothing where as many small
 * arrays cost it a lot.
 */
class AcceptedBytes {
  private bytes = new Uint8Array(1 << 16)
  private used = 0
  private start: Int32Array
  private length: Uint16Array

  constructor(probes: number) {
    this.start = new Int32Array(probes).fill(-1)
    this.length = new Uint16Array(probes)
  }

  add(p: number, encoded: Uint8Array): void {
    if (this.used + encoded.length > this.bytes.length) {
      const grown = new Uint8Array(2 * (this.used + encoded.length))
      grown.set(this.bytes.subarray(0, this.used))
      this.bytes = grown
    }
    this.bytes.set(encoded, this.used)
    this.start[p] = this.used
    this.length[p] = encoded.length
    this.used += encoded.length
  }

  get(p: number): Uint8Array | undefined {
    const at = this.start[p] as number
    return at < 0 ? undefined : this.bytes.subarray(at, at + (this.length[p] as number))
  }
}

/** One epoch from its start until it is closed (which happens during the next epoch). */
interface EpochState {
  epoch: number
  seed: Uint8Array | undefined
  registry: Registry
  eligible: Int32Array
  probes: Probes
  kind: Uint8Array
  /** the bytes of each probe's attestation, if ledger members accepted it */
  accepted: AcceptedBytes
  /** per (member, probe): the member received and accepted it in time */
  received: Uint8Array
  /** relays online from the epoch's start to its end */
  wholeEpoch: Uint8Array
  /** relays assigned at least one lazy witness */
  lazyAssigned: Uint8Array
  /** per probe, its readings for the error breakdown (ESTIMATES values each; NaN until attested) */
  readings: Float64Array
  records: { record: RelayRecord; bytes: Uint8Array }[]
  attestations: number
}

export interface RunResult {
  fingerprint: string
  events: number
  epochs: EpochMetrics[]
  recorder: EpochRecorder
}

export interface RunOptions {
  /** receives nodes.csv text in chunks (epoch × node rows, header first) */
  nodes?: (chunk: string) => void
  /** prepended to every nodes.csv row (e.g. the sweep point and seed columns) */
  rowPrefix?: string
  /** close epochs (content root, tally) on a second thread, overlapping the next epoch's probes */
  parallelClose?: boolean
  /** called after each epoch closes */
  progress?: (epochsDone: number) => void
}

/**
 * The discrete-event simulation of one run: witnesses probe their assigned relays through the flow model,
 * sign and gossip attestations; ledger members validate, reconcile, tally and certify each epoch — all
 * with the functions of protocol/. Deterministic: same scenario and seed, same events and fingerprint.
 */
export class Simulation {
  readonly world: World
  private s: Scenario
  private queue = new EventQueue()
  private trace = new Trace()
  private flows: FlowModel
  private online: Uint8Array
  private lastDownAt: Float64Array
  private lastScore: Float64Array
  private certifiedRoots = new Map<number, EpochRoot>()
  private certifiedRecords: RelayRecord[] = []
  private registry: Registry
  private registryRecords = -1
  private closer: Closer
  private closing = new Map<
    number,
    {
      closing: boolean
      records: RelayRecord[]
      input: Omit<EpochInput, 'relays' | 'certified' | 'conflicting' | 'events'>
    }
  >()
  private epochs = new Map<number, EpochState>()
  private current: EpochState | undefined
  private stalled = false
  private recorder: EpochRecorder
  /** the last certified scores as of the epoch's start: what the proxy and witnesses know */
  private knownScore = new Float64Array(0)
  private helperOrder = new Int32Array(0)
  private helperScores = new Float64Array(0)
  /** each relay's user session arrivals per millisecond (its machine's are the sum over its identities) */
  private userRate: Float64Array
  private arrivals: Float64Array
  private draws = new Uint32Array(0)
  private windowMs: number
  /** what ledger members validate against; one object, its clock set per attestation */
  private validation: AttestationContext

  constructor(
    scenario: Scenario,
    readonly seed: number,
    private options: RunOptions = {},
  ) {
    this.s = scenario
    this.world = buildWorld(scenario, seed)
    const w = this.world
    const relays = w.relays.length
    this.online = Uint8Array.from(w.relayJoinEpoch, e => (e === -1 ? 1 : 0))
    this.lastDownAt = new Float64Array(relays).fill(Number.NEGATIVE_INFINITY)
    this.lastScore = new Float64Array(relays)
    this.userRate = new Float64Array(relays)
    this.windowMs = scenario.network.probeWindowSeconds * 1000
    const owner = new Int32Array(w.machineCapacity.length)
    for (let r = relays - 1; r >= 0; r--) owner[w.relayMachine[r] as number] = r
    this.flows = new FlowModel(
      w.machineCapacity,
      scenario.traffic,
      this.windowMs,
      scenario.network.probeWarmupSeconds,
      m => w.relayRng[owner[m] as number] as Rng,
      scenario.probeStreams,
      scenario.helperLanes,
    )
    this.registry = buildRegistry(w.net, [])
    this.arrivals = new Float64Array(w.members.length)
    this.recorder = new EpochRecorder(w, options.nodes, options.rowPrefix)
    this.closer = new Closer(w.net, options.parallelClose ?? false)
    this.validation = {
      network: w.net,
      nowMs: 0,
      seedOf: e => this.epochs.get(e)?.seed,
      registryFor: e => this.epochs.get(e)?.registry,
      ...(scenario.crypto === 'real' ? {} : { verify: () => true }),
    }
  }

  run(): RunResult {
    const w = this.world
    const net = w.net
    for (let r = 0; r < w.relays.length; r++) {
      const e = w.relayJoinEpoch[r] as number
      if (e >= 0) {
        const at = epochStart(net, e) + (w.relayRng[r] as Rng).float() * net.epochSeconds * 1000
        this.queue.push(at, RELAY_JOIN, r)
      }
    }
    this.queue.push(epochStart(net, 0), EPOCH_START, 0)
    const ev = { time: 0, kind: 0, a: 0, b: 0 }
    while (this.queue.pop(ev)) {
      this.trace.event(ev.kind, ev.time, ev.a, ev.b)
      switch (ev.kind) {
        case EPOCH_START:
          this.startEpoch(ev.a)
          break
        case PROBE_START:
          this.startProbe(ev.a, ev.time)
          break
        case PROBE_END:
          this.endProbe(ev.a, ev.time)
          break
        case EPOCH_CLOSE:
          this.closeEpoch(ev.a)
          break
        case RELAY_DOWN:
          this.online[ev.a] = 0
          this.lastDownAt[ev.a] = ev.time
          this.current?.wholeEpoch.fill(0, ev.a, ev.a + 1)
          break
        case RELAY_UP:
          this.online[ev.a] = 1
          break
        case RELAY_JOIN:
          this.join(ev.a, ev.time)
          break
      }
    }
    for (const e of [...this.closing.keys()].sort((a, b) => a - b)) this.applyClose(e)
    this.closer.stop()
    return {
      fingerprint: this.trace.digest(),
      events: this.trace.events,
      epochs: this.recorder.epochs,
      recorder: this.recorder,
    }
  }

  private startEpoch(e: number): void {
    this.applyClose(e - 2)
    const w = this.world
    const net = w.net
    const s = this.s
    if (e + 1 < s.epochs) this.queue.push(epochEnd(net, e), EPOCH_START, e + 1)
    this.queue.push(graceEnd(net, e), EPOCH_CLOSE, e)

    const seed = this.stalled ? undefined : epochSeed(net, e, this.certifiedRoots.get(e - 2))
    if (this.certifiedRecords.length !== this.registryRecords) {
      this.registry = buildRegistry(net, this.certifiedRecords)
      this.registryRecords = this.certifiedRecords.length
    }
    const eligible = seed
      ? Int32Array.from(
          eligibleRelays(this.registry, e, net.eligibilityDelay),
          r => w.relayIndex.get(relayKey(r.relay)) as number,
        )
      : new Int32Array(0)
    const probes = seed ? this.planProbes(e, seed, eligible) : new Probes(0)
    const relays = w.relays.length
    const state: EpochState = {
      epoch: e,
      seed,
      registry: this.registry,
      eligible,
      probes,
      kind: new Uint8Array(probes.count),
      accepted: new AcceptedBytes(probes.count),
      received: new Uint8Array(probes.count * w.members.length),
      wholeEpoch: Uint8Array.from(this.online),
      lazyAssigned: new Uint8Array(relays),
      readings: new Float64Array(probes.count * ESTIMATES).fill(Number.NaN),
      records: [],
      attestations: 0,
    }
    this.epochs.set(e, state)
    this.current = state
    this.flows.reset(probes)
    this.churn(e)
    this.steerTraffic(eligible)

    for (let p = 0; p < probes.count; p++) {
      if (!probes.companion[p] && w.witnessLazy[probes.witness[p] as number])
        state.lazyAssigned[probes.relay[p] as number] = 1
      this.queue.push(probes.start[p] as number, PROBE_START, p)
    }
  }

  /**
   * The epoch's probes: each eligible relay by its k assigned witnesses, each at a time the witness draws.
   * Identities reached at one address are one machine to a witness: its probes of them start together, at
   * the earliest of its times, and those it is not assigned are probed alongside as companions (load,
   * never attested), so that each reading is that identity's share of the machine.
   */
  private planProbes(e: number, seed: Uint8Array, eligible: Int32Array): Probes {
    const w = this.world
    const net = w.net
    const k = Math.min(net.witnessesPerRelay, net.witnesses.length)
    const first = epochStart(net, e) + 1000
    const last = epochEnd(net, e) - net.probe.timeoutSeconds * 1000 - 1000
    const relay: number[] = []
    const witness: number[] = []
    const start: number[] = []
    for (const r of eligible) {
      for (const wi of assignedWitnessIndices(
        seed,
        (w.relays[r] as { peer: Uint8Array }).peer,
        net.witnesses.length,
        k,
      )) {
        relay.push(r)
        witness.push(wi)
        start.push((w.witnessRng[wi] as Rng).uniform(first, last))
      }
    }
    const assigned = relay.length
    this.probeTogether(eligible, relay, witness, start)
    const probes = new Probes(relay.length, assigned, this.s.helperLanes)
    for (let p = 0; p < relay.length; p++) {
      probes.relay[p] = relay[p] as number
      probes.witness[p] = witness[p] as number
      probes.start[p] = start[p] as number
      probes.companion[p] = p < assigned ? 0 : 1
    }
    return probes
  }

  /** Moves each witness's probes of co-located identities to one start and appends their companions. */
  private probeTogether(eligible: Int32Array, relay: number[], witness: number[], start: number[]): void {
    const w = this.world
    if (w.colocated.length === 0) return
    const groupOf = new Map<number, number>()
    w.colocated.forEach((members, g) => {
      for (const r of members) groupOf.set(r, g)
    })
    const together = new Map<number, { group: number; wi: number; probes: number[]; at: number }>()
    for (let p = 0; p < relay.length; p++) {
      const group = groupOf.get(relay[p] as number)
      if (group === undefined) continue
      const wi = witness[p] as number
      const key = group * w.witnesses.length + wi
      const entry = together.get(key) ?? { group, wi, probes: [], at: Number.POSITIVE_INFINITY }
      together.set(key, entry)
      entry.probes.push(p)
      entry.at = Math.min(entry.at, start[p] as number)
    }
    const online = new Set(eligible)
    for (const { group, wi, probes, at } of together.values()) {
      const assigned = new Set(probes.map(p => relay[p]))
      for (const p of probes) start[p] = at
      for (const r of w.colocated[group] as Int32Array) {
        if (assigned.has(r) || !online.has(r)) continue
        relay.push(r)
        witness.push(wi)
        start.push(at)
      }
    }
  }

  /** Leaves and crashes of this epoch, drawn from each online relay's own stream. */
  private churn(e: number): void {
    const { leave, crash, downtimeSeconds } = this.s.churn
    if (leave === 0 && crash === 0) return
    const net = this.world.net
    const start = epochStart(net, e)
    const length = net.epochSeconds * 1000
    for (let r = 0; r < this.online.length; r++) {
      if (!this.online[r]) continue
      const rng = this.world.relayRng[r] as Rng
      if (rng.float() < leave) this.queue.push(start + rng.float() * length, RELAY_DOWN, r, 2)
      else if (rng.float() < crash) {
        const at = start + rng.float() * length
        this.queue.push(at, RELAY_DOWN, r, 1)
        this.queue.push(at + rng.exponential(downtimeSeconds * 1000), RELAY_UP, r)
      }
    }
  }

  /**
   * User traffic for the epoch: the offered load is `traffic.load` × the online relays' true capacity,
   * spread over relays in proportion to their last certified score, as the proxy picks relays
   * (relays not yet measured count as the median score). This is also what punishes an over-measured
   * relay: it attracts more users, who then contend with its probes.
   */
  private steerTraffic(eligible: Int32Array): void {
    const w = this.world
    const t = this.s.traffic
    const rates = this.flows.sessionRate
    rates.fill(0)
    this.userRate.fill(0)
    this.knownScore = Float64Array.from(this.lastScore)
    const known = Array.from(this.lastScore)
      .filter(v => v > 0)
      .sort((a, b) => a - b)
    const fallback = known.length ? (known[Math.floor(known.length / 2)] as number) : 1
    let capacity = 0
    let weights = 0
    for (let r = 0; r < this.online.length; r++) {
      if (!this.online[r]) continue
      capacity += w.relayTruth[r] as number
      weights += (this.lastScore[r] as number) || fallback
    }
    const meanDemand = t.sessionMedianBps * Math.exp((t.sessionSigma * t.sessionSigma) / 2)
    const arrivalsPerMs = (t.load * capacity) / meanDemand / (t.sessionSeconds * 1000)
    for (let r = 0; r < this.online.length; r++) {
      if (!this.online[r]) continue
      const share = ((this.lastScore[r] as number) || fallback) / weights
      const m = w.relayMachine[r] as number
      rates[m] = (rates[m] as number) + arrivalsPerMs * share
      this.userRate[r] = arrivalsPerMs * share
    }
    // helpers are drawn by last score: keep the eligible relays sorted by it
    const order = Array.from(eligible).sort(
      (a, b) => (this.lastScore[a] as number) - (this.lastScore[b] as number) || a - b,
    )
    this.helperOrder = Int32Array.from(order)
    this.helperScores = Float64Array.from(order, r => this.lastScore[r] as number)
  }

  /**
   * The probe's helpers, much as `weir witness` chooses them (witness/schedule.ts chooseHelpers): one at
   * random among relays whose last score is at least twice the target's; when none is, several lanes
   * whose scores add up to that (spreadLanes); with `helperLanes: 1`, one of the fastest 1%. Any relay
   * while nothing is known. Online, never on the target's own machine.
   */
  private chooseHelpers(rng: Rng, target: number, p: number, probes: Probes): void {
    const n = this.helperOrder.length
    const want = 2 * (this.knownScore[target] as number)
    let lo = 0
    if (want > 0) {
      let hi = n
      while (lo < hi) {
        const mid = (lo + hi) >> 1
        if ((this.helperScores[mid] as number) < want) lo = mid + 1
        else hi = mid
      }
      if (lo >= n && this.s.helperLanes > 1) {
        this.spreadLanes(rng, target, want, p, probes)
        return
      }
      if (lo >= n) lo = Math.max(0, n - Math.max(1, Math.ceil(n / 100)))
    }
    probes.helpers[p * probes.maxLanes] = this.anyHelper(rng, target, lo)
  }

  /** A random helper among the relays from rank `lo` of the helper order (any, after 8 misses). */
  private anyHelper(rng: Rng, target: number, from: number): number {
    const n = this.helperOrder.length
    let lo = from
    for (let tries = 0; tries < 16; tries++) {
      const h = this.helperOrder[lo + rng.int(n - lo)] as number
      // never a helper on the target's own machine (co-located identities are probed as targets together)
      if (this.usableHelper(h, target)) return h
      if (tries >= 8) lo = 0
    }
    return (target + 1) % this.world.relays.length
  }

  private usableHelper(h: number, target: number): boolean {
    return this.world.relayMachine[h] !== this.world.relayMachine[target] && this.online[h] === 1
  }

  /**
   * Lanes for a target no one helper carries: the fewest lanes n ≤ helperLanes such that more than n usable
   * relays score want ÷ n or more (want: twice the target's score), drawn at random among them, so that
   * together they carry twice the target and the load of helping big relays spreads over every relay
   * that can (the witness takes the fastest relays, which then carry every big relay's probes at once);
   * when even helperLanes lanes cannot, helperLanes lanes drawn from the fastest 1% (at least
   * helperLanes + 1 relays).
   */
  private spreadLanes(rng: Rng, target: number, want: number, p: number, probes: Probes): void {
    const n = this.helperOrder.length
    const max = this.s.helperLanes
    for (let lanes = 2; lanes <= max; lanes++) {
      // the pool: relays from rank `lo` up, each scoring at least want ÷ lanes
      let lo = 0
      let hi = n
      while (lo < hi) {
        const mid = (lo + hi) >> 1
        if ((this.helperScores[mid] as number) < want / lanes) lo = mid + 1
        else hi = mid
      }
      if (n - lo > lanes && this.drawLanes(rng, target, lo, lanes, p, probes)) return
    }
    const lo = Math.max(0, n - Math.max(max + 1, Math.ceil(n / 100)))
    if (!this.drawLanes(rng, target, lo, max, p, probes))
      probes.helpers[p * probes.maxLanes] = this.anyHelper(rng, target, lo)
  }

  /** Draws `lanes` distinct usable helpers from rank `lo` up; false (and lanes unset) if it cannot. */
  private drawLanes(rng: Rng, target: number, lo: number, lanes: number, p: number, probes: Probes): boolean {
    const n = this.helperOrder.length
    const at = p * probes.maxLanes
    let chosen = 0
    for (let tries = 0; tries < 8 * lanes && chosen < lanes; tries++) {
      const h = this.helperOrder[lo + rng.int(n - lo)] as number
      if (!this.usableHelper(h, target)) continue
      let taken = false
      for (let i = 0; i < chosen; i++) if (probes.helpers[at + i] === h) taken = true
      if (!taken) probes.helpers[at + chosen++] = h
    }
    if (chosen < lanes) {
      probes.helpers.fill(-1, at, at + lanes)
      return false
    }
    probes.lanes[p] = lanes
    return true
  }

  private startProbe(p: number, now: number): void {
    const st = this.current as EpochState
    const w = this.world
    const probes = st.probes
    const r = probes.relay[p] as number
    const wi = probes.witness[p] as number
    const rng = w.witnessRng[wi] as Rng
    this.chooseHelpers(rng, r, p, probes)
    const companion = probes.companion[p] === 1
    if (companion && (w.witnessLazy[wi] || !this.online[r])) return
    if (w.witnessLazy[wi]) {
      st.kind[p] = LAZY
      this.queue.push(now + 2 * this.windowMs, PROBE_END, p)
      return
    }
    if (!this.online[r]) {
      st.kind[p] = UNREACHABLE
      this.queue.push(now + 1000, PROBE_END, p)
      return
    }
    const lanes = probes.lanes[p] as number
    const slot = (2 + probes.maxLanes) * p
    probes.machines[slot] = w.relayMachine[r] as number
    probes.machines[slot + 2] = w.relayMachines + wi
    for (let lane = 0; lane < lanes; lane++) {
      const helper = probes.helpers[p * probes.maxLanes + lane] as number
      probes.machines[slot + (lane === 0 ? 1 : 2 + lane)] = w.relayMachine[helper] as number
    }
    const inflating = this.s.adversaries.inflating
    if (inflating && (w.relayRole[r] as number) & ROLE.inflating) {
      if ((w.relayRng[r] as Rng).float() < inflating.detection) probes.priority[p] = 1
    }
    this.flows.attach(p, now)
    if (!companion) this.queue.push(now + 2 * this.windowMs, PROBE_END, p)
  }

  /** The probe's round trip: through its slowest lane's helper. */
  private rttMs(p: number): number {
    const w = this.world
    const probes = (this.current as EpochState).probes
    const wl = w.witnessLatencyMs[probes.witness[p] as number] as number
    let helper = 0
    for (let lane = 0; lane < (probes.lanes[p] as number); lane++)
      helper = Math.max(
        helper,
        w.relayLatencyMs[probes.helpers[p * probes.maxLanes + lane] as number] as number,
      )
    return 2 * (2 * wl + (w.relayLatencyMs[probes.relay[p] as number] as number) + helper)
  }

  private endProbe(p: number, now: number): void {
    const st = this.current as EpochState
    const w = this.world
    const net = w.net
    const probes = st.probes
    const r = probes.relay[p] as number
    const wi = probes.witness[p] as number
    const start = probes.start[p] as number
    const rttMs = this.rttMs(p)
    let outcome: AttestationBody['outcome'] = 'ok'
    let forwardBps = 0
    let reverseBps = 0
    let bytes = 0
    let background: AttestationBody['background']
    const readings = st.readings.subarray(p * ESTIMATES, (p + 1) * ESTIMATES)
    const kind = st.kind[p]
    if (kind === LAZY) {
      const claim = this.s.adversaries.lazy?.claimBps || (this.knownScore[r] as number)
      forwardBps = reverseBps = Math.round(claim)
      bytes = Math.round(claim * 2 * net.probe.windowSeconds)
    } else if (kind === UNREACHABLE) {
      outcome = 'unreachable'
    } else if ((this.lastDownAt[r] as number) > start) {
      outcome = 'timeout'
    } else {
      const m = this.flows.measure(p, rttMs)
      const colluding = this.s.adversaries.colluding
      const boost =
        colluding && w.witnessColluding[wi] && (w.relayRole[r] as number) & ROLE.target
          ? colluding.inflation
          : 1
      forwardBps = Math.round(m.forwardBps * boost)
      reverseBps = Math.round(m.reverseBps * boost)
      bytes = Math.round(m.bytes)
      readings[ESTIMATE.probe] = Math.min(forwardBps, reverseBps)
      readings[ESTIMATE.targetOnly] = m.targetOnly * boost
      readings[ESTIMATE.usersOnly] = m.usersOnly * boost
      readings[ESTIMATE.ideal] = m.ideal * boost
      if (this.s.backgroundCredit) background = this.reportedBackground(r, m)
    }
    if (this.s.backgroundCredit && !background) background = { forwardBps: 0, reverseBps: 0 }
    const relay = w.relays[r] as { peer: Uint8Array }
    const witness = w.witnesses[wi] as { peer: Uint8Array; seed: Uint8Array }
    const body: AttestationBody = {
      net: net.id,
      epoch: st.epoch,
      relay: relay.peer,
      witness: witness.peer,
      helper: (w.relays[probes.helpers[p * probes.maxLanes] as number] as { peer: Uint8Array }).peer,
      startedAt: Math.round(start),
      durationMs: Math.round(now - start),
      bytes,
      forwardBps,
      reverseBps,
      rttMs: Math.round(rttMs),
      outcome,
      ...(background ? { background } : {}),
    }
    readings[ESTIMATE.attested] = capacityOf(body)
    for (let i = 1; i < ESTIMATES; i++) if (Number.isNaN(readings[i])) readings[i] = readings[0] as number
    const attestation =
      this.s.crypto === 'real' ? signAttestation(body, witness.seed) : { ...body, signature: NO_SIGNATURE }
    const encoded = encodeAttestation(attestation)
    this.trace.number(forwardBps)
    this.trace.number(reverseBps)
    st.attestations++
    this.gossip(p, r, wi, now, encoded, st)
  }

  /**
   * What the target reports as its other traffic during the probe's windows: the truth (the other probes
   * crossing its machine and its own users: on a machine of several identities, its share of the
   * machine's user sessions, since each identity reports its own circuits), or, for an inflating relay
   * that fakes it, its whole capacity.
   */
  private reportedBackground(r: number, m: Measurement): NonNullable<AttestationBody['background']> {
    const inflating = this.s.adversaries.inflating
    if (inflating?.fakeBackground && (this.world.relayRole[r] as number) & ROLE.inflating) {
      const all = Math.round(this.world.relayTruth[r] as number)
      return { forwardBps: all, reverseBps: all }
    }
    const machine = this.flows.sessionRate[this.world.relayMachine[r] as number] as number
    const own = this.userRate[r] as number
    if (own === machine) return { forwardBps: m.forwardBackgroundBps, reverseBps: m.reverseBackgroundBps }
    const others = (total: number, users: number) => Math.round(total - users + (users * own) / machine)
    return {
      forwardBps: others(m.forwardBackgroundBps, m.forwardUsersBps),
      reverseBps: others(m.reverseBackgroundBps, m.reverseUsersBps),
    }
  }

  /**
   * Gossip to each ledger member over `paths` independent paths of `hops` random relay forwarders; a hop
   * loses the message with probability `loss`, an offline forwarder loses it, a dropper drops it unless
   * it is about itself. The first surviving path sets the arrival time. Members validate with the
   * protocol's validateAttestation; its verdict depends only on the bytes, the epoch's seed and registry
   * (shared by all honest members) and the time, so it is computed once at the first arrival and
   * timeliness is checked per member with isTimely.
   */
  private gossip(p: number, r: number, wi: number, now: number, encoded: Uint8Array, st: EpochState): void {
    const w = this.world
    const { paths, hops, loss } = this.s.gossip
    const relays = w.relays.length
    const online = this.online
    const role = w.relayRole
    const latency = w.relayLatencyMs
    // every hop draws a forwarder and a loss, whatever happened before: draw them all at once
    const members = w.members.length
    const n = 2 * members * paths * hops
    if (this.draws.length < n) this.draws = new Uint32Array(n)
    const draws = this.draws
    ;(w.witnessRng[wi] as Rng).fill(draws, n)
    let next = 0
    let first = Number.POSITIVE_INFINITY
    for (let j = 0; j < members; j++) {
      let best = Number.POSITIVE_INFINITY
      for (let path = 0; path < paths; path++) {
        let delay = w.witnessLatencyMs[wi] as number
        let alive = true
        for (let hop = 0; hop < hops; hop++) {
          const f = Math.floor(((draws[next++] as number) / 4294967296) * relays)
          if ((draws[next++] as number) / 4294967296 < loss || !online[f]) alive = false
          if ((role[f] as number) & ROLE.dropper && f !== r) alive = false
          delay += 2 * (latency[f] as number)
        }
        delay += w.memberLatencyMs[j] as number
        if (alive && delay < best) best = delay
      }
      this.arrivals[j] = now + best
      if (!w.members[j]?.byzantine && now + best < first) first = now + best
    }
    if (first === Number.POSITIVE_INFINITY) return
    this.validation.nowMs = first
    const verdict = validateAttestation(encoded, this.validation)
    this.trace.number(verdict.verdict === 'accept' ? 1 : 0)
    if (verdict.verdict !== 'accept') return
    st.accepted.add(p, encoded)
    for (let j = 0; j < members; j++) {
      if (isTimely(w.net, st.epoch, this.arrivals[j] as number)) st.received[p * members + j] = 1
    }
  }

  private join(r: number, now: number): void {
    const w = this.world
    const net = w.net
    this.online[r] = 1
    const st = this.current
    if (!st) return
    const relay = w.relays[r] as { peer: Uint8Array; seed: Uint8Array }
    const body: RelayRecordBody = {
      net: net.id,
      relay: relay.peer,
      epoch: st.epoch,
      seq: 1,
      addrs: [`/ip4/10.${(r >> 16) & 255}.${(r >> 8) & 255}.${r & 255}/tcp/4001`],
      payout: parseHex(w.relayPayout[r] as string, 20) as Uint8Array,
      maxBandwidthBps: 0,
    }
    const record =
      this.s.crypto === 'real' ? signRelayRecord(body, relay.seed) : { ...body, signature: NO_SIGNATURE }
    const bytes = encodeRelayRecord(record)
    if (this.s.crypto === 'real') {
      const verdict = validateRelayRecord(bytes, { network: net, nowMs: now })
      if (verdict.verdict !== 'accept')
        throw new Error(`simulator built an invalid relay record: ${verdict.reason}`)
    }
    st.records.push({ record, bytes })
  }

  /**
   * After the grace period: honest members reconcile (anti-entropy leaves each with the union of what
   * any honest member accepted) and close the epoch: content root and tally, computed once because
   * reconciled honest members hold identical content. The result is applied — votes, certificate,
   * new scores — at the start of epoch e + 2, the first moment anything depends on it (its seed).
   */
  private closeEpoch(e: number): void {
    const st = this.epochs.get(e) as EpochState
    this.epochs.delete(e)
    const w = this.world
    const members = w.members.length
    const coverage = new Float64Array(members)
    const kept: Uint8Array[] = []
    let length = 0
    for (let p = 0; p < st.probes.count; p++) {
      const bytes = st.accepted.get(p)
      if (!bytes) continue
      let any = false
      for (let j = 0; j < members; j++) {
        if (st.received[p * members + j] && !w.members[j]?.byzantine) {
          any = true
          coverage[j] = (coverage[j] as number) + 1
        }
      }
      if (!any) continue
      kept.push(bytes)
      length += bytes.length
    }
    // epochs are certified in order: the previous one is certified, or still being applied
    const previous = e < 1 || this.certifiedRoots.has(e - 1) || this.closing.get(e - 1)?.closing === true
    const closing = !this.stalled && st.seed !== undefined && previous
    if (closing) {
      const attestations = new Uint8Array(length)
      const offsets = new Uint32Array(kept.length + 1)
      kept.forEach((bytes, i) => {
        attestations.set(bytes, offsets[i] as number)
        offsets[i + 1] = (offsets[i] as number) + bytes.length
      })
      this.closer.submit({
        epoch: e,
        seed: st.seed as Uint8Array,
        attestations,
        offsets,
        records: st.records.map(x => x.record),
        recordBytes: st.records.map(x => x.bytes),
      })
    }
    for (const c of coverage) this.trace.number(c)
    const honestCoverage = Array.from(coverage).filter((_, j) => !w.members[j]?.byzantine)
    this.closing.set(e, {
      closing,
      records: st.records.map(x => x.record),
      input: {
        epoch: e,
        eligible: st.eligible,
        wholeEpoch: st.wholeEpoch,
        lazyAssigned: st.lazyAssigned,
        probes: st.probes.assigned,
        attestations: st.attestations,
        content: kept.length,
        coverage: st.attestations ? Math.min(...honestCoverage) / st.attestations : 1,
        estimates: this.relayEstimates(st),
      },
    })
  }

  /**
   * Per relay, each reading's lower median over the relay's assigned probes, as the tally takes a score
   * from its attestations (ESTIMATES values per relay; NaN for a relay not probed).
   */
  private relayEstimates(st: EpochState): Float64Array {
    const out = new Float64Array(this.world.relays.length * ESTIMATES).fill(Number.NaN)
    const byRelay = new Map<number, number[]>()
    for (let p = 0; p < st.probes.assigned; p++) {
      const r = st.probes.relay[p] as number
      const list = byRelay.get(r)
      if (list) list.push(p)
      else byRelay.set(r, [p])
    }
    for (const [r, probes] of byRelay) {
      for (let i = 0; i < ESTIMATES; i++) {
        const values = probes
          .map(p => st.readings[p * ESTIMATES + i] as number)
          .filter(Number.isFinite)
          .sort((a, b) => a - b)
        if (values.length > 0) out[r * ESTIMATES + i] = lowerMedian(values)
      }
    }
    return out
  }

  /** Applies a closed epoch: committee votes, certificate, scores, metrics. */
  private applyClose(e: number): void {
    const pending = this.closing.get(e)
    if (!pending) return
    this.closing.delete(e)
    const w = this.world
    let certified = false
    let conflicting = 0
    let result: CloseResult | undefined
    if (pending.closing) {
      result = this.closer.take(e)
    }
    if (result && !this.stalled && (e < 1 || this.certifiedRoots.has(e - 1))) {
      const root: EpochRoot = {
        net: w.net.id,
        epoch: e,
        contentRoot: result.contentRoot,
        rewardsRoot: result.rewardsRoot,
        cumulativeTotal: result.cumulativeTotal,
      }
      const finality = finalize(w, root)
      conflicting = finality.conflicting
      this.trace.number(finality.votes)
      this.trace.number(conflicting)
      this.trace.bytes(root.contentRoot)
      this.trace.bytes(root.rewardsRoot)
      if (finality.certificate) {
        certified = true
        this.certifiedRoots.set(e, root)
        this.certifiedRecords.push(...pending.records)
        for (const r of pending.input.eligible) this.lastScore[r] = 0
        for (const t of result.relays) this.lastScore[w.relayIndex.get(relayKey(t.relay)) as number] = t.score
      }
    }
    if (!certified) this.stalled = true
    this.trace.number(certified ? 1 : 0)
    this.recorder.record({
      ...pending.input,
      relays: certified ? result?.relays : undefined,
      certified,
      conflicting,
      events: this.trace.events,
    })
    this.options.progress?.(e + 1)
  }
}

export function runSimulation(scenario: Scenario, seed: number, options: RunOptions = {}): RunResult {
  return new Simulation(scenario, seed, options).run()
}
