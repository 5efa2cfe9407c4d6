// The rewards tree of ../merkle.ts (rewardsTreeNodes), computed faster for a million leaves: nodes live in
// one flat array of 32-bit words (node i at words 8i..8i+8, in memory order so their bytes are the
// hash's bytes), copied a word at a time into the keccak state of ./keccak.ts and out again, with no
// allocation per node. Contract: test/protocol/speedups.test.ts holds it to rewardsTreeNodes, and
// test/protocol/merkle.test.ts to @openzeppelin/merkle-tree; docs/performance.md has the measurements
// that keep it here.
import { compareBytes, parseCanonicalAddress, parseHex } from '../bytes.ts'
import type { Address } from '../network.ts'
import { hash32, hash64, state, stateWords } from './keccak.ts'
import { orderByBytes } from './order.ts'

/** A rewards leaf (../merkle.ts RewardLeaf, which this file computes the tree of). */
type RewardLeaf = { account: Address; amount: bigint }

const stateView = new DataView(state.buffer, state.byteOffset, 64)

/**
 * Accounts parsed once, as five big-endian 32-bit words each in a plain array: a million addresses in
 * typed arrays would add tens of megabytes of external memory, which makes V8 mark the whole heap, and a
 * tally's heap holds millions of attestations. Account k is words[at[k], at[k] + 5).
 */
export interface AccountWords {
  words: readonly number[]
  at: readonly number[]
}

const addressBytes = new Uint8Array(20)

/** Parses a canonical address (0x and 40 lower-case hex digits) into words[o, o + 5); false if it is not one. */
export function parseAccountWords(text: string, words: number[], o: number): boolean {
  if (!parseCanonicalAddress(text, addressBytes, 0)) return false
  for (let w = 0; w < 5; w++) {
    const b = 4 * w
    words[o + w] =
      ((addressBytes[b] as number) << 24) |
      ((addressBytes[b + 1] as number) << 16) |
      ((addressBytes[b + 2] as number) << 8) |
      (addressBytes[b + 3] as number)
  }
  return true
}

/** Byte j (0 ≤ j < 20) of the account at words[o, o + 5). */
export const accountByte = (words: readonly number[], o: number, j: number): number =>
  ((words[o + (j >> 2)] as number) >>> (24 - 8 * (j & 3))) & 0xff

const TWO_64 = 1n << 64n
const TWO_256 = 1n << 256n

/**
 * Writes the leaf's hash to out[8o, 8o+8). The account is read from accounts[i] when given (parsed once
 * by the caller, whose strings may be scattered through the heap), else from leaf.account.
 */
function leafHashInto(leaf: RewardLeaf, out: Uint32Array, o: number, accounts?: AccountWords, i = 0): void {
  // abi.encode(account, amount) in the keccak state: the account right-aligned in the first word
  stateWords.fill(0, 0, 16)
  if (accounts !== undefined) {
    const at = accounts.at[i] as number
    for (let w = 0; w < 5; w++) stateView.setInt32(12 + 4 * w, accounts.words[at + w] as number)
  } else if (!parseCanonicalAddress(leaf.account, state, 12)) {
    const account = parseHex(leaf.account, 20)
    if (!account) throw new RangeError(`bad account ${leaf.account}`)
    state.set(account, 12)
  }
  const amount = leaf.amount
  if (amount < 0n || amount >= TWO_256) throw new RangeError('uint256 out of range')
  if (amount < TWO_64) stateView.setBigUint64(56, amount)
  else {
    for (let w = 0; w < 4; w++) {
      stateView.setBigUint64(32 + 8 * w, BigInt.asUintN(64, amount >> BigInt(192 - 64 * w)))
    }
  }
  hash64()
  hash32()
  for (let w = 0; w < 8; w++) out[8 * o + w] = stateWords[w] as number
}

/** Whether nodes[a, a+32) ≤ nodes[b, b+32) as bytes. */
function lessOrEqual(nodes: Uint8Array, a: number, b: number): boolean {
  for (let i = 0; i < 32; i++) {
    if (nodes[a + i] !== nodes[b + i]) return (nodes[a + i] as number) < (nodes[b + i] as number)
  }
  return true
}

// OZ layout: node i has children 2i+1 and 2i+2; the n sorted leaves fill the end (nodes n−1 .. 2n−2) in
// reverse. Node hashes are kept as 32-bit words (memory order, so their bytes are the hash's bytes),
// copied to and from the keccak state a word at a time.

/**
 * Hashes the leaves into words[8(base + i) …] (leaf i), then moves them in place so the leaf of rank r
 * is at base + n − 1 − r, following each cycle of the permutation once. Returns the leaves by rank.
 */
function placeLeaves(
  leaves: readonly RewardLeaf[],
  words: Uint32Array,
  base: number,
  accounts?: AccountWords,
): number[] {
  const n = leaves.length
  const nodes = new Uint8Array(words.buffer)
  leaves.forEach((leaf, i) => {
    leafHashInto(leaf, words, base + i, accounts, i)
  })
  const at = (i: number) => 32 * (base + i)
  const order = orderByBytes(
    n,
    (i, j) => (j < 32 ? (nodes[at(i) + j] as number) : -1),
    (a, b) => compareBytes(nodes.subarray(at(a), at(a) + 32), nodes.subarray(at(b), at(b) + 32)),
  )
  const DONE = -1
  const rank: number[] = new Array(n).fill(0)
  order.forEach((leaf, r) => {
    rank[leaf] = r
  })
  const held = new Uint32Array(8)
  for (let start = 0; start < n; start++) {
    if (rank[start] === DONE) continue
    for (let w = 0; w < 8; w++) held[w] = words[8 * (base + start) + w] as number
    for (let from = start; ; ) {
      const to = n - 1 - (rank[from] as number)
      rank[from] = DONE
      for (let w = 0; w < 8; w++) {
        const moved = words[8 * (base + to) + w] as number
        words[8 * (base + to) + w] = held[w] as number
        held[w] = moved
      }
      if (to === start) break
      from = to
    }
  }
  return order
}

/** words[8out …] = keccak256 of the hashes at a and b, the lesser first. */
function hashPairInto(words: Uint32Array, nodes: Uint8Array, a: number, b: number, out: number): void {
  const ordered = lessOrEqual(nodes, 32 * a, 32 * b)
  const low = ordered ? a : b
  const high = ordered ? b : a
  for (let w = 0; w < 8; w++) {
    stateWords[w] = words[8 * low + w] as number
    stateWords[8 + w] = words[8 * high + w] as number
  }
  hash64()
  for (let w = 0; w < 8; w++) words[8 * out + w] = stateWords[w] as number
}

/**
 * The root of rewardsTreeNodes(leaves), with leaf i's account read from accounts.words at
 * accounts.at[i] when given (it must be leaves[i].account's), which spares parsing the account strings
 * again. Computed in n slots instead of 2n − 1 nodes (a tally needs no proofs): slot s starts as leaf
 * node n − 1 + s, and an inner node is written over its left child, which nothing reads again, so node i
 * lives in the slot of its leftmost leaf.
 */
export function rewardsRoot(leaves: readonly RewardLeaf[], accounts?: AccountWords): Uint8Array {
  if (accounts !== undefined && accounts.at.length !== leaves.length)
    throw new RangeError('expected one account per leaf')
  const n = leaves.length
  if (n === 0) return new Uint8Array(32) // EMPTY_ROOT
  const words = new Uint32Array(8 * n)
  const nodes = new Uint8Array(words.buffer)
  placeLeaves(leaves, words, 0, accounts)
  const slot = (node: number) => {
    let i = node
    while (i < n - 1) i = 2 * i + 1
    return i - (n - 1)
  }
  for (let i = n - 2; i >= 0; i--) {
    const left = slot(2 * i + 1)
    hashPairInto(words, nodes, left, slot(2 * i + 2), left)
  }
  return nodes.slice(32 * slot(0), 32 * slot(0) + 32)
}

/** The 2n − 1 nodes of rewardsTreeNodes(leaves), node i at bytes [32i, 32i + 32); the leaves by rank. */
export function rewardsTreeBytes(leaves: readonly RewardLeaf[]): { nodes: Uint8Array; order: number[] } {
  const n = leaves.length
  const words = new Uint32Array(8 * (2 * n - 1))
  const nodes = new Uint8Array(words.buffer)
  const order = placeLeaves(leaves, words, n - 1)
  for (let i = n - 2; i >= 0; i--) hashPairInto(words, nodes, 2 * i + 1, 2 * i + 2, i)
  return { nodes, order }
}
