import { lpStream } from '@libp2p/utils'
import { epochAt } from '../../protocol/epoch.ts'
import type { NetworkDefinition } from '../../protocol/network.ts'
import {
  encodeRelayRecord,
  type ExitSummary,
  type RelayRecord,
  signRelayRecord,
} from '../../protocol/record.ts'
import { rendezvousKey, type RelayDirectory } from '../network/directory.ts'
import { type Host, protocolId, topic } from '../host/host.ts'
import type { Identity } from '../host/identity.ts'

// How soon a relay whose provider record no DHT server took tries again; and how long one attempt may
// take: a provide started before the routing table holds a DHT server waits for one until it times out.
const PROVIDE_RETRY_MS = 5000
const PROVIDE_TIMEOUT_MS = 10_000

export interface RecordPublisherOptions {
  network: NetworkDefinition
  identity: Identity
  /** 20-byte EVM payout address. */
  payout: Uint8Array
  /** The operator's cap in bytes/s, 0 when uncapped. */
  maxBandwidthBps: number
  /** The exit policy to advertise (a version 2 record); without it the record is of version 1. */
  exits?: ExitSummary
  /** The relay's own directory: its own record belongs in it too. */
  directory: RelayDirectory
  republishMs?: number
  now?: () => number
}

/**
 * Keeps this relay's signed record current (a new sequence number whenever its addresses or the epoch
 * change, and at least every `republishMs`), gossips it on the relays topic, serves it over `/record`
 * and provides the network's rendezvous key in the DHT. The addresses are those libp2p announces, which
 * on a network that is not local are only ones dialable from the Internet; while there is none the relay
 * publishes nothing, so it is neither registered nor assigned witnesses that could not reach it.
 */
export class RecordPublisher {
  private record: RelayRecord | undefined
  /** the last record gossiped: a record signed when /status or `/record` asked for it is still news */
  private gossiped: RelayRecord | undefined
  /** the last sequence number signed: a record after a spell without one still supersedes the old */
  private seq = 0
  private timer: NodeJS.Timeout | undefined
  private genesisTimer: NodeJS.Timeout | undefined
  private provided = false
  private providing = false
  private provideTimer: NodeJS.Timeout | undefined
  private readonly now: () => number
  private maxBandwidthBps: number
  private exits: ExitSummary | undefined

  constructor(
    private readonly host: Host,
    private readonly options: RecordPublisherOptions,
  ) {
    this.now = options.now ?? Date.now
    this.maxBandwidthBps = options.maxBandwidthBps
    this.exits = options.exits
  }

  /** The current record; undefined while the relay has no dialable address. */
  get current(): RelayRecord | undefined {
    return this.refresh()
  }

  async start(): Promise<void> {
    const protocol = protocolId(this.options.network.id, 'record')
    await this.host.handle(protocol, async stream => {
      try {
        const record = this.refresh()
        if (record === undefined) throw new Error('no dialable address: no record to serve')
        await lpStream(stream).write(encodeRelayRecord(record), { signal: AbortSignal.timeout(5000) })
        await stream.close({ signal: AbortSignal.timeout(5000) })
      } catch (err) {
        stream.abort(err as Error)
      }
    })
    this.host.addEventListener('self:peer:update', () => this.tick())
    const { network } = this.options
    const republishMs = this.options.republishMs ?? Math.min(60_000, network.epochSeconds * 500)
    this.timer = setInterval(() => this.tick(true), republishMs)
    this.timer.unref()
    // Before genesis no record is timely, so validators would reject it (and penalise us): wait.
    const untilGenesis = network.genesis - this.now()
    if (untilGenesis > 0) {
      this.genesisTimer = setTimeout(() => this.tick(true), untilGenesis + 100)
      this.genesisTimer.unref()
    }
    this.tick(true)
  }

  /** A new operator cap: re-signed and gossiped now. */
  setMaxBandwidth(bytesPerSecond: number): void {
    if (bytesPerSecond === this.maxBandwidthBps) return
    this.maxBandwidthBps = bytesPerSecond
    this.tick(true)
  }

  /** A new exit policy: re-signed and gossiped now. */
  setExits(exits: ExitSummary): void {
    if (JSON.stringify(exits) === JSON.stringify(this.exits)) return
    this.exits = exits
    this.tick(true)
  }

  stop(): void {
    clearInterval(this.timer)
    clearTimeout(this.genesisTimer)
    clearTimeout(this.provideTimer)
  }

  /** Re-signs when anything in the record changed; returns the current record, if there is one. */
  private refresh(force = false): RelayRecord | undefined {
    const { network, identity, payout } = this.options
    const maxBandwidthBps = this.maxBandwidthBps
    const now = this.now()
    const addrs = this.host
      .getMultiaddrs()
      .map(a => a.toString())
      .slice(0, 16)
    const epoch = Math.max(0, epochAt(network, now))
    const old = this.record
    if (addrs.length === 0) {
      this.record = undefined
      return undefined
    }
    if (!force && old && old.epoch === epoch && old.addrs.join(' ') === addrs.join(' ')) return old
    this.record = signRelayRecord(
      {
        net: network.id,
        relay: identity.peerIdBytes,
        epoch,
        seq: Math.max(now, this.seq + 1),
        addrs,
        payout,
        maxBandwidthBps,
        ...(this.exits ? { exits: this.exits } : {}),
      },
      identity.key.seed,
    )
    this.seq = this.record.seq
    this.options.directory.add(this.record)
    return this.record
  }

  private tick(force = false): void {
    const record = this.refresh(force)
    if (record === undefined) return
    if (record !== this.gossiped && epochAt(this.options.network, this.now()) >= 0) {
      this.gossiped = record
      this.host.services.pubsub
        .publish(topic(this.options.network.id, 'relays'), encodeRelayRecord(record))
        .catch(() => {})
    }
    if (!this.provided && !this.providing) {
      this.providing = true
      this.provide()
        .catch(() => false)
        .then(reached => {
          this.providing = false
          this.provided = reached
          if (reached || this.host.status !== 'started') return
          clearTimeout(this.provideTimer)
          this.provideTimer = setTimeout(() => this.tick(), PROVIDE_RETRY_MS)
          this.provideTimer.unref()
        })
    }
  }

  /**
   * Provides the rendezvous key; resolves with whether a DHT server took the provider record. A relay
   * that provides before it knows one (its bootstrap peers are still being dialled, or none serves the
   * DHT yet) stores the record only itself, where nobody looks: it tries again until one takes it.
   */
  private async provide(): Promise<boolean> {
    const key = await rendezvousKey(this.options.network.id)
    let reached = 0
    for await (const event of this.host.services.dht.provide(key, {
      signal: AbortSignal.timeout(PROVIDE_TIMEOUT_MS),
    }))
      if (event.name === 'PEER_RESPONSE' && event.messageName === 'ADD_PROVIDER') reached++
    return reached > 0
  }
}
