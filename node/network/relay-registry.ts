import type { GossipSub } from '@libp2p/gossipsub'
import type { NetworkDefinition } from '../../protocol/network.ts'
import { peerIdToString } from '../../protocol/peer.ts'
import type { RelayRecord } from '../../protocol/record.ts'
import { buildRegistry, type Registry } from '../../protocol/registry.ts'
import { validateRelayRecord } from '../../protocol/validate.ts'

/**
 * The relay registry as this node has gathered it: the network's genesis relays plus valid relay records
 * from the relays topic. Per relay it keeps the earliest record (when it registered) and the newest (its
 * payout and caps), which is all buildRegistry needs. An approximation of the certified registry (docs/PROTOCOL.md §8)
 * that can lag it, which is why the attestations topic ignores rather than rejects unknown relays.
 */
export class RelayRegistry {
  private readonly earliest = new Map<string, RelayRecord>()
  private readonly newest = new Map<string, RelayRecord>()
  private cache: { epoch: number; version: number; registry: Registry } | undefined
  private version = 0

  constructor(
    private readonly network: NetworkDefinition,
    private readonly now: () => number = Date.now,
  ) {}

  add(record: RelayRecord): void {
    const key = peerIdToString(record.relay)
    const first = this.earliest.get(key)
    const last = this.newest.get(key)
    if (first && last && first.epoch <= record.epoch && last.seq >= record.seq) return
    if (!first || record.epoch < first.epoch) this.earliest.set(key, record)
    if (!last || record.seq > last.seq) this.newest.set(key, record)
    this.version++
  }

  /** The registry for `epoch`: records published after it are left out. */
  registryFor(epoch: number): Registry {
    if (this.cache?.epoch === epoch && this.cache.version === this.version) return this.cache.registry
    const records = [...this.earliest.values(), ...this.newest.values()].filter(r => r.epoch <= epoch)
    const registry = buildRegistry(this.network, records)
    this.cache = { epoch, version: this.version, registry }
    return registry
  }

  /** The newest record of a relay, when one has been seen. */
  record(peerId: string): RelayRecord | undefined {
    return this.newest.get(peerId)
  }

  /** Collects the records that arrive on the relays topic (whoever validates that topic on this host). */
  watch(pubsub: GossipSub): void {
    const relays = `weir/${this.network.id}/relays/1`
    pubsub.addEventListener('message', evt => {
      if (evt.detail.topic !== relays) return
      const verdict = validateRelayRecord(evt.detail.data, { network: this.network, nowMs: this.now() })
      if (verdict.verdict === 'accept') this.add(verdict.value)
    })
    pubsub.subscribe(relays)
  }
}
