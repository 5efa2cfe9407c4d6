import { identify } from '@libp2p/identify'
import type { Libp2p } from '@libp2p/interface'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { lpStream } from '@libp2p/utils'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'
import { compareBytes, toHex, u64be } from '../protocol/bytes.ts'
import { itemId } from '../protocol/record.ts'
import { handleSync, type SyncItem, type SyncSource, syncEpoch } from '../ledger/sync.ts'
import { MAX_MESSAGE_BYTES } from '../ledger/sync-wire.ts'

// Anti-entropy cost against the naive baseline (the responder sends every id it holds), both over the
// same libp2p connection in one run. Each side holds 100,000 ids; `difference` is the size of the
// symmetric difference (half missing on each side). Bodies are 8-byte stand-ins, so bytes are
// dominated by the reconciliation itself.

const SET_SIZE = 100_000
const DIFFERENCES = [0, 10, 100, 1_000, 10_000]
const EPOCH = 1
const SYNC = '/weir/bench/sync/1.0.0'
const NAIVE = '/weir/bench/naive-ids/1.0.0'

interface Entry {
  id: Uint8Array
  body: SyncItem
}

class Source implements SyncSource {
  private readonly sorted: Uint8Array[]
  private readonly byId: Map<string, SyncItem>
  constructor(entries: Entry[]) {
    this.sorted = entries.map(e => e.id).sort(compareBytes)
    this.byId = new Map(entries.map(e => [toHex(e.id), e.body]))
  }
  ids() {
    return this.sorted
  }
  bodies(_epoch: number, ids: Uint8Array[]) {
    return ids.flatMap(id => this.byId.get(toHex(id)) ?? [])
  }
}

const node = (): Promise<Libp2p> =>
  createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify() },
  })

/** The naive responder: all ids, concatenated, in frames of at most one sync message. */
async function serveNaive(server: Libp2p, current: () => Source) {
  await server.handle(NAIVE, async stream => {
    const lp = lpStream(stream, { maxDataLength: MAX_MESSAGE_BYTES })
    const all = Buffer.concat(current().ids())
    for (let at = 0; at < all.length; at += MAX_MESSAGE_BYTES)
      await lp.write(all.subarray(at, at + MAX_MESSAGE_BYTES))
    await stream.close()
  })
}

async function naiveBytes(client: Libp2p, server: Libp2p): Promise<number> {
  const stream = await client.dialProtocol(server.getMultiaddrs()[0]!, NAIVE)
  let bytes = 0
  for await (const chunk of stream) bytes += chunk.byteLength
  await stream.close()
  return bytes
}

export interface SyncRow {
  difference: number
  rounds: number
  bytes: number
  naiveBytes: number
  /** bytes / (difference × 32 B), null for no difference */
  perDifferingId: number | null
  vsNaive: number
}

/** Reconciles two sets of SET_SIZE ids differing in `difference` ids, for each difference given. */
export async function measureSync(differences: readonly number[]): Promise<SyncRow[]> {
  const pool: Entry[] = Array.from({ length: SET_SIZE + Math.max(...differences) / 2 }, (_, n) => {
    const body: SyncItem = { kind: 'attestation', bytes: u64be(n) }
    return { id: itemId(body.kind, body.bytes), body }
  })
  const [client, server] = await Promise.all([node(), node()])
  let serving = new Source([])
  await handleSync(server, SYNC, { ids: () => serving.ids(), bodies: (e, ids) => serving.bodies(e, ids) })
  await serveNaive(server, () => serving)
  const rows: SyncRow[] = []
  try {
    for (const difference of differences) {
      const half = difference / 2
      const mine = new Source(pool.slice(0, SET_SIZE))
      serving = new Source(pool.slice(half, SET_SIZE + half))
      const naive = await naiveBytes(client, server)
      let received = 0
      const r = await syncEpoch(client, server.getMultiaddrs()[0]!, SYNC, EPOCH, mine, items => {
        received += items.length
      })
      if (received !== half || r.theyLack.length !== half)
        throw new Error(`wrong difference at d=${difference}`)
      const bytes = r.bytesSent + r.bytesReceived
      rows.push({
        difference,
        rounds: r.rounds,
        bytes,
        naiveBytes: naive,
        perDifferingId: difference > 0 ? Number((bytes / (difference * 32)).toFixed(2)) : null,
        vsNaive: Number((bytes / naive).toFixed(4)),
      })
    }
  } finally {
    await Promise.all([client.stop(), server.stop()])
  }
  return rows
}

export async function main(): Promise<void> {
  const rows = await measureSync(DIFFERENCES)
  for (const row of rows) {
    console.log(
      `d=${String(row.difference).padStart(6)}  rounds ${String(row.rounds).padStart(3)}  ` +
        `bytes ${String(row.bytes).padStart(9)}  naive ${row.naiveBytes}  bytes/(d×32 B) ${row.perDifferingId ?? '—'}  ` +
        `bytes/naive ${row.vsNaive}`,
    )
  }
  console.log(JSON.stringify({ bench: 'sync', setSize: SET_SIZE, rows }))
}
