import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { initDataDir, loadDataDir } from '../../node/host/datadir.ts'
import { topic } from '../../node/host/host.ts'
import { loadSecp256k1Key } from '../../node/host/identity.ts'
import { createLocalNetwork } from '../../node/host/local-network.ts'
import { Ledger } from '../../ledger/ledger.ts'
import { keyVoteSigner } from '../../ledger/vote-signer.ts'
import { generateEd25519 } from '../../protocol/ed25519.ts'
import { epochAt } from '../../protocol/epoch.ts'
import type { NetworkDefinition } from '../../protocol/network.ts'
import { peerIdOfPublicKey } from '../../protocol/peer.ts'
import { encodeRelayRecord, itemId, signRelayRecord } from '../../protocol/record.ts'
import { type GossipNode, gossipNode } from '../witness/nodes.ts'
import { Children } from '../witness/processes.ts'
import { sleep, waitFor } from '../helpers/wait.ts'

// the gossipsub class has getMeshPeers and getScore; its public interface declares neither
const meshOf = (pubsub: unknown, name: string): string[] =>
  (pubsub as { getMeshPeers(topic: string): string[] }).getMeshPeers(name)
const scoreAt = (ledger: Ledger, peer: string): number =>
  (ledger.host.services.pubsub as unknown as { getScore(id: string): number }).getScore(peer)

function freshRecord(network: NetworkDefinition, epoch: number): Uint8Array {
  const key = generateEd25519()
  return encodeRelayRecord(
    signRelayRecord(
      {
        net: network.id,
        relay: peerIdOfPublicKey(key.publicKey),
        epoch,
        seq: 1,
        addrs: ['/ip4/127.0.0.1/tcp/1'],
        payout: new Uint8Array(20).fill(3),
        maxBandwidthBps: 0,
      },
      key.seed,
    ),
  )
}

// DESIGN §13: one timeliness rule everywhere a record is validated. A relay that forwarded records the
// ledgers judge untimely would be blamed for them by every ledger's peer scoring, and graylisted.
describe('ledger: stale relay records and honest relays', function () {
  this.timeout(60_000)
  const children = new Children()
  const ledgers: Ledger[] = []
  const nodes: GossipNode[] = []
  let work: string

  after(async () => {
    children.killAll()
    await Promise.allSettled(nodes.map(n => n.stop()))
    await Promise.allSettled(ledgers.map(l => l.stop()))
    rmSync(work, { recursive: true, force: true })
  })

  it('stale and future records forwarded by an honest relay never lower its score at any ledger', async () => {
    work = mkdtempSync(join(tmpdir(), 'weir-stale-'))
    // hour-long epochs, genesis 2.5 h ago: epoch 2 is current for the whole test
    const made = createLocalNetwork({
      out: join(work, 'net'),
      witnesses: 1,
      committee: 2,
      epochSeconds: 3600,
      graceSeconds: 10,
      eligibilityDelay: 0,
      emission: 1000n,
      chainId: 31337,
      genesis: Date.now() - 2.5 * 3_600_000,
    })
    const network = made.network
    for (const dir of made.ledgerDirs) {
      const ledger = await Ledger.start({
        data: loadDataDir(dir),
        signer: keyVoteSigner(loadSecp256k1Key(join(dir, 'signer.key'))),
        listen: ['/ip4/127.0.0.1/tcp/0'],
        bootstrap: ledgers.flatMap(l => l.host.getMultiaddrs().map(String)),
      })
      ledgers.push(ledger)
    }
    const relayDir = join(work, 'relay')
    initDataDir(relayDir, network, { payout: `0x${'ab'.repeat(20)}` })
    const relay = await children.weir<{ peerId: string; addresses: string[] }>([
      'relay',
      '--dir',
      relayDir,
      '--listen',
      '/ip4/127.0.0.1/tcp/0',
      ...ledgers.flatMap(l => ['--bootstrap', String(l.host.getMultiaddrs()[0])]),
    ])
    // The attacker, and an honest publisher, reach the ledgers only through the relay.
    const relays = topic(network.id, 'relays')
    for (const _ of [1, 2]) {
      const node = await gossipNode(network.id)
      nodes.push(node)
      node.services.pubsub.subscribe(relays)
      await node.dial(multiaddr(relay.addresses[0] as string))
    }
    const [attacker, publisher] = nodes as [GossipNode, GossipNode]
    await waitFor(
      async () => {
        const meshed = ledgers.every(l => meshOf(l.host.services.pubsub, relays).includes(relay.peerId))
        return meshed && nodes.every(n => meshOf(n.services.pubsub, relays).length === 1) ? true : undefined
      },
      { what: 'the relay in every mesh', timeoutMs: 20_000, intervalMs: 200 },
    )
    for (const l of ledgers) {
      assert.ok(
        !l.host.getConnections().some(c => nodes.some(n => c.remotePeer.equals(n.peerId))),
        'the attacker and the publisher are not connected to a ledger',
      )
    }

    const current = epochAt(network, Date.now())
    const untimely = [
      ...Array.from({ length: 10 }, () => freshRecord(network, current - 2)), // long stale
      ...Array.from({ length: 10 }, () => freshRecord(network, current + 1)), // far future
    ]
    for (const bytes of untimely) await attacker.services.pubsub.publish(relays, bytes)
    const timely = freshRecord(network, current)
    await publisher.services.pubsub.publish(relays, timely)

    // Scores move on gossipsub's heartbeat: watch them until the timely record is stored everywhere, and
    // for two heartbeats more.
    const lowest = ledgers.map(() => Number.POSITIVE_INFINITY)
    const watch = () =>
      ledgers.forEach((l, i) => {
        lowest[i] = Math.min(lowest[i] as number, scoreAt(l, relay.peerId))
      })
    const stored = () => ledgers.every(l => l.store.hasItem(itemId('relay-record', timely)))
    const deadline = Date.now() + 15_000
    while (!stored() && Date.now() < deadline) {
      watch()
      await sleep(50)
    }
    for (let i = 0; i < 50; i++, await sleep(50)) watch()
    for (const [i, score] of lowest.entries()) {
      assert.ok(score >= 0, `the honest relay's score at ledger ${i + 1} fell to ${score.toFixed(0)}`)
    }
    assert.ok(stored(), 'the timely record reached every ledger through the relay')
    for (const l of ledgers) {
      for (const bytes of untimely) assert.equal(l.store.hasItem(itemId('relay-record', bytes)), false)
    }
  })
})
