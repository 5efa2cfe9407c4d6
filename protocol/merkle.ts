import { compareBytes, concatBytes, parseHex, to0x, u256be } from './bytes.ts'
import { rewardsRoot, rewardsTreeBytes } from './fast/merkle.ts'
import { keccak256 } from './hash.ts'
import type { Address } from './network.ts'

// Rewards tree, compatible with OpenZeppelin's StandardMerkleTree for ['address', 'uint256'] leaves:
// leaf = keccak256(keccak256(abi.encode(account, amount))), pairs hashed in sorted order, leaves sorted
// by hash and laid out as OZ's makeMerkleTree does, so its roots and proofs are OZ's byte for byte.
// leafHash, hashPair and rewardsTreeNodes are the definition; buildRewardsTree computes the same tree
// with ./fast/merkle.ts.

export interface RewardLeaf {
  account: Address
  /** cumulative amount owed through the epoch, in token base units */
  amount: bigint
}

/** An empty tree's root is zero: no claim can prove against it. */
export const EMPTY_ROOT = new Uint8Array(32)

/** keccak256(keccak256(abi.encode(address account, uint256 amount))). */
export function leafHash(leaf: RewardLeaf): Uint8Array {
  const account = parseHex(leaf.account, 20)
  if (!account) throw new RangeError(`bad account ${leaf.account}`)
  // abi.encode: the account right-aligned in the first 32-byte word, the amount in the second
  const encoded = new Uint8Array(64)
  encoded.set(account, 12)
  encoded.set(u256be(leaf.amount), 32)
  return keccak256(keccak256(encoded))
}

/** keccak256 of two nodes, the lesser first (OZ's commutative pair hash). */
export function hashPair(a: Uint8Array, b: Uint8Array): Uint8Array {
  return compareBytes(a, b) <= 0 ? keccak256(concatBytes(a, b)) : keccak256(concatBytes(b, a))
}

/**
 * The tree as OZ's makeMerkleTree lays it out: 2n − 1 nodes; the leaf hashes, sorted ascending, fill the
 * end in reverse (the leaf of rank r at 2n − 2 − r); node i has children 2i + 1 and 2i + 2; the root is
 * node 0.
 */
export function rewardsTreeNodes(leaves: readonly RewardLeaf[]): Uint8Array[] {
  const sorted = leaves.map(leafHash).sort(compareBytes)
  const n = sorted.length
  const nodes: Uint8Array[] = new Array(Math.max(2 * n - 1, 0))
  sorted.forEach((hash, rank) => {
    nodes[2 * n - 2 - rank] = hash
  })
  for (let i = n - 2; i >= 0; i--)
    nodes[i] = hashPair(nodes[2 * i + 1] as Uint8Array, nodes[2 * i + 2] as Uint8Array)
  return nodes
}

export interface RewardsTree {
  root: Uint8Array
  /** sibling hashes from the account's leaf up, or undefined if the account has no leaf */
  proof(account: Address): Uint8Array[] | undefined
  leaves: readonly RewardLeaf[]
}

/** The tree of rewardsTreeNodes(leaves), its root at once and the whole tree on the first proof asked for. */
export function buildRewardsTree(leaves: readonly RewardLeaf[]): RewardsTree {
  const n = leaves.length
  if (n === 0) return { root: EMPTY_ROOT, proof: () => undefined, leaves }
  let tree: { nodes: Uint8Array; position: Map<string, number> } | undefined
  const build = () => {
    const { nodes, order } = rewardsTreeBytes(leaves)
    const last = 2 * n - 2
    const position = new Map(order.map((leaf, rank) => [leaves[leaf]!.account.toLowerCase(), last - rank]))
    return { nodes, position }
  }
  return {
    root: rewardsRoot(leaves),
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
  for (const sibling of proof) hash = hashPair(hash, sibling)
  return compareBytes(hash, root) === 0
}

export const hexProof = (proof: readonly Uint8Array[]): `0x${string}`[] => proof.map(to0x)
