// TEST ONLY: floods the relays topic with validly signed relay records from fresh keys, for the ledger's
// flood test. It runs in its own process so that its signing and sending do not count against the ledger.
// Prints {"ready":true} once in a ledger's relays mesh; on the stdin line "go E" it signs the records for
// epoch E, publishes them all unpaced, prints {"published":N,"ms":T} and keeps its connection until killed.
// Usage: node --import tsx test/ledger/flooder.ts --network FILE --dial MULTIADDR --count N
import '../../node/host/runtime.ts'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Stream } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { readNetworkFile } from '../../node/host/datadir.ts'
import { createHost, topic } from '../../node/host/host.ts'
import { generateEd25519 } from '../../protocol/ed25519.ts'
import { peerIdOfPublicKey } from '../../protocol/peer.ts'
import { encodeRelayRecord, signRelayRecord } from '../../protocol/record.ts'

// the gossipsub class has getMeshPeers; its public interface does not declare it
const meshPeers = (pubsub: unknown, name: string): number =>
  (pubsub as { getMeshPeers(topic: string): string[] }).getMeshPeers(name).length

const { values: v } = parseArgs({
  options: {
    network: { type: 'string' },
    dial: { type: 'string' },
    count: { type: 'string' },
  },
})
const network = readNetworkFile(v.network as string)
const keys = Array.from({ length: Number(v.count) }, () => generateEd25519())
const host = await createHost({
  local: true,
  networkId: network.id,
  privateKey: await generateKeyPair('Ed25519'),
  listen: ['/ip4/127.0.0.1/tcp/0'],
})
const relays = topic(network.id, 'relays')
host.services.pubsub.subscribe(relays)
const ledger = (await host.dial(multiaddr(v.dial as string))).remotePeer.toString()
for (let i = 0; meshPeers(host.services.pubsub, relays) === 0; i++) {
  if (i > 400) throw new Error('flooder: never joined the relays mesh')
  await new Promise(resolve => setTimeout(resolve, 50))
}
console.log(JSON.stringify({ ready: true, peerId: host.peerId.toString() }))
const lines = createInterface({ input: process.stdin })
const go = await new Promise<string>(resolve => lines.once('line', resolve))
const epoch = Number(go.split(' ')[1])
const started = performance.now()
const records = keys.map((key, i) =>
  encodeRelayRecord(
    signRelayRecord(
      {
        net: network.id,
        relay: peerIdOfPublicKey(key.publicKey),
        epoch,
        seq: 1,
        addrs: [`/ip4/127.0.0.1/tcp/${1 + (i % 60000)}`],
        payout: new Uint8Array(20).fill(9),
        maxBandwidthBps: 0,
      },
      key.seed,
    ),
  ),
)
let published = 0
// As fast as the ledger reads: a stream whose send buffer overflows is reset (gossipsub has no
// backpressure of its own), and the attacker wants every record to land.
const outbound = () =>
  (
    host.services.pubsub as unknown as { streamsOutbound: Map<string, { rawStream: Stream }> }
  ).streamsOutbound.get(ledger)?.rawStream.writeBufferLength ?? 0
for (const bytes of records) {
  await host.services.pubsub.publish(relays, bytes).then(
    () => published++,
    () => {},
  )
  while (outbound() > 256 * 1024) await new Promise(resolve => setTimeout(resolve, 5))
}
console.log(JSON.stringify({ published, ms: Math.round(performance.now() - started) }))
