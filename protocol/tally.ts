import { type Attestation, capacityOf, sameClaim } from './attestation.ts'
import { assignedWitnessIndices } from './assignment.ts'
import { prefix48 } from './bytes.ts'
import type { Address, NetworkDefinition } from './network.ts'
import { buildRewardsTree, type RewardLeaf } from './merkle.ts'
import { isEligible, type Registry, relayKey } from './registry.ts'
import { witnessIndex } from './validate.ts'

export interface TallyInput {
  network: NetworkDefinition
  epoch: number
  seed: Uint8Array
  /** the epoch's attestations, signatures already verified; any order, duplicates allowed */
  attestations: Iterable<Attestation>
  registry: Registry
  /** cumulative amounts per payout address through the previous epoch */
  previous: ReadonlyMap<Address, bigint>
}

export interface RelayTally {
  relay: Uint8Array
  payout: Address
  /** capacities (bytes/s) attested by the relay's assigned witnesses, ascending; failed probes are 0 */
  capacities: number[]
  /** the median capacity, or 0 with fewer than m attestations */
  score: number
  reward: bigint
}

export interface Tally {
  epoch: number
  /** eligible relays that received at least one counted attestation, in PeerId byte order */
  relays: RelayTally[]
  /** (relay, witness) pairs dropped because the witness signed two different attestations */
  equivocations: number
  emitted: bigint
  /** one leaf per payout address with a non-zero cumulative amount, ordered by address */
  leaves: RewardLeaf[]
  cumulativeTotal: bigint
  rewardsRoot: Uint8Array
}

/** equalBytes for short arrays, without a native call. */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** The lower median: with fewer than half the values arbitrary, it stays within the honest ones. */
export function lowerMedian(sortedValues: readonly number[]): number {
  return sortedValues[Math.floor((sortedValues.length - 1) / 2)] ?? 0
}

/**
 * The epoch's rewards as a pure function of its attestations, the registry and the previous cumulative
 * amounts. Iteration is over sorted keys and arithmetic is bigint, so every machine gets the same bytes.
 *
 * Remainder rule (largest remainder): each scored relay first gets ⌊E·s/S⌋; the R = E − Σ⌊E·s/S⌋ units
 * left (R < number of scored relays) go one each to the relays with the largest (E·s mod S), ties to
 * the lower PeerId. So the sum is exactly E whenever any relay scores, and 0 when none does.
 */
export function computeTally(input: TallyInput): Tally {
  const { network: net, epoch, seed, registry } = input
  const k = net.witnessesPerRelay
  const witnessCount = net.witnesses.length

  // Group by relay without building a string per attestation: bucket by 48 bits of the public key; a
  // bucket that ever holds two relays (rare for real keys) falls back to keying by the full hex.
  const buckets = new Map<number, { relay: Uint8Array; list: Attestation[] } | Map<string, Attestation[]>>()
  for (const a of input.attestations) {
    if (a.epoch !== epoch || a.net !== net.id) continue
    const bucketKey = prefix48(a.relay, 6)
    const bucket = buckets.get(bucketKey)
    if (bucket === undefined) buckets.set(bucketKey, { relay: a.relay, list: [a] })
    else if (!(bucket instanceof Map) && sameBytes(bucket.relay, a.relay)) bucket.list.push(a)
    else {
      const byKey = bucket instanceof Map ? bucket : new Map([[relayKey(bucket.relay), bucket.list]])
      if (byKey !== bucket) buckets.set(bucketKey, byKey)
      const key = relayKey(a.relay)
      const list = byKey.get(key)
      if (list) list.push(a)
      else byKey.set(key, [a])
    }
  }
  const byRelay = new Map<string, Attestation[]>()
  for (const bucket of buckets.values()) {
    if (bucket instanceof Map) for (const [key, list] of bucket) byRelay.set(key, list)
    else byRelay.set(relayKey(bucket.relay), bucket.list)
  }

  let equivocations = 0
  const relays: RelayTally[] = []
  const keys: string[] = []
  for (const key of [...byRelay.keys()].sort()) {
    const entry = registry.get(key)
    if (!entry || !isEligible(entry, epoch, net.eligibilityDelay)) continue
    const assigned = assignedWitnessIndices(seed, entry.relay, witnessCount, k)
    // slot i holds the attestation of witness assigned[i]: undefined until seen, null once it equivocated
    const slots: (Attestation | null | undefined)[] = new Array(assigned.length)
    for (const a of byRelay.get(key) as Attestation[]) {
      const w = witnessIndex(net, a.witness)
      if (w === undefined) continue
      const slot = assigned.indexOf(w)
      if (slot < 0) continue
      const seen = slots[slot]
      if (seen === undefined) slots[slot] = a
      else if (seen !== null && !sameClaim(seen, a)) slots[slot] = null
    }
    const capacities: number[] = []
    for (const a of slots) {
      if (a === null) equivocations++
      else if (a !== undefined) capacities.push(capacityOf(a))
    }
    if (capacities.length === 0) continue
    capacities.sort((x, y) => x - y)
    const score = capacities.length >= net.minAttestations ? lowerMedian(capacities) : 0
    relays.push({ relay: entry.relay, payout: entry.payout, capacities, score, reward: 0n })
    keys.push(key)
  }

  const emitted = distribute(net.emissionPerEpoch, relays, keys)

  // Addresses are compared as lower-case text; a previous amount keyed in another case is the same account.
  const cumulative = new Map<Address, bigint>()
  for (const [account, amount] of input.previous) {
    const key = account.toLowerCase() as Address
    cumulative.set(key, (cumulative.get(key) ?? 0n) + amount)
  }
  for (const r of relays) {
    if (r.reward > 0n) cumulative.set(r.payout, (cumulative.get(r.payout) ?? 0n) + r.reward)
  }
  const leaves = [...cumulative]
    .filter(([, amount]) => amount > 0n)
    .map(([account, amount]) => ({ account, amount }))
    .sort((a, b) => (a.account < b.account ? -1 : a.account > b.account ? 1 : 0))
  const cumulativeTotal = leaves.reduce((sum, l) => sum + l.amount, 0n)

  return {
    epoch,
    relays,
    equivocations,
    emitted,
    leaves,
    cumulativeTotal,
    rewardsRoot: buildRewardsTree(leaves).root,
  }
}

/**
 * Splits `emission` in proportion to score with the largest-remainder rule; sets `reward`, returns the
 * sum. `keys[i]` is the PeerId hex of `relays[i]`, the tie-break.
 */
function distribute(emission: bigint, relays: RelayTally[], keys: string[]): bigint {
  const scored: number[] = []
  let total = 0n
  relays.forEach((r, i) => {
    if (r.score > 0) {
      scored.push(i)
      total += BigInt(r.score)
    }
  })
  if (total === 0n) return 0n
  let assigned = 0n
  const remainders = scored.map(i => {
    const r = relays[i] as RelayTally
    const share = emission * BigInt(r.score)
    r.reward = share / total
    assigned += r.reward
    const rest = share % total
    // Number() rounds monotonically, so unequal approximations order the exact remainders the same way
    return { i, rest, approx: Number(rest) }
  })
  let left = emission - assigned
  if (left > 0n) {
    remainders.sort(
      (a, b) =>
        b.approx - a.approx ||
        (a.rest > b.rest ? -1 : a.rest < b.rest ? 1 : (keys[a.i] as string) < (keys[b.i] as string) ? -1 : 1),
    )
    for (const { i } of remainders) {
      if (left === 0n) break
      ;(relays[i] as RelayTally).reward += 1n
      left -= 1n
    }
  }
  return emission
}
