import type { Counter } from 'prom-client'
import assert from 'node:assert/strict'
import type { Reconciler } from '../../ledger/close.ts'
import { leavesOf, tallyEpoch } from '../../ledger/epoch-tally.ts'
import { Ingest } from '../../ledger/ingest.ts'
import { LedgerApi } from '../../ledger/api.ts'
import { Metrics } from '../../ledger/metrics.ts'
import { LedgerStore, type StoredTally } from '../../ledger/store.ts'
import { VoteBook } from '../../ledger/votes.ts'
import { toHex } from '../../protocol/bytes.ts'
import { epochStart } from '../../protocol/epoch.ts'
import type { NetworkDefinition } from '../../protocol/network.ts'
import { epochSeed } from '../../protocol/seed.ts'
import { type Certificate, decodeCertificate, type EpochRoot, signVote } from '../../protocol/vote.ts'
import { type Member, type TestNetwork, testNetwork } from '../helpers/network.ts'
import { attestationsFor } from './helpers.ts'

// A ledger's parts for unit tests: an in-memory SQLite store, the real ingest and vote book over it, a
// clock the test sets, and a reconciler the test scripts.

export const GENESIS = 1_700_000_000_000

/** The committee fixture's 4 members (quorum 3), 4 witnesses and 3 relays; one-minute epochs, 10 s grace. */
export function unitNetwork(): TestNetwork {
  return testNetwork({
    label: 'ledger-unit',
    overrides: { id: 'ledger-unit', genesis: GENESIS, epochSeconds: 60, graceSeconds: 10 },
  })
}

/** Unix ms that only the test moves. */
export class FakeClock {
  constructor(public ms: number) {}
  readonly now = (): number => this.ms
}

export interface MemoryLedger {
  t: TestNetwork
  network: NetworkDefinition
  clock: FakeClock
  store: LedgerStore
  metrics: Metrics
  votes: VoteBook
  ingest: Ingest
  /** as the ledger knows seeds: genesis for epochs 0 and 1, then from the certificate two before */
  seedOf(epoch: number): Uint8Array | undefined
}

export function memoryLedger(t: TestNetwork = unitNetwork()): MemoryLedger {
  const { network } = t
  const clock = new FakeClock(GENESIS)
  const store = new LedgerStore(':memory:')
  const metrics = new Metrics()
  const seedOf = (epoch: number) => {
    const cert = epoch < 2 ? undefined : store.certificate(epoch - 2)
    return epochSeed(network, epoch, cert && decodeCertificate(cert.bytes))
  }
  return {
    t,
    network,
    clock,
    store,
    metrics,
    votes: new VoteBook(network, store, metrics),
    ingest: new Ingest(network, store, seedOf, metrics, clock.now),
    seedOf,
  }
}

/**
 * Signed attestations of `relays` in `epoch` (by default every genesis relay, one per assigned witness,
 * `variant` changing the claim), submitted through the ingest during the epoch; all must be accepted.
 */
export async function ingestAttestations(
  m: MemoryLedger,
  epoch: number,
  o: {
    relays?: TestNetwork['relays']
    variant?: number
    /** what relay r (by index in `relays`) is attested to carry by witness w */
    capacity?: (r: number, w: number) => number
  } = {},
): Promise<Uint8Array[]> {
  const seed = m.seedOf(epoch)
  assert.ok(seed, `seed of epoch ${epoch} unknown`)
  const items = attestationsFor(
    m.t,
    epoch,
    seed,
    o.relays ?? m.t.relays,
    o.capacity ?? ((r, w) => 1_000_000 * (r + 1) + 1000 * w),
    o.variant,
  )
  const saved = m.clock.ms
  m.clock.ms = epochStart(m.network, epoch) + 30_000
  const results = await Promise.all(items.map(bytes => m.ingest.submit('attestation', bytes)))
  m.clock.ms = saved
  for (const r of results) assert.equal(r.outcome, 'accept', r.reason)
  return items
}

/** Tallies the epoch as the closer would and saves the tally. */
export function tally(m: MemoryLedger, epoch: number): StoredTally {
  const seed = m.seedOf(epoch)
  assert.ok(seed, `seed of epoch ${epoch} unknown`)
  const previous = epoch === 0 ? [] : leavesOf(m.store.tally(epoch - 1))
  const { stored, lines } = tallyEpoch(m.network, m.store, epoch, seed, previous)
  m.store.saveTally(
    stored,
    lines.map(l => ({ peerId: l.peerId, json: JSON.stringify(l) })),
  )
  return stored
}

export function rootOf(network: NetworkDefinition, t: StoredTally): EpochRoot {
  return {
    net: network.id,
    epoch: t.epoch,
    contentRoot: t.contentRoot,
    rewardsRoot: t.rewardsRoot,
    cumulativeTotal: t.cumulativeTotal,
  }
}

/** A member's vote for a root, received by the ledger's vote book; returns the certificate if it formed one. */
export function voteFrom(m: MemoryLedger, member: Member, root: EpochRoot): Certificate | undefined {
  const outcome = m.votes.receiveVote(signVote(m.votes.domain, root, member.signerKey))
  assert.equal(outcome.verdict, 'accept', outcome.verdict === 'accept' ? '' : outcome.reason)
  return outcome.verdict === 'accept' ? outcome.certificate : undefined
}

/** Tallies the epoch and has the last `quorum` members vote for it: the certificate forms. */
export function certify(m: MemoryLedger, epoch: number): Certificate {
  const root = rootOf(m.network, tally(m, epoch))
  const signers = m.t.members.slice(-m.network.quorum)
  const certs = signers.map(s => voteFrom(m, s, root))
  const cert = certs[certs.length - 1]
  assert.ok(cert, `no certificate for epoch ${epoch}`)
  return cert
}

/**
 * Reconciliation as the test scripts it: records each call, reaches `reached` members (all asked by
 * default), and runs `fetch` (which may add content to the store as a sync would) for the answer.
 */
export class ScriptedReconciler implements Reconciler {
  readonly calls: { epoch: number; peers: readonly string[]; certifiedRoot?: Uint8Array }[] = []
  reached: number | undefined
  fetch: (epoch: number, certifiedRoot?: Uint8Array) => Promise<Uint8Array[] | undefined> = async () =>
    undefined

  async reconcile(epoch: number, peers: readonly string[], certifiedRoot?: Uint8Array) {
    this.calls.push({ epoch, peers, certifiedRoot })
    const certified = await this.fetch(epoch, certifiedRoot)
    return { reached: this.reached ?? peers.length, certified }
  }
}

/** What a sync from `from` brings `to`: the epoch's items it lacks, through its ingest as synced items. */
export async function syncFrom(to: MemoryLedger, from: MemoryLedger, epoch: number): Promise<void> {
  const held = new Set(to.store.itemIds(epoch).map(toHex))
  const lacking = from.store.itemIds(epoch).filter(id => !held.has(toHex(id)))
  for (const body of from.store.bodies(epoch, lacking)) {
    const result = await to.ingest.submit(body.kind, body.bytes, { reconciling: epoch })
    assert.equal(result.outcome, 'accept', result.reason)
  }
}

/** What a ledger counter has counted, over all its labels. */
export async function counted(counter: Counter): Promise<number> {
  return (await counter.get()).values.reduce((sum, v) => sum + v.value, 0)
}

/** The ledger's HTTP API over a memory ledger, listening on a free loopback port; resolves to its URL. */
export async function serveApi(
  m: MemoryLedger,
  nextToFinish: () => number = () => 1,
): Promise<{ api: LedgerApi; url: string }> {
  const api = new LedgerApi({
    network: m.network,
    store: m.store,
    metrics: m.metrics,
    registry: () => m.ingest.registry(),
    nextToFinish,
    now: m.clock.now,
  })
  return { api, url: `http://${await api.listen('127.0.0.1', 0)}` }
}
