import assert from 'node:assert/strict'
import { StandardMerkleTree } from '@openzeppelin/merkle-tree'
import type * as v from 'valibot'
import { decodeAttestation } from '../../protocol/attestation.ts'
import { to0x } from '../../protocol/bytes.ts'
import { contentRoot } from '../../protocol/content.ts'
import { epochAt } from '../../protocol/epoch.ts'
import {
  certificateAnswer,
  epochAnswer,
  epochsAnswer,
  healthAnswer,
  relayAnswer,
  relaysAnswer,
  rewardsAnswer,
  tallyAnswer,
} from '../../protocol/ledger-api.ts'
import type { Address } from '../../protocol/network.ts'
import { decodeRelayRecord, encodeRelayRecord, itemId, signRelayRecord } from '../../protocol/record.ts'
import { buildRegistry } from '../../protocol/registry.ts'
import { computeTally } from '../../protocol/tally.ts'
import {
  attestationsFor,
  getAnswer,
  type LedgerProcess,
  makeNetwork,
  seedFor,
  startLedgers,
  tearDown,
  type LedgerNetwork,
  testPeer,
  waitForCertificate,
  waitForEpochStart,
} from './helpers.ts'
import { party, type Relay } from '../helpers/network.ts'

describe('ledger: four replicas over gossip', function () {
  this.timeout(90_000)
  let t: LedgerNetwork
  let ledgers: LedgerProcess[] = []
  let peer: Awaited<ReturnType<typeof testPeer>> | undefined

  after(() => tearDown(t, ledgers, [peer]))

  it('certify the same root for every epoch, and serve certificates and verifiable proofs', async () => {
    t = makeNetwork({
      committee: 4,
      witnesses: 4,
      epochSeconds: 5,
      graceSeconds: 2,
      relays: 6,
      genesisInMs: 6000,
    })
    ledgers = await startLedgers(t.ledgerDirs)
    peer = await testPeer(
      t.network,
      ledgers.map(l => l.multiaddrs[0] as string),
    )
    await peer.ready(4)

    // Start with the first epoch that begins after setup (earlier ones stay empty, certified all the same).
    const first = epochAt(t.network, Date.now()) + 1
    // A relay that registers by gossip in epoch 0 (eligibilityDelay 0), next to the genesis relays.
    const fresh: Relay = { ...party(`${t.network.id}/fresh-relay`), payout: to0x(new Uint8Array(20).fill(7)) }
    const record = encodeRelayRecord(
      signRelayRecord(
        {
          net: t.network.id,
          relay: fresh.peerId,
          epoch: first,
          seq: 1,
          addrs: ['/ip4/127.0.0.1/tcp/1'],
          payout: new Uint8Array(20).fill(7),
          maxBandwidthBps: 0,
        },
        fresh.key.seed,
      ),
    )

    const published = new Map<number, { kind: 'attestation' | 'relay-record'; bytes: Uint8Array }[]>()
    const seeds = new Map<number, Uint8Array>()
    for (const epoch of [first, first + 1, first + 2]) {
      await waitForEpochStart(t.network, epoch)
      const seed = await seedFor(t.network, epoch, ledgers[0]?.api)
      seeds.set(epoch, seed)
      const relays = epoch === first ? [...t.relays, fresh] : t.relays.slice(0, 4 + epoch - first)
      const items = attestationsFor(t, epoch, seed, relays, (r, w) => 1_000_000 * (r + 1) + 1000 * w + epoch)
      if (epoch === first) await peer.publish('relays', [record])
      await peer.publish('attestations', items)
      published.set(epoch, [
        ...(epoch === first ? [{ kind: 'relay-record' as const, bytes: record }] : []),
        ...items.map(bytes => ({ kind: 'attestation' as const, bytes })),
      ])
      if (epoch === first) await waitForCertificate(ledgers[0] as LedgerProcess, first, 15_000)
    }

    // Expected roots, computed here from what was published with protocol/ alone.
    let previous = new Map<Address, bigint>()
    const registry = buildRegistry(t.network, [decodeRelayRecord(record)])
    for (let epoch = 0; epoch <= first + 3; epoch++) {
      const items = published.get(epoch) ?? []
      const certs = await Promise.all(ledgers.map(l => waitForCertificate(l, epoch, 20_000)))
      // Each replica may assemble its certificate from a different quorum of signatures: same root.
      const root = (c: (typeof certs)[number]) => [c.contentRoot, c.rewardsRoot, c.cumulativeTotal]
      const [cert] = certs
      assert.ok(cert)
      for (const c of certs) assert.deepEqual(root(c), root(cert), `epoch ${epoch}: same root`)
      assert.ok(cert.signers.length >= t.network.quorum)
      assert.equal(cert.contentRoot, to0x(contentRoot(items.map(i => itemId(i.kind, i.bytes)))))
      const expected = computeTally({
        network: t.network,
        epoch,
        seed: seeds.get(epoch) ?? (await seedFor(t.network, epoch, ledgers[0]?.api)),
        attestations: items.filter(i => i.kind === 'attestation').map(i => decodeAttestation(i.bytes)),
        registry,
        previous,
      })
      assert.equal(cert.rewardsRoot, to0x(expected.rewardsRoot), `epoch ${epoch}: rewards root`)
      assert.equal(cert.cumulativeTotal, expected.cumulativeTotal)
      previous = new Map(expected.leaves.map(l => [l.account, l.amount]))
      if (epoch === first + 3)
        assert.equal(expected.emitted, 0n, 'the empty epoch is certified with zero rewards')
    }

    // Every replica serves a proof for every payout address that OpenZeppelin's verifier accepts.
    const latest = await getAnswer(`${ledgers[0]?.api}/epochs/latest/certificate`, certificateAnswer)
    assert.equal(latest.status, 200)
    for (const [account, amount] of previous) {
      for (const l of ledgers) {
        const r = await getAnswer(`${l.api}/rewards/${account}`, rewardsAnswer)
        assert.equal(r.status, 200)
        assert.equal(r.body?.amount, amount)
        assert.ok(
          StandardMerkleTree.verify(
            r.body.rewardsRoot,
            ['address', 'uint256'],
            [account, amount],
            r.body.proof,
          ),
        )
      }
    }
    const tally = await getAnswer(`${ledgers[1]?.api}/epochs/${first + 1}/tally`, tallyAnswer)
    assert.equal(tally.status, 200)
    assert.equal(tally.body?.certified, true)
    assert.equal(tally.body?.relays.length, 5)

    // The API's routes and refusals are unit-tested (api.test.ts); here, that the process serves them,
    // in the shapes the clients parse.
    await answersFitSchemas(ledgers[3] as LedgerProcess, first + 1, t.relays[0]?.text as string)
    const health = await getAnswer(`${ledgers[2]?.api}/healthz`, healthAnswer)
    assert.equal(health.status, 200)
    assert.ok((health.body?.latestCertified ?? -1) >= first + 3)
    const metrics = await fetch(`${ledgers[2]?.api}/metrics`)
    assert.match(
      await metrics.text(),
      /weir_ledger_ingest_total\{kind="attestation",source="gossip",outcome="accept"\} \d+/,
    )
  })
})

/** Every route answers what its schema in protocol/ledger-api.ts (which the clients parse with) describes. */
async function answersFitSchemas(l: LedgerProcess, epoch: number, relay: string) {
  const routes: [string, v.GenericSchema][] = [
    ['/healthz', healthAnswer],
    ['/epochs', epochsAnswer],
    [`/epochs/${epoch}`, epochAnswer],
    [`/epochs/${epoch}/tally`, tallyAnswer],
    [`/epochs/${epoch}/certificate`, certificateAnswer],
    ['/epochs/latest/certificate', certificateAnswer],
    ['/relays', relaysAnswer],
    [`/relays/${relay}`, relayAnswer],
  ]
  for (const [path, schema] of routes) {
    assert.equal((await getAnswer(`${l.api}${path}`, schema)).status, 200, path)
  }
}
