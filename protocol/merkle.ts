import { compareBytes, parseHex, to0x } from './bytes.ts'
import { keccak256, keccak256Pair } from './hash.ts'
import type { Address } from './network.ts'

// Rewards tree, compatible with OpenZeppelin's StandardMerkleTree for ['address', 'uint256'] leaves:
// leaf = keccak256(keccak256(abi.encode(account, amount))), pairs hashed in sorted order, leaves sorted
// by hash and laid out as OZ's makeMerkleTree does, so its roots and proofs are OZ's byte for byte.

export interface RewardLeaf {
  account: Address
  /** cumulative amount owed through the epoch, in token base units */
  amount: bigint
}

export function leafHash(leaf: RewardLeaf): Uint8Array {
  const account = parseHex(leaf.account, 20)
  if (!account) throw new RangeError(`bad account ${leaf.account}`)
  const amount = leaf.amount
  if (amount < 0n || amount >= 1n << 256n) throw new RangeError('uint256 out of range')
  const encoded = new Uint8Array(64)
  encoded.set(account, 12)
  const words = new DataView(encoded.buffer)
  for (let i = 0; i < 4; i++)
    words.setBigUint64(32 + 8 * i, BigInt.asUintN(64, amount >> BigInt(192 - 64 * i)))
  return keccak256(keccak256(encoded))
}

function hashPair(a: Uint8Array, b: Uint8Array): Uint8Array {
  return lessOrEqual(a, b) ? keccak256Pair(a, b) : keccak256Pair(b, a)
}

/** compareBytes(a, b) <= 0 for two hashes, without a native call per comparison. */
function lessOrEqual(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) return (a[i] as number) < (b[i] as number)
  }
  return true
}

/** The first 48 bits of a hash as a number: sorts hashes like compareBytes except on (rare) ties. */
const prefix48 = (h: Uint8Array): number =>
  (h[0] as number) * 2 ** 40 +
  (h[1] as number) * 2 ** 32 +
  (((h[2] as number) << 24) >>> 0) +
  ((h[3] as number) << 16) +
  ((h[4] as number) << 8) +
  (h[5] as number)

export interface RewardsTree {
  root: Uint8Array
  /** sibling hashes from the account's leaf up, or undefined if the account has no leaf */
  proof(account: Address): Uint8Array[] | undefined
  leaves: readonly RewardLeaf[]
}

/** An empty tree's root is zero: no claim can prove against it. */
export const EMPTY_ROOT = new Uint8Array(32)

export function buildRewardsTree(leaves: readonly RewardLeaf[]): RewardsTree {
  const hashed = leaves
    .map(leaf => {
      const hash = leafHash(leaf)
      return { leaf, hash, key: prefix48(hash) }
    })
    .sort((a, b) => a.key - b.key || compareBytes(a.hash, b.hash))
  const n = hashed.length
  if (n === 0) return { root: EMPTY_ROOT, proof: () => undefined, leaves }
  const tree: Uint8Array[] = new Array(2 * n - 1)
  hashed.forEach((h, i) => {
    tree[tree.length - 1 - i] = h.hash
  })
  for (let i = tree.length - 1 - n; i >= 0; i--) {
    tree[i] = hashPair(tree[2 * i + 1] as Uint8Array, tree[2 * i + 2] as Uint8Array)
  }
  // built on the first proof asked for: a tally only needs the root
  let position: Map<string, number> | undefined
  return {
    root: tree[0] as Uint8Array,
    leaves,
    proof(account) {
      position ??= new Map(hashed.map((h, i) => [h.leaf.account.toLowerCase(), tree.length - 1 - i]))
      let i = position.get(account.toLowerCase())
      if (i === undefined) return undefined
      const proof: Uint8Array[] = []
      while (i > 0) {
        proof.push(tree[i % 2 === 0 ? i - 1 : i + 1] as Uint8Array)
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
