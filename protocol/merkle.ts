import { compareBytes, parseCanonicalAddress, parseHex, to0x } from './bytes.ts'
import { keccak256Pair } from './hash.ts'
import { hash32, hash64, state, stateWords } from './keccak-f.ts'
import type { Address } from './network.ts'
import { orderByBytes } from './order.ts'

// Rewards tree, compatible with OpenZeppelin's StandardMerkleTree for ['address', 'uint256'] leaves:
// leaf = keccak256(keccak256(abi.encode(account, amount))), pairs hashed in sorted order, leaves sorted
// by hash and laid out as OZ's makeMerkleTree does, so its roots and proofs are OZ's byte for byte.
// Nodes live in one flat array (node i at bytes 32i..32i+32): a million-leaf tree allocates no object
// per node, and hashes a node with no call but the permutation's.

export interface RewardLeaf {
  account: Address
  /** cumulative amount owed through the epoch, in token base units */
  amount: bigint
}

const stateView = new DataView(state.buffer, state.byteOffset, 64)

/**
 * Accounts parsed once, as five big-endian 32-bit words each in a plain array: a million addresses in
 * typed arrays would add tens of megabytes of external memory, which makes V8 mark the whole heap (a
 * tally's heap holds millions of attestations: about a second). Account k is words[at[k], at[k] + 5).
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

export function leafHash(leaf: RewardLeaf): Uint8Array {
  const out = new Uint32Array(8)
  leafHashInto(leaf, out, 0)
  return new Uint8Array(out.buffer)
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
 * The root alone, in n slots instead of 2n − 1 nodes (a tally needs no proofs; half the memory also
 * keeps a million-leaf tree from setting off a full garbage collection): slot s starts as leaf node
 * n − 1 + s, and an inner node is written over its left child, which nothing reads again, so node i
 * lives in the slot of its leftmost leaf.
 */
function rootOf(leaves: readonly RewardLeaf[], accounts?: AccountWords): Uint8Array {
  const n = leaves.length
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

export interface RewardsTree {
  root: Uint8Array
  /** sibling hashes from the account's leaf up, or undefined if the account has no leaf */
  proof(account: Address): Uint8Array[] | undefined
  leaves: readonly RewardLeaf[]
}

/** An empty tree's root is zero: no claim can prove against it. */
export const EMPTY_ROOT = new Uint8Array(32)

/**
 * The root of buildRewardsTree(leaves), with leaf i's account given as accounts.words from
 * accounts.at[i] (it must be leaves[i].account's), which spares parsing the account strings again.
 */
export function rewardsRoot(leaves: readonly RewardLeaf[], accounts: AccountWords): Uint8Array {
  if (accounts.at.length !== leaves.length) throw new RangeError('expected one account per leaf')
  return leaves.length === 0 ? EMPTY_ROOT : rootOf(leaves, accounts)
}

export function buildRewardsTree(leaves: readonly RewardLeaf[]): RewardsTree {
  const n = leaves.length
  if (n === 0) return { root: EMPTY_ROOT, proof: () => undefined, leaves }
  // the whole tree and the leaves' positions are built on the first proof asked for
  let tree: { nodes: Uint8Array; position: Map<string, number> } | undefined
  const size = 2 * n - 1
  const build = () => {
    const words = new Uint32Array(8 * size)
    const nodes = new Uint8Array(words.buffer)
    const order = placeLeaves(leaves, words, n - 1)
    for (let i = n - 2; i >= 0; i--) hashPairInto(words, nodes, 2 * i + 1, 2 * i + 2, i)
    const position = new Map(
      order.map((leafIndex, rank) => [leaves[leafIndex]!.account.toLowerCase(), size - 1 - rank]),
    )
    return { nodes, position }
  }
  return {
    root: rootOf(leaves),
    leaves,
    proof(account) {
      tree ??= build()
      const { nodes, position } = tree
      let i = position.get(account.toLowerCase())
      if (i === undefined) return undefined
      const proof: Uint8Array[] = []
      while (i > 0) {
        const sibling = i % 2 === 0 ? i - 1 : i + 1
        proof.push(nodes.slice(32 * sibling, 32 * sibling + 32))
        i = Math.floor((i - 1) / 2)
      }
      return proof
    },
  }
}

/** Verifies a proof as OpenZeppelin's MerkleProof.verify does. */
export function verifyRewardProof(root: Uint8Array, leaf: RewardLeaf, proof: readonly Uint8Array[]): boolean {
  let hash = leafHash(leaf)
  for (const sibling of proof)
    hash = compareBytes(hash, sibling) <= 0 ? keccak256Pair(hash, sibling) : keccak256Pair(sibling, hash)
  return compareBytes(hash, root) === 0
}

export const hexProof = (proof: readonly Uint8Array[]): `0x${string}`[] => proof.map(to0x)
