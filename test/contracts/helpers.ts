import assert from 'node:assert/strict'
import { StandardMerkleTree } from '@openzeppelin/merkle-tree'
import type { Address, Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { anchorEpoch, claimRewards, revertName } from '../../contracts/client.ts'
import {
  committeeRotationTypedData,
  type EpochRootMessage,
  epochRootTypedData,
} from '../../contracts/typed-data.ts'

export interface RewardsTree {
  root: Hex
  total: bigint
  proof(account: Address): Hex[]
  amount(account: Address): bigint
}

/** An OpenZeppelin StandardMerkleTree of (account, cumulativeAmount) leaves, built independently of the ledger. */
export function rewardsTree(amounts: Record<Address, bigint>): RewardsTree {
  const entries = Object.entries(amounts) as [Address, bigint][]
  const tree = StandardMerkleTree.of(
    entries.map(([account, amount]) => [account, amount.toString()]),
    ['address', 'uint256'],
  )
  return {
    root: tree.root as Hex,
    total: entries.reduce((sum, [, amount]) => sum + amount, 0n),
    amount: account => amounts[account] ?? 0n,
    proof(account) {
      for (const [i, [leafAccount]] of tree.entries()) {
        if (leafAccount === account) return tree.getProof(i) as Hex[]
      }
      throw new Error(`no leaf for ${account}`)
    },
  }
}

/** Claims the account's leaf of `tree` (with its own proof unless one is given), paid by `key`. */
export function claimLeaf(
  chain: { rpcUrl: string; rewards: Address; key: Hex },
  tree: RewardsTree,
  account: Address,
  proof = tree.proof(account),
) {
  return claimRewards({ ...chain, account, cumulativeAmount: tree.amount(account), proof })
}

export interface Target {
  chainId: number
  rewards: Address
  networkId: string
}

export function signEpoch(keys: readonly Hex[], target: Target, root: EpochRootMessage): Promise<Hex[]> {
  const typed = epochRootTypedData(target.chainId, target.rewards, target.networkId, root)
  return Promise.all(keys.map(key => privateKeyToAccount(key).signTypedData(typed)))
}

/** Anchors `root` with the signatures of `signers`, submitted by `chain.key`. */
export async function anchorSigned(
  chain: { rpcUrl: string; key: Hex },
  signers: readonly Hex[],
  target: Target,
  root: EpochRootMessage,
) {
  const signatures = await signEpoch(signers, target, root)
  return anchorEpoch({ ...chain, rewards: target.rewards, certificate: { ...root, signatures } })
}

export function signRotation(
  keys: readonly Hex[],
  target: Target,
  rotation: { nonce: bigint; members: readonly Address[]; quorum: number },
): Promise<Hex[]> {
  const typed = committeeRotationTypedData(target.chainId, target.rewards, target.networkId, rotation)
  return Promise.all(keys.map(key => privateKeyToAccount(key).signTypedData(typed)))
}

/** Asserts that `action` fails with the contract's custom error `name`, decoded by viem. */
export async function expectRevert(action: Promise<unknown>, name: string): Promise<void> {
  await assert.rejects(action, (err: unknown) => {
    assert.equal(revertName(err), name, `expected revert ${name}, got: ${(err as Error).message}`)
    return true
  })
}
