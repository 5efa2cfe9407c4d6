import { secp256k1 } from '@noble/curves/secp256k1.js'
import { compareBytes, concatBytes, fromU256be, parseHex, to0x, u256be, utf8 } from './bytes.ts'
import { bytesField, decodeFields, encodeFields, text, uint } from './codec.ts'
import { DecodeError } from './errors.ts'
import { keccak256 } from './hash.ts'
import type { Address, NetworkDefinition } from './network.ts'

// Ledger votes are EIP-712 typed data, so the rewards contract checks them with ecrecover.
// Domain: { name: 'Weir', version: '1', chainId, verifyingContract: the rewards contract }.
export const EPOCH_ROOT_TYPE =
  'EpochRoot(bytes32 network,uint64 epoch,bytes32 contentRoot,bytes32 rewardsRoot,uint256 cumulativeTotal)'
const DOMAIN_TYPE = 'EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)'
export const MAX_VOTE_BYTES = 256
export const MAX_CERTIFICATE_BYTES = 16 * 1024

export interface VoteDomain {
  chainId: number
  verifyingContract: Address
}

/** What a committee member signs for an epoch: the content it saw and the rewards it computed. */
export interface EpochRoot {
  net: string
  epoch: number
  contentRoot: Uint8Array
  rewardsRoot: Uint8Array
  cumulativeTotal: bigint
}

export interface Vote extends EpochRoot {
  /** 65 bytes r ‖ s ‖ v, v ∈ {27, 28} */
  signature: Uint8Array
}

export interface Certificate extends EpochRoot {
  /** at least quorum signatures of distinct committee members, ordered by signer address */
  signatures: Uint8Array[]
}

const ZERO_ADDRESS: Address = '0x0000000000000000000000000000000000000000'

/** The EIP-712 domain of the network's votes; the zero address stands in until a rewards contract exists. */
export function voteDomain(network: Pick<NetworkDefinition, 'chain'>): VoteDomain {
  return { chainId: network.chain.chainId, verifyingContract: network.chain.rewards ?? ZERO_ADDRESS }
}

const word = (bytes: Uint8Array): Uint8Array => {
  const out = new Uint8Array(32)
  out.set(bytes, 32 - bytes.length)
  return out
}

/** keccak256 of the network id: the `network` field of the EIP-712 message. */
export const networkHash = (net: string): Uint8Array => keccak256(utf8(net))

export function domainSeparator(domain: VoteDomain): Uint8Array {
  const contract = parseHex(domain.verifyingContract, 20)
  if (!contract) throw new RangeError('verifyingContract must be a 20-byte address')
  return keccak256(
    concatBytes(
      keccak256(utf8(DOMAIN_TYPE)),
      keccak256(utf8('Weir')),
      keccak256(utf8('1')),
      u256be(BigInt(domain.chainId)),
      word(contract),
    ),
  )
}

/** The EIP-712 digest a vote signs (what the contract recomputes). */
export function voteDigest(domain: VoteDomain, root: EpochRoot): Uint8Array {
  const structHash = keccak256(
    concatBytes(
      keccak256(utf8(EPOCH_ROOT_TYPE)),
      networkHash(root.net),
      u256be(BigInt(root.epoch)),
      root.contentRoot,
      root.rewardsRoot,
      u256be(root.cumulativeTotal),
    ),
  )
  return keccak256(concatBytes(Uint8Array.of(0x19, 0x01), domainSeparator(domain), structHash))
}

export function signVote(domain: VoteDomain, root: EpochRoot, secretKey: Uint8Array): Vote {
  const recovered = secp256k1.sign(voteDigest(domain, root), secretKey, {
    prehash: false,
    format: 'recovered',
  })
  // noble puts the recovery bit first; Ethereum puts it last as 27/28.
  const signature = concatBytes(recovered.subarray(1), Uint8Array.of(27 + (recovered[0] as number)))
  return { ...root, signature }
}

export function addressOfPublicKey(publicKey: Uint8Array): Address {
  const uncompressed = secp256k1.Point.fromBytes(publicKey).toBytes(false)
  return to0x(keccak256(uncompressed.subarray(1)).subarray(12))
}

export function addressOfSecretKey(secretKey: Uint8Array): Address {
  return addressOfPublicKey(secp256k1.getPublicKey(secretKey, true))
}

/** The signer of a vote signature over `root`, or undefined if the signature is malformed or high-s. */
export function recoverVoteSigner(
  domain: VoteDomain,
  root: EpochRoot,
  signature: Uint8Array,
): Address | undefined {
  if (signature.length !== 65) return undefined
  const v = signature[64] as number
  if (v !== 27 && v !== 28) return undefined
  try {
    const sig = secp256k1.Signature.fromBytes(signature.subarray(0, 64), 'compact')
    if (sig.hasHighS()) return undefined
    const pub = sig.addRecoveryBit(v - 27).recoverPublicKey(voteDigest(domain, root))
    return addressOfPublicKey(pub.toBytes(true))
  } catch {
    return undefined
  }
}

function rootFields(r: EpochRoot) {
  return [1, r.net, r.epoch, r.contentRoot, r.rewardsRoot, u256be(r.cumulativeTotal)]
}

function decodeRoot(f: unknown[]): EpochRoot {
  return {
    net: text(f[1], 'net', 32),
    epoch: uint(f[2], 'epoch', 2 ** 32),
    contentRoot: bytesField(f[3], 'contentRoot', 32),
    rewardsRoot: bytesField(f[4], 'rewardsRoot', 32),
    cumulativeTotal: fromU256be(bytesField(f[5], 'cumulativeTotal', 32)),
  }
}

export function encodeVote(vote: Vote): Uint8Array {
  return encodeFields([...rootFields(vote), vote.signature])
}

export function decodeVote(bytes: Uint8Array): Vote {
  const f = decodeFields(bytes, MAX_VOTE_BYTES, 7, 'vote')
  return { ...decodeRoot(f), signature: bytesField(f[6], 'signature', 65) }
}

export function encodeCertificate(cert: Certificate): Uint8Array {
  return encodeFields([...rootFields(cert), cert.signatures])
}

export function decodeCertificate(bytes: Uint8Array): Certificate {
  const f = decodeFields(bytes, MAX_CERTIFICATE_BYTES, 7, 'certificate')
  if (!Array.isArray(f[6]) || f[6].length === 0 || f[6].length > 100) {
    throw new DecodeError('field', 'signatures: expected 1 to 100 signatures')
  }
  return { ...decodeRoot(f), signatures: f[6].map((s, i) => bytesField(s, `signatures[${i}]`, 65)) }
}

export function sameRoot(a: EpochRoot, b: EpochRoot): boolean {
  return (
    a.net === b.net &&
    a.epoch === b.epoch &&
    compareBytes(a.contentRoot, b.contentRoot) === 0 &&
    compareBytes(a.rewardsRoot, b.rewardsRoot) === 0 &&
    a.cumulativeTotal === b.cumulativeTotal
  )
}

/**
 * Checks a certificate against a committee: every signature valid, signers distinct members, at least
 * `quorum` of them. Returns the signers in order, or a reason it fails.
 */
export function verifyCertificate(
  domain: VoteDomain,
  cert: Certificate,
  committee: readonly Address[],
  quorum: number,
): { ok: true; signers: Address[] } | { ok: false; reason: string } {
  const members = new Set(committee.map(a => a.toLowerCase()))
  const signers: Address[] = []
  for (const signature of cert.signatures) {
    const signer = recoverVoteSigner(domain, cert, signature)
    if (!signer) return { ok: false, reason: 'invalid signature' }
    if (!members.has(signer)) return { ok: false, reason: `signer ${signer} is not a committee member` }
    if (signers.includes(signer)) return { ok: false, reason: `duplicate signer ${signer}` }
    signers.push(signer)
  }
  if (signers.length < quorum)
    return { ok: false, reason: `${signers.length} signatures, quorum is ${quorum}` }
  return { ok: true, signers }
}
