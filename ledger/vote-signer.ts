import { addressOfSecretKey, type EpochRoot, signVote, type Vote, type VoteDomain } from '../protocol/vote.ts'

/**
 * How a committee member signs its votes. Signing is the member's one act that no other member can
 * check before it happens, so the ledger takes it as a dependency: `weir ledger` signs with its
 * `--signer-key`, and test/ledger's byzantine member signs corrupted roots through the same seam.
 */
export interface VoteSigner {
  /** the address every vote it signs recovers to */
  readonly address: string
  sign(domain: VoteDomain, root: EpochRoot): Vote
}

/** Signs with a secp256k1 secret key held in memory. */
export function keyVoteSigner(secretKey: Uint8Array): VoteSigner {
  return {
    address: addressOfSecretKey(secretKey),
    sign: (domain, root) => signVote(domain, root, secretKey),
  }
}
