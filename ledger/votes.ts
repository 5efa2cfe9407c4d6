import { u64be, u256be, utf8 } from '../protocol/bytes.ts'
import { DecodeError } from '../protocol/errors.ts'
import { sha256 } from '../protocol/hash.ts'
import type { Address, NetworkDefinition } from '../protocol/network.ts'
import {
  type Certificate,
  decodeCertificate,
  decodeVote,
  type EpochRoot,
  encodeCertificate,
  encodeVote,
  recoverVoteSigner,
  sameRoot,
  type Vote,
  type VoteDomain,
  verifyCertificate,
  voteDomain,
} from '../protocol/vote.ts'
import type { Metrics } from './metrics.ts'
import type { LedgerStore } from './store.ts'

/** Groups votes for the same root: a hash of every signed field. */
export function rootKey(r: EpochRoot): Uint8Array {
  return sha256(
    utf8(r.net),
    Uint8Array.of(0),
    u64be(r.epoch),
    r.contentRoot,
    r.rewardsRoot,
    u256be(r.cumulativeTotal),
  )
}

export type VoteOutcome =
  | { verdict: 'accept'; kind: 'vote'; epoch: number; certificate?: Certificate }
  | { verdict: 'accept'; kind: 'certificate'; epoch: number; certificate: Certificate }
  | { verdict: 'ignore' | 'reject'; reason: string; epoch?: number; kind?: 'vote' | 'certificate' }

/**
 * Votes and certificates from the votes topic: checks signers against the committee, keeps every distinct
 * vote (a member's second root for an epoch stays as evidence), and forms the certificate once `quorum`
 * members signed the same root. The first valid certificate of an epoch is final.
 */
export class VoteBook {
  readonly domain: VoteDomain
  private readonly committee: Address[]

  constructor(
    private readonly network: NetworkDefinition,
    private readonly store: LedgerStore,
    private readonly metrics: Metrics,
  ) {
    this.domain = voteDomain(network)
    this.committee = network.committee.map(m => m.signer)
  }

  receive(bytes: Uint8Array, currentEpoch: number): VoteOutcome {
    let vote: Vote | undefined
    let cert: Certificate | undefined
    try {
      vote = decodeVote(bytes)
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err
      try {
        cert = decodeCertificate(bytes)
      } catch (err2) {
        if (!(err2 instanceof DecodeError)) throw err2
        return { verdict: 'reject', reason: `neither a vote nor a certificate: ${err2.message}` }
      }
    }
    const root = (vote ?? cert) as EpochRoot
    if (root.net !== this.network.id) return { verdict: 'reject', reason: 'another network' }
    if (root.epoch > currentEpoch) return { verdict: 'ignore', reason: `epoch ${root.epoch} has not ended` }
    return vote ? this.receiveVote(vote) : this.receiveCertificate(cert as Certificate)
  }

  /** Stores a vote (ours, before it is published, or a member's) and forms the certificate at quorum. */
  receiveVote(vote: Vote): VoteOutcome {
    const signer = recoverVoteSigner(this.domain, vote, vote.signature)
    if (!signer || !this.committee.includes(signer)) {
      return { verdict: 'reject', reason: 'vote not signed by a committee member', kind: 'vote' }
    }
    const key = rootKey(vote)
    const earlier = this.store.votes(vote.epoch, signer)
    const isNew = this.store.insertVote({ epoch: vote.epoch, signer, rootKey: key, bytes: encodeVote(vote) })
    if (!isNew) return { verdict: 'ignore', reason: 'vote already held', epoch: vote.epoch, kind: 'vote' }
    this.metrics.votes.inc()
    if (earlier.length > 0) {
      this.metrics.voteEquivocations.inc()
    }
    const certificate = this.tryCertify(vote)
    return { verdict: 'accept', kind: 'vote', epoch: vote.epoch, ...(certificate ? { certificate } : {}) }
  }

  private tryCertify(root: EpochRoot): Certificate | undefined {
    if (this.store.certificate(root.epoch)) return undefined
    const key = Buffer.from(rootKey(root))
    const matching = this.store
      .votes(root.epoch)
      .filter(v => key.equals(v.rootKey))
      .map(v => ({ signer: v.signer, vote: decodeVote(v.bytes) }))
    if (matching.length < this.network.quorum) return undefined
    matching.sort((a, b) => (a.signer < b.signer ? -1 : 1))
    const cert: Certificate = { ...stripSignature(root), signatures: matching.map(m => m.vote.signature) }
    return this.storeCertificate(cert) ? cert : undefined
  }

  receiveCertificate(cert: Certificate): VoteOutcome {
    const held = this.store.certificate(cert.epoch)
    if (held) {
      if (sameRoot(decodeCertificate(held.bytes), cert)) {
        return {
          verdict: 'ignore',
          reason: 'certificate already held',
          epoch: cert.epoch,
          kind: 'certificate',
        }
      }
    }
    const check = verifyCertificate(this.domain, cert, this.committee, this.network.quorum)
    if (!check.ok) return { verdict: 'reject', reason: check.reason, kind: 'certificate' }
    if (held) {
      // Two valid certificates for different roots means more than a third of the committee is faulty.
      this.metrics.conflictingCertificates.inc()
      return { verdict: 'ignore', reason: 'conflicts with the certificate held', epoch: cert.epoch }
    }
    if (!this.storeCertificate(cert)) return { verdict: 'ignore', reason: 'certificate already held' }
    return { verdict: 'accept', kind: 'certificate', epoch: cert.epoch, certificate: cert }
  }

  private storeCertificate(cert: Certificate): boolean {
    const check = verifyCertificate(this.domain, cert, this.committee, this.network.quorum)
    if (!check.ok) return false
    const stored = this.store.insertCertificate({
      epoch: cert.epoch,
      bytes: encodeCertificate(cert),
      signers: check.signers,
    })
    if (stored) this.metrics.certificates.inc()
    return stored
  }
}

function stripSignature(root: EpochRoot): EpochRoot {
  return {
    net: root.net,
    epoch: root.epoch,
    contentRoot: root.contentRoot,
    rewardsRoot: root.rewardsRoot,
    cumulativeTotal: root.cumulativeTotal,
  }
}
