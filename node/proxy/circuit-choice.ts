import type { ExitSummary } from '../../protocol/record.ts'

/** A relay a client may route through, with its measured capacity and advertised exits when known. */
export interface Candidate {
  peerId: string
  capacityBps?: number
  /** from a version 2 record; a relay with a version 1 record is taken to allow every destination */
  exits?: ExitSummary
}

/**
 * Picks `hops` distinct relays, each drawn with probability proportional to its measured capacity.
 * Unmeasured relays weigh as much as the median measured one (or all equally when none is measured),
 * so new relays get some traffic without a claimed figure ever counting.
 */
export function chooseRelays(
  candidates: Candidate[],
  hops: number,
  random: () => number = Math.random,
): string[] {
  if (candidates.length < hops) {
    throw new RangeError(`a ${hops}-hop circuit needs ${hops} relays, ${candidates.length} known`)
  }
  const measured = candidates
    .map(c => c.capacityBps)
    .filter((c): c is number => c !== undefined && c > 0)
    .sort((a, b) => a - b)
  const fallback = measured.length === 0 ? 1 : (measured[Math.floor(measured.length / 2)] as number)
  const pool = candidates.map(c => ({ peerId: c.peerId, weight: c.capacityBps ?? fallback }))
  const chosen: string[] = []
  while (chosen.length < hops) {
    const total = pool.reduce((sum, c) => sum + c.weight, 0)
    let point = random() * total
    let index = pool.findIndex(c => (point -= c.weight) < 0)
    if (index < 0) index = pool.length - 1
    chosen.push(pool[index]!.peerId)
    pool.splice(index, 1)
  }
  return chosen
}
