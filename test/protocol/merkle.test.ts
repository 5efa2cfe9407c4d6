import assert from 'node:assert/strict'
import { StandardMerkleTree } from '@openzeppelin/merkle-tree'
import fc from 'fast-check'
import { equalBytes, parseHex, to0x } from '../../protocol/bytes.ts'
import {
  buildRewardsTree,
  EMPTY_ROOT,
  hexProof,
  leafHash,
  type RewardLeaf,
  verifyRewardProof,
} from '../../protocol/merkle.ts'
import type { Address } from '../../protocol/network.ts'

const leafArb: fc.Arbitrary<RewardLeaf> = fc.record({
  account: fc.uint8Array({ minLength: 20, maxLength: 20 }).map(a => to0x(a) as Address),
  amount: fc.bigInt({ min: 1n, max: (1n << 256n) - 1n }),
})
const leavesArb = fc.uniqueArray(leafArb, { minLength: 1, maxLength: 200, selector: l => l.account })

const oz = (leaves: readonly RewardLeaf[]) =>
  StandardMerkleTree.of(
    leaves.map(l => [l.account, l.amount.toString()]),
    ['address', 'uint256'],
  )
const bytes = (hex: string) => parseHex(hex) as Uint8Array

describe('rewards Merkle tree', () => {
  it('roots and proofs equal OpenZeppelin StandardMerkleTree for random leaf sets of 1..200', () => {
    fc.assert(
      fc.property(leavesArb, leaves => {
        const ours = buildRewardsTree(leaves)
        const theirs = oz(leaves)
        assert.equal(to0x(ours.root), theirs.root)
        for (const [i, value] of theirs.entries()) {
          const [account, amount] = value as [Address, string]
          const proof = ours.proof(account) as Uint8Array[]
          assert.deepEqual(hexProof(proof), theirs.getProof(i))
          const leaf = { account, amount: BigInt(amount) }
          assert.equal(to0x(leafHash(leaf)), theirs.leafHash(value))
          // OZ proofs verify with ours, ours with OZ
          assert.ok(verifyRewardProof(ours.root, leaf, theirs.getProof(i).map(bytes)))
          assert.ok(
            StandardMerkleTree.verify(
              theirs.root,
              ['address', 'uint256'],
              [account, amount],
              hexProof(proof),
            ),
          )
        }
      }),
      { numRuns: 60 },
    )
  })

  it('rejects a proof for another amount, another account or another root', () => {
    fc.assert(
      fc.property(leavesArb, fc.nat(), (leaves, pick) => {
        const tree = buildRewardsTree(leaves)
        const leaf = leaves[pick % leaves.length] as RewardLeaf
        const proof = tree.proof(leaf.account) as Uint8Array[]
        assert.ok(verifyRewardProof(tree.root, leaf, proof))
        assert.equal(verifyRewardProof(tree.root, { ...leaf, amount: leaf.amount ^ 1n }, proof), false)
        const other = `0x${'00'.repeat(19)}01` as Address
        if (leaf.account !== other)
          assert.equal(verifyRewardProof(tree.root, { ...leaf, account: other }, proof), false)
        assert.equal(verifyRewardProof(EMPTY_ROOT, leaf, proof), false)
      }),
      { numRuns: 60 },
    )
  })

  it('finds proofs for accounts in any letter case; none for strangers', () => {
    const account = `0x${'ab'.repeat(20)}` as Address
    const tree = buildRewardsTree([
      { account, amount: 5n },
      { account: `0x${'cd'.repeat(20)}`, amount: 6n },
    ])
    assert.deepEqual(tree.proof(account.toUpperCase().replace('0X', '0x') as Address), tree.proof(account))
    assert.equal(tree.proof(`0x${'ef'.repeat(20)}`), undefined)
  })

  it('the empty tree has root zero and no proofs; a single leaf is its own root', () => {
    const empty = buildRewardsTree([])
    assert.ok(equalBytes(empty.root, new Uint8Array(32)))
    assert.ok(equalBytes(EMPTY_ROOT, new Uint8Array(32)))
    assert.equal(empty.proof(`0x${'ab'.repeat(20)}`), undefined)
    const leaf = { account: `0x${'ab'.repeat(20)}` as Address, amount: 1n }
    const one = buildRewardsTree([leaf])
    assert.ok(equalBytes(one.root, leafHash(leaf)))
    assert.deepEqual(one.proof(leaf.account), [])
    assert.equal(to0x(one.root), oz([leaf]).root)
  })
})
