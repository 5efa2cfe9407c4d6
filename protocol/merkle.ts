import { compareBytes, parseHex, prefix48, to0x } from './bytes.ts'
import { keccak256Into, keccak256Pair, keccak256PairInto } from './hash.ts'
import type { Address } from './network.ts'

// Rewards tree, compatible with OpenZeppelin's StandardMerkleTree for ['address', 'uint256'] leaves:
// leaf = keccak256(keccak256(abi.encode(account, amount))), pairs hashed in sorted order, leaves sorted
// by hash and laid out as OZ's makeMerkleTree does, so its roots and proofs are OZ's byte for byte.
// Nodes live in one flat byte array (node i at bytes 32i..32i+32): a million-leaf tree allocates no
// object per node.

export interface RewardLeaf {
  account: Address
  /** cumulative amount owed through the epoch, in token base units */
  amount: bigint
}

const encoded = new Uint8Array(64)
const encodedWords = new DataView(encoded.buffer)
const inner = new Uint8Array(32)

/** Writes the leaf's hash to out[o, o+32). */
function leafHashInto(leaf: RewardLeaf, out: Uint8Array, o: number): void {
  const account = parseHex(leaf.account, 20)
  if (!account) throw new RangeError(`bad account ${leaf.account}`)
  const amount = leaf.amount
  if (amount < 0n || amount >= 1n << 256n) throw new RangeError('uint256 out of range')
  encoded.fill(0, 0, 12)
  encoded.set(account, 12)
  for (let i = 0; i < 4; i++) {
    encodedWords.setBigUint64(32 + 8 * i, BigInt.asUintN(64, amount >> BigInt(192 - 64 * i)))
  }
  keccak256Into(encoded, inner, 0)
  keccak256Into(inner, out, o)
}

export function leafHash(leaf: RewardLeaf): Uint8Array {
  const out = new Uint8Array(32)
  leafHashInto(leaf, out, 0)
  return out
}

/** Whether nodes[a, a+32) ≤ nodes[b, b+32) as bytes. */
function lessOrEqual(nodes: Uint8Array, a: number, b: number): boolean {
  for (let i = 0; i < 32; i++) {
    if (nodes[a + i] !== nodes[b + i]) return (nodes[a + i] as number) < (nodes[b + i] as number)
  }
  return true
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
  const hashes = new Uint8Array(32 * n)
  const prefix = new Float64Array(n)
  leaves.forEach((leaf, i) => {
    leafHashInto(leaf, hashes, 32 * i)
    const h = 32 * i
    // the first 48 bits as a number order hashes as compareBytes does, except on (rare) ties
    prefix[i] = prefix48(hashes, h)
  })
  const order = Array.from({ length: n }, (_, i) => i).sort(
    (a, b) =>
      (prefix[a] as number) - (prefix[b] as number) ||
      compareBytes(hashes.subarray(32 * a, 32 * a + 32), hashes.subarray(32 * b, 32 * b + 32)),
  )
  // OZ layout: node i has children 2i+1 and 2i+2; the sorted leaves fill the end in reverse
  const size = 2 * n - 1
  const nodes = new Uint8Array(32 * size)
  order.forEach((leafIndex, rank) => {
    nodes.set(hashes.subarray(32 * leafIndex, 32 * leafIndex + 32), 32 * (size - 1 - rank))
  })
  for (let i = size - 1 - n; i >= 0; i--) {
    const left = 32 * (2 * i + 1)
    const right = left + 32
    if (lessOrEqual(nodes, left, right)) keccak256PairInto(nodes, left, right, nodes, 32 * i)
    else keccak256PairInto(nodes, right, left, nodes, 32 * i)
  }
  const node = (i: number) => nodes.slice(32 * i, 32 * i + 32)
  // built on the first proof asked for: a tally only needs the root
  let position: Map<string, number> | undefined
  return {
    root: node(0),
    leaves,
    proof(account) {
      position ??= new Map(
        order.map((leafIndex, rank) => [leaves[leafIndex]!.account.toLowerCase(), size - 1 - rank]),
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
