import { availableParallelism } from 'node:os'
import type { ProbeParameters } from '../../protocol/network.ts'
import { probeBudgetMs } from '../../witness/schedule.ts'

/** The shortest epoch `weir testnet` accepts. */
export const MIN_EPOCH_SECONDS = 10

/** The timing of a testnet's network, from its epoch length. */
export interface TestnetTiming {
  epochSeconds: number
  graceSeconds: number
  witnessesPerRelay: number
  probe: ProbeParameters
}

/**
 * One witness per relay, 3 s probe windows and a grace of half an epoch: every probe of an epoch has to
 * fit, a few at a time, on one machine (see ProbeLeases), and probes that queued behind others may still
 * finish in the grace. A real network spreads its witnesses' probes over hosts.
 */
export function testnetTiming(epochSeconds: number): TestnetTiming {
  const windowSeconds = 3
  return {
    epochSeconds,
    graceSeconds: Math.floor(epochSeconds / 2),
    witnessesPerRelay: 1,
    probe: { windowSeconds, warmupSeconds: 1, timeoutSeconds: 4 * windowSeconds },
  }
}

/**
 * Probes the machine runs at once: one per two cores. A 20 MB/s probe keeps about 1.2 cores busy
 * (witness, helpers, target): probes running side by side on two cores slow each other down and read low.
 */
export function machineProbeConcurrency(cores = availableParallelism()): number {
  return Math.max(1, Math.floor(cores / 2))
}

/** What decides whether a testnet's epochs hold every probe. */
export interface ProbeLoad {
  relays: number
  witnesses: number
  /** probes the machine runs at once (the lease server's concurrency) */
  concurrency: number
}

/**
 * Whether every relay can be probed in every epoch of `epochSeconds`, wherever the witnesses' secret
 * draws put the probes. Each witness starts each of its probes at a time drawn over
 * [epoch start, epoch end − P] (witness/schedule.ts), P being a probe's planned length: two windows and
 * 2 s for circuits, which also covers the lease hand-over and the choice of helpers. On a testnet every
 * probe then waits for a lease, and ProbeLeases grants `concurrency` at once, so the epoch's probes run
 * in waves; a probe not started by grace end − P is skipped (it could not be attested in time). In the
 * worst case every probe is drawn at the last moment, and the last wave starts (waves − 1)·P later: it
 * must still start by grace end − P. When probes queue at all that needs a grace of P or more, so
 * epochs of 2P or more, whose queue is empty by the next epoch's last draw: epochs do not hold each other
 * up. The run's startup needs no margin here: it starts at the first whole epoch after every role is up.
 */
export function probesFit(load: ProbeLoad, epochSeconds: number): boolean {
  const t = testnetTiming(epochSeconds)
  const probes = load.relays * Math.min(t.witnessesPerRelay, load.witnesses)
  const waves = Math.ceil(probes / load.concurrency)
  const probeMs = probeBudgetMs(t)
  const lastDraw = Math.max(0, epochSeconds * 1000 - probeMs)
  const lastStart = (epochSeconds + t.graceSeconds) * 1000 - probeMs
  return lastDraw + (waves - 1) * probeMs <= lastStart
}

/** The shortest epoch length (whole seconds) in which every relay can be probed every epoch. */
export function shortestEpochSeconds(load: ProbeLoad): number {
  let seconds = MIN_EPOCH_SECONDS
  while (!probesFit(load, seconds)) seconds++
  return seconds
}
