import type * as v from 'valibot'
import { assignment } from './assignment.ts'
import { type Attestation, decodeAttestation, verifyAttestationBytes } from './attestation.ts'
import { equalBytes } from './bytes.ts'
import { verifyContentProof } from './content.ts'
import type { capacityAnswer } from './ledger-api.ts'
import type { NetworkDefinition } from './network.ts'
import { peerIdToString } from './peer.ts'
import { itemId } from './record.ts'
import { epochSeed } from './seed.ts'
import { computeTally } from './tally.ts'
import { type Certificate, decodeCertificate, verifyCertificate, voteDomain } from './vote.ts'

/** An attestation's canonical bytes and the proof that they are an item of the certified content. */
export interface ProvenItem {
  bytes: Uint8Array
  /** its id's place among the epoch's distinct item ids in byte order */
  index: number
  proof: Uint8Array[]
}

/**
 * What shows a relay's capacity in one certified epoch without trusting whoever serves it: the epoch's
 * certificate, the certificate two epochs before (whose roots seed the epoch's witness assignment; none
 * for epochs 0 and 1), and the relay's attestations with their proofs against the certified content root.
 */
export interface CapacityEvidence {
  relay: Uint8Array
  certificate: Certificate
  seedCertificate: Certificate | undefined
  /** how many distinct items the certified content holds */
  itemCount: number
  attestations: ProvenItem[]
}

export type CertifiedCapacity =
  | { ok: true; epoch: number; relay: Uint8Array; score: number; attestations: number }
  | { ok: false; reason: string }

/**
 * The relay's score in the evidence's epoch, computed by the tally itself (computeTally over the proven
 * attestations), once everything checks: both certificates carry a quorum of the network's committee, the
 * epoch is `notBefore` or later, and every attestation is of this network, epoch and relay, signed by a
 * witness the epoch's seed assigned to the relay, and proven to be in the certified content.
 *
 * The evidence can only be incomplete, not forged: whoever serves it may leave attestations out (which
 * can lower the score, or leave fewer than the network's minimum and so a score of 0), never add one.
 */
export function verifyCapacityEvidence(
  network: NetworkDefinition,
  evidence: CapacityEvidence,
  notBefore: number,
): CertifiedCapacity {
  const fail = (reason: string): CertifiedCapacity => ({ ok: false, reason })
  const { certificate: cert, relay } = evidence
  const epoch = cert.epoch
  const certified = checkCertificate(network, cert, epoch)
  if (certified) return fail(certified)
  if (epoch < notBefore) return fail(`epoch ${epoch} is older than epoch ${notBefore}`)
  if (epoch >= 2) {
    if (!evidence.seedCertificate) return fail(`no certificate of epoch ${epoch - 2} to seed epoch ${epoch}`)
    const seedCertified = checkCertificate(network, evidence.seedCertificate, epoch - 2)
    if (seedCertified) return fail(seedCertified)
  }
  const seed = epochSeed(network, epoch, evidence.seedCertificate) as Uint8Array
  const assigned = assignment(seed, relay, network.witnesses.length, network.witnessesPerRelay).map(
    i => network.witnesses[i] as string,
  )
  const attestations: Attestation[] = []
  for (const item of evidence.attestations) {
    let a: Attestation
    try {
      a = decodeAttestation(item.bytes)
    } catch (err) {
      return fail(`an attestation does not decode: ${(err as Error).message}`)
    }
    const witness = safePeerId(a.witness)
    if (a.net !== network.id) return fail(`an attestation of network ${a.net}`)
    if (a.epoch !== epoch) return fail(`an attestation of epoch ${a.epoch} in evidence of epoch ${epoch}`)
    if (!equalBytes(a.relay, relay)) return fail(`an attestation of relay ${safePeerId(a.relay)}`)
    if (!verifyAttestationBytes(a, item.bytes)) return fail(`a bad signature on ${witness}'s attestation`)
    if (!assigned.includes(witness))
      return fail(`witness ${witness} was not assigned to the relay in epoch ${epoch}`)
    if (
      !verifyContentProof(
        cert.contentRoot,
        itemId('attestation', item.bytes),
        item.index,
        evidence.itemCount,
        item.proof,
      )
    )
      return fail(`${witness}'s attestation is not proven to be in the certified content of epoch ${epoch}`)
    attestations.push(a)
  }
  const tally = computeTally({
    network,
    epoch,
    seed,
    attestations,
    // the relay alone, taken as eligible: the ledgers admitted its attestations only if it was
    registry: new Map([['relay', { relay, registeredIn: Number.NEGATIVE_INFINITY, payout: NO_PAYOUT }]]),
    previous: new Map(),
  })
  const score = tally.relays[0]?.score ?? 0
  return { ok: true, epoch, relay, score, attestations: attestations.length }
}

const NO_PAYOUT = '0x0000000000000000000000000000000000000000' as const

/** Why a certificate does not certify `epoch` of the network, or undefined when it does. */
function checkCertificate(network: NetworkDefinition, cert: Certificate, epoch: number): string | undefined {
  if (cert.net !== network.id) return `a certificate of network ${cert.net}`
  if (cert.epoch !== epoch) return `a certificate of epoch ${cert.epoch} where epoch ${epoch} was needed`
  const committee = network.committee.map(m => m.signer)
  const check = verifyCertificate(voteDomain(network), cert, committee, network.quorum)
  return check.ok ? undefined : `the certificate of epoch ${epoch} does not verify: ${check.reason}`
}

function safePeerId(bytes: Uint8Array): string {
  try {
    return peerIdToString(bytes)
  } catch {
    return 'an unreadable PeerId'
  }
}

/** The evidence in a ledger's `GET /relays/:peerId/capacity` answer; throws DecodeError for a bad certificate. */
export function evidenceOf(
  relay: Uint8Array,
  answer: v.InferOutput<typeof capacityAnswer>,
): CapacityEvidence {
  return {
    relay,
    certificate: decodeCertificate(answer.certificate),
    seedCertificate: answer.seedCertificate === null ? undefined : decodeCertificate(answer.seedCertificate),
    itemCount: answer.items,
    attestations: answer.attestations,
  }
}
