import { strict as assert } from 'node:assert'
import { connect } from 'node:net'
import type { Duplex } from 'node:stream'
import { AttestationTopic } from '../../node/network/attestation-topic.ts'
import { EvidenceLog } from '../../node/network/evidence.ts'
import { RelayRegistry } from '../../node/network/relay-registry.ts'
import { SeedBook } from '../../node/network/seeds.ts'
import { decodeAttestation } from '../../protocol/attestation.ts'
import { generateEd25519 } from '../../protocol/ed25519.ts'
import { peerIdOfPublicKey, peerIdToString } from '../../protocol/peer.ts'
import { CircuitError } from '../../witness/probe.ts'
import { ProbeSink } from '../../witness/sink.ts'
import { Witness } from '../../witness/witness.ts'
import { testNetwork } from './attestations.ts'
import { startProxy } from './fixtures.ts'
import { type GossipNode, gossipNode, until } from './nodes.ts'

// The whole witness loop in one process, with each relay's circuit stood in for by a shaped TCP proxy.
describe('witness role over stand-in circuits', function () {
  this.timeout(60_000)
  const closers: Array<() => Promise<void>> = []
  after(async () => {
    for (const close of closers.reverse()) await close()
  })

  it('probes its assigned relays once the seed is known, and publishes signed results', async () => {
    // five relays: two shaped, one that flips bits, two that cannot be reached; a failure is attested
    // only once three unrelated helpers saw it, so each failing relay needs three others to help
    const relayPeers = Array.from({ length: 5 }, () =>
      peerIdToString(peerIdOfPublicKey(generateEd25519().publicKey)),
    )
    const t = testNetwork({
      relays: relayPeers.map(peerId => ({ peerId, payout: `0x${'22'.repeat(20)}` })),
      genesis: Date.now() - 200,
      epochSeconds: 10,
      graceSeconds: 5,
      // two 2 s windows in a 5 s timeout left a loaded process too little slack: one CI run timed out
      probe: { windowSeconds: 2, warmupSeconds: 1, timeoutSeconds: 8 },
      witnessesPerRelay: 3,
    })
    const me = t.witnessKeys[0] as (typeof t.witnessKeys)[0]
    const sink = await ProbeSink.listen()
    closers.push(() => sink.close())
    const rates = [3_000_000, 6_000_000]
    const relayIds = t.relays.map(peerIdToString)
    const proxies = await Promise.all([
      ...rates.map(rate => startProxy(sink, { rate })),
      startProxy(sink, { flipBits: true }),
    ])
    for (const p of proxies) closers.push(p.close)
    const node: GossipNode = await gossipNode(t.network.id)
    closers.push(async () => {
      await node.stop()
    })
    const published: Uint8Array[] = []
    const topic = new AttestationTopic(node.services.pubsub, {
      network: t.network,
      evidence: new EvidenceLog(),
      seedOf: e => seeds.seedOf(e),
      registryFor: e => relays.registryFor(e),
      onAccept: (_a, bytes) => published.push(bytes),
    })
    const seeds = new SeedBook(t.network)
    const relays = new RelayRegistry(t.network)
    topic.start()
    const helpersOf = new Map<string, string[]>()
    const witness = new Witness({
      network: t.network,
      peerIdBytes: peerIdOfPublicKey(me.publicKey),
      signingSeed: me.seed,
      sink,
      topic,
      seeds,
      relays,
      concurrency: 3,
      circuits: async () => ({
        open: (helper, target, _sink, signal) =>
          new Promise<Duplex>((resolve, reject) => {
            helpersOf.set(target, [...new Set([...(helpersOf.get(target) ?? []), helper])])
            const proxy = proxies[relayIds.indexOf(target)]
            if (!proxy) return reject(new CircuitError('unreachable', 'no proxy'))
            const socket = connect({ port: proxy.port, host: '127.0.0.1' })
            signal.addEventListener('abort', () => socket.destroy())
            socket.once('connect', () => resolve(socket))
            socket.once('error', () => reject(new CircuitError('unreachable', 'proxy closed')))
          }),
        close: async () => {},
      }),
    })
    witness.start()
    closers.push(() => witness.stop())
    await until(() => witness.counts.done === 5, 'five probes', 40_000)
    assert.deepEqual(witness.outcomes, { ok: 2, corrupt: 1, unreachable: 2 }, JSON.stringify(witness.recent))
    assert.equal(witness.counts.published, 5)
    assert.equal(witness.counts.failed, 3)
    for (const [target, helpers] of helpersOf) {
      for (const h of helpers) assert.ok(relayIds.includes(h) && h !== target)
    }
    for (const failing of relayIds.slice(2)) assert.equal(helpersOf.get(failing)?.length, 3, failing)
    const byRelay = new Map(
      published.map(bytes => decodeAttestation(bytes)).map(a => [peerIdToString(a.relay), a]),
    )
    rates.forEach((rate, i) => {
      const a = byRelay.get(relayIds[i] as string)
      assert.equal(a?.outcome, 'ok')
      for (const bps of [a.forwardBps, a.reverseBps]) {
        assert.ok(Math.abs(bps - rate) / rate < 0.1, `measured ${bps} B/s on a ${rate} B/s path`)
      }
      assert.equal(a.epoch, 0)
    })
    assert.equal(byRelay.get(relayIds[2] as string)?.outcome, 'corrupt')
  })
})
