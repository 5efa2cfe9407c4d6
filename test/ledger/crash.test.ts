import assert from 'node:assert/strict'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { DB_FILE } from '../../ledger/ledger.ts'
import { toHex, to0x } from '../../protocol/bytes.ts'
import { contentRoot } from '../../protocol/content.ts'
import { itemId } from '../../protocol/record.ts'
import { topic } from '../../node/host.ts'
import {
  attestationsFor,
  getJson,
  type LedgerProcess,
  makeNetwork,
  seedFor,
  startLedger,
  startLedgers,
  stopLedger,
  type TestNetwork,
  testPeer,
  waitFor,
  waitForCertificate,
  waitForEpochStart,
} from './helpers.ts'

describe('ledger: kill -9 during heavy ingest', function () {
  this.timeout(120_000)
  let t: TestNetwork
  let ledgers: LedgerProcess[] = []
  const peers: { stop(): void | Promise<void> }[] = []

  after(async () => {
    await Promise.all(peers.map(p => p.stop()))
    await Promise.all(ledgers.map(l => stopLedger(l, 'SIGKILL')))
    t?.cleanup()
  })

  it('loses no acknowledged attestation and converges after restart', async () => {
    // 3 witnesses, each assigned to every relay: 6,700 relays give 20,100 attestations in epoch 0.
    t = makeNetwork({
      committee: 4,
      witnesses: 3,
      epochSeconds: 30,
      graceSeconds: 4,
      relays: 6700,
      genesisInMs: 7000,
    })
    ledgers = await startLedgers(t.ledgerDirs)
    const victim = ledgers[1] as LedgerProcess
    const publisher = await testPeer(
      t.network,
      ledgers.map(l => l.multiaddrs[0] as string),
    )
    peers.push(publisher)
    // The observer is connected to the victim alone: gossip forwards a message only after the
    // validator accepted it, and the validator accepts only after the commit, so whatever reaches the
    // observer was acknowledged by the victim.
    const observer = await testPeer(t.network, [victim.multiaddrs[0] as string])
    peers.push(observer)
    await publisher.ready(4)
    await observer.ready(1)
    const acknowledged = new Set<string>()
    const attestationsTopic = topic(t.network.id, 'attestations')
    observer.host.services.pubsub.addEventListener('message', evt => {
      if (evt.detail.topic === attestationsTopic)
        acknowledged.add(toHex(itemId('attestation', evt.detail.data)))
    })

    await waitForEpochStart(t.network, 0)
    const items = attestationsFor(t, 0, await seedFor(t.network, 0), t.relays, (r, w) => 100_000 + r * 10 + w)
    assert.ok(items.length >= 20_000)
    const publishing = publisher.publish('attestations', items)

    await waitFor('the victim to acknowledge 4,000 attestations', 60_000, async () =>
      acknowledged.size >= 4000 ? true : undefined,
    )
    victim.proc.kill('SIGKILL')
    await new Promise(resolve => victim.proc.once('exit', resolve))
    const acked = [...acknowledged]

    const db = new Database(join(victim.dir, DB_FILE))
    const has = db.prepare('SELECT 1 FROM items WHERE id = ?').pluck()
    const missing = acked.filter(id => has.get(Buffer.from(id, 'hex')) === undefined)
    const held = db.prepare('SELECT count(*) FROM items').pluck().get() as number
    db.close()
    assert.equal(missing.length, 0, `${missing.length} of ${acked.length} acknowledged attestations lost`)
    assert.ok(held < items.length, 'the kill happened during ingest')

    await publishing
    const others = ledgers.filter(l => l !== victim)
    const restarted = await startLedger(
      victim.dir,
      others.flatMap(l => l.multiaddrs),
    )
    ledgers[1] = restarted

    const expected = to0x(contentRoot(items.map(b => itemId('attestation', b))))
    for (const l of ledgers) {
      const cert = await waitForCertificate(l, 0, 60_000)
      assert.equal(cert.contentRoot, expected, `${l.api}: certified content is every attestation published`)
    }
    const tally = await waitFor('the restarted ledger to hold the certified content', 20_000, async () => {
      const r = await getJson(`${restarted.api}/epochs/0/tally`)
      return r.status === 200 && r.body.certified ? r.body : undefined
    })
    assert.equal(tally.contentRoot, expected)
    assert.equal(tally.items.attestations, items.length)
  })
})
