import assert from 'node:assert/strict'
import { to0x } from '../../protocol/bytes.ts'
import { contentRoot } from '../../protocol/content.ts'
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
  testPeer,
  waitForCertificate,
  waitForEpochStart,
} from './helpers.ts'
import { waitFor } from '../helpers/wait.ts'
import { epochAnswer, tallyAnswer } from '../../protocol/ledger-api.ts'

describe('ledger: a member holding more than the certified content', function () {
  this.timeout(90_000)
  let t: LedgerNetwork
  let ledgers: LedgerProcess[] = []
  const peers: { stop(): void | Promise<void> }[] = []

  after(() => tearDown(t, ledgers, peers))

  it('leaves the extra items out and reproduces the certified tally', async () => {
    t = makeNetwork({
      committee: 4,
      witnesses: 4,
      epochSeconds: 10,
      graceSeconds: 5,
      relays: 6,
      genesisInMs: 8000,
    })
    const dirs = t.ledgerDirs as [string, string, string, string]
    // The fourth member starts alone: nobody knows its address, so it meets no other member (and the
    // DHT cannot introduce it either), while the other three certify epoch 0 without it (quorum 3).
    const late = await startLedger(dirs[3])
    const quorum = await startLedgers(dirs.slice(0, 3))
    ledgers = [...quorum, late]
    const [main, aside] = await Promise.all([
      testPeer(
        t.network,
        quorum.map(l => l.multiaddrs[0] as string),
      ),
      testPeer(t.network, [late.multiaddrs[0] as string]),
    ])
    peers.push(main, aside)
    await Promise.all([main.ready(3), aside.ready(1)])

    await waitForEpochStart(t.network, 0)
    const seed = await seedFor(t.network, 0)
    const capacity = (r: number, w: number) => 1_000_000 * (r + 1) + 1000 * w
    const common = attestationsFor(t, 0, seed, t.relays.slice(0, 5), capacity)
    // The last relay's attestations reach only the lone member: with them it would be paid.
    const extra = attestationsFor(t, 0, seed, t.relays.slice(5), capacity)
    await main.publish('attestations', common)
    await aside.publish('attestations', [...common, ...extra])
    const holds = (l: LedgerProcess, n: number) =>
      waitFor(async () => (await getAnswer(`${l.api}/epochs/0`, epochAnswer)).body?.attestations === n, {
        what: `${l.api} to hold ${n} attestations`,
        timeoutMs: 20_000,
        intervalMs: 200,
      })
    await Promise.all([
      ...quorum.map(l => holds(l, common.length)),
      holds(late, common.length + extra.length),
    ])
    await stopLedger(late)

    const cert = await waitForCertificate(quorum[0] as LedgerProcess, 0, 30_000)
    const expected = to0x(contentRoot(common.map(b => itemId('attestation', b))))
    assert.equal(cert.contentRoot, expected, 'certified without the extra attestations')

    // Back, connected to the others: it learns the certificate and which ids it covers.
    ledgers[3] = await startLedger(
      dirs[3],
      quorum.flatMap(l => l.multiaddrs),
    )
    const tally = await waitFor(
      async () => {
        const { body } = await getAnswer(`${ledgers[3]?.api}/epochs/0/tally`, tallyAnswer)
        return body?.certified ? body : undefined
      },
      { what: 'the late member to match the certificate', timeoutMs: 30_000, intervalMs: 200 },
    )
    assert.equal(tally.contentRoot, cert.contentRoot)
    assert.equal(tally.rewardsRoot, cert.rewardsRoot)
    assert.equal(tally.items.attestations, common.length)
    const summary = await getAnswer(`${ledgers[3]?.api}/epochs/0`, epochAnswer)
    assert.equal(summary.body?.attestations, common.length, 'the extra items are no longer counted')
  })
})
