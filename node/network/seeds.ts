import { type GossipSub, TopicValidatorResult } from '@libp2p/gossipsub'
import * as v from 'valibot'
import { certificateAnswer } from '../../protocol/ledger-api.ts'
import type { Address, NetworkDefinition } from '../../protocol/network.ts'
import { epochSeed } from '../../protocol/seed.ts'
import {
  type Certificate,
  decodeCertificate,
  verifyCertificate,
  type VoteDomain,
  voteDomain,
} from '../../protocol/vote.ts'

/**
 * The epoch seeds this node knows (docs/PROTOCOL.md §7): epochs 0 and 1 from the genesis seed, every later one
 * from the certificate of the epoch two before, learned from the votes topic or fetched from a ledger.
 * Certificates are checked against the network's committee before they are believed.
 */
export class SeedBook {
  private readonly certificates = new Map<number, Certificate>()
  private readonly domain: VoteDomain
  private readonly signers: Address[]

  constructor(private readonly network: NetworkDefinition) {
    this.domain = voteDomain(network)
    this.signers = network.committee.map(m => m.signer)
  }

  seedOf(epoch: number): Uint8Array | undefined {
    if (epoch < 0) return undefined
    return epochSeed(this.network, epoch, epoch < 2 ? undefined : this.certificates.get(epoch - 2))
  }

  /** Adds a certificate if it is one of this network's and carries a quorum of the committee. */
  addCertificate(bytes: Uint8Array): boolean {
    let cert: Certificate
    try {
      cert = decodeCertificate(bytes)
    } catch {
      return false
    }
    if (cert.net !== this.network.id || this.certificates.has(cert.epoch)) return false
    if (!verifyCertificate(this.domain, cert, this.signers, this.network.quorum).ok) return false
    this.certificates.set(cert.epoch, cert)
    return true
  }

  /**
   * Learns certificates from the votes topic. Only ledgers judge votes, so this validator accepts the
   * certificates it could verify and ignores everything else: it never blames a peer.
   */
  watch(pubsub: GossipSub): void {
    const votes = `weir/${this.network.id}/votes/1`
    pubsub.topicValidators.set(votes, (_from, msg) =>
      this.addCertificate(msg.data) ? TopicValidatorResult.Accept : TopicValidatorResult.Ignore,
    )
    pubsub.subscribe(votes)
  }

  /** Fetches the certificate of `epoch` from a ledger's HTTP API (`GET /epochs/:e/certificate`). */
  async fetchFrom(ledgerUrl: string, epoch: number, signal?: AbortSignal): Promise<boolean> {
    if (this.certificates.has(epoch)) return true
    const res = await fetch(new URL(`/epochs/${epoch}/certificate`, ledgerUrl), { signal })
    if (!res.ok) return false
    const answer = v.safeParse(certificateAnswer, await res.json())
    return answer.success && this.addCertificate(answer.output.encoded)
  }
}
