import assert from 'node:assert/strict'
import { EpochCloser } from '../../ledger/close.ts'
import { keyVoteSigner } from '../../ledger/vote-signer.ts'
import { toHex } from '../../protocol/bytes.ts'
import { graceEnd } from '../../protocol/epoch.ts'
import {
  type Certificate,
  decodeCertificate,
  decodeVote,
  encodeCertificate,
  sameRoot,
} from '../../protocol/vote.ts'
import {
  certify,
  ingestAttestations,
  type MemoryLedger,
  memoryLedger,
  rootOf,
  ScriptedReconciler,
  syncFrom,
  tally,
  unitNetwork,
  voteFrom,
  counted,
} from './memory-ledger.ts'

// The epoch closer of member 0, driven by ticks as the ledger's timer drives it, with a clock the test
// sets, the other members' votes handed to its vote book, and reconciliation scripted.

/** Comfortably past an epoch's grace (the closer lets it settle half a second more). */
const afterGrace = (m: MemoryLedger, epoch: number) => graceEnd(m.network, epoch) + 1000

function closerOf(m: MemoryLedger, o: { peers?: number } = {}) {
  const [me, ...others] = m.t.members as [
    MemoryLedger['t']['members'][number],
    ...MemoryLedger['t']['members'],
  ]
  const reconciler = new ScriptedReconciler()
  const published: Uint8Array[] = []
  const certified: number[] = []
  let peers = others.slice(0, o.peers ?? others.length).map(p => p.party.text)
  const closer = new EpochCloser({
    network: m.network,
    store: m.store,
    votes: m.votes,
    metrics: m.metrics,
    signer: keyVoteSigner(me.signerKey),
    seedOf: e => m.seedOf(e),
    committeePeers: () => peers,
    reconciler,
    publish: bytes => {
      if (isVote(bytes)) {
        const held = m.store.votes(decodeVote(bytes).epoch, closer.signer).map(v => toHex(v.bytes))
        assert.deepEqual(held, [toHex(bytes)], 'a vote is on disk before anyone sees it')
      }
      published.push(bytes)
    },
    onCertified: e => certified.push(e),
    now: m.clock.now,
  })
  return {
    closer,
    reconciler,
    published,
    certified,
    others,
    setPeers: (n: number) => {
      peers = others.slice(0, n).map(p => p.party.text)
    },
    /** epochs of the votes published, in order */
    votedEpochs: () => published.filter(isVote).map(b => decodeVote(b).epoch),
    certificates: () => published.filter(b => !isVote(b)).map(decodeCertificate),
  }
}

function isVote(bytes: Uint8Array): boolean {
  try {
    decodeVote(bytes)
    return true
  } catch {
    return false
  }
}

describe('ledger epoch closer', () => {
  let m: MemoryLedger
  beforeEach(async () => {
    m = memoryLedger(unitNetwork())
    await ingestAttestations(m, 0)
  })
  afterEach(() => m.store.close())

  it("waits for the epoch's grace to end", async () => {
    const c = closerOf(m)
    m.clock.ms = graceEnd(m.network, 0) - 1
    await c.closer.tick()
    assert.equal(c.reconciler.calls.length, 0)
    assert.deepEqual(c.published, [])
    m.clock.ms = afterGrace(m, 0)
    await c.closer.tick()
    assert.deepEqual(c.votedEpochs(), [0])
  })

  it('reconciles with the reachable members, tallies, and signs one vote for its tally', async () => {
    const c = closerOf(m)
    m.clock.ms = afterGrace(m, 0)
    await c.closer.tick()
    assert.deepEqual(
      c.reconciler.calls.map(call => [call.epoch, call.peers.length, call.certifiedRoot]),
      [[0, 3, undefined]],
    )
    const stored = m.store.tally(0)
    assert.ok(stored, 'tallied')
    const vote = c.closer.myVote(0)
    assert.ok(vote && sameRoot(vote, rootOf(m.network, stored)), 'the vote is for its own tally')
    assert.equal(await counted(m.metrics.votesSigned), 1)
  })

  it('needs quorum − 1 other members reachable, and retries until it has them', async () => {
    const c = closerOf(m, { peers: 1 })
    m.clock.ms = afterGrace(m, 0)
    await c.closer.tick()
    assert.equal(c.reconciler.calls.length, 0, 'one other member of four cannot make a quorum of three')
    c.setPeers(3)
    c.reconciler.reached = 1
    await c.closer.tick()
    assert.deepEqual(c.published, [], 'reconciliation reached only one member')
    c.reconciler.reached = undefined
    await c.closer.tick()
    assert.equal(c.reconciler.calls.length, 2)
    assert.deepEqual(c.votedEpochs(), [0])
  })

  it('republishes its vote every 2 s until a certificate forms, and never signs again', async () => {
    const c = closerOf(m)
    m.clock.ms = afterGrace(m, 0)
    await c.closer.tick()
    m.clock.ms += 1000
    await c.closer.tick()
    assert.equal(c.published.length, 1)
    m.clock.ms += 1000
    await c.closer.tick()
    assert.equal(c.published.length, 2)
    assert.deepEqual(c.published[1], c.published[0], 'the same vote')
    assert.equal(await counted(m.metrics.votesSigned), 1)
    assert.equal(c.reconciler.calls.length, 1)
  })

  it('never signs a second root for an epoch: restarted with more content, it republishes its stored vote', async () => {
    const c = closerOf(m)
    m.clock.ms = afterGrace(m, 0)
    await c.closer.tick()
    const first = c.closer.myVote(0)
    // More of epoch 0 arrives (as a sync would bring it), then the member restarts.
    await ingestAttestations(m, 0, { variant: 1 })
    const restarted = closerOf(m)
    await restarted.closer.tick()
    assert.deepEqual(restarted.published, c.published, 'the stored vote, republished')
    assert.equal(restarted.reconciler.calls.length, 0)
    assert.equal(m.store.votes(0, restarted.closer.signer).length, 1)
    assert.deepEqual(restarted.closer.myVote(0), first)
  })

  it('forms the certificate when its vote completes the quorum, publishes it, and finishes the epoch', async () => {
    const c = closerOf(m)
    const root = rootOf(m.network, tally(m, 0))
    for (const other of c.others.slice(0, 2)) assert.equal(voteFrom(m, other, root), undefined)
    m.clock.ms = afterGrace(m, 0)
    await c.closer.tick()
    const [cert, ...more] = c.certificates()
    assert.equal(more.length, 0)
    assert.ok(cert && sameRoot(cert, root))
    assert.equal(cert.signatures.length, m.network.quorum)
    assert.deepEqual(m.store.certificate(0)?.bytes, encodeCertificate(cert as Certificate))
    await c.closer.tick()
    assert.deepEqual(c.certified, [0])
    assert.equal(c.closer.next, 1)
  })

  it('finishes the epoch once the others complete the quorum after its vote', async () => {
    const c = closerOf(m)
    m.clock.ms = afterGrace(m, 0)
    await c.closer.tick()
    const vote = c.closer.myVote(0) as NonNullable<ReturnType<typeof c.closer.myVote>>
    assert.equal(voteFrom(m, c.others[0] as (typeof c.others)[number], vote), undefined, 'two of three')
    assert.ok(voteFrom(m, c.others[1] as (typeof c.others)[number], vote), 'three of three: certified')
    await c.closer.tick()
    assert.deepEqual(c.certified, [0])
    assert.equal(c.closer.next, 1)
    assert.deepEqual(c.certificates(), [], 'it publishes only certificates its own vote completed')
  })

  it("closes epochs in order: the next one waits for the previous one's certificate", async () => {
    const c = closerOf(m)
    m.clock.ms = afterGrace(m, 1)
    await c.closer.tick()
    await c.closer.tick()
    assert.deepEqual(c.votedEpochs(), [0], 'epoch 1 is past its grace too, but 0 is not certified')
    const vote = c.closer.myVote(0) as NonNullable<ReturnType<typeof c.closer.myVote>>
    for (const other of c.others.slice(0, 2)) voteFrom(m, other, vote)
    await c.closer.tick()
    assert.deepEqual(c.certified, [0])
    assert.deepEqual(c.votedEpochs(), [0, 1], 'finishing 0 goes straight on to 1')
  })

  it('does not vote once a certificate arrived during its reconciliation', async () => {
    const c = closerOf(m)
    c.reconciler.fetch = async epoch => {
      certify(m, epoch)
      return undefined
    }
    m.clock.ms = afterGrace(m, 0)
    await c.closer.tick()
    assert.deepEqual(c.votedEpochs(), [])
    await c.closer.tick()
    assert.deepEqual(c.certified, [0], 'the certificate is adopted instead')
  })

  it('runs one step at a time: a tick while one is under way does nothing', async () => {
    const c = closerOf(m)
    m.clock.ms = afterGrace(m, 0)
    await Promise.all([c.closer.tick(), c.closer.tick()])
    assert.equal(c.reconciler.calls.length, 1)
    assert.equal(await counted(m.metrics.votesSigned), 1)
  })

  describe('adopting a certificate whose content differs from its own', () => {
    /** A certificate for epoch 0 formed by the others over `content`: ours plus `extra` items we lack. */
    async function othersCertify(extra: boolean): Promise<{ cert: Certificate; other: MemoryLedger }> {
      const other = memoryLedger(m.t)
      await ingestAttestations(other, 0)
      if (extra) await ingestAttestations(other, 0, { variant: 1 })
      const cert = certify(other, 0)
      assert.equal(m.votes.receiveCertificate(cert).verdict, 'accept')
      return { cert, other }
    }

    it('fetches what it lacks through the reconciler, then finishes with a matching tally', async () => {
      const { cert, other } = await othersCertify(true)
      const c = closerOf(m)
      c.reconciler.fetch = async () => {
        // the first attempt reaches nobody who holds the rest
        if (c.reconciler.calls.length > 1) await syncFrom(m, other, 0)
        return undefined
      }
      m.clock.ms = afterGrace(m, 0)
      await c.closer.tick()
      assert.equal(c.closer.next, 0, 'content still missing')
      assert.equal(await counted(m.metrics.tallyMismatches), 1)
      await c.closer.tick()
      assert.deepEqual(
        c.reconciler.calls.map(call => toHex(call.certifiedRoot ?? new Uint8Array())),
        [toHex(cert.contentRoot), toHex(cert.contentRoot)],
      )
      assert.deepEqual(c.certified, [0])
      assert.ok(
        sameRoot(rootOf(m.network, m.store.tally(0) as NonNullable<ReturnType<typeof m.store.tally>>), cert),
      )
      assert.deepEqual(c.votedEpochs(), [], 'it never voted on epoch 0')
    })

    it('leaves out what it holds beyond the certified set once a member shows it the certified ids', async () => {
      const { other } = await othersCertify(false)
      await ingestAttestations(m, 0, { variant: 1 })
      const c = closerOf(m)
      c.reconciler.fetch = async () => other.store.itemIds(0)
      m.clock.ms = afterGrace(m, 0)
      await c.closer.tick()
      assert.deepEqual(c.certified, [0])
      assert.equal(m.store.counts(0).attestations, other.store.counts(0).attestations)
      assert.ok((await counted(m.metrics.itemsExcluded)) > 0)
    })
  })

  it('starts, after a restart, at the first epoch whose certificate and tally it has not both settled', async () => {
    certify(m, 0)
    m.clock.ms = afterGrace(m, 1)
    const c = closerOf(m)
    assert.equal(c.closer.next, 1)
  })
})
