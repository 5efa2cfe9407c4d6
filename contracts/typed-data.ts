// The EIP-712 messages WeirRewards verifies. Ledger members sign EpochRoot votes; a quorum of the current
// committee signs CommitteeRotation. Both are bound to one network, chain and rewards contract by the domain
// and the `network` field.
import { type Address, type Hex, keccak256, stringToBytes } from 'viem'

export const EPOCH_ROOT_TYPES = {
  EpochRoot: [
    { name: 'network', type: 'bytes32' },
    { name: 'epoch', type: 'uint64' },
    { name: 'contentRoot', type: 'bytes32' },
    { name: 'rewardsRoot', type: 'bytes32' },
    { name: 'cumulativeTotal', type: 'uint256' },
  ],
} as const

export const COMMITTEE_ROTATION_TYPES = {
  CommitteeRotation: [
    { name: 'network', type: 'bytes32' },
    { name: 'nonce', type: 'uint64' },
    { name: 'members', type: 'address[]' },
    { name: 'quorum', type: 'uint256' },
  ],
} as const

/** `keccak256(bytes(networkId))`, the `network` field of every message and the contract's `network()`. */
export function networkHash(networkId: string): Hex {
  return keccak256(stringToBytes(networkId))
}

export function weirDomain(chainId: number, rewards: Address) {
  return { name: 'Weir', version: '1', chainId, verifyingContract: rewards } as const
}

export interface EpochRootMessage {
  epoch: number | bigint
  contentRoot: Hex
  rewardsRoot: Hex
  cumulativeTotal: bigint
}

/** Typed data for viem's `signTypedData` / `hashTypedData`: one ledger member's vote for an epoch. */
export function epochRootTypedData(
  chainId: number,
  rewards: Address,
  networkId: string,
  root: EpochRootMessage,
) {
  return {
    domain: weirDomain(chainId, rewards),
    types: EPOCH_ROOT_TYPES,
    primaryType: 'EpochRoot',
    message: {
      network: networkHash(networkId),
      epoch: BigInt(root.epoch),
      contentRoot: root.contentRoot,
      rewardsRoot: root.rewardsRoot,
      cumulativeTotal: root.cumulativeTotal,
    },
  } as const
}

/** Typed data for a committee rotation; `nonce` is the contract's current `rotationNonce()`. */
export function committeeRotationTypedData(
  chainId: number,
  rewards: Address,
  networkId: string,
  rotation: { nonce: number | bigint; members: readonly Address[]; quorum: number | bigint },
) {
  return {
    domain: weirDomain(chainId, rewards),
    types: COMMITTEE_ROTATION_TYPES,
    primaryType: 'CommitteeRotation',
    message: {
      network: networkHash(networkId),
      nonce: BigInt(rotation.nonce),
      members: rotation.members,
      quorum: BigInt(rotation.quorum),
    },
  } as const
}
