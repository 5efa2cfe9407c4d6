import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Libp2p } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { protocolId } from '../../node/host/host.ts'
import { createLocalNetwork } from '../../node/host/local-network.ts'
import { DB_FILE } from '../../ledger/ledger.ts'
import { LedgerStore } from '../../ledger/store.ts'
import { syncEpoch } from '../../ledger/sync.ts'
import { generateEd25519 } from '../../protocol/ed25519.ts'
import { epochAt, epochStart } from '../../protocol/epoch.ts'
import type { NetworkDefinition } from '../../protocol/network.ts'
import { peerIdOfPublicKey, peerIdToString } from '../../protocol/peer.ts'
import { encodeRelayRecord, itemId, signRelayRecord } from '../../protocol/record.ts'
import {
  getAnswer,
  type LedgerProcess,
  startLedger,
  tearDown,
  testPeer,
  waitForCertificate,
  waitForEpochStart,
} from './helpers.ts'
import { waitFor } from '../helpers/wait.ts'
import { createNode, MemorySource } from './sync-helpers.ts'
import { epochAnswer, relayAnswer } from '../../protocol/ledger-api.ts'

function relayRecord(network: NetworkDefinition, epoch: number) {
  const key = generateEd25519()
  const relay = peerIdOfPublicKey(key.publicKey)
  const bytes = encodeRelayRecord(
    signRelayRecord(
      {
        net: network.id,
        relay,
        epoch,
        seq: 1,
        addrs: ['/ip4/127.0.0.1/tcp/1'],
        payout: new Uint8Array(20).fill(5),
        maxBandwidthBps: 0,
      },
      key.seed,
    ),
  )
  return { relay, peerId: peerIdToString(relay), bytes }
}

// DESIGN §13: ledgers answer their committee. Sync serves members only, and every item a sync brings in
// belongs to the epoch being reconciled.
describe('ledger: who sync answers, and what it may bring in', function () {
  this.timeout(120_000)
  let work: string
  const ledgers: LedgerProcess[] = []
  let peer: Awaited<ReturnType<typeof testPeer>> | undefined
  let stranger: Libp2p | undefined
  let network: NetworkDefinition
  // member 1 is dishonest: it lists, among epoch 2's items, a relay record that says it was published in
  // epoch 0, registering that relay 2 epochs earlier than it could have been (eligibilityDelay is 3). It
  // starts first, so every honest member is connected to it when it closes epoch 2.
  const DISHONEST = 0
  const BACKDATED_IN = 2
  let backdated: ReturnType<typeof relayRecord>

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'weir-sync-access-'))
    const made = createLocalNetwork({
      out: join(work, 'net'),
      witnesses: 3,
      committee: 4,
      epochSeconds: 4,
      graceSeconds: 1,
      eligibilityDelay: 3,
      emission: 1000n,
      chainId: 31337,
      genesis: Date.now() + 8000,
    })
    network = made.network
    backdated = relayRecord(network, 0)
    const store = new LedgerStore(join(made.ledgerDirs[DISHONEST] as string, DB_FILE))
    store.write(
      [
        {
          id: itemId('relay-record', backdated.bytes),
          kind: 'relay-record',
          epoch: BACKDATED_IN,
          relay: backdated.relay,
          bytes: backdated.bytes,
          receivedAt: epochStart(network, BACKDATED_IN),
        },
      ],
      [],
      () => false,
    )
    store.close()
    // one at a time, each bootstrapping to those before it, kept as they start so `after` stops them
    for (const dir of made.ledgerDirs)
      ledgers.push(
        await startLedger(
          dir,
          ledgers.flatMap(l => l.multiaddrs),
        ),
      )
    // publishes to member 2, the one the stranger then asks
    peer = await testPeer(network, [ledgers[1]?.multiaddrs[0] as string])
    await peer.ready(1)
  })

  after(async () => {
    await stranger?.stop()
    await tearDown(undefined, ledgers, [peer])
    rmSync(work, { recursive: true, force: true })
  })

  it('gives a non-member nothing', async () => {
    await waitForEpochStart(network, 0)
    const epoch = epochAt(network, Date.now())
    const records = [relayRecord(network, epoch), relayRecord(network, epoch)]
    await peer?.publish(
      'relays',
      records.map(r => r.bytes),
    )
    const member = ledgers[1] as LedgerProcess
    await waitFor(
      async () => {
        const { body } = await getAnswer(`${member.api}/epochs/${epoch}`, epochAnswer)
        return body?.relayRecords === records.length ? true : undefined
      },
      { what: 'the records at member 2', timeoutMs: 10_000, intervalMs: 200 },
    )
    stranger = await createNode()
    let received = 0
    let listed = 0
    try {
      const result = await syncEpoch(
        stranger,
        multiaddr(member.multiaddrs[0] as string),
        protocolId(network.id, 'sync'),
        epoch,
        new MemorySource(),
        items => {
          received += items.length
        },
      )
      listed = result.theyHave.length
    } catch (err) {
      listed = (err as { partial?: { theyHave: unknown[] } }).partial?.theyHave.length ?? 0
    }
    assert.equal(listed, 0, `a non-member learnt ${listed} item ids`)
    assert.equal(received, 0, `a non-member fetched ${received} bodies`)
  })

  it('refuses a back-dated relay record that a member offers in reconciliation', async () => {
    const honest = ledgers.filter((_, i) => i !== DISHONEST)
    const certs = await Promise.all(honest.map(l => waitForCertificate(l, BACKDATED_IN, 40_000)))
    for (const c of certs) assert.equal(c.contentRoot, certs[0]?.contentRoot)
    for (const l of honest) {
      const i = ledgers.indexOf(l)
      const r = await getAnswer(`${l.api}/relays/${backdated.peerId}`, relayAnswer)
      assert.equal(
        r.status,
        404,
        `member ${i + 1} registered the back-dated relay (in epoch ${r.body?.registeredIn})`,
      )
      const metrics = await (await fetch(`${l.api}/metrics`)).text()
      assert.match(
        metrics,
        /weir_ledger_ingest_total\{kind="relay-record",source="sync",outcome="reject"\} [1-9]/,
        `member ${i + 1} was offered the record by sync and refused it`,
      )
    }
  })
})
