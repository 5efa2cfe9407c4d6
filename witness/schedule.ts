import { randomInt } from 'node:crypto'
import { assignedWitnessIndices } from '../protocol/assignment.ts'
import { equalBytes } from '../protocol/bytes.ts'
import { epochEnd, epochStart } from '../protocol/epoch.ts'
import type { NetworkDefinition } from '../protocol/network.ts'
import { eligibleRelays, type Registry } from '../protocol/registry.ts'
import { witnessIndex } from '../protocol/validate.ts'

/** A uniform draw in [0, 1) from the operating system's CSPRNG: probe times must not be predictable. */
export const secretRandom = (): number => randomInt(2 ** 47) / 2 ** 47

/** One probe to run: the relay and when (unix ms). */
export interface PlannedProbe {
  relay: Uint8Array
  at: number
}

/** How long a probe may take, so that it is planned to finish before its epoch ends. */
export function probeBudgetMs(network: Pick<NetworkDefinition, 'probe'>): number {
  return (2 * network.probe.windowSeconds + 2) * 1000
}

/**
 * The probes a witness runs in `epoch`: one per eligible relay assigned to it under the epoch's seed,
 * each at a secret time drawn uniformly from the part of the epoch that leaves room to finish.
 */
export function planEpoch(o: {
  network: NetworkDefinition
  epoch: number
  seed: Uint8Array
  registry: Registry
  witness: Uint8Array
  random?: () => number
}): PlannedProbe[] {
  const net = o.network
  const index = witnessIndex(net, o.witness)
  if (index === undefined) return []
  const random = o.random ?? secretRandom
  const start = epochStart(net, o.epoch)
  const span = Math.max(0, epochEnd(net, o.epoch) - start - probeBudgetMs(net))
  return eligibleRelays(o.registry, o.epoch, net.eligibilityDelay)
    .filter(r => !equalBytes(r.relay, o.witness))
    .filter(r =>
      assignedWitnessIndices(o.seed, r.relay, net.witnesses.length, net.witnessesPerRelay).includes(index),
    )
    .map(r => ({ relay: r.relay, at: start + Math.floor(random() * span) }))
    .sort((a, b) => a.at - b.at)
}

/** A relay that could carry a probe as its helper, with our best estimate of its capacity. */
export interface HelperCandidate {
  peerId: string
  /** bytes/s; undefined when nothing is known */
  capacityBps?: number
}

/** The most helpers (parallel circuits) one probe uses. */
export const MAX_HELPERS = 3

/**
 * Picks a probe's helpers. One, at random, among relays known to have at least twice the target's
 * capacity (sbws's rule: the helper must not be the bottleneck). When none is, the fastest known relays,
 * as many as it takes for their capacities to add up to twice the target's (at most MAX_HELPERS, none
 * slower than a third of the target): the probe then runs one circuit through each in parallel, so the
 * fastest relay of a network is not measured at the speed of the second fastest. With no estimates at
 * all, one among everyone.
 */
export function chooseHelpers(
  candidates: readonly HelperCandidate[],
  targetCapacityBps: number | undefined,
  random: () => number = secretRandom,
): string[] {
  const pick = (pool: readonly HelperCandidate[]) =>
    pool.length === 0 ? [] : [pool[Math.floor(random() * pool.length)]?.peerId as string]
  const known = knownCapacities(candidates)
  if (targetCapacityBps === undefined || known.length === 0)
    return pick(known.length > 0 ? known : candidates)
  const fast = known.filter(c => c.capacityBps >= 2 * targetCapacityBps)
  if (fast.length > 0) return pick(fast)
  return fastestLanes(known, targetCapacityBps).map(c => c.peerId)
}

/**
 * What the helpers chooseHelpers picks from `candidates` carry together (bytes/s), capped at the twice
 * the target's capacity it aims for: whether waiting for a busy relay would give a probe better helpers.
 */
export function helperReach(candidates: readonly HelperCandidate[], targetCapacityBps: number): number {
  const goal = 2 * targetCapacityBps
  const known = knownCapacities(candidates)
  if (known.some(c => c.capacityBps >= goal)) return goal
  return Math.min(
    goal,
    fastestLanes(known, targetCapacityBps).reduce((sum, c) => sum + c.capacityBps, 0),
  )
}

type KnownCandidate = HelperCandidate & { capacityBps: number }

const knownCapacities = (candidates: readonly HelperCandidate[]): KnownCandidate[] =>
  candidates.filter((c): c is KnownCandidate => c.capacityBps !== undefined)

function fastestLanes(known: readonly KnownCandidate[], targetCapacityBps: number): KnownCandidate[] {
  const fastest = [...known].sort((a, b) => b.capacityBps - a.capacityBps)
  const chosen: KnownCandidate[] = []
  let sum = 0
  for (const c of fastest) {
    if (chosen.length === MAX_HELPERS || sum >= 2 * targetCapacityBps) break
    // A lane slower than its share of the target adds little forward and, in reverse, soaks up the
    // target's rate into its buffers (bytes that arrive after the window): it is left out.
    if (chosen.length > 0 && c.capacityBps < targetCapacityBps / MAX_HELPERS) break
    chosen.push(c)
    sum += c.capacityBps
  }
  return chosen
}
