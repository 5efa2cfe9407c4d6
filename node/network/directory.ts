import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { type Datastore, Key } from 'interface-datastore'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { epochAt } from '../../protocol/epoch.ts'
import type { NetworkDefinition } from '../../protocol/network.ts'
import { peerIdToString } from '../../protocol/peer.ts'
import {
  decodeRelayRecord,
  encodeRelayRecord,
  MAX_RELAY_RECORD_BYTES,
  type RelayRecord,
  verifyRelayRecord,
} from '../../protocol/record.ts'
import { validateRelayRecord } from '../../protocol/validate.ts'
import { type Host, protocolId, topic } from '../host/host.ts'
import { RecordLimits } from './record-limits.ts'

/** What a client or witness knows about one relay. */
export interface KnownRelay {
  peerId: string
  record: RelayRecord
  /** Latest measured capacity in bytes/s (from attestations or the ledger), when known. */
  capacityBps?: number
}

const RAW_CODEC = 0x55
const STORED = '/weir/relays'
const FETCH_TIMEOUT_MS = 5000
const DISCOVER_TIMEOUT_MS = 20_000

/** The DHT key every relay of a network provides, so clients can find relays without a list. */
export async function rendezvousKey(networkId: string): Promise<CID> {
  return CID.createV1(RAW_CODEC, await sha256.digest(new TextEncoder().encode(`weir/${networkId}/relays`)))
}

/**
 * The relays a node knows: signed relay records from the relays topic, from `/record` fetches (of
 * every peer that identifies as serving it) and from DHT rendezvous lookups; the highest sequence
 * number per relay wins. Their addresses go into the peer store so tunnels (and next hops) can dial them.
 *
 * Gossip is judged by the protocol's validateRelayRecord, timeliness included, exactly as ledgers judge
 * it: a record forwarded here that a ledger rejected would cost this node its score there. Given only the
 * network id (a proxy that learnt nothing else), the directory cannot judge timeliness: it keeps the
 * records it hears for itself and forwards none.
 */
export class RelayDirectory {
  private readonly relays = new Map<string, KnownRelay>()
  private readonly networkId: string
  private readonly network: NetworkDefinition | undefined
  private readonly topicName: string
  private readonly recordProtocol: string
  private readonly limits: RecordLimits

  /**
   * `store`, when given, keeps every record this directory takes, so a restart begins with them
   * (restore()); stale ones then age out by `fresh` like any other.
   */
  constructor(
    private readonly host: Host,
    network: NetworkDefinition | string,
    private readonly now: () => number = Date.now,
    private readonly store?: Datastore,
  ) {
    this.networkId = typeof network === 'string' ? network : network.id
    this.network = typeof network === 'string' ? undefined : network
    this.topicName = topic(this.networkId, 'relays')
    this.recordProtocol = protocolId(this.networkId, 'record')
    this.limits = new RecordLimits(host, now)
  }

  start(): void {
    const pubsub = this.host.services.pubsub
    pubsub.topicValidators.set(this.topicName, (from, message) => {
      const admission = this.limits.admitGossip(from, message)
      if (admission === 'penalise') return TopicValidatorResult.Reject
      if (admission === 'ignore') return TopicValidatorResult.Ignore
      const verdict = this.judge(message.data)
      if (verdict === 'reject') return TopicValidatorResult.Reject
      if (verdict === 'ignore') return TopicValidatorResult.Ignore
      const known = this.relays.get(peerIdToString(verdict.relay))
      if ((known && known.record.seq >= verdict.seq) || !this.limits.admitRecord(verdict.relay)) {
        return TopicValidatorResult.Ignore
      }
      this.add(verdict)
      return this.network ? TopicValidatorResult.Accept : TopicValidatorResult.Ignore
    })
    pubsub.subscribe(this.topicName)
    this.host.addEventListener('peer:identify', evt => {
      if (evt.detail.protocols.includes(this.recordProtocol)) {
        this.fetch(evt.detail.peerId).catch(() => {})
      }
    })
  }

  /** Takes back the records kept in the store, each checked again as if just fetched. */
  async restore(): Promise<number> {
    let restored = 0
    for await (const { value } of this.store?.query({ prefix: STORED }) ?? []) {
      const record = this.check(value)
      if (record !== undefined && this.take(record)) restored++
    }
    return restored
  }

  /** Known relays, best first by measured capacity (unmeasured last). */
  list(): KnownRelay[] {
    return [...this.relays.values()].sort((a, b) => (b.capacityBps ?? -1) - (a.capacityBps ?? -1))
  }

  /**
   * Known relays whose record is at most `maxAgeEpochs` epochs older than the current epoch: by the
   * network's clock when this directory knows it, else the median epoch of the records it holds (a relay
   * that stopped republishing falls behind the others, and no one relay can push the rest out by signing
   * a record of a future epoch). A relay republishes at least every half epoch.
   */
  fresh(maxAgeEpochs: number): KnownRelay[] {
    const all = this.list()
    const epochs = all.map(r => r.record.epoch).sort((a, b) => a - b)
    const current = this.network
      ? epochAt(this.network, this.now())
      : (epochs[Math.floor(epochs.length / 2)] ?? 0)
    return all.filter(r => r.record.epoch >= current - maxAgeEpochs)
  }

  /** How many relays are known. */
  get size(): number {
    return this.relays.size
  }

  get(peerId: string): KnownRelay | undefined {
    return this.relays.get(peerId)
  }

  /** Records a measured capacity (from a witness's attestations or the ledger's tally). */
  setCapacity(peerId: string, capacityBps: number): void {
    const known = this.relays.get(peerId)
    if (known) known.capacityBps = capacityBps
  }

  /** Adds a verified record if it is newer than what we have (and keeps it); returns whether it was. */
  add(record: RelayRecord): boolean {
    if (!this.take(record)) return false
    const store = this.store
    if (store)
      Promise.resolve()
        .then(() =>
          store.put(new Key(`${STORED}/${peerIdToString(record.relay)}`), encodeRelayRecord(record)),
        )
        .catch(() => {})
    return true
  }

  private take(record: RelayRecord): boolean {
    const peerId = peerIdToString(record.relay)
    const known = this.relays.get(peerId)
    if (known && known.record.seq >= record.seq) return false
    this.relays.set(peerId, { peerId, record, capacityBps: known?.capacityBps })
    const addrs = record.addrs.flatMap(a => {
      try {
        return [multiaddr(a)]
      } catch {
        return []
      }
    })
    this.host.peerStore.merge(peerIdFromString(peerId), { multiaddrs: addrs }).catch(() => {})
    return true
  }

  /** Fetches a relay's current record over `/record` and adds it. */
  async fetch(peer: PeerId): Promise<KnownRelay | undefined> {
    const signal = AbortSignal.timeout(FETCH_TIMEOUT_MS)
    const stream = await this.host.dialProtocol(peer, this.recordProtocol, { signal })
    try {
      const bytes = await lpStream(stream, { maxDataLength: MAX_RELAY_RECORD_BYTES }).read({ signal })
      const record = this.check(bytes.subarray())
      if (record === undefined || peerIdToString(record.relay) !== peer.toString()) {
        throw new Error(`${peer} served an invalid relay record`)
      }
      this.add(record)
      await stream.close({ signal })
    } catch (err) {
      stream.abort(err as Error)
      throw err
    }
    return this.relays.get(peer.toString())
  }

  /** Runs discover() now and every `everyMs` after, until the returned function is called. */
  keepDiscovering(everyMs: number): () => void {
    const once = () => this.discover({ signal: AbortSignal.timeout(DISCOVER_TIMEOUT_MS) }).catch(() => {})
    once()
    const timer = setInterval(once, everyMs)
    return () => clearInterval(timer)
  }

  /** Asks the DHT for providers of the network's rendezvous key and fetches their records. */
  async discover(options: { signal?: AbortSignal } = {}): Promise<void> {
    const key = await rendezvousKey(this.networkId)
    const fetches: Promise<unknown>[] = []
    for await (const provider of this.host.contentRouting.findProviders(key, options)) {
      if (provider.id.equals(this.host.peerId)) continue
      if (provider.multiaddrs.length > 0) {
        await this.host.peerStore.merge(provider.id, { multiaddrs: provider.multiaddrs }).catch(() => {})
      }
      fetches.push(this.fetch(provider.id).catch(() => {}))
    }
    await Promise.all(fetches)
  }

  /** A gossiped record: the protocol's verdict, or without the epoch clock our own check and no forwarding. */
  private judge(bytes: Uint8Array): RelayRecord | 'ignore' | 'reject' {
    if (!this.network) return this.check(bytes) ?? 'reject'
    const v = validateRelayRecord(bytes, { network: this.network, nowMs: this.now() })
    return v.verdict === 'accept' ? v.value : v.verdict
  }

  /**
   * A record straight from its relay (`/record`): well-formed, of this network, self-signed. Not judged
   * for timeliness: it is never forwarded, and it is the relay's own current word on where to reach it.
   */
  private check(bytes: Uint8Array): RelayRecord | undefined {
    try {
      const record = decodeRelayRecord(bytes)
      return record.net === this.networkId && verifyRelayRecord(record) ? record : undefined
    } catch {
      return undefined
    }
  }
}
