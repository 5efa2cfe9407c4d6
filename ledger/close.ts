import { equalBytes, toHex } from '../protocol/bytes.ts'
import { graceEnd } from '../protocol/epoch.ts'
import type { NetworkDefinition } from '../protocol/network.ts'
import {
  type Certificate,
  decodeCertificate,
  decodeVote,
  type EpochRoot,
  encodeCertificate,
  encodeVote,
} from '../protocol/vote.ts'
import { leavesOf, tallyEpoch } from './epoch-tally.ts'
import type { Metrics } from './metrics.ts'
import type { LedgerStore, StoredTally } from './store.ts'
import type { VoteSigner } from './vote-signer.ts'
import type { VoteBook } from './votes.ts'

/**
 * Brings an epoch's content up to date with other committee members before the ledger votes on it, and
 * fetches what a certificate names that the ledger lacks.
 */
export interface Reconciler {
  /**
   * Reconciles the epoch with each peer; resolves with how many it reached and, given a certified
   * content root, the certified ids if some peer holds exactly the set with that root (whoever holds
   * it matched the certificate; a peer that still holds more does not qualify).
   */
  reconcile(
    epoch: number,
    peers: readonly string[],
    certifiedRoot?: Uint8Array,
  ): Promise<{ reached: number; certified?: Uint8Array[] }>
}

export interface CloserOptions {
  network: NetworkDefinition
  store: LedgerStore
  votes: VoteBook
  metrics: Metrics
  signer: VoteSigner
  seedOf(epoch: number): Uint8Array | undefined
  /** committee members (PeerId strings) we are connected to, ourselves excluded */
  committeePeers(): string[]
  reconciler: Reconciler
  publish(bytes: Uint8Array): void
  /** after an epoch is certified and its tally matches the certificate */
  onCertified(epoch: number): void
  /** the wall clock (unix ms): when an epoch's grace is over, when to re-publish our vote */
  now(): number
}

const SETTLE_MS = 500
const REPUBLISH_MS = 2_000

const matches = (t: StoredTally, c: EpochRoot): boolean =>
  equalBytes(t.contentRoot, c.contentRoot) &&
  equalBytes(t.rewardsRoot, c.rewardsRoot) &&
  t.cumulativeTotal === c.cumulativeTotal

/**
 * Closes epochs strictly in order. For the lowest epoch not yet finished: once its grace is over and
 * enough members are reachable, reconcile, tally, persist our vote, then publish it; re-publish it until
 * a certificate forms. An epoch is finished when it has a certificate and our tally matches it (if not,
 * we lack content: reconcile again and re-tally). Our vote is never re-signed: after a restart the
 * stored one is re-published.
 */
export class EpochCloser {
  /** the lowest epoch not finished */
  next = 0
  private running = false
  private lastPublish = 0
  readonly signer: string

  constructor(private readonly o: CloserOptions) {
    this.signer = o.signer.address
    while (this.finished(this.next)) this.next++
  }

  private finished(epoch: number): boolean {
    const cert = this.o.store.certificate(epoch)
    const tally = this.o.store.tally(epoch)
    return cert !== undefined && tally !== undefined && matches(tally, decodeCertificate(cert.bytes))
  }

  async tick(): Promise<void> {
    if (this.running) return
    this.running = true
    try {
      while (await this.step()) {}
    } finally {
      this.running = false
    }
  }

  /** Works on the lowest unfinished epoch; true when it finished it (so the next may proceed). */
  private async step(): Promise<boolean> {
    const { network, store } = this.o
    const epoch = this.next
    if (this.o.now() < graceEnd(network, epoch) + SETTLE_MS) return false
    const held = store.certificate(epoch)
    if (held) return this.adopt(epoch, decodeCertificate(held.bytes))
    const mine = store.votes(epoch, this.signer)[0]
    if (mine) {
      if (this.o.now() - this.lastPublish >= REPUBLISH_MS) this.publish(mine.bytes)
      return false
    }
    const peers = this.o.committeePeers()
    if (peers.length < network.quorum - 1) return false
    const { reached } = await this.o.reconciler.reconcile(epoch, peers)
    if (reached < network.quorum - 1 || store.certificate(epoch)) return false
    const { stored } = this.retally(epoch)
    const root: EpochRoot = {
      net: network.id,
      epoch,
      contentRoot: stored.contentRoot,
      rewardsRoot: stored.rewardsRoot,
      cumulativeTotal: stored.cumulativeTotal,
    }
    const vote = this.o.signer.sign(this.o.votes.domain, root)
    // receiveVote stores the vote (on disk before anyone sees it) and may complete a certificate.
    const outcome = this.o.votes.receiveVote(vote)
    this.o.metrics.votesSigned.inc()
    this.publish(encodeVote(vote))
    if (outcome.verdict === 'accept' && outcome.certificate) this.publishCertificate(outcome.certificate)
    return false
  }

  /**
   * Finishes a certified epoch once our tally matches the certificate. Content we lack is fetched. Content
   * we hold beyond the certified set (items that reached us but not the quorum before it voted) is left
   * out of the epoch once a member holding exactly the certified set shows us which ids it has.
   */
  private async adopt(epoch: number, cert: Certificate): Promise<boolean> {
    const tally = this.o.store.tally(epoch)
    if (!tally || !matches(tally, cert)) {
      const peers = this.o.committeePeers()
      if (!tally || !equalBytes(tally.contentRoot, cert.contentRoot)) {
        const { certified } = await this.o.reconciler.reconcile(epoch, peers, cert.contentRoot)
        if (certified) this.keepOnly(epoch, certified)
      }
      const { stored } = this.retally(epoch)
      if (!matches(stored, cert)) {
        this.o.metrics.tallyMismatches.inc()
        return false
      }
    }
    this.next = epoch + 1
    this.o.onCertified(epoch)
    return true
  }

  /** Excludes from the epoch every item held outside `certified` (the set whose root was certified). */
  private keepOnly(epoch: number, certified: readonly Uint8Array[]): void {
    const keep = new Set(certified.map(id => toHex(id)))
    const beyond = this.o.store.itemIds(epoch).filter(id => !keep.has(toHex(id)))
    if (beyond.length === 0) return
    this.o.store.exclude(epoch, beyond)
    this.o.metrics.itemsExcluded.inc(beyond.length)
  }

  private retally(epoch: number) {
    const seed = this.o.seedOf(epoch)
    if (!seed) throw new Error(`seed of epoch ${epoch} unknown although earlier epochs are certified`)
    const previous = epoch === 0 ? [] : leavesOf(this.o.store.tally(epoch - 1))
    const result = tallyEpoch(this.o.network, this.o.store, epoch, seed, previous)
    this.o.store.saveTally(
      result.stored,
      result.lines.map(l => ({ peerId: l.peerId, json: JSON.stringify(l) })),
    )
    return result
  }

  private publish(bytes: Uint8Array): void {
    this.lastPublish = this.o.now()
    this.o.publish(bytes)
  }

  publishCertificate(cert: Certificate): void {
    this.o.publish(encodeCertificate(cert))
  }

  /** Our stored vote for an epoch, if any. */
  myVote(epoch: number) {
    const v = this.o.store.votes(epoch, this.signer)[0]
    return v ? decodeVote(v.bytes) : undefined
  }
}
