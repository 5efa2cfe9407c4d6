import type { Duplex } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import type { AttestationTopic } from '../node/network/attestation-topic.ts'
import { type Attestation, capacityOf, type Outcome, signAttestation } from '../protocol/attestation.ts'
import { epochAt, epochEnd, epochStart, graceEnd } from '../protocol/epoch.ts'
import type { NetworkDefinition } from '../protocol/network.ts'
import { peerIdFromString, peerIdToString } from '../protocol/peer.ts'
import type { RelayRecord } from '../protocol/record.ts'
import { eligibleRelays, type Registry } from '../protocol/registry.ts'
import { lowerMedian } from '../protocol/tally.ts'
import type { TrafficRequest, TrafficTotals } from '../node/relay/traffic-wire.ts'
import { backgroundBps } from './background.ts'
import { type Locate, machineOf, type Party, Together } from './colocation.ts'
import { CircuitError, HelperError, type ProbeMeasurement, runProbe } from './probe.ts'
import { openGate, type ProbeGate, type Release } from './probe-gate.ts'
import {
  chooseHelpers,
  type HelperCandidate,
  helperReach,
  planEpoch,
  probeBudgetMs,
  secretRandom,
} from './schedule.ts'
import type { ProbeSink } from './sink.ts'

/**
 * The circuits of one probe attempt, all from one identity of their own. `open` builds witness → helper
 * → target → sink and throws HelperError (the helper's fault) or CircuitError (at or beyond the helper).
 */
export interface ProbeCircuits {
  open(
    helper: string,
    target: string,
    sink: { host: string; port: number },
    signal: AbortSignal,
  ): Promise<Duplex>
  close(): Promise<void>
}

export interface WitnessOptions {
  network: NetworkDefinition
  /** this witness's PeerId bytes and Ed25519 seed */
  peerIdBytes: Uint8Array
  signingSeed: Uint8Array
  sink: ProbeSink
  topic: AttestationTopic
  seeds: { seedOf(epoch: number): Uint8Array | undefined }
  relays: { registryFor(epoch: number): Registry; record(peerId: string): RelayRecord | undefined }
  /** A fresh set of probe circuits (a fresh identity) for each probe attempt. */
  circuits: () => Promise<ProbeCircuits>
  /**
   * Where relays are reached, so that identities on one machine are probed together; without it every
   * relay is probed alone
   */
  locate?: Locate
  /**
   * Asks a relay for its running byte totals over a span (background.ts); without it, or when the
   * relay does not answer, attestations carry no background (version 1)
   */
  traffic?: (relay: string, span: TrafficRequest) => Promise<TrafficTotals[]>
  /** asked for the certificate of epoch e − 2 while the seed of e is unknown */
  fetchCertificate?: (epoch: number) => Promise<unknown>
  concurrency?: number
  /** what each probe passes before it runs (witnesses sharing one machine); open by default */
  gate?: ProbeGate
  now?: () => number
  log?: (line: string) => void
}

export interface ProbeReport extends Omit<ProbeMeasurement, 'steady'> {
  epoch: number
  relay: string
  helper: string
  background?: Background
}

/** What a target carried for others while each window was measured, bytes/s. */
type Background = NonNullable<Attestation['background']>

/**
 * How one assigned probe ended, logged as a line `probe-end {JSON}` for whoever reads the witness's log
 * (weir testnet does): attested and published with its outcome, attested but not published, or skipped,
 * and why. Without `relay`, the witness skipped the whole epoch.
 */
export interface ProbeEnd {
  epoch: number
  relay?: string
  end: 'published' | 'unpublished' | 'skipped'
  outcome?: Outcome
  /** when an attested probe started (unix ms) and how long it took */
  startedAt?: number
  durationMs?: number
  reason?: string
}

export const PROBE_END = 'probe-end'

/** Attempts per probe, each through helpers none of the earlier attempts used. */
const ATTEMPTS = 4
/**
 * How many attempts through unrelated helpers must fail the same way before the target is charged with
 * it: neither one lying helper nor two colluding can.
 */
const FAILURE_QUORUM = 3
const RECENT = 50
/**
 * Circuits per probe, spread over its helpers. A relay shares its cap between its busy tunnels about
 * evenly, so a probe with one circuit gets half of a target whose user downloads flat out, more than the
 * credit (a third of the probe) gives back; with 8 it gets 8/9 and the user's ninth is credited
 * (test/witness/readings.test.ts). What counts is the target's share, so the 8 are not multiplied by the
 * helpers, whose extra circuits cost a shared machine CPU (docs/witness.md has the measurements;
 * docs/simulator.md measures what more circuits would buy).
 */
export const PROBE_CIRCUITS = 8
const READING_EPOCHS = 3
/** How long locating an epoch's relays may hold up its plan. */
const LOCATE_TIMEOUT_MS = 30_000

/** What the witness knows of one epoch's relays. */
interface EpochRelays {
  eligible: string[]
  /** the relays assigned to this witness */
  assigned: Set<string>
  /** the machine each relay was reached at */
  machines: Map<string, string>
  /** assigned relays already probed with their machine this epoch */
  covered: Set<string>
}

/** One probe of a machine's probes that run together: an identity and the helpers it goes through. */
interface Lane {
  relay: string
  helpers: string[]
}

/** How one identity's probe went; without a measurement, nothing was learned about it. */
interface LaneResult {
  m?: ProbeMeasurement
  helperFault?: HelperError
  circuitFault?: CircuitError
}

/**
 * The witness role: each epoch, once the seed is known, plans its assigned probes at secret times,
 * runs them with bounded concurrency (never probing a relay that is carrying another of our probes, so
 * probes don't skew each other), signs the results and publishes them on the attestations topic. The
 * identities reached at one address are one machine: a probe of one of them probes all of them at once
 * and attests each that this witness is assigned, so that their readings share what the machine carries.
 */
export class Witness {
  readonly counts = { planned: 0, done: 0, failed: 0, skipped: 0, published: 0, publishFailed: 0 }
  readonly outcomes: Record<string, number> = {}
  readonly recent: ProbeReport[] = []
  epoch = -1
  seedKnown = false
  /** per relay, the capacities read in its READING_EPOCHS latest epochs with a reading */
  private readonly readings = new Map<string, Array<{ epoch: number; bps: number }>>()
  /** per relay and epoch (its READING_EPOCHS latest), each witness's attested capacity, failures as 0 */
  private readonly attested = new Map<string, Map<number, Map<string, number>>>()
  private readonly queue: Array<{ relay: string; epoch: number }> = []
  private readonly relaysOf = new Map<number, EpochRelays>()
  /** timers that queue the planned probes at their times */
  private readonly planned = new Set<NodeJS.Timeout>()
  /** relays carrying one of our probes (as target or helper), and how many */
  private readonly inUse = new Map<string, number>()
  private readonly targets = new Set<string>()
  /** targets whose measurement is under way (not waiting for helpers or a lease) */
  private readonly measuring = new Set<string>()
  private running = 0
  private readonly stopping = new AbortController()
  private loop: Promise<void> | undefined
  private readonly now: () => number

  constructor(private readonly o: WitnessOptions) {
    this.now = o.now ?? Date.now
  }

  start(): void {
    this.loop = this.run().catch(err => {
      if (!this.stopping.signal.aborted) this.log(`witness loop failed: ${(err as Error).message}`)
    })
  }

  async stop(): Promise<void> {
    this.stopping.abort()
    for (const timer of this.planned) clearTimeout(timer)
    await this.loop
  }

  /** Learns a relay's capacity from any accepted attestation (ours or another witness's). */
  noteAttestation(a: Attestation): void {
    const relay = peerIdToString(a.relay)
    const epochs = this.attested.get(relay) ?? new Map<number, Map<string, number>>()
    this.attested.set(relay, epochs)
    const byWitness = epochs.get(a.epoch) ?? new Map<string, number>()
    epochs.set(a.epoch, byWitness.set(peerIdToString(a.witness), capacityOf(a)))
    const latest = Math.max(...epochs.keys())
    for (const e of epochs.keys()) if (e <= latest - READING_EPOCHS) epochs.delete(e)
    if (a.outcome !== 'ok') return
    const readings = [...(this.readings.get(relay) ?? []), { epoch: a.epoch, bps: capacityOf(a) }]
    const newest = Math.max(...readings.map(r => r.epoch))
    this.readings.set(
      relay,
      readings.filter(r => r.epoch > newest - READING_EPOCHS),
    )
  }

  /**
   * A relay's measured capacity: the highest of its recent readings. Interference (a busy helper, a busy machine,
   * the relay's own users) only ever slows a probe, and a shaped relay cannot be read much above its cap,
   * so one low reading must not make a relay look slower than it is for the next epochs.
   */
  private measured(peerId: string): number | undefined {
    const readings = this.readings.get(peerId)
    return readings === undefined || readings.length === 0 ? undefined : Math.max(...readings.map(r => r.bps))
  }

  /**
   * A relay's certified capacity as of `epoch`: what the tally makes of the attestations of its latest
   * earlier epoch that has enough of them (the lower median of at least minAttestations, failures as 0),
   * from the accepted attestations this witness has seen.
   */
  private certified(peerId: string, epoch: number): number | undefined {
    const epochs = [...(this.attested.get(peerId) ?? new Map<number, Map<string, number>>())]
      .filter(([e, byWitness]) => e < epoch && byWitness.size >= this.o.network.minAttestations)
      .sort(([a], [b]) => b - a)
    const latest = epochs[0]?.[1]
    return latest && lowerMedian([...latest.values()].sort((a, b) => a - b))
  }

  private log(line: string): void {
    this.o.log?.(line)
  }

  private end(e: ProbeEnd): void {
    this.log(`${PROBE_END} ${JSON.stringify(e)}`)
  }

  private skip(epoch: number, relay: string, reason: string): void {
    this.counts.skipped++
    this.end({ epoch, relay, end: 'skipped', reason })
  }

  private async pause(untilMs: number): Promise<void> {
    const ms = untilMs - this.now()
    if (ms > 0) await sleep(ms, undefined, { signal: this.stopping.signal })
  }

  private async run(): Promise<void> {
    const net = this.o.network
    let epoch = Math.max(0, epochAt(net, this.now()))
    while (!this.stopping.signal.aborted) {
      await this.pause(epochStart(net, epoch))
      await this.planAndSchedule(epoch)
      await this.pause(epochEnd(net, epoch))
      epoch++
    }
  }

  private async planAndSchedule(epoch: number): Promise<void> {
    const net = this.o.network
    this.epoch = epoch
    this.seedKnown = false
    const lastStart = epochEnd(net, epoch) - probeBudgetMs(net)
    let seed = this.o.seeds.seedOf(epoch)
    while (seed === undefined && this.now() < lastStart) {
      await this.o.fetchCertificate?.(epoch - 2).catch(() => {})
      await this.pause(Math.min(this.now() + 1000, lastStart))
      seed = this.o.seeds.seedOf(epoch)
    }
    if (seed === undefined) {
      return this.end({ epoch, end: 'skipped', reason: 'seed never became known' })
    }
    this.seedKnown = true
    const plan = planEpoch({
      network: net,
      epoch,
      seed,
      registry: this.o.relays.registryFor(epoch),
      witness: this.o.peerIdBytes,
    })
    const eligible = eligibleRelays(this.o.relays.registryFor(epoch), epoch, net.eligibilityDelay).map(r =>
      peerIdToString(r.relay),
    )
    this.relaysOf.set(epoch, {
      eligible,
      assigned: new Set(plan.map(p => peerIdToString(p.relay))),
      machines: await this.locate(eligible),
      covered: new Set(),
    })
    for (const e of this.relaysOf.keys()) if (e < epoch - 2) this.relaysOf.delete(e)
    this.counts.planned += plan.length
    this.log(`epoch ${epoch}: ${plan.length} probes planned`)
    for (const probe of plan) {
      const timer = setTimeout(
        () => {
          this.planned.delete(timer)
          this.queue.push({ relay: peerIdToString(probe.relay), epoch })
          this.pump()
        },
        Math.max(0, probe.at - this.now()),
      )
      this.planned.add(timer)
    }
  }

  /** Where each of `relays` is reached; none of them when locating fails or there is no locator. */
  private async locate(relays: string[]): Promise<Map<string, string>> {
    if (this.o.locate === undefined || relays.length === 0) return new Map()
    const signal = AbortSignal.any([this.stopping.signal, AbortSignal.timeout(LOCATE_TIMEOUT_MS)])
    return this.o.locate(relays, signal).catch(() => new Map<string, string>())
  }

  /** Every eligible identity reached where `relay` was (`relay` alone when unknown). */
  private sameMachine(relay: string, epoch: number): string[] {
    const relays = this.relaysOf.get(epoch)
    const machine = relays?.machines.get(relay)
    if (relays === undefined || machine === undefined) return [relay]
    return relays.eligible.filter(p => p === relay || relays.machines.get(p) === machine)
  }

  /**
   * Starts queued probes while there is room, skipping relays whose machine is busy with another of our
   * probes, and dropping those already probed with their machine.
   */
  private pump(): void {
    while (this.running < (this.o.concurrency ?? 2) && !this.stopping.signal.aborted) {
      this.queue.splice(
        0,
        this.queue.length,
        ...this.queue.filter(q => !this.relaysOf.get(q.epoch)?.covered.has(q.relay)),
      )
      const next = this.queue.findIndex(q =>
        this.sameMachine(q.relay, q.epoch).every(r => !this.inUse.has(r)),
      )
      if (next < 0) return
      const [job] = this.queue.splice(next, 1)
      if (!job) return
      this.running++
      this.probe(job.relay, job.epoch)
        .catch(err => this.log(`probe of ${job.relay} failed: ${(err as Error).message}`))
        .finally(() => {
          this.running--
          this.pump()
        })
    }
  }

  private use(peerId: string, delta: number): void {
    const n = (this.inUse.get(peerId) ?? 0) + delta
    if (n > 0) this.inUse.set(peerId, n)
    else this.inUse.delete(peerId)
  }

  /**
   * Our estimate of a relay's capacity from its measured capacity and its advertised cap (0 = none):
   * as a helper the lower of the two, as a target the higher, so that one low reading (a busy relay, a
   * busy machine) cannot pick helpers too slow to show the target's cap, and so read low again. A relay
   * neither measured nor capped is unknown as a helper (a fresh identity is not fast for claiming
   * nothing), and as a target is given the fastest helpers.
   */
  private estimate(peerId: string, role: 'target' | 'helper'): number | undefined {
    const measured = this.measured(peerId)
    const advertised = this.o.relays.record(peerId)?.maxBandwidthBps
    const cap = advertised === undefined || advertised === 0 ? undefined : advertised
    if (measured === undefined) return role === 'target' && advertised === 0 ? Number.POSITIVE_INFINITY : cap
    if (cap === undefined) return measured
    return role === 'helper' ? Math.min(measured, cap) : Math.max(measured, cap)
  }

  /**
   * The relays that may help probe `target`: eligible relays only (an identity registered too recently
   * cannot help), chosen by their certified capacities once the network has any, so a relay nobody has
   * measured cannot make itself a probe's helper; on a new network, with no certified figures yet, any
   * eligible relay, by what we know of it.
   */
  private helperPool(epoch: number, machine: string[]): { basis: string; candidates: HelperCandidate[] } {
    const eligible = eligibleRelays(this.o.relays.registryFor(epoch), epoch, this.o.network.eligibilityDelay)
      .map(r => peerIdToString(r.relay))
      .filter(peerId => !machine.includes(peerId))
    const certified = eligible.flatMap(peerId => {
      const bps = this.certified(peerId, epoch)
      const cap = this.o.relays.record(peerId)?.maxBandwidthBps || Number.POSITIVE_INFINITY
      return bps ? [{ peerId, capacityBps: Math.min(bps, cap) }] : []
    })
    if (certified.length > 0) return { basis: 'certified capacity', candidates: certified }
    const candidates = eligible.map(peerId => ({ peerId, capacityBps: this.estimate(peerId, 'helper') }))
    return { basis: 'no certified figures yet: any eligible relay', candidates }
  }

  /**
   * The last moment a probe of `epoch` can start and, taking as long as planned, be attested within the
   * grace. A probe that then runs to its timeout is late and dropped, which costs no more than not
   * starting it.
   */
  private startBy(epoch: number): number {
    return graceEnd(this.o.network, epoch) - probeBudgetMs(this.o.network)
  }

  /**
   * Chooses a probe's helpers among relays that are not being probed themselves, and marks them in use.
   * While relays being measured by another of our probes would give the target better helpers than the
   * free ones (see helperReach), or are the only ones left, waits for them, up to the last moment the
   * probe can start, rather than measure the target through a bottleneck or give up on it. Probes still
   * waiting themselves are not waited for, so two probes never wait on each other. Choosing and marking
   * happen in one step, so a probe started next cannot take a relay just chosen to carry this one as its
   * target. No identity of the target's machine helps: they are probed with it.
   */
  private async takeHelpers(
    epoch: number,
    target: string,
    tried: Set<string>,
    machine: string[],
  ): Promise<{ helpers: string[]; basis: string }> {
    const targetBps = this.estimate(target, 'target')
    for (;;) {
      const { basis, candidates } = this.helperPool(epoch, machine)
      const without = (exclude: string[]) =>
        candidates.filter(c => !tried.has(c.peerId) && !exclude.includes(c.peerId))
      const busy = [...this.targets].filter(t => !machine.includes(t))
      const free = without(busy)
      const soon = without(busy.filter(t => !this.measuring.has(t)))
      if (
        this.now() >= this.startBy(epoch) ||
        soon.length === 0 ||
        (free.length > 0 &&
          (targetBps === undefined || helperReach(free, targetBps) >= helperReach(soon, targetBps)))
      ) {
        const helpers = chooseHelpers(free, targetBps)
        for (const h of helpers) this.use(h, 1)
        return { helpers, basis }
      }
      await this.pause(Math.min(this.now() + 250, this.startBy(epoch)))
    }
  }

  /**
   * The identities to probe with `target`: those of its machine, once it is known where the target is
   * reached (a relay not reached when the epoch was planned is located again now), or why not.
   */
  private async machineFor(target: string, epoch: number): Promise<string[] | string> {
    const relays = this.relaysOf.get(epoch)
    if (this.o.locate === undefined || relays === undefined) return [target]
    if (!relays.machines.has(target)) {
      const found = (await this.locate([target])).get(target)
      if (found === undefined) return 'not reached directly, so its machine is unknown'
      relays.machines.set(target, found)
    }
    return machineOf(
      target,
      relays.machines,
      relays.eligible,
      p => relays.assigned.has(p) && !relays.covered.has(p),
      secretRandom,
    )
  }

  /**
   * Probes `target` with the other identities of its machine, all at once, and attests the target and
   * each of the others this witness is assigned; the rest are probed only so that the machine carries
   * them all (companions, not attested). Every attempt probes the whole machine again: an identity that
   * failed must not be measured alone on a retry.
   */
  private async probe(target: string, epoch: number): Promise<void> {
    if (this.now() > this.startBy(epoch)) return this.skip(epoch, target, 'no time left to start')
    // the target is marked before anything is awaited, so that no probe started next takes it
    let held = [target]
    this.hold(held, 1)
    try {
      const machine = await this.machineFor(target, epoch)
      if (typeof machine === 'string') return this.skip(epoch, target, machine)
      const others = machine.filter(r => r !== target)
      while (others.some(r => this.inUse.has(r)) && this.now() < this.startBy(epoch))
        await this.pause(Math.min(this.now() + 250, this.startBy(epoch)))
      this.hold(others, 1)
      held = machine
      const relays = this.relaysOf.get(epoch)
      const attested = machine.filter(
        r => r === target || (relays?.assigned.has(r) && !relays.covered.has(r)),
      )
      for (const r of attested) relays?.covered.add(r)
      if (machine.length > 1)
        this.log(
          `epoch ${epoch}: ${target} shares its address with ${others.join(', ')}: probing them together`,
        )
      await this.probeMachine(epoch, machine, attested)
    } finally {
      this.hold(held, -1)
    }
  }

  private hold(relays: string[], delta: 1 | -1): void {
    for (const r of relays) {
      if (delta > 0) this.targets.add(r)
      else this.targets.delete(r)
      this.use(r, delta)
    }
  }

  private async probeMachine(epoch: number, machine: string[], attested: string[]): Promise<void> {
    // Every attempt goes through helpers no earlier attempt used. A failure is the target's only once
    // FAILURE_QUORUM of these unrelated attempts saw the same one: a helper can cut, stall, corrupt or
    // refuse a circuit, or forge the target's refusal (it relays the reply), so one helper's word never
    // zeroes a target. A relay being probed must not also carry another probe. Helpers may be shared:
    // each has at least twice its target's capacity, so with two probes at a time it is still not the
    // bottleneck.
    const tried = new Map(machine.map(r => [r, new Set<string>()]))
    const failures = new Map(attested.map(r => [r, new Map<Outcome, number>()]))
    let pending = attested
    for (let attempt = 0; attempt < ATTEMPTS && pending.length > 0; attempt++) {
      if (attempt > 0 && this.now() > this.startBy(epoch)) break
      const lanes: Lane[] = []
      for (const relay of machine) {
        const { helpers, basis } = await this.takeHelpers(
          epoch,
          relay,
          tried.get(relay) as Set<string>,
          machine,
        )
        if (helpers.length === 0) continue
        for (const h of helpers) tried.get(relay)?.add(h)
        lanes.push({ relay, helpers })
        const role = pending.includes(relay) ? '' : ' as a companion of its machine'
        this.log(
          `epoch ${epoch}: probing ${relay} via ${helpers.join(', ')}${role} (attempt ${attempt + 1}; ${basis})`,
        )
      }
      if (!lanes.some(l => pending.includes(l.relay))) {
        for (const l of lanes) for (const h of l.helpers) this.use(h, -1)
        break
      }
      const results = await this.runTogether(epoch, lanes)
      if (typeof results === 'string') {
        for (const relay of pending) this.skip(epoch, relay, results)
        return
      }
      const left: string[] = []
      for (const relay of pending) {
        const lane = lanes.find(l => l.relay === relay)
        const r = results.get(relay)
        if (!lane || !r?.m || r.helperFault) {
          if (r?.helperFault)
            this.log(`epoch ${epoch}: ${r.helperFault.message} (probing ${relay}); trying another`)
          left.push(relay)
          continue
        }
        const { m } = r
        const helper = lane.helpers[0] as string
        const said = `${relay} via ${lane.helpers.join(', ')}: ${m.outcome}`
        if (m.outcome === 'ok') {
          const background = await this.backgroundOf(epoch, relay, m)
          const besides = background
            ? `; background forward ${background.forwardBps} B/s, reverse ${background.reverseBps} B/s`
            : ''
          this.log(
            `epoch ${epoch}: ${said}, forward ${m.forwardBps} B/s, reverse ${m.reverseBps} B/s, ${m.durationMs} ms${besides}`,
          )
          await this.attest(epoch, relay, helper, m, background)
          continue
        }
        const counts = failures.get(relay) as Map<Outcome, number>
        const seen = (counts.get(m.outcome) ?? 0) + 1
        counts.set(m.outcome, seen)
        const why = r.circuitFault ? ` (${r.circuitFault.message})` : ''
        this.log(
          `epoch ${epoch}: ${said}${why}; seen through ${seen} of the ${FAILURE_QUORUM} unrelated helpers that charge it`,
        )
        if (seen >= FAILURE_QUORUM) await this.attest(epoch, relay, helper, m)
        else left.push(relay)
      }
      pending = left
    }
    for (const relay of pending) this.skip(epoch, relay, `no ${FAILURE_QUORUM} unrelated helpers agreed`)
  }

  /**
   * Runs one attempt's probes of a machine at once, each identity through its own helpers and from its
   * own fresh identity, their windows in step; or why it could not start. Frees the helpers.
   */
  private async runTogether(epoch: number, lanes: Lane[]): Promise<Map<string, LaneResult> | string> {
    try {
      const release = await this.enterGate(epoch, [...new Set(lanes.flatMap(l => [l.relay, ...l.helpers]))])
      if (typeof release === 'string') return release
      const together = new Together(lanes.length)
      for (const l of lanes) this.measuring.add(l.relay)
      try {
        const results = await Promise.all(lanes.map(l => this.runLane(l, together.party())))
        return new Map(lanes.map((l, i) => [l.relay, results[i] as LaneResult]))
      } finally {
        await release()
      }
    } finally {
      for (const l of lanes) {
        this.measuring.delete(l.relay)
        for (const h of l.helpers) this.use(h, -1)
      }
    }
  }

  /** One identity's probe through its helpers; never throws. */
  private async runLane(lane: Lane, party: Party): Promise<LaneResult> {
    const result: LaneResult = {}
    let circuits: ProbeCircuits | undefined
    try {
      const opened = await this.o.circuits()
      circuits = opened
      result.m = await runProbe(
        async (signal, i) => {
          try {
            return await opened.open(lane.helpers[i] as string, lane.relay, this.o.sink, signal)
          } catch (err) {
            if (err instanceof HelperError) result.helperFault = err
            if (err instanceof CircuitError) result.circuitFault = err
            throw err
          }
        },
        this.o.sink,
        this.o.network.probe,
        { lanes: lane.helpers.length, circuits: PROBE_CIRCUITS, party },
      )
    } catch (err) {
      this.log(`probe circuits for ${lane.relay} failed: ${(err as Error).message}`)
    } finally {
      party.leave()
      await circuits?.close().catch(() => {})
    }
    return result
  }

  /**
   * Passes the probe gate with a probe's relays, waiting no later than the last moment a probe can start
   * and still end within the epoch's grace; why not, when it could not.
   */
  private async enterGate(epoch: number, relays: string[]): Promise<Release | string> {
    const deadline = AbortSignal.timeout(Math.max(0, this.startBy(epoch) - this.now()))
    try {
      return await (this.o.gate ?? openGate).enter(relays, AbortSignal.any([this.stopping.signal, deadline]))
    } catch (err) {
      return deadline.aborted
        ? 'probe gate still closed at its last start'
        : `probe gate: ${(err as Error).message}`
    }
  }

  /**
   * What the target says it carried besides the probe while the windows were measured; undefined (a
   * version-1 attestation) when it does not say.
   */
  private async backgroundOf(
    epoch: number,
    relay: string,
    m: ProbeMeasurement,
  ): Promise<Background | undefined> {
    const { steady } = m
    if (this.o.traffic === undefined || steady === undefined) return undefined
    try {
      const totals = await this.o.traffic(relay, { fromMs: steady.forward.fromMs, toMs: steady.reverse.toMs })
      const forwardBps = backgroundBps(totals, steady.forward)
      const reverseBps = backgroundBps(totals, steady.reverse)
      if (forwardBps !== undefined && reverseBps !== undefined) return { forwardBps, reverseBps }
      this.log(`epoch ${epoch}: ${relay} reported totals that do not cover the probe: no background credited`)
    } catch (err) {
      this.log(
        `epoch ${epoch}: ${relay} gave no traffic report (${(err as Error).message}): no background credited`,
      )
    }
    return undefined
  }

  private async attest(
    epoch: number,
    relay: string,
    helper: string,
    { steady: _, ...m }: ProbeMeasurement,
    background?: Background,
  ): Promise<void> {
    this.counts.done++
    if (m.outcome !== 'ok') this.counts.failed++
    this.outcomes[m.outcome] = (this.outcomes[m.outcome] ?? 0) + 1
    this.recent.unshift({ epoch, relay, helper, ...m, ...(background && { background }) })
    this.recent.length = Math.min(this.recent.length, RECENT)
    const attestation = signAttestation(
      {
        net: this.o.network.id,
        epoch,
        relay: peerIdFromString(relay),
        witness: this.o.peerIdBytes,
        helper: peerIdFromString(helper),
        ...m,
        ...(background && { background }),
      },
      this.o.signingSeed,
    )
    const ran = { outcome: m.outcome, startedAt: m.startedAt, durationMs: m.durationMs }
    try {
      await this.o.topic.publish(attestation)
      this.counts.published++
      this.noteAttestation(attestation)
      this.end({ epoch, relay, ...ran, end: 'published' })
    } catch (err) {
      this.counts.publishFailed++
      const late = this.now() > graceEnd(this.o.network, epoch)
      this.end({
        epoch,
        relay,
        ...ran,
        end: 'unpublished',
        reason: late ? 'finished after the grace' : (err as Error).message,
      })
    }
  }
}
