import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { LedgerStore, type NewItem, SCHEMA_VERSION, type StoredTally } from '../../ledger/store.ts'
import { decodeAttestation, sameClaim } from '../../protocol/attestation.ts'
import { compareBytes, toHex } from '../../protocol/bytes.ts'
import { encodeRelayRecord, itemId, signRelayRecord } from '../../protocol/record.ts'
import { attestationsFor } from './helpers.ts'
import { memoryLedger, unitNetwork } from './memory-ledger.ts'

// The store on its own, in memory: what it keeps, what it refuses to keep twice, what it leaves out.

const t = unitNetwork()
const seed = memoryLedger(t).seedOf(0) as Uint8Array
const capacity = (r: number, w: number) => 1_000_000 * (r + 1) + w

function attestationItem(bytes: Uint8Array): NewItem {
  const a = decodeAttestation(bytes)
  return {
    id: itemId('attestation', bytes),
    kind: 'attestation',
    epoch: a.epoch,
    relay: a.relay,
    witness: a.witness,
    bytes,
    receivedAt: 1,
  }
}

/** The epoch's attestations of one relay, one from each assigned witness; `variant` changes the claims. */
const attestations = (epoch: number, variant = 0) =>
  attestationsFor(t, epoch, seed, t.relays.slice(0, 1), capacity, variant).map(attestationItem)

const differs = (a: Uint8Array, b: Uint8Array) => !sameClaim(decodeAttestation(a), decodeAttestation(b))
const hex = (ids: Uint8Array[]) => ids.map(toHex)

describe('ledger store', () => {
  let store: LedgerStore
  beforeEach(() => {
    store = new LedgerStore(':memory:')
  })
  afterEach(() => store.close())

  describe('items', () => {
    it('stores an item once: writing it again changes nothing', () => {
      const [a] = attestations(0) as [NewItem]
      assert.deepEqual(store.write([a], [], differs), { inserted: 1, equivocations: 0 })
      assert.deepEqual(store.write([a], [], differs), { inserted: 0, equivocations: 0 })
      assert.ok(store.hasItem(a.id))
      assert.deepEqual(hex(store.itemIds(0)), [toHex(a.id)])
      assert.deepEqual(store.counts(0), { attestations: 1, relayRecords: 0 })
    })

    it("lists an epoch's ids in byte order and serves the bodies asked for, skipping unknown ids", () => {
      const items = attestations(0)
      const record = encodeRelayRecord(
        signRelayRecord(
          {
            net: t.network.id,
            relay: t.relays[0]?.peerId as Uint8Array,
            epoch: 0,
            seq: 1,
            addrs: ['/ip4/127.0.0.1/tcp/1'],
            payout: new Uint8Array(20),
            maxBandwidthBps: 0,
          },
          t.relays[0]?.key.seed as Uint8Array,
        ),
      )
      const recordItem: NewItem = {
        id: itemId('relay-record', record),
        kind: 'relay-record',
        epoch: 0,
        relay: t.relays[0]?.peerId as Uint8Array,
        bytes: record,
        receivedAt: 1,
      }
      store.write([...items, recordItem], [], differs)
      store.write(attestations(1), [], differs)
      const ids = [...items, recordItem].map(i => i.id).sort(compareBytes)
      assert.deepEqual(hex(store.itemIds(0)), hex(ids))
      assert.deepEqual(store.epochsWithItems(), [0, 1])
      assert.deepEqual(store.counts(0), { attestations: items.length, relayRecords: 1 })
      const unknown = new Uint8Array(32)
      const bodies = store.bodies(0, [recordItem.id, unknown, items[0]?.id as Uint8Array])
      assert.deepEqual(bodies, [
        { kind: 'relay-record', bytes: record },
        { kind: 'attestation', bytes: items[0]?.bytes },
      ])
      assert.deepEqual(store.relayRecordBodies(0), [record])
      assert.deepEqual(store.relayRecordsThrough(0), [record])
      assert.equal(store.attestationBodies(1).length, attestations(1).length)
    })

    it('keeps both attestations of an equivocation, and the pair as evidence', () => {
      const [first] = attestations(0, 0) as [NewItem]
      const [second] = attestations(0, 1) as [NewItem]
      store.write([first], [], differs)
      assert.deepEqual(store.write([second], [], differs), { inserted: 1, equivocations: 1 })
      assert.equal(store.counts(0).attestations, 2, 'both claims stay in the content')
      const [evidence, ...more] = store.equivocations(0)
      assert.equal(more.length, 0)
      assert.deepEqual(evidence, {
        relay: first.relay,
        witness: first.witness,
        first: first.id,
        second: second.id,
      })
    })

    it('records no evidence when `differs` judges two items one claim', () => {
      const [first] = attestations(0, 0) as [NewItem]
      const [second] = attestations(0, 1) as [NewItem]
      store.write([first, second], [], () => false)
      assert.deepEqual(store.equivocations(0), [])
    })

    it('writes in one transaction: a write that fails part-way leaves nothing behind', () => {
      const [a] = attestations(0, 0) as [NewItem]
      const [b] = attestations(0, 1) as [NewItem]
      const pending = { ...a, id: new Uint8Array(32).fill(9) }
      assert.throws(
        () =>
          store.write([a, b], [pending], () => {
            throw new Error('disk full')
          }),
        /disk full/,
      )
      assert.equal(store.hasItem(a.id), false)
      assert.equal(store.pendingCount(), 0)
    })

    it('holds pending items until a write resolves them', () => {
      const [a] = attestations(0) as [NewItem]
      store.write([], [{ id: a.id, kind: 'attestation', epoch: 0, bytes: a.bytes, receivedAt: 5 }], differs)
      store.write([], [{ id: a.id, kind: 'attestation', epoch: 0, bytes: a.bytes, receivedAt: 6 }], differs)
      assert.deepEqual(store.pending(), [
        { id: a.id, kind: 'attestation', epoch: 0, bytes: a.bytes, receivedAt: 5 },
      ])
      store.write([a], [], differs, [a.id])
      assert.equal(store.pendingCount(), 0)
      assert.ok(store.hasItem(a.id))
    })

    it('excluded items are still held (never ingested again) but no longer listed, served or counted', () => {
      const items = attestations(0)
      store.write(items, [], differs)
      const [out, ...kept] = items as [NewItem, ...NewItem[]]
      store.exclude(0, [out.id])
      assert.ok(store.hasItem(out.id))
      assert.deepEqual(hex(store.itemIds(0)), hex(kept.map(i => i.id).sort(compareBytes)))
      assert.deepEqual(store.bodies(0, [out.id]), [])
      assert.equal(store.attestationBodies(0).length, kept.length)
      assert.deepEqual(store.counts(0), { attestations: kept.length, relayRecords: 0 })
    })
  })

  describe('votes', () => {
    const vote = (signer: string, rootKey: number) => ({
      epoch: 3,
      signer,
      rootKey: new Uint8Array(32).fill(rootKey),
      bytes: Uint8Array.of(rootKey),
    })

    it("stores a member's vote for a root once", () => {
      assert.equal(store.insertVote(vote('0xaa', 1)), true)
      assert.equal(store.insertVote(vote('0xaa', 1)), false)
      assert.equal(store.votes(3).length, 1)
    })

    it("keeps a member's second root for the same epoch as evidence, beside the first", () => {
      store.insertVote(vote('0xbb', 1))
      store.insertVote(vote('0xaa', 1))
      assert.equal(store.insertVote(vote('0xaa', 2)), true)
      assert.deepEqual(
        store.votes(3, '0xaa').map(v => v.bytes[0]),
        [1, 2],
      )
      assert.deepEqual(
        store.votes(3).map(v => v.signer),
        ['0xaa', '0xaa', '0xbb'],
      )
      assert.deepEqual(store.votes(4), [])
    })
  })

  describe('certificates and tallies', () => {
    it("keeps an epoch's first certificate: a later one does not replace it", () => {
      assert.equal(store.insertCertificate({ epoch: 2, bytes: Uint8Array.of(1), signers: ['0xaa'] }), true)
      assert.equal(store.insertCertificate({ epoch: 2, bytes: Uint8Array.of(2), signers: ['0xbb'] }), false)
      store.insertCertificate({ epoch: 0, bytes: Uint8Array.of(0), signers: [] })
      assert.deepEqual(store.certificate(2), { epoch: 2, bytes: Uint8Array.of(1), signers: ['0xaa'] })
      assert.equal(store.certificate(1), undefined)
      assert.equal(store.latestCertificate()?.epoch, 2)
      assert.deepEqual(store.certifiedEpochs(), [0, 2])
    })

    it("replaces an epoch's tally and its relay lines; a relay's history runs oldest first", () => {
      const tally = (epoch: number, total: bigint): StoredTally => ({
        epoch,
        contentRoot: new Uint8Array(32).fill(epoch),
        rewardsRoot: new Uint8Array(32).fill(epoch + 1),
        cumulativeTotal: total,
        itemCount: 1,
        json: `{"epoch":${epoch}}`,
      })
      store.saveTally(tally(1, 5n), [{ peerId: 'r1', json: 'old' }])
      store.saveTally(tally(1, 2n ** 200n), [{ peerId: 'r2', json: 'one' }])
      store.saveTally(tally(0, 1n), [{ peerId: 'r2', json: 'zero' }])
      assert.equal(store.tally(1)?.cumulativeTotal, 2n ** 200n)
      assert.deepEqual(store.relayHistory('r1'), [])
      assert.deepEqual(store.relayHistory('r2'), ['zero', 'one'])
      assert.deepEqual(
        store.tallies().map(x => x.epoch),
        [0, 1],
      )
      assert.equal(store.tally(7), undefined)
    })
  })

  describe('schema', () => {
    let dir: string
    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'weir-store-'))
    })
    after(() => rmSync(dir, { recursive: true, force: true }))

    it('creates the current schema, and refuses a database from a newer build', () => {
      const path = join(dir, 'ledger.sqlite')
      new LedgerStore(path).close()
      const db = new Database(path)
      assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION)
      db.pragma(`user_version = ${SCHEMA_VERSION + 1}`)
      db.close()
      assert.throws(() => new LedgerStore(path), /has schema \d+, this build knows up to \d+/)
    })
  })
})
