// TEST ONLY: a relay that cheats, for the witness adversary tests. It runs the real tunnel server, record
// publisher and directory, and misbehaves as the environment says (read here and nowhere else):
//   WEIR_TEST_FAVOUR_PEERS=<peerId>,…  shape every tunnel to --max-bandwidth, except tunnels opened
//                                      directly by these peers (the witnesses it knows), which run unshaped
//   WEIR_TEST_FLIP_BITS=1              flip one bit in every relayed chunk of 1 KiB or more from the client
// Usage: node --import tsx test/witness/rogue-relay.ts --dir DIR --max-bandwidth BYTES_PER_S [--bootstrap MA]
import '../../node/host/runtime.ts'
import type { Connection, Stream, StreamHandler } from '@libp2p/interface'
import { parseArgs } from 'node:util'
import { loadDataDir } from '../../node/host/datadir.ts'
import { RelayDirectory } from '../../node/network/directory.ts'
import { resolveExit } from '../../node/relay/exit-policy.ts'
import { createHost, type Host, protocolId } from '../../node/host/host.ts'
import { Meter } from '../../node/relay/meter.ts'
import { RecordPublisher } from '../../node/relay/relay-records.ts'
import { TokenBucket } from '../../node/relay/token-bucket.ts'
import { TunnelServer } from '../../node/relay/tunnel-server.ts'
import { parseHex } from '../../protocol/bytes.ts'

const favoured = new Set((process.env.WEIR_TEST_FAVOUR_PEERS ?? '').split(',').filter(Boolean))
const flipBits = process.env.WEIR_TEST_FLIP_BITS === '1'

const { values: v } = parseArgs({
  options: {
    dir: { type: 'string' },
    'max-bandwidth': { type: 'string' },
    bootstrap: { type: 'string', multiple: true },
  },
})
const data = loadDataDir(v.dir as string)
const rate = Number(v['max-bandwidth'])
const host = await createHost({
  networkId: data.network.id,
  privateKey: data.identity.libp2pKey,
  listen: ['/ip4/127.0.0.1/tcp/0'],
  bootstrap: v.bootstrap ?? [],
})
const directory = new RelayDirectory(host, data.network)
directory.start()

/** A tunnel server whose handler we call ourselves, so tunnels can be routed between two of them. */
async function tunnelServer(bucket: TokenBucket | undefined): Promise<StreamHandler> {
  let handler: StreamHandler | undefined
  const capture = new Proxy(host, {
    get: (target, key) =>
      key === 'handle'
        ? async (_protocol: string, h: StreamHandler) => {
            handler = h
          }
        : Reflect.get(target, key),
  }) as Host
  await new TunnelServer(capture, {
    networkId: data.network.id,
    resolveExit: (target, port) => resolveExit(target, port, { allowPrivate: true }),
    meter: new Meter(),
    bucket,
  }).start()
  return handler as StreamHandler
}

/** Flips a bit in the middle of every large chunk the client sends. */
function corrupt(stream: Stream): void {
  const dispatch = stream.dispatchEvent.bind(stream)
  stream.dispatchEvent = (evt: Event) => {
    const data = (evt as Event & { data?: Uint8Array | { byteLength: number; subarray(): Uint8Array } }).data
    if (evt.type === 'message' && data !== undefined && data.byteLength >= 1024) {
      const bytes = data instanceof Uint8Array ? data : data.subarray()
      const mid = bytes.length >> 1
      bytes[mid] = (bytes[mid] as number) ^ 0x10
      if (!(data instanceof Uint8Array)) Object.defineProperty(evt, 'data', { value: bytes })
    }
    return dispatch(evt)
  }
}

const shaped = await tunnelServer(new TokenBucket(rate))
const unshaped = await tunnelServer(undefined)
await host.handle(
  protocolId(data.network.id, 'tunnel'),
  (stream: Stream, connection: Connection) => {
    if (flipBits) corrupt(stream)
    const fast = favoured.has(connection.remotePeer.toString())
    return (fast ? unshaped : shaped)(stream, connection)
  },
  { maxInboundStreams: 300 },
)
const publisher = new RecordPublisher(host, {
  network: data.network,
  identity: data.identity,
  payout: parseHex(data.config.payout as string, 20) as Uint8Array,
  maxBandwidthBps: rate,
  directory,
})
await publisher.start()
console.log(JSON.stringify({ peerId: host.peerId.toString(), addresses: host.getMultiaddrs().map(String) }))
process.on('SIGTERM', () => process.exit(0))
