import { decodeAttestation, sameClaim } from '../protocol/attestation.ts'
import { epochStart } from '../protocol/epoch.ts'
import type { NetworkDefinition } from '../protocol/network.ts'
import { decodeRelayRecord, itemId, type RelayRecord } from '../protocol/record.ts'
import { buildRegistry, type Registry, relayKey } from '../protocol/registry.ts'
import { validateAttestation, validateRelayRecord } from '../protocol/validate.ts'
import type { Metrics } from './metrics.ts'
import type { ItemKind, LedgerStore, NewItem, PendingItem } from './store.ts'

/**
 * accept: valid and on disk (only now may gossip forward it); duplicate: already held; pending: valid so
 * far but its seed or its relay's record is not known yet (kept on disk, re-validated later); ignore /
 * reject as in protocol/validate.ts.
 */
export type IngestOutcome = 'accept' | 'duplicate' | 'pending' | 'ignore' | 'reject'

export interface IngestResult {
  outcome: IngestOutcome
  reason?: string
  epoch?: number
}

/**
 * Where an item comes from. Gossip is judged at the moment it arrives. An item fetched while reconciling
 * an epoch (a member accepted it in time) must belong to that epoch, and is judged at the epoch's start so
 * that a late fetch is not mistaken for a late item: a member cannot slip in an item of another epoch,
 * such as a relay record back-dated past the eligibility delay.
 */
export type IngestSource = 'gossip' | { reconciling: number }

/** Commits wait this long for company, so a trickle of items does not cost an fsync each. */
export const COMMIT_WINDOW_MS = 10
/** A batch this large commits at once. */
export const MAX_BATCH = 1000

interface Queued {
  item?: NewItem
  pending?: PendingItem
  resolved?: Uint8Array
  result: IngestResult
  /** run once the batch is committed (or failed to), before the caller hears of it */
  settle?: (committed: boolean) => void
  done: (r: IngestResult) => void
  fail: (err: unknown) => void
}

type Write = Pick<Queued, 'item' | 'pending' | 'resolved'>

const differs = (a: Uint8Array, b: Uint8Array): boolean =>
  !sameClaim(decodeAttestation(a), decodeAttestation(b))

/**
 * Validates attestations and relay records with protocol/validate.ts and writes them in group commits:
 * every caller's promise resolves after the transaction holding its item is committed (ack after disk).
 */
export class Ingest {
  private queue: Queued[] = []
  private timer: NodeJS.Timeout | undefined
  private readonly inFlight = new Map<string, Promise<IngestResult>>()
  private records: RelayRecord[] | undefined
  private registryCache: Registry | undefined
  /** called after a commit that added relay records (the registry may have changed) */
  onRecords: () => void = () => {}

  constructor(
    private readonly network: NetworkDefinition,
    private readonly store: LedgerStore,
    private readonly seedOf: (epoch: number) => Uint8Array | undefined,
    private readonly metrics: Metrics,
    private readonly now: () => number,
    /** the gossip budget of a relay identity, asked once a gossiped record proved valid and new */
    private readonly admitRecord: (relay: Uint8Array) => boolean = () => true,
  ) {}

  /** The registry over every relay record held (eligibility does not depend on later records). */
  registry(): Registry {
    if (!this.registryCache) {
      this.records ??= this.store.relayRecordsThrough().map(decodeRelayRecord)
      this.registryCache = buildRegistry(this.network, this.records)
    }
    return this.registryCache
  }

  /** Rebuilds the registry from the store on next use (after items were excluded from content). */
  reloadRegistry(): void {
    this.records = undefined
    this.registryCache = undefined
  }

  submit(kind: ItemKind, bytes: Uint8Array, from: IngestSource = 'gossip'): Promise<IngestResult> {
    const source = from === 'gossip' ? 'gossip' : 'sync'
    const id = itemId(kind, bytes)
    const key = Buffer.from(id).toString('latin1')
    const running = this.inFlight.get(key)
    if (running) return running.then(() => this.count(kind, source, { outcome: 'duplicate' }))
    if (this.store.hasItem(id)) return Promise.resolve(this.count(kind, source, { outcome: 'duplicate' }))
    const receivedAt = this.now()
    let judgedAt = receivedAt
    if (from !== 'gossip') {
      const epoch = epochOf(kind, bytes)
      if (epoch === undefined) return Promise.resolve(this.count(kind, source, undecodable))
      if (epoch !== from.reconciling) {
        const reason = `an item of epoch ${epoch} offered while reconciling epoch ${from.reconciling}`
        return Promise.resolve(this.count(kind, source, { outcome: 'reject', reason, epoch }))
      }
      judgedAt = epochStart(this.network, epoch)
    }
    const { write, result } = this.judge(kind, id, bytes, judgedAt, receivedAt, from === 'gossip')
    if (!write) return Promise.resolve(this.count(kind, source, result))
    // In flight until committed: a copy arriving meanwhile waits for it, then counts as a duplicate.
    const promise = this.enqueue(write, result, committed => {
      this.inFlight.delete(key)
      if (committed) this.count(kind, source, result)
    })
    this.inFlight.set(key, promise)
    return promise
  }

  private count(kind: ItemKind, source: 'gossip' | 'sync', r: IngestResult): IngestResult {
    this.metrics.ingest.inc({ kind, source, outcome: r.outcome })
    return r
  }

  /**
   * Validates at `judgedAt`; `receivedAt` is kept for re-validating pending items. Returns the write the
   * verdict needs, if any: the caller may answer only once it is committed.
   */
  private judge(
    kind: ItemKind,
    id: Uint8Array,
    bytes: Uint8Array,
    judgedAt: number,
    receivedAt: number,
    gossip: boolean,
    resolved?: Uint8Array,
  ): { write?: Write; result: IngestResult } {
    const verdict = this.validate(kind, bytes, judgedAt, gossip)
    const result: IngestResult = { outcome: verdict.outcome, reason: verdict.reason, epoch: verdict.epoch }
    if (verdict.outcome === 'accept') {
      return { write: { item: { ...(verdict.item as NewItem), id, receivedAt }, resolved }, result }
    }
    if (verdict.outcome === 'pending') {
      if (resolved) return { result } // still held: keep its row as it is
      const epoch = verdict.epoch as number
      return { write: { pending: { id, kind, epoch, bytes, receivedAt: judgedAt } }, result }
    }
    return resolved ? { write: { resolved }, result } : { result }
  }

  private validate(
    kind: ItemKind,
    bytes: Uint8Array,
    nowMs: number,
    gossip: boolean,
  ): IngestResult & { item?: Omit<NewItem, 'id' | 'receivedAt'> } {
    if (kind === 'relay-record') {
      const v = validateRelayRecord(bytes, { network: this.network, nowMs })
      if (v.verdict !== 'accept') return { outcome: v.verdict, reason: v.reason }
      const r = v.value
      if (gossip && !this.admitRecord(r.relay)) {
        return { outcome: 'ignore', reason: 'the relay is over its record budget', epoch: r.epoch }
      }
      return { outcome: 'accept', epoch: r.epoch, item: { kind, epoch: r.epoch, relay: r.relay, bytes } }
    }
    const v = validateAttestation(bytes, {
      network: this.network,
      nowMs,
      seedOf: this.seedOf,
      registryFor: () => this.registry(),
    })
    if (v.verdict === 'accept') {
      const a = v.value
      return {
        outcome: 'accept',
        epoch: a.epoch,
        item: { kind, epoch: a.epoch, relay: a.relay, witness: a.witness, bytes },
      }
    }
    // An ignore that waits means "seed not known yet"; a reject for an unknown relay may be a record still
    // on its way (eligibilityDelay 0). Both are held, not guessed at. Everything else is final.
    if ((v.verdict === 'ignore' && v.waiting) || (v.verdict === 'reject' && this.relayUnknown(bytes))) {
      return { outcome: 'pending', reason: v.reason, epoch: epochOf(kind, bytes) as number }
    }
    return { outcome: v.verdict, reason: v.reason }
  }

  private relayUnknown(bytes: Uint8Array): boolean {
    const a = decodeAttestation(bytes)
    return this.seedOf(a.epoch) !== undefined && !this.registry().has(relayKey(a.relay))
  }

  private enqueue(write: Write, result: IngestResult, settle?: Queued['settle']): Promise<IngestResult> {
    const { promise, resolve, reject } = Promise.withResolvers<IngestResult>()
    this.queue.push({ ...write, result, settle, done: resolve, fail: reject })
    // (a full batch still waits for the caller to finish registering its item in flight)
    if (this.queue.length === MAX_BATCH) queueMicrotask(() => this.flush())
    else this.timer ??= setTimeout(() => this.flush(), COMMIT_WINDOW_MS)
    return promise
  }

  /** Commits everything queued in one transaction, then answers every waiting caller. */
  flush(): void {
    clearTimeout(this.timer)
    this.timer = undefined
    const batch = this.queue
    if (batch.length === 0) return
    this.queue = []
    const items = batch.flatMap(q => (q.item ? [q.item] : []))
    const pending = batch.flatMap(q => (q.pending ? [q.pending] : []))
    const resolved = batch.flatMap(q => (q.resolved ? [q.resolved] : []))
    let written: { inserted: number; equivocations: number }
    try {
      written = this.store.write(items, pending, differs, resolved)
    } catch (err) {
      for (const q of batch) {
        q.settle?.(false)
        q.fail(err)
      }
      return
    }
    this.metrics.commits.inc()
    this.metrics.equivocations.inc(written.equivocations)
    const records = items.filter(i => i.kind === 'relay-record')
    if (records.length > 0) {
      this.records?.push(...records.map(r => decodeRelayRecord(r.bytes)))
      this.registryCache = undefined
    }
    for (const q of batch) {
      q.settle?.(true)
      q.done(q.result)
    }
    if (records.length > 0) this.onRecords()
  }

  /**
   * Re-validates held items whose seed is now known, as of when they arrived. Items of epochs already
   * certified are dropped: the epoch's content is cut. Returns how many were accepted.
   */
  async revalidatePending(isCertified: (epoch: number) => boolean): Promise<number> {
    const waits: Promise<IngestResult>[] = []
    for (const p of this.store.pending()) {
      if (isCertified(p.epoch)) {
        waits.push(this.enqueue({ resolved: p.id }, { outcome: 'ignore', reason: 'epoch already certified' }))
        continue
      }
      if (!this.seedOf(p.epoch)) continue
      const { write, result } = this.judge(p.kind, p.id, p.bytes, p.receivedAt, p.receivedAt, false, p.id)
      waits.push(write ? this.enqueue(write, result) : Promise.resolve(result))
    }
    const results = await Promise.all(waits)
    return results.filter(r => r.outcome === 'accept').length
  }
}

const undecodable: IngestResult = { outcome: 'reject', reason: 'undecodable' }

function epochOf(kind: ItemKind, bytes: Uint8Array): number | undefined {
  try {
    return kind === 'attestation' ? decodeAttestation(bytes).epoch : decodeRelayRecord(bytes).epoch
  } catch {
    return undefined
  }
}
