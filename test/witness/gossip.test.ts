import { strict as assert } from 'node:assert'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { GossipSub } from '@libp2p/gossipsub'
import { randomBytes } from 'node:crypto'
import { encodeAttestation } from '../../protocol/attestation.ts'
import { generateEd25519 } from '../../protocol/ed25519.ts'
import { AttestationTopic } from '../../node/network/attestation-topic.ts'
import { EvidenceLog } from '../../node/network/evidence.ts'
import { SCORE_THRESHOLDS } from '../../node/host/gossip-scoring.ts'
import { witnessNetwork } from './attestations.ts'
import { sleep, waitFor } from '../helpers/wait.ts'
import { type GossipNode, gossipNode } from './nodes.ts'

type Node = GossipNode
// the gossipsub class has getScore; its public interface does not declare it
const scoreOf = (node: Node, peer: Node): number =>
  (node.services.pubsub as unknown as { getScore(id: string): number }).getScore(peer.peerId.toString())

/** Waits until `state()` has not changed for 500 ms. */
async function settled(state: () => string, what: string): Promise<void> {
  let last: string | undefined
  await waitFor(
    () => {
      const [before, now] = [last, state()]
      last = now
      return now === before
    },
    { what: `${what} to stop changing`, timeoutMs: 20_000, intervalMs: 500 },
  )
}

describe('attestations topic', function () {
  this.timeout(60_000)
  const t = witnessNetwork()
  const relay = t.relays[0] as Uint8Array
  const { assigned, unassigned } = t.witnessesOf(relay)
  const [honest, other] = assigned as [(typeof assigned)[0], (typeof assigned)[0]]

  const invalid: Record<string, Uint8Array> = {
    'bad signature': (() => {
      const bytes = encodeAttestation(t.attest(relay, honest))
      bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 1
      return bytes
    })(),
    'outside the witness set': encodeAttestation(t.attest(relay, generateEd25519())),
    'unassigned witness': encodeAttestation(t.attest(relay, unassigned)),
    'stale epoch': encodeAttestation(t.attest(relay, honest, { epoch: t.epoch - 2 })),
    'future epoch': encodeAttestation(t.attest(relay, honest, { epoch: t.epoch + 1 })),
    oversize: new Uint8Array(600).fill(0x85),
    undecodable: randomBytes(100),
  }

  const topicFor = (pubsub: GossipSub, evidence = new EvidenceLog()) =>
    new AttestationTopic(pubsub, {
      network: t.network,
      evidence,
      seedOf: t.seedOf,
      registryFor: () => t.registry,
    })

  describe('validator', () => {
    const judge = topicFor({} as GossipSub)
    for (const [kind, bytes] of Object.entries(invalid)) {
      it(`rejects an attestation with ${kind}`, () => {
        assert.equal(judge.judge(bytes), 'reject')
      })
    }

    it('accepts an honest attestation once and ignores a copy', () => {
      const bytes = encodeAttestation(
        t.attest(t.relays[1] as Uint8Array, t.witnessesOf(t.relays[1] as Uint8Array).assigned[0]!),
      )
      assert.equal(judge.judge(bytes), 'accept')
      assert.equal(judge.judge(bytes), 'ignore')
    })

    it('ignores, rather than blames, an attestation for a relay it does not know', () => {
      const stranger = encodeAttestation(
        t.attest(t.relays[2] as Uint8Array, t.witnessesOf(t.relays[2] as Uint8Array).assigned[0]!),
      )
      const blind = new AttestationTopic({} as GossipSub, {
        network: t.network,
        evidence: new EvidenceLog(),
        seedOf: t.seedOf,
        registryFor: () => new Map(),
      })
      assert.equal(blind.judge(stranger), 'ignore')
    })

    it('ignores while the seed is unknown', () => {
      const blind = new AttestationTopic({} as GossipSub, {
        network: t.network,
        evidence: new EvidenceLog(),
        seedOf: () => undefined,
        registryFor: () => t.registry,
      })
      assert.equal(blind.judge(encodeAttestation(t.attest(relay, honest))), 'ignore')
    })

    it('stores two different attestations for one (epoch, relay, witness) as evidence, once', () => {
      const dir = mkdtempSync(join(tmpdir(), 'weir-evidence-'))
      try {
        const log = new EvidenceLog(join(dir, 'evidence.jsonl'))
        const topic = topicFor({} as GossipSub, log)
        const first = encodeAttestation(t.attest(relay, other, { forwardBps: 1_000_000 }))
        const second = encodeAttestation(t.attest(relay, other, { forwardBps: 9_000_000 }))
        assert.equal(topic.judge(first), 'accept')
        assert.equal(topic.judge(second), 'ignore')
        assert.equal(topic.judge(encodeAttestation(t.attest(relay, other, { forwardBps: 5 }))), 'ignore')
        const lines = readFileSync(join(dir, 'evidence.jsonl'), 'utf8').trim().split('\n')
        assert.equal(lines.length, 1)
        const entry = JSON.parse(lines[0] as string)
        assert.equal(entry.epoch, t.epoch)
        assert.equal(entry.first, Buffer.from(first).toString('hex'))
        assert.equal(entry.second, Buffer.from(second).toString('hex'))
        assert.equal(topic.counts.equivocations, 1)
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    })
  })

  describe('over gossipsub with peer scoring', () => {
    const nodes: Node[] = []
    const newNode = async () => {
      const node = await gossipNode(t.network.id)
      nodes.push(node)
      return node
    }
    after(async () => {
      await Promise.all(nodes.map(n => n.stop()))
    })

    it('rejects every kind of invalid attestation at every validator, graylists a flooder, still delivers honest ones', async () => {
      // a witness, two validating subscribers (a relay and a ledger, say), a sloppy peer and a flooder
      const [witness, relayNode, ledgerNode, sloppy, flooder] = await Promise.all(
        [1, 2, 3, 4, 5].map(newNode),
      )
      if (!witness || !relayNode || !ledgerNode || !sloppy || !flooder) throw new Error('nodes')
      const validators = [relayNode, ledgerNode].map(n => {
        const accepted: Uint8Array[] = []
        const topic = new AttestationTopic(n.services.pubsub, {
          network: t.network,
          evidence: new EvidenceLog(),
          seedOf: t.seedOf,
          registryFor: () => t.registry,
          onAccept: (_a, bytes) => accepted.push(bytes),
        })
        topic.start()
        return { node: n, topic, accepted }
      })
      const mine = topicFor(witness.services.pubsub)
      mine.start()
      for (const spammer of [sloppy, flooder]) spammer.services.pubsub.subscribe(mine.topic)
      for (const from of [witness, sloppy, flooder]) {
        for (const to of [relayNode, ledgerNode]) await from.dial(to.getMultiaddrs()[0]!)
      }
      const subscribed = (n: Node) => n.services.pubsub.getSubscribers(mine.topic).length >= 2
      await waitFor(() => [witness, sloppy, flooder].every(subscribed), { what: 'subscriptions' })

      // one of each kind: every validator rejects every one
      for (const bytes of Object.values(invalid)) await sloppy.services.pubsub.publish(mine.topic, bytes)
      const kinds = Object.keys(invalid).length
      await waitFor(() => validators.every(v => v.topic.counts.reject === kinds), { what: 'rejections' })
      // score caches refresh on a heartbeat
      await waitFor(() => validators.every(v => scoreOf(v.node, sloppy) < 0), { what: 'negative scores' })
      for (const v of validators) {
        assert.equal(v.topic.counts.accept, 0)
        assert.ok(scoreOf(v.node, sloppy) > SCORE_THRESHOLDS.graylistThreshold, 'sloppy peer graylisted')
      }

      // 1,000 invalid attestations: the flooder falls below the graylist threshold everywhere
      for (let i = 0; i < 1000; i++) {
        const bytes = encodeAttestation(t.attest(relay, generateEd25519(), { bytes: i }))
        await flooder.services.pubsub.publish(mine.topic, bytes)
      }
      await waitFor(
        () => validators.every(v => scoreOf(v.node, flooder) < SCORE_THRESHOLDS.graylistThreshold),
        { what: 'graylisting' },
      )
      // messages received before the score crossed the threshold may still be in validation, and gossipsub
      // waves through up to 128 messages for 1 s after it last saw a non-negative score
      await settled(() => validators.map(v => v.topic.counts.reject).join(), 'the reject counts')
      await sleep(1100)
      // ...after which its messages are dropped before validation
      const rejectedBefore = validators.map(v => v.topic.counts.reject)
      for (let i = 0; i < 50; i++) {
        await flooder.services.pubsub.publish(
          mine.topic,
          encodeAttestation(t.attest(relay, generateEd25519())),
        )
      }
      const honestOne = t.attest(relay, honest)
      await mine.publish(honestOne)
      const honestBytes = encodeAttestation(honestOne)
      await waitFor(() => validators.every(v => v.accepted.length === 1), { what: 'the honest attestation' })
      for (const v of validators) assert.ok(Buffer.from(honestBytes).equals(v.accepted[0] as Uint8Array))
      // time for any graylisted message still in flight to reach a validator: none may
      await sleep(300)
      assert.deepEqual(
        validators.map(v => v.topic.counts.reject),
        rejectedBefore,
        `graylisted messages reached a validator (scores ${validators.map(v => scoreOf(v.node, flooder))})`,
      )
      for (const v of validators) {
        console.log(
          `      ${v.node === relayNode ? 'relay ' : 'ledger'} sees: flooder ${scoreOf(v.node, flooder).toExponential(2)}, ` +
            `sloppy ${scoreOf(v.node, sloppy).toFixed(0)}, witness ${scoreOf(v.node, witness).toFixed(1)}; ` +
            `rejected ${v.topic.counts.reject}`,
        )
      }
    })

    it('turns two different signed attestations for one (epoch, relay, witness) into evidence at every subscriber', async () => {
      const [witness, a, b] = await Promise.all([1, 2, 3].map(newNode))
      if (!witness || !a || !b) throw new Error('nodes')
      const topics = [a, b].map(n => {
        const topic = topicFor(n.services.pubsub)
        topic.start()
        return topic
      })
      const mine = topicFor(witness.services.pubsub)
      mine.start()
      for (const to of [a, b]) await witness.dial(to.getMultiaddrs()[0]!)
      await waitFor(() => witness.services.pubsub.getSubscribers(mine.topic).length === 2, {
        what: 'subscriptions',
      })
      const target = t.relays[1] as Uint8Array
      const w = t.witnessesOf(target).assigned[1]!
      await mine.publish(t.attest(target, w, { forwardBps: 3_000_000 }))
      // a second, different claim: our own topic refuses to publish it, so it goes out raw
      const second = t.attest(target, w, { forwardBps: 30_000_000 })
      await assert.rejects(mine.publish(second))
      await witness.services.pubsub.publish(mine.topic, encodeAttestation(second))
      await waitFor(() => topics.every(topic => topic.counts.equivocations === 1), { what: 'evidence' })
    })
  })
})
