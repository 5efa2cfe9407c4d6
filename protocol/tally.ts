import { assignment } from './assignment.ts'
import { type Attestation, capacityOf, sameClaim } from './attestation.ts'
import { compareBytes, equalBytes } from './bytes.ts'
import { type AccountWords, accountByte, parseAccountWords, rewardsRoot } from './fast/merkle.ts'
import type { RewardLeaf } from './merkle.ts'
import type { Address, NetworkDefinition } from './network.ts'
import { orderByBytes } from './fast/order.ts'
import { peerIdFromString } from './peer.ts'
import { isEligible, type RegisteredRelay, type Registry } from './registry.ts'

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
 * Byte strings (PeerIds) to dense indices in insertion order: open addressing on a hash of their last
 * bytes, so a million relays cost no string and no map entry each. Sized once for at most `capacity`
 * items: arrays grown as they fill leave copies of themselves in the old generation, and with millions of
 * attestations in the heap a full collection is costly (docs/performance.md).
 */
class ByteIndex {
  readonly items: Uint8Array[]
  // plain arrays, not typed ones: large new ArrayBuffers make V8 mark the whole heap (external memory
  // pressure), and a tally's heap holds millions of attestations
  private readonly slots: number[]
  private readonly hashes: number[]
  private size = 0
  // attestations of one relay often arrive together and may share the relay's array
  private last: Uint8Array | undefined
  private lastIndex = -1

  constructor(capacity: number) {
    this.items = new Array(capacity)
    this.hashes = new Array(capacity).fill(0)
    this.slots = new Array(2 ** Math.ceil(Math.log2(2 * capacity + 2))).fill(-1)
  }

  /** The item's index, or -1 if absent. */
  find(bytes: Uint8Array): number {
    if (bytes === this.last) return this.lastIndex
    const index = this.slots[this.slotOf(bytes, hashOf(bytes))] as number
    if (index >= 0) {
      this.last = bytes
      this.lastIndex = index
    }
    return index
  }

  /** The item's index, added as the next one if absent (at most `capacity` items in all). */
  add(bytes: Uint8Array): number {
    const hash = hashOf(bytes)
    const slot = this.slotOf(bytes, hash)
    const found = this.slots[slot] as number
    if (found >= 0) return found
    if (this.size === this.items.length) throw new RangeError('ByteIndex is full')
    const index = this.size++
    this.items[index] = bytes
    this.hashes[index] = hash
    this.slots[slot] = index
    return index
  }

  /** The slot holding the item, or the empty slot where it would go. */
  private slotOf(bytes: Uint8Array, hash: number): number {
    const mask = this.slots.length - 1
    let slot = hash & mask
    for (;;) {
      const index = this.slots[slot] as number
      if (index < 0) return slot
      if (this.hashes[index] === hash && equalBytes(this.items[index] as Uint8Array, bytes)) return slot
      slot = (slot + 1) & mask
    }
  }
}

/** A hash of the last 8 bytes, which are key bytes in a PeerId: a colliding key costs ~2³² key generations. */
function hashOf(bytes: Uint8Array): number {
  let hash = bytes.length
  for (let i = Math.max(bytes.length - 8, 0); i < bytes.length; i++) {
    hash = Math.imul(hash ^ (bytes[i] as number), 0x01000193)
  }
  return hash ^ (hash >>> 15)
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
  const { relays, payouts, equivocations } = relayTallies(input, collectSlots(input))
  const emitted = distribute(input.network.emissionPerEpoch, relays)
  const { leaves, accounts } = cumulativeLeaves(input.previous, relays, payouts)
  const cumulativeTotal = leaves.reduce((sum, l) => sum + l.amount, 0n)
  return {
    epoch: input.epoch,
    relays,
    equivocations,
    emitted,
    leaves,
    cumulativeTotal,
    rewardsRoot: rewardsRoot(leaves, accounts),
  }
}

/**
 * One pass over the attestations, in input order. Eligible relay r (in registry order) has `perRelay`
 * slots from r·perRelay, slot i for the witness assigned[r·perRelay + i] (-1 until the relay is first
 * attested); a slot holds that witness's attestation: undefined until seen, null once it equivocated.
 */
interface Slots {
  /** the eligible relays, in registry order */
  entries: RegisteredRelay[]
  perRelay: number
  assigned: number[]
  slots: (Attestation | null | undefined)[]
  /** the capacity of the attestation in each slot, read here so the attestations are visited once */
  capacity: number[]
}

function collectSlots(input: TallyInput): Slots {
  const { network: net, epoch, seed, registry } = input
  const witnesses = witnessIds(net)
  const perRelay = Math.min(net.witnessesPerRelay, net.witnesses.length)
  // the eligible relays indexed by their bytes, which attestations are looked up by: no hex key per relay
  const eligible = new ByteIndex(registry.size)
  const entries: RegisteredRelay[] = new Array(registry.size)
  let count = 0
  for (const entry of registry.values()) {
    if (isEligible(entry, epoch, net.eligibilityDelay) && eligible.add(entry.relay) === count)
      entries[count++] = entry
  }
  entries.length = count
  // sized once, as ByteIndex explains
  const assigned: number[] = new Array(entries.length * perRelay).fill(-1)
  const slots: (Attestation | null | undefined)[] = new Array(entries.length * perRelay).fill(undefined)
  const capacity: number[] = new Array(entries.length * perRelay).fill(0)
  for (const a of input.attestations) {
    if (a.epoch !== epoch || a.net !== net.id) continue
    const r = eligible.find(a.relay)
    if (r < 0) continue
    const from = r * perRelay
    if (assigned[from] === -1) {
      const relay = (entries[r] as RegisteredRelay).relay
      const chosen = assignment(seed, relay, net.witnesses.length, net.witnessesPerRelay)
      for (let i = 0; i < perRelay; i++) assigned[from + i] = chosen[i] as number
    }
    // the slot of the assigned witness that signed: comparing with the few assigned ids (from the last
    // byte, where distinct keys differ) is cheaper than looking the witness up among all
    let slot = from
    for (; slot < from + perRelay; slot++) {
      const id = witnesses[assigned[slot] as number]
      if (id !== undefined && (id === a.witness || equalBytes(id, a.witness))) break
    }
    if (slot === from + perRelay) continue
    const held = slots[slot]
    if (held === undefined) {
      slots[slot] = a
      capacity[slot] = capacityOf(a)
    } else if (held !== null && !sameClaim(held, a)) slots[slot] = null
  }
  return { entries, perRelay, assigned, slots, capacity }
}

/**
 * The eligible relays with a counted attestation, in PeerId byte order; their payout addresses as words
 * (relay k's from payouts.at[k]) when all are canonical; and the equivocations.
 */
function relayTallies(
  input: TallyInput,
  s: Slots,
): { relays: RelayTally[]; payouts: { words: number[]; at: number[] } | undefined; equivocations: number } {
  // First, in registry order, which walks the slots and the entries of a registry built in order
  // sequentially: which relays have a counted attestation, their sorted capacities, scores and parsed
  // payout addresses. Done in PeerId order, each relay's slots, capacities and entry would cost cache
  // misses.
  let equivocations = 0
  const tallied: RegisteredRelay[] = new Array(s.entries.length)
  const capacitiesOf: number[][] = new Array(s.entries.length)
  const scores: number[] = new Array(s.entries.length)
  let count = 0
  let words: number[] | undefined = new Array(5 * s.entries.length).fill(0)
  s.entries.forEach((entry, r) => {
    let counted = 0
    for (let slot = r * s.perRelay; slot < (r + 1) * s.perRelay; slot++) {
      const a = s.slots[slot]
      if (a === null) equivocations++
      else if (a !== undefined) counted++
    }
    if (counted === 0) return
    if (words !== undefined && !parseAccountWords(entry.payout, words, 5 * count)) words = undefined
    const capacities: number[] = new Array(counted)
    let c = 0
    for (let slot = r * s.perRelay; slot < (r + 1) * s.perRelay; slot++) {
      const a = s.slots[slot]
      if (a !== undefined && a !== null) insertSorted(capacities, c++, s.capacity[slot] as number)
    }
    scores[count] = counted >= input.network.minAttestations ? lowerMedian(capacities) : 0
    capacitiesOf[count] = capacities
    tallied[count++] = entry
  })
  tallied.length = count
  if (words !== undefined) words.length = 5 * count
  const order = orderByBytes(
    count,
    (i, j) => (tallied[i] as RegisteredRelay).relay[j] ?? -1,
    (i, j) => compareBytes((tallied[i] as RegisteredRelay).relay, (tallied[j] as RegisteredRelay).relay),
  )
  // then the tallies, made in PeerId order: every later pass walks them in that order
  const relays = order.map((i): RelayTally => {
    const entry = tallied[i] as RegisteredRelay
    return {
      relay: entry.relay,
      payout: entry.payout,
      capacities: capacitiesOf[i] as number[],
      score: scores[i] as number,
      reward: 0n,
    }
  })
  return { relays, payouts: words && { words, at: order.map(i => 5 * i) }, equivocations }
}

/** Inserts `value` into values[0, filled), which is sorted, keeping it sorted. */
function insertSorted(values: number[], filled: number, value: number): void {
  let i = filled
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
 * One leaf per account with a non-zero cumulative amount, ordered by address, and when every address is
 * canonical their words (leaf i's from accounts.at[i]). Addresses are compared as lower-case text; a
 * previous amount keyed in another case is the same account. When every address is in canonical form (as
 * registries and ledgers write them), text order is byte order. `payouts` are the relays' payout
 * addresses as words, if all are canonical; the previous accounts' words are added to them.
 */
function cumulativeLeaves(
  previous: ReadonlyMap<Address, bigint>,
  relays: readonly RelayTally[],
  payouts: { words: number[]; at: readonly number[] } | undefined,
): { leaves: RewardLeaf[]; accounts: AccountWords | undefined } {
  // sized once and trimmed, as ByteIndex explains
  const most = previous.size + relays.length
  const names: Address[] = new Array(most)
  const amounts: bigint[] = new Array(most)
  // where each name's account is in words
  const at: number[] = new Array(most)
  let count = 0
  const words = payouts?.words ?? []
  let canonical = payouts !== undefined
  for (const [account, amount] of previous) {
    const name = account.toLowerCase() as Address
    if (canonical) {
      const o = words.length
      if (parseAccountWords(name, words, o)) at[count] = o
      else canonical = false
    }
    names[count] = name
    amounts[count++] = amount
  }
  relays.forEach((r, k) => {
    if (r.reward === 0n) return
    if (canonical && payouts !== undefined) at[count] = payouts.at[k] as number
    names[count] = r.payout
    amounts[count++] = r.reward
  })
  names.length = count
  amounts.length = count
  at.length = count
  if (!canonical) return { leaves: leavesByText(names, amounts), accounts: undefined }
  // canonical addresses order as text as they do as bytes; equal ones end up adjacent, first seen first
  const order = orderByBytes(
    names.length,
    (i, j) => (j < 20 ? accountByte(words, at[i] as number, j) : -1),
    (i, j) => compareAccounts(words, at[i] as number, at[j] as number),
  )
  const leaves: RewardLeaf[] = new Array(order.length)
  const leafAt: number[] = new Array(order.length)
  let leafCount = 0
  for (let start = 0; start < order.length; ) {
    const i = order[start] as number
    const account = at[i] as number
    let amount = amounts[i] as bigint
    let end = start + 1
    for (; end < order.length; end++) {
      const j = order[end] as number
      if (compareAccounts(words, account, at[j] as number) !== 0) break
      amount += amounts[j] as bigint
    }
    if (amount > 0n) {
      leafAt[leafCount] = account
      leaves[leafCount++] = { account: names[i] as Address, amount }
    }
    start = end
  }
  leaves.length = leafCount
  leafAt.length = leafCount
  return { leaves, accounts: { words, at: leafAt } }
}

/** Compares the accounts at words[a, a + 5) and words[b, b + 5) as bytes. */
function compareAccounts(words: readonly number[], a: number, b: number): number {
  for (let w = 0; w < 5; w++) {
    const x = (words[a + w] as number) >>> 0
    const y = (words[b + w] as number) >>> 0
    if (x !== y) return x < y ? -1 : 1
  }
  return 0
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
