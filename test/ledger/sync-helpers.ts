import { identify } from '@libp2p/identify'
import type { Libp2p } from '@libp2p/interface'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'
import { compareBytes, toHex, u64be } from '../../protocol/bytes.ts'
import { itemId } from '../../protocol/record.ts'
import type { SyncItem, SyncSource } from '../../ledger/sync.ts'

export async function createNode(): Promise<Libp2p> {
  return createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify() },
  })
}

/** The n-th test item: a stand-in body (the sync component does not validate bodies; its caller does). */
export function item(n: number): SyncItem {
  return { kind: n % 7 === 0 ? 'relay-record' : 'attestation', bytes: u64be(n) }
}

/** An in-memory epoch content: the SyncSource the component is tested against. */
export class MemorySource implements SyncSource {
  private readonly items = new Map<string, { id: Uint8Array; body: SyncItem }>()
  private sorted: Uint8Array[] | undefined

  constructor(items: Iterable<SyncItem> = []) {
    for (const i of items) this.add(i)
  }

  static of(numbers: Iterable<number>): MemorySource {
    const source = new MemorySource()
    for (const n of numbers) source.add(item(n))
    return source
  }

  add(body: SyncItem): void {
    const id = itemId(body.kind, body.bytes)
    this.items.set(toHex(id), { id, body })
    this.sorted = undefined
  }

  ids(): Uint8Array[] {
    this.sorted ??= [...this.items.values()].map(i => i.id).sort(compareBytes)
    return this.sorted
  }

  bodies(_epoch: number, ids: Uint8Array[]): SyncItem[] {
    return ids.flatMap(id => this.items.get(toHex(id))?.body ?? [])
  }

  /** the ids as hex, sorted, for comparing sets */
  keys(): string[] {
    return [...this.items.keys()].sort()
  }
}

export const hexIds = (ids: Uint8Array[]): string[] => ids.map(toHex).sort()
