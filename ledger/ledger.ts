import { Logger } from '../node/host/log.ts'
import { join } from 'node:path'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import { peerIdFromString } from '@libp2p/peer-id'
import type { DataDir } from '../node/host/datadir.ts'
import { equalBytes, toHex } from '../protocol/bytes.ts'
import { contentRoot } from '../protocol/content.ts'
import { epochAt } from '../protocol/epoch.ts'
import { epochSeed } from '../protocol/seed.ts'
import { decodeCertificate, encodeCertificate } from '../protocol/vote.ts'
import { LedgerApi } from './api.ts'
import { EpochCloser, type Reconciler } from './close.ts'
import { openPeerKnowledge } from '../node/host/peer-knowledge.ts'
import { logReachability } from '../node/host/reachability.ts'
import { createHost, type Host, protocolId, topic } from '../node/host/host.ts'
import { RecordLimits } from '../node/network/record-limits.ts'
import { Ingest, type IngestResult } from './ingest.ts'
import { Metrics } from './metrics.ts'
import { LedgerStore } from './store.ts'
import { handleSync, type SyncSource, syncEpoch } from './sync.ts'
import type { VoteSigner } from './vote-signer.ts'
import { VoteBook } from './votes.ts'

export const DB_FILE = 'ledger.sqlite'
const TICK_MS = 250
const CERT_ANSWER_MS = 1_000
const DIAL_MS = 3_000

export interface LedgerOptions {
  data: DataDir
  signer: VoteSigner
  api?: { host: string; port: number }
  listen?: string[]
  /** addresses to announce instead of the listen addresses */
  announce?: string[]
  bootstrap?: string[]
  /** the operator's log (by default text lines on stderr) */
  log?: Logger
}

const VERDICT: Record<IngestResult['outcome'], TopicValidatorResult> = {
  accept: TopicValidatorResult.Accept,
  duplicate: TopicValidatorResult.Ignore,
  pending: TopicValidatorResult.Ignore,
  ignore: TopicValidatorResult.Ignore,
  reject: TopicValidatorResult.Reject,
}

/** A committee member's ledger: store, gossip ingest, epoch close and votes, HTTP API. */
export class Ledger {
  readonly metrics = new Metrics()
  readonly store: LedgerStore
  readonly ingest: Ingest
  readonly votes: VoteBook
  readonly closer: EpochCloser
  private api: LedgerApi | undefined
  /** HOST:PORT the API listens on */
  apiAddress: string | undefined
  private timer: NodeJS.Timeout | undefined
  private readonly limits: RecordLimits
  /** the committee's PeerIds: whom sync answers */
  private readonly members: ReadonlySet<string>
  private readonly seeds = new Map<number, Uint8Array>()
  private readonly certAnswered = new Map<number, number>()
  private lastDial = 0
  private readonly log: Logger

  private constructor(
    readonly options: LedgerOptions,
    readonly host: Host,
    private readonly peers: { close(): Promise<void> },
  ) {
    const { network } = options.data
    this.log = options.log ?? new Logger({ role: 'ledger' })
    this.store = new LedgerStore(join(options.data.dir, DB_FILE))
    this.limits = new RecordLimits(host)
    this.ingest = new Ingest(
      network,
      this.store,
      e => this.seedOf(e),
      this.metrics,
      Date.now,
      relay => this.limits.admitRecord(relay),
    )
    this.votes = new VoteBook(network, this.store, this.metrics)
    const committee = new Set(network.committee.map(m => m.peerId))
    this.members = committee
    const self = host.peerId.toString()
    this.closer = new EpochCloser({
      network,
      store: this.store,
      votes: this.votes,
      metrics: this.metrics,
      signer: options.signer,
      seedOf: e => this.seedOf(e),
      committeePeers: () => [
        ...new Set(
          host
            .getConnections()
            .map(c => c.remotePeer.toString())
            .filter(p => p !== self && committee.has(p)),
        ),
      ],
      reconciler: this.antiEntropy(),
      publish: bytes => this.publish('votes', bytes),
      onCertified: () => {
        // adopting a certificate may have left relay records out of the content
        this.ingest.reloadRegistry()
        this.sweepPending()
      },
      now: Date.now,
    })
    this.ingest.onRecords = () => this.sweepPending()
    this.metrics.gauge('weir_ledger_pending_items', 'items held until their seed or relay is known', () =>
      this.store.pendingCount(),
    )
    this.metrics.gauge(
      'weir_ledger_next_epoch_to_certify',
      'lowest epoch not yet certified here',
      () => this.closer.next,
    )
  }

  static async start(options: LedgerOptions): Promise<Ledger> {
    const { network, identity } = options.data
    const peers = await openPeerKnowledge(options.data.dir)
    const host = await createHost({
      datastore: peers,
      networkId: network.id,
      privateKey: identity.libp2pKey,
      listen: options.listen,
      ...(options.announce ? { announce: options.announce } : {}),
      bootstrap: [...network.bootstrap, ...(options.bootstrap ?? [])],
      local: network.local === true,
      ...(options.log ? { log: options.log } : {}),
    })
    if (options.log) logReachability(host.services.reachability, options.log)
    const ledger = new Ledger(options, host, peers)
    try {
      await ledger.begin()
    } catch (err) {
      await ledger.stop()
      throw err
    }
    return ledger
  }

  private get syncSource(): SyncSource {
    return { ids: e => this.store.itemIds(e), bodies: (e, ids) => this.store.bodies(e, ids) }
  }

  /**
   * Reconciles an epoch with each given member over /weir/<net>/sync/1.0.0 (ledger/sync.ts); the
   * bodies we lacked are validated and stored exactly like gossip (judged at their epoch's start).
   */
  private antiEntropy(): Reconciler {
    return {
      reconcile: async (epoch, peers, certifiedRoot) => {
        const protocol = protocolId(this.options.data.network.id, 'sync')
        const results = await Promise.allSettled(
          peers.map(async peer => {
            // the ids this sync compares against: the peer holds these minus theyLack, plus theyHave
            let ours: Uint8Array[] = []
            const source: SyncSource = {
              ids: e => {
                ours = this.store.itemIds(e)
                return ours
              },
              bodies: (e, ids) => this.store.bodies(e, ids),
            }
            const result = await syncEpoch(
              this.host,
              peerIdFromString(peer),
              protocol,
              epoch,
              source,
              items =>
                Promise.all(items.map(i => this.ingest.submit(i.kind, i.bytes, { reconciling: epoch }))).then(
                  () => {},
                ),
            )
            return { result, ours }
          }),
        )
        let reached = 0
        let certified: Uint8Array[] | undefined
        for (const r of results) {
          if (r.status === 'rejected') {
            this.metrics.syncFailures.inc()
            continue
          }
          reached++
          const { result, ours } = r.value
          const bytes = result.bytesSent + result.bytesReceived
          this.metrics.syncBytes.inc(bytes)
          this.metrics.syncItems.inc(result.received)
          if (certifiedRoot && !certified) {
            const lacking = new Set(result.theyLack.map(id => toHex(id)))
            const theirs = [...ours.filter(id => !lacking.has(toHex(id))), ...result.theyHave]
            if (equalBytes(contentRoot(theirs), certifiedRoot)) certified = theirs
          }
        }
        return { reached, certified }
      },
    }
  }

  private async begin(): Promise<void> {
    const net = this.options.data.network.id
    const pubsub = this.host.services.pubsub
    pubsub.topicValidators.set(
      topic(net, 'attestations'),
      async (_peer, msg) => VERDICT[(await this.ingest.submit('attestation', msg.data)).outcome],
    )
    // Anyone can sign relay records with fresh keys: they are budgeted before they are even verified.
    pubsub.topicValidators.set(topic(net, 'relays'), async (peer, msg) => {
      const admission = this.limits.admitGossip(peer, msg)
      if (admission === 'penalise') return TopicValidatorResult.Reject
      if (admission === 'ignore') return TopicValidatorResult.Ignore
      return VERDICT[(await this.ingest.submit('relay-record', msg.data)).outcome]
    })
    pubsub.topicValidators.set(topic(net, 'votes'), (_peer, msg) => this.onVoteMessage(msg.data))
    for (const name of ['attestations', 'relays', 'votes']) pubsub.subscribe(topic(net, name))
    // Only members reconcile: nobody else gets a stream's worth of an epoch's ids and bodies.
    await handleSync(this.host, protocolId(net, 'sync'), this.syncSource, {
      serves: peer => this.members.has(peer.toString()),
    })
    if (this.options.api) {
      this.api = new LedgerApi({
        network: this.options.data.network,
        store: this.store,
        metrics: this.metrics,
        registry: () => this.ingest.registry(),
        nextToFinish: () => this.closer.next,
        now: Date.now,
      })
      this.apiAddress = await this.api.listen(this.options.api.host, this.options.api.port)
    }
    this.timer = setInterval(() => this.tick(), TICK_MS)
    this.sweepPending()
  }

  private tick(): void {
    if (Date.now() - this.lastDial >= DIAL_MS) this.dialCommittee()
    this.closer.tick().catch(err => this.log.error(`epoch close failed: ${(err as Error).stack ?? err}`))
  }

  /**
   * Keeps a direct connection to every committee member: reconciliation needs one, and how many are
   * reachable decides whether voting makes sense. Addresses come from the peer store or the DHT.
   */
  private dialCommittee(): void {
    this.lastDial = Date.now()
    const connected = new Set(this.host.getConnections().map(c => c.remotePeer.toString()))
    for (const member of this.options.data.network.committee) {
      if (member.peerId === this.host.peerId.toString() || connected.has(member.peerId)) continue
      this.host.dial(peerIdFromString(member.peerId)).catch(() => {})
    }
  }

  private onVoteMessage(bytes: Uint8Array): TopicValidatorResult {
    const current = epochAt(this.options.data.network, Date.now())
    const outcome = this.votes.receive(bytes, current)
    this.metrics.voteMessages.inc({ verdict: outcome.verdict })
    if (outcome.verdict === 'accept') {
      if (outcome.certificate) this.onCertificate(outcome.kind === 'vote')
      return TopicValidatorResult.Accept
    }
    // A member still voting on an epoch we hold a certificate for has missed it: answer with it.
    if (outcome.kind === 'vote' && outcome.epoch !== undefined) this.answerWithCertificate(outcome.epoch)
    return outcome.verdict === 'reject' ? TopicValidatorResult.Reject : TopicValidatorResult.Ignore
  }

  private onCertificate(formedHere: boolean): void {
    if (formedHere) {
      const latest = this.store.latestCertificate()
      if (latest) this.publish('votes', latest.bytes)
    }
    this.sweepPending()
    this.tick()
  }

  private answerWithCertificate(epoch: number): void {
    const cert = this.store.certificate(epoch)
    const last = this.certAnswered.get(epoch) ?? 0
    if (!cert || Date.now() - last < CERT_ANSWER_MS) return
    this.certAnswered.set(epoch, Date.now())
    this.publish('votes', encodeCertificate(decodeCertificate(cert.bytes)))
  }

  private sweepPending(): void {
    if (this.store.pendingCount() === 0) return
    this.ingest
      .revalidatePending(e => this.store.certificate(e) !== undefined && e < this.closer.next)
      .catch(err => this.log.error(`pending re-validation failed: ${(err as Error).stack ?? err}`))
  }

  /** The seed of an epoch: from the certificate of epoch − 2, or undefined until it is held. */
  seedOf(epoch: number): Uint8Array | undefined {
    const cached = this.seeds.get(epoch)
    if (cached) return cached
    const network = this.options.data.network
    let seed: Uint8Array | undefined
    if (epoch < 2) seed = epochSeed(network, epoch, undefined)
    else {
      const cert = this.store.certificate(epoch - 2)
      seed = cert ? epochSeed(network, epoch, decodeCertificate(cert.bytes)) : undefined
    }
    if (seed) this.seeds.set(epoch, seed)
    return seed
  }

  publish(name: 'attestations' | 'relays' | 'votes', bytes: Uint8Array): void {
    this.host.services.pubsub
      .publish(topic(this.options.data.network.id, name), bytes)
      .catch(err => this.metrics.publishErrors.inc({ error: err.name }))
  }

  /** What `weir ledger` prints first: how to reach this member. */
  info() {
    return {
      peerId: this.host.peerId.toString(),
      addresses: this.host.getMultiaddrs().map(a => a.toString()),
      api: this.apiAddress ?? null,
      signer: this.closer.signer,
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    await this.api?.close()
    await this.host.stop()
    await this.peers.close()
    this.ingest.flush()
    this.store.close()
  }
}
