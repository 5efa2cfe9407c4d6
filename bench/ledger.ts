// Ledger throughput: validated attestations ingested to disk per second (against bare Ed25519
// verification of the same attestations, the floor of any validator, and against one transaction per
// attestation), tally + roots for an epoch of 100,000 relays (against hashing its item ids once), and
// anti-entropy bytes against the size of the difference (bench/sync.ts). One core: everything runs on
// this event loop; rates are given per CPU second as well, since the machine may be shared.
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Ingest } from '../ledger/ingest.ts'
import { Metrics } from '../ledger/metrics.ts'
import { LedgerStore } from '../ledger/store.ts'
import { assignedWitnessIndices } from '../protocol/assignment.ts'
import {
  type Attestation,
  decodeAttestation,
  encodeAttestation,
  signAttestation,
  verifyAttestation,
} from '../protocol/attestation.ts'
import { to0x } from '../protocol/bytes.ts'
import { contentRoot } from '../protocol/content.ts'
import { generateEd25519 } from '../protocol/ed25519.ts'
import { parseNetworkDefinition } from '../protocol/network.ts'
import { peerIdFromString, peerIdOfPublicKey, peerIdToString } from '../protocol/peer.ts'
import { itemId } from '../protocol/record.ts'
import { buildRegistry } from '../protocol/registry.ts'
import { epochSeed } from '../protocol/seed.ts'
import { validateAttestation } from '../protocol/validate.ts'
import { computeTally } from '../protocol/tally.ts'
import { measureSync } from './sync.ts'

const INGEST_ATTESTATIONS = 40_000
const OBVIOUS_MAX = 5_000
const OBVIOUS_SECONDS = 5
const SYNC_DIFFERENCES = [100, 1_000]
const TALLY_RELAYS = 100_000
const WITNESSES = 8
const K = 3

function network(relays: { peerId: string; payout: string }[]) {
  const witnesses = Array.from({ length: WITNESSES }, () => generateEd25519())
  const net = parseNetworkDefinition({
    version: 1,
    id: 'bench-ledger',
    genesis: Date.now() - 1000,
    epochSeconds: 3600,
    graceSeconds: 60,
    probe: { windowSeconds: 10, warmupSeconds: 1, timeoutSeconds: 40 },
    witnessesPerRelay: K,
    minAttestations: 2,
    witnesses: witnesses.map(w => peerIdToString(peerIdOfPublicKey(w.publicKey))),
    committee: [
      {
        peerId: peerIdToString(peerIdOfPublicKey(generateEd25519().publicKey)),
        signer: to0x(randomBytes(20)),
      },
    ],
    genesisSeed: to0x(randomBytes(32)),
    eligibilityDelay: 0,
    relays,
    emissionPerEpoch: '1000000000000000000000',
    chain: { chainId: 31337 },
  })
  const seedOf = new Map(witnesses.map(w => [peerIdToString(peerIdOfPublicKey(w.publicKey)), w.seed]))
  return { net, witnessSeed: (peerId: string) => seedOf.get(peerId) as Uint8Array }
}

function relays(n: number) {
  return Array.from({ length: n }, (_, i) => {
    const relay = peerIdOfPublicKey(randomBytes(32))
    return { relay, peerId: peerIdToString(relay), payout: to0x(randomBytes(20)), i }
  })
}

/** One attestation from each assigned witness of each relay; `sign` false leaves a dummy signature. */
function attestations(
  ctx: ReturnType<typeof network>,
  rs: ReturnType<typeof relays>,
  sign: boolean,
): Attestation[] {
  const seed = epochSeed(ctx.net, 0, undefined) as Uint8Array
  const out: Attestation[] = []
  for (const r of rs) {
    for (const w of assignedWitnessIndices(seed, r.relay, WITNESSES, K)) {
      const witness = ctx.net.witnesses[w] as string
      const bps = 1_000_000 + ((r.i * 7919 + w * 104729) % 9_000_000)
      const body = {
        net: ctx.net.id,
        epoch: 0,
        relay: r.relay,
        witness: peerIdFromString(witness),
        helper: (rs[(r.i + 1) % rs.length] as (typeof rs)[number]).relay,
        startedAt: ctx.net.genesis + 1000,
        durationMs: 20_000,
        bytes: bps * 20,
        forwardBps: bps,
        reverseBps: bps + 17,
        rttMs: 12,
        outcome: 'ok' as const,
      }
      out.push(
        sign ? signAttestation(body, ctx.witnessSeed(witness)) : { ...body, signature: new Uint8Array(64) },
      )
    }
  }
  return out
}

const seconds = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e9

/** Wall and CPU seconds (all threads of this process) of `run`. */
async function timed(run: () => Promise<void> | void): Promise<{ wall: number; cpu: number }> {
  const cpu = process.cpuUsage()
  const start = process.hrtime.bigint()
  await run()
  const used = process.cpuUsage(cpu)
  return { wall: seconds(start), cpu: (used.user + used.system) / 1e6 }
}

/** Items per wall second and per CPU second. */
const rates = (n: number, t: { wall: number; cpu: number }) => ({
  perSecond: n / t.wall,
  perCpuSecond: n / t.cpu,
})

function withStore<T>(run: (store: LedgerStore) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'weir-bench-ledger-'))
  const store = new LedgerStore(join(dir, 'ledger.sqlite'))
  return run(store).finally(() => {
    store.close()
    rmSync(dir, { recursive: true, force: true })
  })
}

/**
 * Three ways through the same attestations: bare decode + Ed25519 verify (the floor of any validator);
 * the ledger's ingest (decode, validate, verify, group commit: every promise resolves after its
 * transaction is fsynced); and the obvious approach, validate then one fsynced transaction per attestation
 * (on a prefix, as it is slow).
 */
async function ingestRate() {
  const rs = relays(Math.ceil(INGEST_ATTESTATIONS / K))
  const ctx = network(rs.map(r => ({ peerId: r.peerId, payout: r.payout })))
  const encoded = attestations(ctx, rs, true).map(encodeAttestation).slice(0, INGEST_ATTESTATIONS)
  const seedOf = (e: number) => epochSeed(ctx.net, e, undefined)

  const verify = await timed(() => {
    for (const bytes of encoded)
      if (!verifyAttestation(decodeAttestation(bytes))) throw new Error('bad signature')
  })

  const ingest = await withStore(store =>
    timed(async () => {
      const ingest = new Ingest(ctx.net, store, seedOf, new Metrics(), Date.now)
      // Gossip hands the ledger messages as they arrive; up to 1,000 are in flight at a time.
      for (let i = 0; i < encoded.length; i += 1000) {
        const batch = encoded.slice(i, i + 1000).map(b => ingest.submit('attestation', b))
        const results = await Promise.all(batch)
        if (results.some(r => r.outcome !== 'accept'))
          throw new Error(`not accepted: ${JSON.stringify(results[0])}`)
      }
      if (store.itemIds(0).length !== encoded.length) throw new Error('not every attestation was stored')
    }),
  )

  let obviousCount = 0
  const obvious = await withStore(store =>
    timed(() => {
      const registry = buildRegistry(ctx.net, [])
      const start = process.hrtime.bigint()
      for (const bytes of encoded) {
        if (obviousCount >= OBVIOUS_MAX || seconds(start) > OBVIOUS_SECONDS) break
        const v = validateAttestation(bytes, {
          network: ctx.net,
          nowMs: Date.now(),
          seedOf,
          registryFor: () => registry,
        })
        if (v.verdict !== 'accept') throw new Error(`not accepted: ${v.reason}`)
        const a = v.value
        const item = { id: itemId('attestation', bytes), receivedAt: Date.now(), ...a, bytes }
        store.write([{ ...item, kind: 'attestation' }], [], () => true)
        obviousCount++
      }
    }),
  )
  return {
    attestations: encoded.length,
    ingest: rates(encoded.length, ingest),
    verify: rates(encoded.length, verify),
    obvious: { attestations: obviousCount, ...rates(obviousCount, obvious) },
  }
}

function tallyTime() {
  const rs = relays(TALLY_RELAYS)
  const ctx = network(rs.map(r => ({ peerId: r.peerId, payout: r.payout })))
  const list = attestations(ctx, rs, false)
  const bodies = list.map(encodeAttestation)
  let start = process.hrtime.bigint()
  const ids = bodies.map(b => itemId('attestation', b))
  const hashSeconds = seconds(start)
  start = process.hrtime.bigint()
  const registry = buildRegistry(ctx.net, [])
  const tally = computeTally({
    network: ctx.net,
    epoch: 0,
    seed: epochSeed(ctx.net, 0, undefined) as Uint8Array,
    attestations: list,
    registry,
    previous: new Map(),
  })
  contentRoot(ids)
  const tallySeconds = seconds(start)
  if (tally.relays.length !== TALLY_RELAYS) throw new Error('every relay should be tallied')
  return { relays: TALLY_RELAYS, attestations: list.length, tallySeconds, hashSeconds }
}

export async function main(): Promise<void> {
  const ingest = await ingestRate()
  const r = (x: number) => Math.round(x)
  console.log(
    `ingest: ${ingest.attestations} attestations decoded, validated, verified and committed (fsynced) at ` +
      `${r(ingest.ingest.perCpuSecond)}/CPU-s, ${r(ingest.ingest.perSecond)}/s wall; bare decode+verify ` +
      `${r(ingest.verify.perCpuSecond)}/CPU-s (ingest at ${(ingest.ingest.perCpuSecond / ingest.verify.perCpuSecond).toFixed(2)}×); ` +
      `one transaction per attestation ${r(ingest.obvious.perCpuSecond)}/CPU-s, ${r(ingest.obvious.perSecond)}/s wall ` +
      `(ingest ${(ingest.ingest.perSecond / ingest.obvious.perSecond).toFixed(1)}× faster, wall)`,
  )
  const tally = tallyTime()
  console.log(
    `tally + rewards root + content root, ${tally.relays} relays / ${tally.attestations} attestations: ` +
      `${tally.tallySeconds.toFixed(2)} s (${(tally.tallySeconds / tally.hashSeconds).toFixed(1)}× hashing the item ids once)`,
  )
  const sync = await measureSync(SYNC_DIFFERENCES)
  for (const row of sync) {
    console.log(
      `sync of 100,000 ids differing in ${row.difference}: ${row.bytes} bytes in ${row.rounds} rounds, ` +
        `${row.perDifferingId}× the differing ids' 32 bytes, ${row.vsNaive}× sending every id`,
    )
  }
  console.log(
    JSON.stringify({
      ingestPerSecond: r(ingest.ingest.perSecond),
      ingestPerCpuSecond: r(ingest.ingest.perCpuSecond),
      ingestVsVerify: Number((ingest.ingest.perCpuSecond / ingest.verify.perCpuSecond).toFixed(3)),
      verifyPerCpuSecond: r(ingest.verify.perCpuSecond),
      obviousPerSecond: r(ingest.obvious.perSecond),
      obviousPerCpuSecond: r(ingest.obvious.perCpuSecond),
      ingestVsObvious: Number((ingest.ingest.perSecond / ingest.obvious.perSecond).toFixed(1)),
      tallyRelays: tally.relays,
      tallySeconds: Number(tally.tallySeconds.toFixed(3)),
      tallyVsHashing: Number((tally.tallySeconds / tally.hashSeconds).toFixed(2)),
      sync: sync.map(row => ({
        difference: row.difference,
        bytes: row.bytes,
        perDifferingId: row.perDifferingId,
      })),
    }),
  )
}
