// TEST ONLY: a relay that cheats, for the witness adversary tests. It runs the real tunnel server, record
// publisher and directory, and misbehaves as the environment says (read here and nowhere else):
//   WEIR_TEST_FAVOUR_PEERS=<peerId>,…  shape every tunnel to --max-bandwidth, except tunnels opened
//                                      directly by these peers (the witnesses it knows), which run unshaped
//   WEIR_TEST_FLIP_BITS=1              flip one bit in every chunk of 1 KiB or more it writes to an exit
//                                      target (the client's bytes, after any channel's decryption)
//   WEIR_TEST_HOP=fail                 as a circuit's first relay, answer 'hop-failed' to every hop request
//   WEIR_TEST_HOP=forge-refused        as a circuit's first relay, reach the next relay, then replace its
//                                      reply with a forged 'refused'
//   WEIR_TEST_RECORD=<file>            (honest too) append a JSON line per inbound tunnel: the remote PeerId
//                                      and the sizes of the client's first four messages
//   WEIR_TEST_TRAFFIC_FACTOR=<n>       report n times the bytes it carried to witnesses asking for its
//                                      traffic (background credit); 1, the truth, by default
// Usage: node --import tsx test/witness/rogue-relay.ts --dir DIR --max-bandwidth BYTES_PER_S [--listen MA] [--bootstrap MA]
import '../../node/host/runtime.ts'
import type { Connection, Stream, StreamHandler } from '@libp2p/interface'
import { appendFileSync } from 'node:fs'
import { syncBuiltinESMExports } from 'node:module'
import net, { type Socket } from 'node:net'
import { parseArgs } from 'node:util'
import { loadDataDir } from '../../node/host/datadir.ts'
import { RelayDirectory } from '../../node/network/directory.ts'
import { resolveExit } from '../../node/relay/exit-policy.ts'
import { createHost, type Host, protocolId } from '../../node/host/host.ts'
import { Meter } from '../../node/relay/meter.ts'
import { TrafficLog } from '../../node/relay/traffic-log.ts'
import { RecordPublisher } from '../../node/relay/relay-records.ts'
import { TokenBucket } from '../../node/relay/token-bucket.ts'
import { TunnelServer } from '../../node/relay/tunnel-server.ts'
import { encodeReply } from '../../node/tunnel/wire.ts'
import { parseHex } from '../../protocol/bytes.ts'

const favoured = new Set((process.env.WEIR_TEST_FAVOUR_PEERS ?? '').split(',').filter(Boolean))
const flipBits = process.env.WEIR_TEST_FLIP_BITS === '1'
const hopMode = process.env.WEIR_TEST_HOP
const recordTo = process.env.WEIR_TEST_RECORD
const trafficFactor = Number(process.env.WEIR_TEST_TRAFFIC_FACTOR ?? '1')

const { values: v } = parseArgs({
  options: {
    dir: { type: 'string' },
    'max-bandwidth': { type: 'string' },
    listen: { type: 'string', default: '/ip4/127.0.0.1/tcp/0' },
    bootstrap: { type: 'string', multiple: true },
  },
})
const data = loadDataDir(v.dir as string)
const rate = Number(v['max-bandwidth'])
const host = await createHost({
  local: true,
  networkId: data.network.id,
  privateKey: data.identity.libp2pKey,
  listen: [v.listen as string],
  bootstrap: v.bootstrap ?? [],
})
const directory = new RelayDirectory(host, data.network)
directory.start()
const meter = new Meter()

type MessageData = Uint8Array | { byteLength: number; subarray(): Uint8Array }

/** Calls `inspect` with the data of each message the stream receives, and delivers what it returns. */
function onMessages(stream: Stream, inspect: (data: MessageData) => MessageData): void {
  const dispatch = stream.dispatchEvent.bind(stream)
  stream.dispatchEvent = (evt: Event) => {
    const data = (evt as Event & { data?: MessageData }).data
    if (evt.type === 'message' && data !== undefined) {
      const replaced = inspect(data)
      if (replaced !== data) Object.defineProperty(evt, 'data', { value: replaced })
    }
    return dispatch(evt)
  }
}

/** A length-prefixed frame, as lpStream writes it. */
function frame(bytes: Uint8Array): Uint8Array {
  const prefix = bytes.length < 128 ? [bytes.length] : [(bytes.length & 0x7f) | 0x80, bytes.length >> 7]
  return Uint8Array.from([...prefix, ...bytes])
}

/** Replaces the first message the next relay sends (its reply) with a forged 'refused'. */
function forgeReply(stream: Stream): Stream {
  let forged = false
  onMessages(stream, data => {
    if (forged) return data
    forged = true
    return frame(encodeReply('refused'))
  })
  return stream
}

/** `connection`, whose new streams forge the next relay's reply. */
function forging(connection: Connection): Connection {
  return new Proxy(connection, {
    get: (target, key) => {
      if (key === 'newStream')
        return async (...args: Parameters<Connection['newStream']>) =>
          forgeReply(await target.newStream(...args))
      const value = Reflect.get(target, key)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}

/**
 * What the tunnel server sees of this host's dialling when it opens a circuit's next hop: nothing
 * reachable (fail), or connections whose streams forge the next relay's reply (forge-refused). Both the
 * ways a tunnel server reaches the next relay are covered: a protocol dial by PeerId, or a connection
 * (found or dialled) and a new stream on it.
 */
function hopDialling(): Partial<Pick<Host, 'dialProtocol' | 'dial' | 'getConnections'>> {
  if (hopMode === 'fail') {
    const refuse = async (): Promise<never> => {
      throw new Error('rogue relay: no hops')
    }
    return { dialProtocol: refuse, dial: refuse, getConnections: () => [] }
  }
  if (hopMode !== 'forge-refused') return {}
  return {
    dialProtocol: (async (...args: Parameters<Host['dialProtocol']>) =>
      forgeReply(await host.dialProtocol(...args))) as Host['dialProtocol'],
    dial: (async (...args: Parameters<Host['dial']>) => forging(await host.dial(...args))) as Host['dial'],
    getConnections: (...args: Parameters<Host['getConnections']>) =>
      host.getConnections(...args).map(forging),
  }
}

/** A tunnel server whose handler we call ourselves, so tunnels can be routed between two of them. */
async function tunnelServer(bucket: TokenBucket | undefined): Promise<StreamHandler> {
  let handler: StreamHandler | undefined
  const dialling: Record<string | symbol, unknown> = hopDialling()
  const capture = new Proxy(host, {
    get: (target, key) =>
      key === 'handle'
        ? async (_protocol: string, h: StreamHandler) => {
            handler = h
          }
        : (dialling[key] ?? Reflect.get(target, key)),
  }) as Host
  await new TunnelServer(capture, {
    networkId: data.network.id,
    privateKey: data.identity.libp2pKey,
    resolveExit: (target, port) => resolveExit(target, port, { allowPrivate: true }),
    mayDial: () => true,
    meter,
    bucket,
  }).start()
  return handler as StreamHandler
}

/**
 * Makes the tunnel server's exit sockets flip a bit in the middle of every large chunk written to them,
 * after the relay decrypted the client's channel (a relay can only corrupt the plain bytes it carries).
 * The tunnel server calls `connect` as a named import of node:net: that binding is replaced (from the
 * module object, by syncBuiltinESMExports) and the module object's own `connect`, which libp2p's TCP
 * transport uses, is put back.
 */
function corruptExits(): void {
  const connect = net.connect
  net.connect = ((...args: Parameters<typeof net.connect>) => {
    const socket = connect(...args)
    const write = socket.write.bind(socket) as (chunk: unknown, ...rest: unknown[]) => boolean
    socket.write = ((chunk: Uint8Array, ...rest: unknown[]) => {
      if (chunk.byteLength >= 1024) {
        const mid = chunk.byteLength >> 1
        chunk[mid] = (chunk[mid] as number) ^ 0x10
      }
      return write(chunk, ...rest)
    }) as Socket['write']
    return socket
  }) as typeof net.connect
  syncBuiltinESMExports()
  net.connect = connect
}

/** Appends what an inbound tunnel showed of its client: who it is and the sizes of its first messages. */
function record(stream: Stream, connection: Connection, file: string): void {
  const sizes: number[] = []
  let written = false
  const write = () => {
    if (written) return
    written = true
    appendFileSync(file, `${JSON.stringify({ remotePeer: connection.remotePeer.toString(), sizes })}\n`)
  }
  onMessages(stream, data => {
    if (sizes.length < 4) sizes.push(data.byteLength)
    if (sizes.length === 4) write()
    return data
  })
  stream.addEventListener('close', write, { once: true })
}

if (flipBits) corruptExits()
const shaped = await tunnelServer(new TokenBucket(rate))
const unshaped = await tunnelServer(undefined)
await host.handle(
  protocolId(data.network.id, 'tunnel'),
  (stream: Stream, connection: Connection) => {
    if (recordTo) record(stream, connection, recordTo)
    const fast = favoured.has(connection.remotePeer.toString())
    return (fast ? unshaped : shaped)(stream, connection)
  },
  { maxInboundStreams: 300 },
)
const traffic = new TrafficLog(() => ({
  bytesIn: meter.total.bytesIn * trafficFactor,
  bytesOut: meter.total.bytesOut * trafficFactor,
}))
traffic.start()
await traffic.serve(host, data.network.id)
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
