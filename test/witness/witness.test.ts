import { strict as assert } from 'node:assert'
import { connect } from 'node:net'
import type { Duplex } from 'node:stream'
import { AttestationTopic } from '../../node/network/attestation-topic.ts'
import { EvidenceLog } from '../../node/network/evidence.ts'
import { RelayRegistry } from '../../node/network/relay-registry.ts'
import { SeedBook } from '../../node/network/seeds.ts'
import { decodeAttestation } from '../../protocol/attestation.ts'
import { generateEd25519 } from '../../protocol/ed25519.ts'
import { peerIdFromString, peerIdOfPublicKey, peerIdToString } from '../../protocol/peer.ts'
import { buildRegistry } from '../../protocol/registry.ts'
import { CircuitError } from '../../witness/probe.ts'
import { ProbeSink } from '../../witness/sink.ts'
import { PROBE_END, type ProbeEnd, Witness } from '../../witness/witness.ts'
import { witnessNetwork } from './attestations.ts'
import { startProxy } from './fixtures.ts'
import { waitFor } from '../helpers/wait.ts'
import { type GossipNode, gossipNode } from './nodes.ts'

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
    const t = witnessNetwork({
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
    await waitFor(() => witness.counts.done === 5, { what: 'five probes', timeoutMs: 40_000 })
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
    // each probe's end is one structured log line
    const ends = logged
      .filter(line => line.startsWith(`${PROBE_END} `))
      .map(line => JSON.parse(line.slice(PROBE_END.length + 1)) as ProbeEnd)
    assert.deepEqual(
      ends.map(e => [e.relay, e.end, e.outcome]).sort(),
      [...byRelay].map(([r, a]) => [r, 'published', a.outcome]).sort(),
    )
  })
})

// Which relays a witness lets carry its probes. Every circuit fails at once (CircuitError), so each
// probe runs its attempts through unrelated helpers and records, in order, whom it chose.
describe('witness helper choice', function () {
  this.timeout(30_000)
  const MB = 1_000_000
  const peer = () => peerIdToString(peerIdOfPublicKey(generateEd25519().publicKey))

  /** Runs one epoch's probes with these relays' caps (0 = uncapped), returns each target's helpers. */
  async function helpersChosen(o: {
    caps: Record<string, number>
    /** relays whose first record is from the current epoch (ineligible with a delay of 1) */
    fresh?: string[]
    /** capacities certified in the epoch before */
    certified?: Record<string, number>
  }): Promise<Map<string, string[]>> {
    const names = Object.keys(o.caps)
    const ids = new Map(names.map(n => [n, peer()]))
    const nameOf = new Map([...ids].map(([n, p]) => [p, n]))
    const genesis = names.filter(n => !o.fresh?.includes(n))
    const t = witnessNetwork({
      relays: genesis.map(n => ({ peerId: ids.get(n) as string, payout: `0x${'22'.repeat(20)}` })),
      // epoch 1 began 200 ms ago, so epoch 0 can have certified figures
      genesis: Date.now() - 10_200,
      epochSeconds: 10,
      graceSeconds: 5,
      witnessesPerRelay: 3,
      eligibilityDelay: 1,
    })
    const records = new Map(
      Object.entries(o.caps).map(([n, maxBandwidthBps]) => {
        const relay = peerIdFromString(ids.get(n) as string)
        const record = { net: t.network.id, relay, epoch: 1, seq: 1, addrs: [], maxBandwidthBps }
        return [
          ids.get(n) as string,
          { ...record, payout: new Uint8Array(20), signature: new Uint8Array(64) },
        ]
      }),
    )
    const registry = buildRegistry(t.network, [...records.values()])
    const me = t.witnessKeys[0] as (typeof t.witnessKeys)[0]
    const chosen = new Map<string, string[]>()
    const sink = await ProbeSink.listen()
    const witness = new Witness({
      network: t.network,
      peerIdBytes: peerIdOfPublicKey(me.publicKey),
      signingSeed: me.seed,
      sink,
      topic: { publish: async () => {} } as unknown as AttestationTopic,
      seeds: { seedOf: t.seedOf },
      relays: { registryFor: () => registry, record: p => records.get(p) },
      circuits: async () => {
        // one attempt: its circuits through one helper count once
        const tried = new Set<string>()
        return {
          open: async (helper, target) => {
            const name = nameOf.get(target) as string
            if (!tried.has(helper))
              chosen.set(name, [...(chosen.get(name) ?? []), nameOf.get(helper) as string])
            tried.add(helper)
            throw new CircuitError('unreachable', 'stand-in')
          },
          close: async () => {},
        }
      },
    })
    for (const [n, bps] of Object.entries(o.certified ?? {})) {
      const relay = peerIdFromString(ids.get(n) as string)
      for (const w of t.witnessesOf(relay).assigned)
        witness.noteAttestation(t.attest(relay, w, { epoch: 0, forwardBps: bps, reverseBps: bps }))
    }
    witness.start()
    try {
      const planned = genesis.length
      await waitFor(() => witness.counts.done + witness.counts.skipped === planned, {
        what: 'every probe',
        timeoutMs: 20_000,
      })
    } finally {
      await witness.stop()
      await sink.close()
    }
    return chosen
  }

  it('on a new network, never takes an unmeasured, uncapped relay for fast, nor an ineligible one', async () => {
    const chosen = await helpersChosen({
      caps: { target: 2 * MB, sybil: 0, fast: 5 * MB, slow: 1 * MB, fresh: 100 * MB },
      fresh: ['fresh'],
    })
    // the only relay known to carry twice the target's cap goes first
    assert.equal(chosen.get('target')?.[0], 'fast', JSON.stringify([...chosen]))
    for (const helpers of chosen.values()) assert.ok(!helpers.includes('fresh'), JSON.stringify([...chosen]))
    assert.equal(chosen.has('fresh'), false)
  })

  it('once there are certified figures, takes helpers only among the relays that have them', async () => {
    const chosen = await helpersChosen({
      caps: { target: 2 * MB, certified: 10 * MB, claims: 100 * MB, other: 100 * MB },
      certified: { certified: 10 * MB, target: 2 * MB },
    })
    assert.deepEqual(chosen.get('target'), ['certified'])
    // a relay claiming 100 MB/s is probed through the fastest certified relay first, then the next
    assert.deepEqual(chosen.get('claims'), ['certified', 'target'])
    for (const helpers of chosen.values())
      assert.ok(!helpers.includes('claims') && !helpers.includes('other'))
  })
})
