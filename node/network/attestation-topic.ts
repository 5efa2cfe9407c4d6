import { type GossipSub, type Message, TopicValidatorResult } from '@libp2p/gossipsub'
import type { PeerId } from '@libp2p/interface'
import { type Attestation, encodeAttestation, sameClaim } from '../../protocol/attestation.ts'
import { toHex } from '../../protocol/bytes.ts'
import { isTimely } from '../../protocol/epoch.ts'
import type { NetworkDefinition } from '../../protocol/network.ts'
import type { Registry } from '../../protocol/registry.ts'
import { type Verdict, validateAttestation } from '../../protocol/validate.ts'
import type { EvidenceLog } from './evidence.ts'

export interface AttestationTopicOptions {
  network: NetworkDefinition
  evidence: EvidenceLog
  /** the epoch's seed, or undefined while its certificate is unknown */
  seedOf(epoch: number): Uint8Array | undefined
  /** the registry this node has gathered for the epoch */
  registryFor(epoch: number): Registry | undefined
  /** called once for every attestation accepted (ours included) */
  onAccept?(attestation: Attestation, bytes: Uint8Array): void
  now?: () => number
}

interface Seen {
  attestation: Attestation
  bytes: Uint8Array
  equivocated: boolean
}

export type AttestationVerdict = 'accept' | 'ignore' | 'reject'

/**
 * The attestations topic as every role joins it: a synchronous validator that applies the protocol's
 * rules (docs/PROTOCOL.md §10), remembers one attestation per (epoch, relay, witness) while the epoch is timely,
 * and turns a second, different one into stored equivocation evidence (ignored: neither forwarded nor
 * blamed on the peer that relayed it). Rejections feed gossipsub's peer score.
 */
export class AttestationTopic {
  readonly topic: string
  readonly counts: Record<AttestationVerdict | 'equivocations', number> = {
    accept: 0,
    ignore: 0,
    reject: 0,
    equivocations: 0,
  }
  /** by epoch, then by relay and witness */
  private readonly seen = new Map<number, Map<string, Seen>>()
  private readonly now: () => number

  constructor(
    private readonly pubsub: GossipSub,
    private readonly o: AttestationTopicOptions,
  ) {
    this.topic = `weir/${o.network.id}/attestations/1`
    this.now = o.now ?? Date.now
  }

  start(): void {
    this.pubsub.topicValidators.set(this.topic, (_from: PeerId, msg: Message) => {
      const verdict = this.judge(msg.data)
      return verdict === 'accept'
        ? TopicValidatorResult.Accept
        : verdict === 'reject'
          ? TopicValidatorResult.Reject
          : TopicValidatorResult.Ignore
    })
    this.pubsub.subscribe(this.topic)
  }

  stop(): void {
    this.pubsub.unsubscribe(this.topic)
    this.pubsub.topicValidators.delete(this.topic)
  }

  /** Publishes one of our own attestations (remembered first, so an echo of it is a duplicate). */
  async publish(attestation: Attestation): Promise<void> {
    const bytes = encodeAttestation(attestation)
    const verdict = this.judge(bytes)
    if (verdict !== 'accept') throw new Error(`refusing to publish an attestation we would not accept`)
    await this.pubsub.publish(this.topic, bytes)
  }

  /** The topic's answer for one message; records accepted attestations and equivocation evidence. */
  judge(bytes: Uint8Array): AttestationVerdict {
    const now = this.now()
    const verdict = this.validate(bytes, now)
    if (verdict.verdict !== 'accept') {
      this.counts[verdict.verdict]++
      return verdict.verdict
    }
    const a = verdict.value
    const key = `${toHex(a.relay)}/${toHex(a.witness)}`
    let epoch = this.seen.get(a.epoch)
    if (epoch === undefined) {
      this.forgetStale(now)
      epoch = new Map()
      this.seen.set(a.epoch, epoch)
    }
    const prior = epoch.get(key)
    if (prior === undefined) {
      epoch.set(key, { attestation: a, bytes, equivocated: false })
      this.counts.accept++
      this.o.onAccept?.(a, bytes)
      return 'accept'
    }
    if (!sameClaim(prior.attestation, a) && !prior.equivocated) {
      prior.equivocated = true
      this.counts.equivocations++
      this.o.evidence.equivocation(a, prior.bytes, bytes, now)
    }
    this.counts.ignore++
    return 'ignore'
  }

  private validate(bytes: Uint8Array, nowMs: number): Verdict<Attestation> {
    const verdict = validateAttestation(bytes, {
      network: this.o.network,
      nowMs,
      seedOf: epoch => this.o.seedOf(epoch),
      registryFor: epoch => this.o.registryFor(epoch),
    })
    // Eligibility is judged against the relay records this node has gathered from gossip, which may
    // lag an honest witness's view: not knowing a relay is no proof the witness lied, so don't blame.
    if (verdict.verdict === 'reject' && verdict.reason.startsWith('relay not eligible')) {
      return { verdict: 'ignore', reason: verdict.reason }
    }
    return verdict
  }

  private forgetStale(nowMs: number): void {
    for (const epoch of this.seen.keys()) {
      if (!isTimely(this.o.network, epoch, nowMs)) this.seen.delete(epoch)
    }
  }
}
