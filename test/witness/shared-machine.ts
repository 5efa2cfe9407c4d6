// TEST ONLY: several relay identities on one machine: each its own libp2p host on 127.0.0.1, all
// sharing one shaped capacity fairly, as a machine's link shared by fair queueing does: each identity
// that carried bytes in the last 200 ms gets an equal share, one alone gets all of it. (One TokenBucket
// shared by the identities' tunnel servers splits it unfairly between concurrent tunnels: it lets a
// chunk through and pays after, so a tunnel's share follows its chunk sizes and timing.)
// Usage: node --import tsx test/witness/shared-machine.ts --max-bandwidth BYTES_PER_S --dir DIR... [--bootstrap MA]...
import '../../node/host/runtime.ts'
import { parseArgs } from 'node:util'
import { loadDataDir } from '../../node/host/datadir.ts'
import { createHost } from '../../node/host/host.ts'
import { RelayDirectory } from '../../node/network/directory.ts'
import { resolveExit } from '../../node/relay/exit-policy.ts'
import { Meter } from '../../node/relay/meter.ts'
import { RecordPublisher } from '../../node/relay/relay-records.ts'
import { TokenBucket } from '../../node/relay/token-bucket.ts'
import { TunnelServer } from '../../node/relay/tunnel-server.ts'
import { parseHex } from '../../protocol/bytes.ts'

const { values: v } = parseArgs({
  options: {
    dir: { type: 'string', multiple: true },
    'max-bandwidth': { type: 'string' },
    bootstrap: { type: 'string', multiple: true },
  },
})
const rate = Number(v['max-bandwidth'])
const ACTIVE_MS = 200
const lastActive: number[] = []

/** Identity i's part of the machine: a token bucket at the machine's rate over its active identities. */
class FairShare extends TokenBucket {
  private credit: number
  private at = performance.now()

  constructor(private readonly i: number) {
    super(rate)
    this.credit = this.burst
  }

  override take(bytes: number): number {
    const now = performance.now()
    lastActive[this.i] = now
    const active = lastActive.filter(t => now - t < ACTIVE_MS).length
    const share = rate / Math.max(1, active)
    this.credit = Math.min(this.burst / active, this.credit + ((now - this.at) * share) / 1000) - bytes
    this.at = now
    return this.credit >= 0 ? 0 : (-this.credit * 1000) / share
  }
}

const relays = await Promise.all(
  (v.dir ?? []).map(async (dir, i) => {
    const data = loadDataDir(dir)
    const host = await createHost({
      local: true,
      networkId: data.network.id,
      privateKey: data.identity.libp2pKey,
      listen: ['/ip4/127.0.0.1/tcp/0'],
      bootstrap: v.bootstrap ?? [],
    })
    const directory = new RelayDirectory(host, data.network)
    directory.start()
    await new TunnelServer(host, {
      networkId: data.network.id,
      privateKey: data.identity.libp2pKey,
      resolveExit: (target, port) => resolveExit(target, port, { allowPrivate: true }),
      mayDial: () => true,
      meter: new Meter(),
      bucket: new FairShare(i),
    }).start()
    await new RecordPublisher(host, {
      network: data.network,
      identity: data.identity,
      payout: parseHex(data.config.payout as string, 20) as Uint8Array,
      maxBandwidthBps: rate,
      directory,
    }).start()
    return { peerId: host.peerId.toString(), addresses: host.getMultiaddrs().map(String) }
  }),
)
console.log(JSON.stringify({ relays }))
process.on('SIGTERM', () => process.exit(0))
