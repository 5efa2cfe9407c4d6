import assert from 'node:assert/strict'
import { type Address, type Hex, keccak256, numberToHex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { type Anvil, startAnvil } from '../../contracts/anvil.ts'
import { deployContracts } from '../../contracts/client.ts'
import { anchorSigned, claimLeaf, expectRevert, rewardsTree, type Target } from './helpers.ts'

// The claim path hashes proofs four levels per loop iteration after a remainder of one to three levels, so every
// proof length from 0 to 10 and every level of each proof must count: a claim at each length succeeds, and the
// same claim with any one proof hash flipped is refused.
describe('contracts: WeirRewards checks proofs of every length', () => {
  let anvil: Anvil
  let deployer: Hex
  let committee: Hex[]
  let target: Target

  before(async () => {
    anvil = await startAnvil({ accounts: 5 })
    deployer = anvil.privateKeys[0]!
    committee = anvil.privateKeys.slice(1, 5)
    const { rewards } = await deployContracts({
      rpcUrl: anvil.rpcUrl,
      deployerKey: deployer,
      networkId: 'proof-lengths',
      committee: committee.map(k => privateKeyToAccount(k).address),
      quorum: 3,
      emissionPerEpoch: 10n ** 30n,
    })
    target = { chainId: anvil.chainId, rewards, networkId: 'proof-lengths' }
  })

  after(async () => {
    await anvil?.stop()
  })

  it('pays leaves with proofs of 0 to 10 hashes and refuses each with one hash changed', async () => {
    const chain = { rpcUrl: anvil.rpcUrl, rewards: target.rewards, key: deployer }
    let total = 0n
    const lengths = new Set<number>()
    // Trees of 1 to 600 leaves, with fresh accounts in each so that every leaf is unclaimed; each epoch's
    // cumulative total adds the whole tree, so the mint cap never binds here.
    for (const [epoch, size] of [1, 2, 4, 8, 16, 32, 64, 128, 300, 600].entries()) {
      const amounts: Record<Address, bigint> = {}
      for (let i = 0; i < size; i++) {
        const account = keccak256(numberToHex(epoch * 1000 + i)).slice(0, 42) as Address
        amounts[account] = BigInt(i + 1)
      }
      const tree = rewardsTree(amounts)
      total += tree.total
      const root = { epoch, contentRoot: numberToHex(epoch + 1, { size: 32 }), rewardsRoot: tree.root }
      await anchorSigned(chain, committee.slice(0, 3), target, { ...root, cumulativeTotal: total })
      // One leaf of each proof length in the tree (a tree that is not a power of two has two).
      const byLength = new Map<number, Address>()
      for (const account of Object.keys(amounts) as Address[]) {
        const length = tree.proof(account).length
        if (!byLength.has(length)) byLength.set(length, account)
      }
      for (const [length, account] of byLength) {
        lengths.add(length)
        const proof = tree.proof(account)
        for (let level = 0; level < proof.length; level++) {
          const changed = proof.map((hash, i) => (i === level ? flipLastBit(hash) : hash))
          await expectRevert(claimLeaf(chain, tree, account, changed), 'InvalidProof')
        }
        assert.equal(
          (await claimLeaf(chain, tree, account)).amount,
          tree.amount(account),
          `proof of ${length}`,
        )
      }
    }
    assert.deepEqual(
      [...lengths].sort((a, b) => a - b),
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    )
  })
})

function flipLastBit(hash: Hex): Hex {
  const last = Number.parseInt(hash.slice(-1), 16) ^ 1
  return `${hash.slice(0, -1)}${last.toString(16)}` as Hex
}
