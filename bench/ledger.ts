// Ledger throughput: validated attestations ingested to disk per second (against bare Ed25519
// verification of the same attestations, the floor of any validator), and tally + roots for an epoch of
// 100,000 relays (against hashing its item ids once). One core: everything runs on this event loop.
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
import { computeTally } from '../protocol/tally.ts'

const INGEST_ATTESTATIONS = 40_000
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

async function ingestRate() {
  const rs = relays(Math.ceil(INGEST_ATTESTATIONS / K))
  const ctx = network(rs.map(r => ({ peerId: r.peerId, payout: r.payout })))
  const encoded = attestations(ctx, rs, true).map(encodeAttestation).slice(0, INGEST_ATTESTATIONS)

  let start = process.hrtime.bigint()
  for (const bytes of encoded)
    if (!verifyAttestation(decodeAttestation(bytes))) throw new Error('bad signature')
  const verifyPerSecond = encoded.length / seconds(start)

  const dir = mkdtempSync(join(tmpdir(), 'weir-bench-ledger-'))
  const store = new LedgerStore(join(dir, 'ledger.sqlite'))
  try {
    const ingest = new Ingest(ctx.net, store, e => epochSeed(ctx.net, e, undefined), new Metrics())
    start = process.hrtime.bigint()
    // Gossip hands the ledger messages as they arrive; 1,000 in flight at a time share a commit.
    for (let i = 0; i < encoded.length; i += 1000) {
      const results = await Promise.all(encoded.slice(i, i + 1000).map(b => ingest.submit('attestation', b)))
      if (results.some(r => r.outcome !== 'accept'))
        throw new Error(`not accepted: ${JSON.stringify(results[0])}`)
    }
    const ingestPerSecond = encoded.length / seconds(start)
    return { attestations: encoded.length, ingestPerSecond, verifyPerSecond }
  } finally {
    store.close()
    rmSync(dir, { recursive: true, force: true })
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
  console.log(
    `ingest: ${ingest.attestations} attestations validated and committed at ${Math.round(ingest.ingestPerSecond)}/s ` +
      `(${(ingest.ingestPerSecond / ingest.verifyPerSecond).toFixed(2)}× bare decode+verify at ${Math.round(ingest.verifyPerSecond)}/s)`,
  )
  const tally = tallyTime()
  console.log(
    `tally + rewards root + content root, ${tally.relays} relays / ${tally.attestations} attestations: ` +
      `${tally.tallySeconds.toFixed(2)} s (${(tally.tallySeconds / tally.hashSeconds).toFixed(1)}× hashing the item ids once)`,
  )
  console.log(
    JSON.stringify({
      ingestPerSecond: Math.round(ingest.ingestPerSecond),
      ingestVsVerify: Number((ingest.ingestPerSecond / ingest.verifyPerSecond).toFixed(3)),
      tallyRelays: tally.relays,
      tallySeconds: Number(tally.tallySeconds.toFixed(3)),
      tallyVsHashing: Number((tally.tallySeconds / tally.hashSeconds).toFixed(2)),
    }),
  )
}
