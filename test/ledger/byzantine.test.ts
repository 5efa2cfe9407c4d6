import assert from 'node:assert/strict'
import { epochAt } from '../../protocol/epoch.ts'
import {
  attestationsFor,
  getJson,
  type LedgerProcess,
  makeNetwork,
  seedFor,
  startLedgers,
  stopLedger,
  type TestNetwork,
  testPeer,
  waitFor,
  waitForCertificate,
  waitForEpochStart,
} from './helpers.ts'

describe('ledger: a byzantine member', function () {
  this.timeout(90_000)
  let t: TestNetwork
  let ledgers: LedgerProcess[] = []
  let peer: Awaited<ReturnType<typeof testPeer>> | undefined

  after(async () => {
    await peer?.stop()
    await Promise.all(ledgers.map(l => stopLedger(l)))
    t?.cleanup()
  })

  it('is outvoted: the honest root is certified, its vote kept as evidence, no second certificate', async () => {
    t = makeNetwork({
      committee: 4,
      witnesses: 4,
      epochSeconds: 5,
      graceSeconds: 2,
      relays: 5,
      genesisInMs: 6000,
    })
    // TEST ONLY switch: ledger-4 signs a corrupted rewards root for every epoch.
    ledgers = await startLedgers(
      t.ledgerDirs,
      (i): Record<string, string> => (i === 3 ? { WEIR_TEST_BYZANTINE: '1' } : {}),
    )
    const [honest, byzantine] = [ledgers.slice(0, 3), ledgers[3] as LedgerProcess]
    peer = await testPeer(
      t.network,
      ledgers.map(l => l.multiaddrs[0] as string),
    )
    await peer.ready(4)
    const epoch = epochAt(t.network, Date.now()) + 1
    await waitForEpochStart(t.network, epoch)
    const seed = await seedFor(t.network, epoch, honest[0]?.api)
    await peer.publish(
      'attestations',
      attestationsFor(t, epoch, seed, t.relays, (r, w) => 2_000_000 + 1000 * r + w),
    )

    const certs = await Promise.all(ledgers.map(l => waitForCertificate(l, epoch, 25_000)))
    const root = (c: (typeof certs)[number]) => [c.contentRoot, c.rewardsRoot, c.cumulativeTotal]
    for (const c of certs) assert.deepEqual(root(c), root(certs[0]), 'one root for the epoch everywhere')
    const cert = certs[0]
    assert.ok(!cert.signers.includes(byzantine.signer), 'the corrupted vote is not in the certificate')
    assert.notEqual(BigInt(cert.cumulativeTotal), 0n)

    // Its honest replica's tally matches the certificate; its conflicting vote is kept as evidence.
    const tally = await getJson(`${byzantine.api}/epochs/${epoch}/tally`)
    assert.equal(tally.body.rewardsRoot, cert.rewardsRoot)
    for (const l of honest) {
      const info = await waitFor('the byzantine vote to be stored', 30_000, async () => {
        const r = await getJson(`${l.api}/epochs/${epoch}`)
        return r.body.votes.some((v: { signer: string }) => v.signer === byzantine.signer)
          ? r.body
          : undefined
      })
      const bad = info.votes.find((v: { signer: string }) => v.signer === byzantine.signer)
      assert.equal(bad.matchesCertificate, false)
      assert.notEqual(bad.rewardsRoot, cert.rewardsRoot)
      assert.equal(bad.contentRoot, cert.contentRoot)
      assert.equal(info.status, 'certified')
    }
  })
})
