import { assignedWitnessIndices } from './assignment.ts'
import { type Attestation, capacityOf, sameClaim } from './attestation.ts'
import { compareBytes, equalBytes, parseCanonicalAddress } from './bytes.ts'
import { buildRewardsTree, type RewardLeaf } from './merkle.ts'
import type { Address, NetworkDefinition } from './network.ts'
import { orderByBytes } from './order.ts'
import { peerIdFromString } from './peer.ts'
import { isEligible, type RegisteredRelay, type Registry, relayKey } from './registry.ts'

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

/** The lower median: with fewer than half the values arbitrary, it stays within the honest ones. */
export function lowerMedian(sortedValues: readonly number[]): number {
  return sortedValues[Math.floor((sortedValues.length - 1) / 2)] ?? 0
}

/**
 * Byte strings (PeerIds) to dense indices in first-seen order: open addressing on a hash of their last
 * bytes, so a million relays cost no string and no map entry each.
 */
class ByteIndex {
  readonly items: Uint8Array[] = []
  // plain arrays, not typed ones: large new ArrayBuffers make V8 mark the whole heap (external memory
  // pressure), and a tally's heap holds millions of attestations
  private slots: number[] = new Array(1 << 10).fill(-1)
  private readonly hashes: number[] = []
  // attestations of one relay often arrive together and may share the relay's array
  private last: Uint8Array | undefined
  private lastIndex = -1

  /** The item's index, added as the next one if absent. */
  indexOf(bytes: Uint8Array): number {
    if (bytes === this.last) return this.lastIndex
    // the last 8 bytes are key bytes in a PeerId: finding a colliding key costs ~2³² key generations
    let hash = bytes.length
    for (let i = Math.max(bytes.length - 8, 0); i < bytes.length; i++) {
      hash = Math.imul(hash ^ (bytes[i] as number), 0x01000193)
    }
    hash ^= hash >>> 15
    const mask = this.slots.length - 1
    let slot = hash & mask
    for (;;) {
      const index = this.slots[slot] as number
      if (index < 0) break
      if (this.hashes[index] === hash && equalBytes(this.items[index] as Uint8Array, bytes)) {
        this.last = bytes
        this.lastIndex = index
        return index
      }
      slot = (slot + 1) & mask
    }
    const index = this.items.length
    this.items.push(bytes)
    this.hashes.push(hash)
    this.slots[slot] = index
    if (2 * this.items.length > this.slots.length) this.grow()
    this.last = bytes
    this.lastIndex = index
    return index
  }

  private grow(): void {
    this.slots = new Array(2 * this.slots.length).fill(-1)
    const mask = this.slots.length - 1
    this.hashes.forEach((hash, index) => {
      let slot = hash & mask
      while ((this.slots[slot] as number) >= 0) slot = (slot + 1) & mask
      this.slots[slot] = index
    })
  }
}

/**
 * A network's witnesses' PeerId bytes by canonical index; a witness listed twice only at its first index,
 * as witnessIndex finds it.
 */
const witnessTables = new WeakMap<NetworkDefinition, (Uint8Array | undefined)[]>()
function witnessIds(net: NetworkDefinition): (Uint8Array | undefined)[] {
  let ids = witnessTables.get(net)
  if (!ids) {
    const firstIndex = new Map<string, number>()
    net.witnesses.forEach((w, i) => {
      if (!firstIndex.has(w)) firstIndex.set(w, i)
    })
    ids = net.witnesses.map((w, i) => (firstIndex.get(w) === i ? peerIdFromString(w) : undefined))
    witnessTables.set(net, ids)
  }
  return ids
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
  const { relays, equivocations } = relayTallies(input, collectSlots(input))
  const emitted = distribute(input.network.emissionPerEpoch, relays)
  const leaves = cumulativeLeaves(input.previous, relays)
  const cumulativeTotal = leaves.reduce((sum, l) => sum + l.amount, 0n)
  return {
    epoch: input.epoch,
    relays,
    equivocations,
    emitted,
    leaves,
    cumulativeTotal,
    rewardsRoot: buildRewardsTree(leaves).root,
  }
}

/**
 * One pass over the attestations, in input order. Per relay (by first sight): the registry entry if
 * eligible, and `perRelay` slots from `first[r]`, slot i for the witness assigned[first[r] + i]; a slot
 * holds that witness's attestation: undefined until seen, null once it equivocated.
 */
interface Slots {
  relays: readonly Uint8Array[]
  entries: (RegisteredRelay | undefined)[]
  perRelay: number
  first: number[]
  slots: (Attestation | null | undefined)[]
  /** the capacity of the attestation in each slot, read here so the attestations are visited once */
  capacity: number[]
}

function collectSlots(input: TallyInput): Slots {
  const { network: net, epoch, seed, registry } = input
  const witnesses = witnessIds(net)
  const perRelay = Math.min(net.witnessesPerRelay, net.witnesses.length)
  const relays = new ByteIndex()
  const entries: (RegisteredRelay | undefined)[] = []
  const first: number[] = []
  const assigned: number[] = []
  const slots: (Attestation | null | undefined)[] = []
  const capacity: number[] = []
  for (const a of input.attestations) {
    if (a.epoch !== epoch || a.net !== net.id) continue
    const r = relays.indexOf(a.relay)
    if (r === entries.length) {
      const entry = registry.get(relayKey(a.relay))
      const eligible = isEligible(entry, epoch, net.eligibilityDelay)
      entries.push(eligible ? entry : undefined)
      first.push(slots.length)
      if (eligible) {
        const relay = (entry as RegisteredRelay).relay
        for (const w of assignedWitnessIndices(seed, relay, net.witnesses.length, net.witnessesPerRelay)) {
          assigned.push(w)
          slots.push(undefined)
          capacity.push(0)
        }
      }
    }
    if (entries[r] === undefined) continue
    // the slot of the assigned witness that signed: comparing with the few assigned ids (from the last
    // byte, where distinct keys differ) is cheaper than looking the witness up among all
    const from = first[r] as number
    let slot = from
    for (; slot < from + perRelay; slot++) {
      const id = witnesses[assigned[slot] as number]
      if (id !== undefined && (id === a.witness || equalBytes(id, a.witness))) break
    }
    if (slot === from + perRelay) continue
    const seen = slots[slot]
    if (seen === undefined) {
      slots[slot] = a
      capacity[slot] = capacityOf(a)
    } else if (seen !== null && !sameClaim(seen, a)) slots[slot] = null
  }
  return { relays: relays.items, entries, perRelay, first, slots, capacity }
}

/** The eligible relays with a counted attestation, in PeerId byte order, and the equivocations. */
function relayTallies(input: TallyInput, s: Slots): { relays: RelayTally[]; equivocations: number } {
  // tallied in first-seen order, which walks the slots sequentially, then put in PeerId order
  let equivocations = 0
  const byIndex: (RelayTally | undefined)[] = []
  const values: number[] = []
  s.entries.forEach((entry, r) => {
    let tally: RelayTally | undefined
    if (entry !== undefined) {
      values.length = 0
      for (let slot = s.first[r] as number; slot < (s.first[r] as number) + s.perRelay; slot++) {
        const a = s.slots[slot]
        if (a === null) equivocations++
        else if (a !== undefined) insertSorted(values, s.capacity[slot] as number)
      }
      if (values.length > 0) {
        const capacities = values.slice()
        const score = capacities.length >= input.network.minAttestations ? lowerMedian(capacities) : 0
        tally = { relay: entry.relay, payout: entry.payout, capacities, score, reward: 0n }
      }
    }
    byIndex.push(tally)
  })
  const order = orderByBytes(
    s.relays.length,
    (i, j) => (s.relays[i] as Uint8Array)[j] ?? -1,
    (i, j) => compareBytes(s.relays[i] as Uint8Array, s.relays[j] as Uint8Array),
  )
  const relays: RelayTally[] = []
  for (const r of order) {
    const tally = byIndex[r]
    if (tally !== undefined) relays.push(tally)
  }
  return { relays, equivocations }
}

function insertSorted(values: number[], value: number): void {
  let i = values.length
  values.push(value)
  for (; i > 0 && (values[i - 1] as number) > value; i--) values[i] = values[i - 1] as number
  values[i] = value
}

/**
 * Splits `emission` in proportion to score with the largest-remainder rule; sets `reward`, returns the
 * sum. `relays` are in PeerId order, the tie-break.
 */
function distribute(emission: bigint, relays: RelayTally[]): bigint {
  // the sum as a number is exact while it stays a safe integer (scores are non-negative integers)
  let sum = 0
  for (const r of relays) sum += r.score
  const total = Number.isSafeInteger(sum) ? BigInt(sum) : relays.reduce((t, r) => t + BigInt(r.score), 0n)
  if (total === 0n) return 0n
  let assigned = 0n
  // the remainders E·s mod S as numbers: Number() rounds monotonically, so unequal approximations order
  // the exact remainders the same way (and all are exact while S ≤ 2⁵³)
  const approx: number[] = new Array(relays.length).fill(-1)
  relays.forEach((r, i) => {
    if (r.score === 0) return
    const share = emission * BigInt(r.score)
    r.reward = share / total
    assigned += r.reward
    approx[i] = Number(share % total)
  })
  const left = emission - assigned
  if (left > 0n) {
    // the `left` largest remainders: all above the left-th largest approximation, then those equal to it
    // by exact remainder and PeerId (the sort is stable)
    const wanted = Number(left)
    const threshold = nthSmallest(approx, relays.length - wanted)
    const ties: number[] = []
    let given = 0
    approx.forEach((value, i) => {
      if (value > threshold) {
        ;(relays[i] as RelayTally).reward += 1n
        given++
      } else if (value === threshold) ties.push(i)
    })
    const rest = (i: number) => (emission * BigInt((relays[i] as RelayTally).score)) % total
    if (total > BigInt(Number.MAX_SAFE_INTEGER))
      ties.sort((i, j) => {
        const a = rest(i)
        const b = rest(j)
        return a > b ? -1 : a < b ? 1 : 0
      })
    for (const i of ties.slice(0, wanted - given)) (relays[i] as RelayTally).reward += 1n
  }
  return emission
}

/** The value of rank k (from 0) in ascending order: quickselect on a copy. */
function nthSmallest(values: readonly number[], k: number): number {
  const a = values.slice()
  let low = 0
  let high = a.length - 1
  while (low < high) {
    const pivot = a[(low + high) >>> 1] as number
    let i = low
    let j = high
    while (i <= j) {
      while ((a[i] as number) < pivot) i++
      while ((a[j] as number) > pivot) j--
      if (i <= j) {
        const t = a[i] as number
        a[i++] = a[j] as number
        a[j--] = t
      }
    }
    if (k <= j) high = j
    else if (k >= i) low = i
    else return a[k] as number
  }
  return a[k] as number
}

/**
 * One leaf per account with a non-zero cumulative amount, ordered by address. Addresses are compared as
 * lower-case text; a previous amount keyed in another case is the same account. When every address is
 * in canonical form (as registries and ledgers write them), text order is byte order.
 */
function cumulativeLeaves(
  previous: ReadonlyMap<Address, bigint>,
  relays: readonly RelayTally[],
): RewardLeaf[] {
  const names: Address[] = []
  const amounts: bigint[] = []
  for (const [account, amount] of previous) {
    names.push(account.toLowerCase() as Address)
    amounts.push(amount)
  }
  for (const r of relays) {
    if (r.reward > 0n) {
      names.push(r.payout)
      amounts.push(r.reward)
    }
  }
  const bytes = new Uint8Array(20 * names.length)
  if (!names.every((name, i) => parseCanonicalAddress(name, bytes, 20 * i)))
    return leavesByText(names, amounts)
  // canonical addresses order as text as they do as bytes; equal ones end up adjacent, first seen first
  const order = orderByBytes(
    names.length,
    (i, j) => (j < 20 ? (bytes[20 * i + j] as number) : -1),
    (i, j) => compareBytes(bytes.subarray(20 * i, 20 * i + 20), bytes.subarray(20 * j, 20 * j + 20)),
  )
  const leaves: RewardLeaf[] = []
  for (let start = 0; start < order.length; ) {
    const i = order[start] as number
    let amount = amounts[i] as bigint
    let end = start + 1
    for (; end < order.length && sameAccount(bytes, i, order[end] as number); end++) {
      amount += amounts[order[end] as number] as bigint
    }
    if (amount > 0n) leaves.push({ account: names[i] as Address, amount })
    start = end
  }
  return leaves
}

function sameAccount(bytes: Uint8Array, i: number, j: number): boolean {
  for (let b = 19; b >= 0; b--) if (bytes[20 * i + b] !== bytes[20 * j + b]) return false
  return true
}

/** The leaves when some address is not canonical: summed by exact text, ordered as strings. */
function leavesByText(names: readonly Address[], amounts: readonly bigint[]): RewardLeaf[] {
  const cumulative = new Map<Address, bigint>()
  names.forEach((name, i) => {
    cumulative.set(name, (cumulative.get(name) ?? 0n) + (amounts[i] as bigint))
  })
  return [...cumulative]
    .filter(([, amount]) => amount > 0n)
    .map(([account, amount]) => ({ account, amount }))
    .sort((a, b) => (a.account < b.account ? -1 : a.account > b.account ? 1 : 0))
}
