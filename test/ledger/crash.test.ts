import assert from 'node:assert/strict'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { fastMessageId, topic } from '../../node/host/host.ts'
import { DB_FILE } from '../../ledger/ledger.ts'
import { to0x, toHex } from '../../protocol/bytes.ts'
import { contentRoot } from '../../protocol/content.ts'
import { graceEnd } from '../../protocol/epoch.ts'
import type { NetworkDefinition } from '../../protocol/network.ts'
import { itemId } from '../../protocol/record.ts'
import {
  attestationsFor,
  getAnswer,
  type LedgerProcess,
  makeNetwork,
  seedFor,
  startLedger,
  startLedgers,
  stopLedger,
  tearDown,
  type LedgerNetwork,
  waitForCertificate,
  waitForEpochStart,
} from './helpers.ts'
import { sleep, waitFor } from '../helpers/wait.ts'
import { tallyAnswer } from '../../protocol/ledger-api.ts'

const IN_FLIGHT = 500

type Peer = Awaited<ReturnType<typeof isolatedPeer>>

/**
 * A gossip peer that talks to one ledger only: its connection gater refuses every other peer, and it
 * runs no DHT, so nothing introduces it to anyone else.
 */
async function isolatedPeer(net: NetworkDefinition, only: LedgerProcess) {
  const host = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: {
      denyDialPeer: peer => peer.toString() !== only.peerId,
      denyInboundEncryptedConnection: peer => peer.toString() !== only.peerId,
    },
    services: {
      identify: identify(),
      pubsub: gossipsub({ emitSelf: false, allowPublishToZeroTopicPeers: true, fastMsgIdFn: fastMessageId }),
    },
  })
  await host.dial(multiaddr(only.multiaddrs[0] as string))
  const name = topic(net.id, 'attestations')
  host.services.pubsub.subscribe(name)
  await waitFor(() => host.services.pubsub.getSubscribers(name).length > 0, {
    what: 'the ledger to subscribe',
    timeoutMs: 30_000,
  })
  return {
    host,
    /**
     * Publishes with at most IN_FLIGHT messages not yet acknowledged (`acked` counts them): gossipsub has
     * no backpressure, and a ledger flooded faster than it validates stalls its event loop for seconds,
     * long enough for its connections to fail their pings.
     */
    async publish(items: Uint8Array[], acked: () => number) {
      for (const [i, item] of items.entries()) {
        await waitFor(() => i - acked() < IN_FLIGHT || host.status !== 'started', {
          what: 'the victim to acknowledge earlier attestations',
          timeoutMs: 60_000,
          intervalMs: 20,
        })
        if (host.status !== 'started') return
        await host.services.pubsub.publish(name, item)
        if (i % 100 === 99) await sleep(1)
      }
    },
    stop: () => host.stop(),
  }
}

// Which attestations did the victim acknowledge? A publisher and an observer are connected to the victim
// and to nothing else. Gossipsub forwards a message only after the topic validator answered Accept, and
// the ledger answers Accept only after the transaction holding the item committed; so every attestation
// the observer received was on the victim's disk before it left the victim.
const KILL_AFTER = 5000

describe('ledger: kill -9 of a replica during heavy ingest over gossip', function () {
  this.timeout(120_000)
  let t: LedgerNetwork
  let ledgers: LedgerProcess[] = []
  const peers: Peer[] = []

  after(() => tearDown(t, ledgers, peers, 'SIGKILL'))

  it('loses no acknowledged attestation, and the restarted replica converges with the others', async () => {
    // Committee of 3, quorum 3: no certificate can form without the victim, so epoch 0 is cut only
    // after it is back (the order is forced by the protocol, not by timing). Attestations of epoch 0 are
    // timely from its start until its grace ends 30 s later, a wide margin for a loaded machine. 3
    // witnesses, each assigned to every relay: 6,700 relays give 20,100 attestations.
    t = makeNetwork({
      committee: 3,
      witnesses: 3,
      epochSeconds: 15,
      graceSeconds: 15,
      relays: 6700,
      genesisInMs: 12_000,
    })
    const [victimDir, ...otherDirs] = t.ledgerDirs as [string, string, string]
    const starting = startLedgers(otherDirs).then(async others => {
      ledgers = others
      const victim = await startLedger(
        victimDir,
        others.flatMap(l => l.multiaddrs),
      )
      ledgers = [...others, victim]
      return { others, victim }
    })
    // Signing takes seconds: meanwhile the ledgers start in their own processes.
    const items = attestationsFor(t, 0, await seedFor(t.network, 0), t.relays, (r, w) => 100_000 + r * 10 + w)
    assert.ok(items.length >= 20_000)
    const { others } = await starting
    let { victim } = await starting
    const [publisher, observer] = await Promise.all([
      isolatedPeer(t.network, victim),
      isolatedPeer(t.network, victim),
    ])
    peers.push(publisher, observer)
    await waitForEpochStart(t.network, 0)

    const attestations = topic(t.network.id, 'attestations')
    const observed = new Set<string>()
    observer.host.services.pubsub.addEventListener('message', e => {
      if (e.detail.topic === attestations) observed.add(toHex(itemId('attestation', e.detail.data)))
    })
    // Heavy ingest: all of them, as fast as the victim takes them (the publishing stops once it is dead).
    const publishing = publisher.publish(items, () => observed.size).catch(() => {})
    // Kill once KILL_AFTER are acknowledged, or shortly before attestations of epoch 0 turn stale if the
    // machine is too loaded for that (the victim is still mid-stream either way).
    const killBy = graceEnd(t.network, 0) - 3000
    await waitFor(() => observed.size >= KILL_AFTER || Date.now() >= killBy, {
      what: `${KILL_AFTER} acknowledged attestations`,
      timeoutMs: Math.max(0, killBy - Date.now()) + 1000,
      intervalMs: 100,
    })
    assert.ok(observed.size >= 1000, `only ${observed.size} attestations acknowledged before the kill`)
    const onlyVictim = (p: Peer) =>
      p.host.getConnections().every(c => c.remotePeer.toString() === victim.peerId)
    assert.ok(onlyVictim(publisher) && onlyVictim(observer), 'publisher and observer reach only the victim')
    await stopLedger(victim, 'SIGKILL')
    const acknowledged = [...observed]
    await Promise.all(peers.map(p => p.stop()))
    await publishing

    const db = new Database(join(victimDir, DB_FILE))
    assert.equal(db.pragma('integrity_check', { simple: true }), 'ok')
    const held = new Set((db.prepare('SELECT id FROM items').pluck().all() as Buffer[]).map(b => toHex(b)))
    db.close()
    const lost = acknowledged.filter(id => !held.has(id))
    assert.equal(lost.length, 0, `${lost.length} of ${acknowledged.length} acknowledged attestations lost`)
    assert.ok(held.size < items.length, 'killed during ingest')
    console.log(
      `      killed with ${acknowledged.length} acknowledged, ${held.size} on disk, of ${items.length}`,
    )

    // The others hold only what the victim forwarded, so the union is exactly what the victim kept.
    victim = await startLedger(
      victimDir,
      others.flatMap(l => l.multiaddrs),
    )
    ledgers = [...others, victim]
    const expected = to0x(contentRoot([...held].map(h => Uint8Array.from(Buffer.from(h, 'hex')))))
    const certs = await Promise.all(ledgers.map(l => waitForCertificate(l, 0, 60_000)))
    for (const [i, cert] of certs.entries()) {
      assert.equal(
        cert.contentRoot,
        expected,
        `${ledgers[i]?.api}: certified content is what the victim kept`,
      )
      assert.equal(cert.rewardsRoot, certs[0]?.rewardsRoot)
    }
    const tally = await waitFor(
      async () => {
        const { body } = await getAnswer(`${victim.api}/epochs/0/tally`, tallyAnswer)
        return body?.certified ? body : undefined
      },
      { what: 'the restarted ledger to match the certificate', timeoutMs: 20_000, intervalMs: 200 },
    )
    assert.equal(tally.items.attestations, held.size)
    assert.equal(tally.contentRoot, expected)
  })
})
