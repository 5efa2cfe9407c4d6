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

/** Writes the leaf's hash to out[8o, 8o+8). */
function leafHashInto(leaf: RewardLeaf, out: Uint32Array, o: number): void {
  // abi.encode(account, amount) in the keccak state: the account right-aligned in the first word
  stateWords.fill(0, 0, 16)
  if (!parseCanonicalAddress(leaf.account, state, 12)) {
    const account = parseHex(leaf.account, 20)
    if (!account) throw new RangeError(`bad account ${leaf.account}`)
    state.set(account, 12)
  }
  const amount = leaf.amount
  if (amount < 0n || amount >= 1n << 256n) throw new RangeError('uint256 out of range')
  if (amount < 1n << 64n) stateView.setBigUint64(56, amount)
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

/**
 * Moves the leaf hashes in nodes n−1 .. 2n−2 (leaf i at n−1+i) so the leaf of rank r is at node 2n−2−r,
 * in place: each cycle of the permutation is followed once, carrying one hash.
 */
function placeLeaves(words: Uint32Array, n: number, order: Uint32Array): void {
  const DONE = 0xffffffff
  const rank = new Uint32Array(n)
  order.forEach((leaf, r) => {
    rank[leaf] = r
  })
  const held = new Uint32Array(8)
  for (let start = 0; start < n; start++) {
    if (rank[start] === DONE) continue
    for (let w = 0; w < 8; w++) held[w] = words[8 * (n - 1 + start) + w] as number
    for (let at = start; ; ) {
      const to = n - 1 - (rank[at] as number)
      rank[at] = DONE
      for (let w = 0; w < 8; w++) {
        const moved = words[8 * (n - 1 + to) + w] as number
        words[8 * (n - 1 + to) + w] = held[w] as number
        held[w] = moved
      }
      if (to === start) break
      at = to
    }
  }
}

export interface RewardsTree {
  root: Uint8Array
  /** sibling hashes from the account's leaf up, or undefined if the account has no leaf */
  proof(account: Address): Uint8Array[] | undefined
  leaves: readonly RewardLeaf[]
}

/** An empty tree's root is zero: no claim can prove against it. */
export const EMPTY_ROOT = new Uint8Array(32)

export function buildRewardsTree(leaves: readonly RewardLeaf[]): RewardsTree {
  const n = leaves.length
  if (n === 0) return { root: EMPTY_ROOT, proof: () => undefined, leaves }
  // OZ layout: node i has children 2i+1 and 2i+2; the sorted leaves fill the end in reverse. Nodes are
  // 32-bit words (memory order, so their bytes are the hash's bytes), copied to and from the keccak state
  // a word at a time. Leaf i is hashed into node n − 1 + i, then moved to its sorted place.
  const size = 2 * n - 1
  const words = new Uint32Array(8 * size)
  const nodes = new Uint8Array(words.buffer)
  leaves.forEach((leaf, i) => {
    leafHashInto(leaf, words, n - 1 + i)
  })
  const leafAt = (i: number) => 32 * (n - 1 + i)
  const order = orderByBytes(
    n,
    (i, j) => (j < 32 ? (nodes[leafAt(i) + j] as number) : -1),
    (a, b) =>
      compareBytes(nodes.subarray(leafAt(a), leafAt(a) + 32), nodes.subarray(leafAt(b), leafAt(b) + 32)),
  )
  placeLeaves(words, n, order)
  for (let i = size - 1 - n; i >= 0; i--) {
    const left = 2 * i + 1
    const ordered = lessOrEqual(nodes, 32 * left, 32 * left + 32)
    const low = ordered ? left : left + 1
    const high = ordered ? left + 1 : left
    for (let w = 0; w < 8; w++) {
      stateWords[w] = words[8 * low + w] as number
      stateWords[8 + w] = words[8 * high + w] as number
    }
    hash64()
    for (let w = 0; w < 8; w++) words[8 * i + w] = stateWords[w] as number
  }
  const node = (i: number) => nodes.slice(32 * i, 32 * i + 32)
  // built on the first proof asked for: a tally only needs the root
  let position: Map<string, number> | undefined
  return {
    root: node(0),
    leaves,
    proof(account) {
      position ??= new Map(
        Array.from(order, (leafIndex, rank) => [leaves[leafIndex]!.account.toLowerCase(), size - 1 - rank]),
      )
      let i = position.get(account.toLowerCase())
      if (i === undefined) return undefined
      const proof: Uint8Array[] = []
      while (i > 0) {
        proof.push(node(i % 2 === 0 ? i - 1 : i + 1))
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
