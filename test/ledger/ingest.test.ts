import assert from 'node:assert/strict'
import { epochStart } from '../../protocol/epoch.ts'
import { itemId } from '../../protocol/record.ts'
import { epochSeed } from '../../protocol/seed.ts'
import { attestationsFor } from './helpers.ts'
import { certify, type MemoryLedger, memoryLedger, rootOf, tally, counted } from './memory-ledger.ts'

// The ingest's promise is gossip's acknowledgement: a ledger forwards an item only once it answered
// accept, so accept must mean "committed".

describe('ledger ingest: acknowledged only after the write', () => {
  let m: MemoryLedger
  let items: Uint8Array[]
  beforeEach(() => {
    m = memoryLedger()
    m.clock.ms = epochStart(m.network, 0) + 30_000
    items = attestationsFor(m.t, 0, m.seedOf(0) as Uint8Array, m.t.relays, (r, w) => 1000 * (r + 1) + w)
  })
  afterEach(() => m.store.close())

  it('answers accept once the item is committed, not before', async () => {
    const bytes = items[0] as Uint8Array
    const answer = m.ingest.submit('attestation', bytes)
    assert.equal(m.store.hasItem(itemId('attestation', bytes)), false, 'queued for the next group commit')
    assert.equal((await answer).outcome, 'accept')
    assert.equal(m.store.hasItem(itemId('attestation', bytes)), true)
  })

  it('commits a burst in one transaction and answers each item', async () => {
    const answers = await Promise.all(items.map(b => m.ingest.submit('attestation', b)))
    assert.deepEqual(new Set(answers.map(a => a.outcome)), new Set(['accept']))
    assert.equal(await counted(m.metrics.commits), 1)
    assert.equal(m.store.counts(0).attestations, items.length)
  })

  it('answers a copy that arrives during the write as a duplicate, after the commit', async () => {
    const bytes = items[0] as Uint8Array
    const [first, copy] = await Promise.all([
      m.ingest.submit('attestation', bytes),
      m.ingest
        .submit('attestation', bytes)
        .then(r => ({ ...r, held: m.store.hasItem(itemId('attestation', bytes)) })),
    ])
    assert.equal(first.outcome, 'accept')
    assert.deepEqual(copy, { outcome: 'duplicate', held: true })
    assert.equal((await m.ingest.submit('attestation', bytes)).outcome, 'duplicate')
  })

  it('acknowledges nothing when the commit fails, and takes the item again afterwards', async () => {
    const bytes = items[0] as Uint8Array
    const write = m.store.write.bind(m.store)
    m.store.write = () => {
      throw new Error('disk I/O error')
    }
    await assert.rejects(m.ingest.submit('attestation', bytes), /disk I\/O error/)
    assert.equal(m.store.hasItem(itemId('attestation', bytes)), false)
    m.store.write = write
    assert.equal((await m.ingest.submit('attestation', bytes)).outcome, 'accept')
  })

  it('holds an attestation whose seed is unknown as pending, and accepts it once the seed is known', async () => {
    // Epoch 2's seed commits to epoch 0's certified root: known here in advance, held by the ledger only
    // once epoch 0 is certified.
    const root = rootOf(m.network, tally(m, 0))
    const seed = epochSeed(m.network, 2, root) as Uint8Array
    m.clock.ms = epochStart(m.network, 2) + 30_000
    const [bytes] = attestationsFor(m.t, 2, seed, m.t.relays.slice(0, 1), () => 1000) as [Uint8Array]
    assert.equal((await m.ingest.submit('attestation', bytes)).outcome, 'pending')
    assert.equal(await m.ingest.revalidatePending(() => false), 0, 'its seed is still unknown')
    assert.equal(m.store.pendingCount(), 1)
    assert.equal(m.store.hasItem(itemId('attestation', bytes)), false)
    certify(m, 0)
    assert.equal(await m.ingest.revalidatePending(() => false), 1)
    assert.equal(m.store.pendingCount(), 0)
    assert.equal(m.store.hasItem(itemId('attestation', bytes)), true)
  })
})
