import { strict as assert } from 'node:assert'
import { connect } from 'node:net'
import type { Duplex } from 'node:stream'
import { AttestationTopic } from '../../node/network/attestation-topic.ts'
import { EvidenceLog } from '../../node/network/evidence.ts'
import { RelayRegistry } from '../../node/network/relay-registry.ts'
import { SeedBook } from '../../node/network/seeds.ts'
import { decodeAttestation } from '../../protocol/attestation.ts'
import { peerIdOfPublicKey, peerIdToString } from '../../protocol/peer.ts'
import { CircuitError } from '../../witness/probe.ts'
import { ProbeSink } from '../../witness/sink.ts'
import { PROBE_END, type ProbeEnd, Witness } from '../../witness/witness.ts'
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
    const t = testNetwork({
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
    const helpers: string[] = []
    const logged: string[] = []
    const witness = new Witness({
      network: t.network,
      peerIdBytes: peerIdOfPublicKey(me.publicKey),
      signingSeed: me.seed,
      sink,
      topic,
      seeds,
      relays,
      concurrency: 3,
      log: line => logged.push(line),
      openCircuit: (helper, target, _sink, signal) =>
        new Promise<Duplex>((resolve, reject) => {
          helpers.push(helper)
          const proxy = proxies[relayIds.indexOf(target)]
          const socket = connect({ port: proxy?.port ?? 1, host: '127.0.0.1' })
          signal.addEventListener('abort', () => socket.destroy())
          socket.once('connect', () => resolve(socket))
          socket.once('error', () => reject(new CircuitError('unreachable', 'no proxy')))
        }),
    })
    witness.start()
    closers.push(() => witness.stop())
    await until(() => witness.counts.done === 3, 'three probes', 40_000)
    assert.deepEqual(witness.outcomes, { ok: 2, corrupt: 1 }, JSON.stringify(witness.recent))
    assert.equal(witness.counts.published, 3)
    assert.equal(witness.counts.failed, 1)
    for (const h of helpers) assert.ok(relayIds.includes(h))
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
    // each probe's end is one structured log line
    const ends = logged
      .filter(line => line.startsWith(`${PROBE_END} `))
      .map(line => JSON.parse(line.slice(PROBE_END.length + 1)) as ProbeEnd)
    assert.deepEqual(
      ends.map(e => [e.relay, e.end, e.outcome]).sort(),
      relayIds.map((r, i) => [r, 'published', i < 2 ? 'ok' : 'corrupt']).sort(),
    )
  })
})
