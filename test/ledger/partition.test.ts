import assert from 'node:assert/strict'
import { to0x } from '../../protocol/bytes.ts'
import { contentRoot } from '../../protocol/content.ts'
import { epochAt, graceEnd } from '../../protocol/epoch.ts'
import { itemId } from '../../protocol/record.ts'
import {
  attestationsFor,
  getAnswer,
  type LedgerProcess,
  makeNetwork,
  seedFor,
  startLedger,
  stopLedger,
  tearDown,
  type LedgerNetwork,
  testPeer,
  waitForCertificate,
  waitForEpochStart,
} from './helpers.ts'
import { sleep } from '../helpers/wait.ts'
import { epochAnswer } from '../../protocol/ledger-api.ts'

describe('ledger: partition and heal', function () {
  this.timeout(120_000)
  let t: LedgerNetwork
  let ledgers: LedgerProcess[] = []
  const peers: { stop(): void | Promise<void> }[] = []

  after(() => tearDown(t, ledgers, peers))

  it('certifies nothing while split 2/2, then one root over the union after healing', async () => {
    t = makeNetwork({
      committee: 4,
      witnesses: 4,
      epochSeconds: 6,
      graceSeconds: 2,
      relays: 6,
      genesisInMs: 15_000,
    })
    const dirs = t.ledgerDirs as [string, string, string, string]
    // The split: {1, 2} and {3, 4} are only told about each other, so they never meet (no shared
    // bootstrap, so the DHT cannot introduce them either).
    const [a, c] = await Promise.all([startLedger(dirs[0]), startLedger(dirs[2])])
    const [b, d] = await Promise.all([startLedger(dirs[1], a.multiaddrs), startLedger(dirs[3], c.multiaddrs)])
    ledgers = [a, b, c, d] as LedgerProcess[]
    const left = await testPeer(t.network, [a.multiaddrs[0] as string, b.multiaddrs[0] as string])
    const right = await testPeer(t.network, [c.multiaddrs[0] as string, d.multiaddrs[0] as string])
    peers.push(left, right)
    await Promise.all([left.ready(2), right.ready(2)])

    // Seeds of epochs ≥ 2 come from certificates, which the split prevents: the split epoch is 0 or 1.
    const epoch = Math.max(0, epochAt(t.network, Date.now()))
    assert.ok(epoch <= 1, 'four ledgers and two peers took longer than 21 s to start')
    await waitForEpochStart(t.network, epoch)
    const seed = await seedFor(t.network, epoch)
    const leftItems = attestationsFor(
      t,
      epoch,
      seed,
      t.relays.slice(0, 4),
      (r, w) => 3_000_000 + 1000 * r + w,
    )
    const rightItems = attestationsFor(t, epoch, seed, t.relays.slice(2), (r, w) => 5_000_000 + 1000 * r + w)
    await Promise.all([left.publish('attestations', leftItems), right.publish('attestations', rightItems)])

    // Time passing is what is tested here: well past the epoch's grace, no side reaches quorum (3 of 4), so
    // nobody even votes.
    const wait = graceEnd(t.network, epoch) + 4000 - Date.now()
    if (wait > 0) await sleep(wait)
    for (const l of ledgers) {
      const r = await getAnswer(`${l.api}/epochs/${epoch}`, epochAnswer)
      assert.equal(r.body?.status, 'closing', `${l.api}: no certificate during the split`)
      assert.equal(r.body?.votes.length, 0, `${l.api}: no vote during the split`)
    }

    // Heal: 3 and 4 restart and are told about 1 and 2.
    await Promise.all([stopLedger(c), stopLedger(d)])
    const bootstrap = [...a.multiaddrs, ...b.multiaddrs]
    ledgers[2] = await startLedger(dirs[2], bootstrap)
    ledgers[3] = await startLedger(dirs[3], bootstrap)

    const union = [...new Set([...leftItems, ...rightItems].map(i => to0x(itemId('attestation', i))))]
    const expected = to0x(contentRoot(union.map(h => Buffer.from(h.slice(2), 'hex'))))
    for (const l of ledgers) {
      const cert = await waitForCertificate(l, epoch, 40_000)
      assert.equal(cert.contentRoot, expected, `${l.api}: certified the union`)
    }
  })
})
