import assert from 'node:assert/strict'
import { epochAt } from '../../protocol/epoch.ts'
import {
  attestationsFor,
  getAnswer,
  type LedgerProcess,
  makeNetwork,
  seedFor,
  startLedger,
  startLedgers,
  tearDown,
  type LedgerNetwork,
  testPeer,
  waitForCertificate,
  waitForEpochStart,
} from './helpers.ts'
import { waitFor } from '../helpers/wait.ts'
import { certificateAnswer, epochAnswer, tallyAnswer } from '../../protocol/ledger-api.ts'

const BYZANTINE_LEDGER = new URL('./byzantine-ledger.ts', import.meta.url).pathname

describe('ledger: a byzantine member', function () {
  this.timeout(90_000)
  let t: LedgerNetwork
  let ledgers: LedgerProcess[] = []
  let peer: Awaited<ReturnType<typeof testPeer>> | undefined

  after(() => tearDown(t, ledgers, [peer]))

  it('is outvoted: the honest root is certified, its vote kept as evidence, no second certificate', async () => {
    t = makeNetwork({
      committee: 4,
      witnesses: 4,
      epochSeconds: 5,
      graceSeconds: 2,
      relays: 5,
      genesisInMs: 20_000,
    })
    // ledger-4 runs byzantine-ledger.ts: it signs a corrupted rewards root for every epoch. Two honest
    // members and it start first: they can vote but not certify (2 honest votes < quorum 3), so the corrupted vote is
    // cast and republished before any certificate can exist; the third honest member completes the quorum.
    const [a, b] = await startLedgers(t.ledgerDirs.slice(0, 2))
    const byzantine = await startLedger(
      t.ledgerDirs[3] as string,
      [a, b].flatMap(l => l?.multiaddrs ?? []),
      ['--import', 'tsx', BYZANTINE_LEDGER],
    )
    const early = [a, b] as LedgerProcess[]
    ledgers = [...early, byzantine]
    peer = await testPeer(
      t.network,
      ledgers.map(l => l.multiaddrs[0] as string),
    )
    await peer.ready(3)
    // Epochs close in order and the corrupted member signs every epoch, so two honest members and it
    // could never finish an earlier epoch: the attestations must be for epoch 0.
    const epoch = 0
    assert.ok(epochAt(t.network, Date.now()) < 0, 'three ledgers took longer than 20 s to start')
    await waitForEpochStart(t.network, epoch)
    const seed = await seedFor(t.network, epoch, a?.api)
    await peer.publish(
      'attestations',
      attestationsFor(t, epoch, seed, t.relays, (r, w) => 2_000_000 + 1000 * r + w),
    )
    const byzantineVote = async (l: LedgerProcess) => {
      const { body } = await getAnswer(`${l.api}/epochs/${epoch}`, epochAnswer)
      return body?.votes.some(v => v.signer === byzantine.signer) ? body : undefined
    }
    for (const l of early)
      await waitFor(() => byzantineVote(l), {
        what: `the byzantine vote to reach ${l.api}`,
        timeoutMs: 30_000,
        intervalMs: 200,
      })
    for (const l of ledgers) {
      assert.equal(
        (await getAnswer(`${l.api}/epochs/${epoch}/certificate`, certificateAnswer)).status,
        404,
        'no quorum yet',
      )
    }
    const c = await startLedger(
      t.ledgerDirs[2] as string,
      ledgers.flatMap(l => l.multiaddrs),
    )
    ledgers.push(c)

    const certs = await Promise.all(ledgers.map(l => waitForCertificate(l, epoch, 25_000)))
    const root = (c: (typeof certs)[number]) => [c.contentRoot, c.rewardsRoot, c.cumulativeTotal]
    const [cert] = certs
    assert.ok(cert)
    for (const c of certs) assert.deepEqual(root(c), root(cert), 'one root for the epoch everywhere')
    assert.ok(!cert.signers.includes(byzantine.signer), 'the corrupted vote is not in the certificate')
    assert.notEqual(BigInt(cert.cumulativeTotal), 0n)

    // Its honest replica's tally matches the certificate; its conflicting vote is kept as evidence.
    const tally = await getAnswer(`${byzantine.api}/epochs/${epoch}/tally`, tallyAnswer)
    assert.equal(tally.body?.rewardsRoot, cert.rewardsRoot)
    for (const l of early) {
      const info = await byzantineVote(l)
      assert.ok(info, `${l.api} still holds the byzantine vote`)
      const bad = info.votes.find(v => v.signer === byzantine.signer)
      assert.ok(bad)
      assert.equal(bad.matchesCertificate, false)
      assert.notEqual(bad.rewardsRoot, cert.rewardsRoot)
      assert.equal(bad.contentRoot, cert.contentRoot)
      assert.equal(info.status, 'certified')
    }
  })
})
