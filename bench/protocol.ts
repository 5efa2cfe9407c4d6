import { PerformanceObserver } from 'node:perf_hooks'
import { ed25519 } from '@noble/curves/ed25519.js'
import { decode as cborDecode, encode as cborEncode } from 'cborg'
import { assignedWitnessIndices, drawWitnesses } from '../protocol/assignment.ts'
import { type Attestation, encodeAttestation, signAttestation } from '../protocol/attestation.ts'
import { compareBytes, equalBytes, to0x, utf8 } from '../protocol/bytes.ts'
import type { Field } from '../protocol/codec.ts'
import { ed25519FromSeed, signEd25519, verifyEd25519 } from '../protocol/ed25519.ts'
import { epochStart } from '../protocol/epoch.ts'
import { decodeSubset, encodeSubset } from '../protocol/fast/cbor.ts'
import { hash64, stateWords } from '../protocol/fast/keccak.ts'
import { rewardsRoot } from '../protocol/fast/merkle.ts'
import { orderByBytes } from '../protocol/fast/order.ts'
import { keccak256, sha256 } from '../protocol/hash.ts'
import { buildRewardsTree, type RewardLeaf, rewardsTreeNodes } from '../protocol/merkle.ts'
import { type Address, type NetworkDefinition, parseNetworkDefinition } from '../protocol/network.ts'
import { peerIdOfPublicKey, peerIdToString } from '../protocol/peer.ts'
import type { RegisteredRelay } from '../protocol/registry.ts'
import { relayKey } from '../protocol/registry.ts'
import { computeTally } from '../protocol/tally.ts'
import { validateAttestation } from '../protocol/validate.ts'
import { addressOfSecretKey } from '../protocol/vote.ts'

// Protocol hot paths: signature verification (node:crypto against @noble/curves in the same run),
// gossip validation of encoded attestations, each fast path of protocol/fast/ against the definition it
// computes, and the epoch tally with its rewards root at scale, repeated: median, least and most of the
// runs, and the garbage collector's pauses within them.
// `npm run bench -- protocol [--relays 100000,1000000] [--runs 5]`

const EPOCH = 10
const WITNESSES = 100
const K = 5

const key = (label: string) => ed25519FromSeed(sha256(utf8(`weir-bench/${label}`)))

function network(witnessIds: string[]): NetworkDefinition {
  return parseNetworkDefinition({
    version: 1,
    id: 'bench',
    genesis: 0,
    epochSeconds: 3600,
    graceSeconds: 300,
    probe: { windowSeconds: 10, warmupSeconds: 2, timeoutSeconds: 60 },
    witnessesPerRelay: K,
    minAttestations: 3,
    witnesses: witnessIds,
    committee: [{ peerId: witnessIds[0], signer: addressOfSecretKey(sha256(utf8('weir-bench/signer'))) }],
    genesisSeed: `0x${'00'.repeat(32)}`,
    eligibilityDelay: 3,
    emissionPerEpoch: '1000000000000000000000',
    chain: { chainId: 31337 },
  })
}

/** Runs `fn` repeatedly for about `ms` (in batches of calls that take about 10 ms) and returns operations per second. */
function rate(fn: () => void, ms = 1500): number {
  const start = performance.now()
  let n = 0
  let batch = 1
  while (performance.now() - start < ms) {
    const before = performance.now()
    for (let i = 0; i < batch; i++) fn()
    n += batch
    if (performance.now() - before < 10) batch *= 2
  }
  return n / ((performance.now() - start) / 1000)
}

/** Time per operation at `perSecond`, in a unit that suits it. */
function perOperation(perSecond: number): string {
  const seconds = 1 / perSecond
  if (seconds >= 0.1) return `${seconds.toFixed(2)} s`
  if (seconds >= 1e-4) return `${(seconds * 1e3).toFixed(2)} ms`
  return `${(seconds * 1e6).toFixed(2)} µs`
}

/**
 * Wall and CPU (user + system) seconds of fn, and the garbage collector's pauses within it: on a shared
 * machine CPU time is the steadier figure. Starts from a collected heap when the runtime allows (`npm run
 * bench` does), so that collecting the garbage left by building the input is not billed to fn.
 */
async function time<T>(fn: () => T): Promise<[T, Timing]> {
  ;(globalThis as { gc?: () => void }).gc?.()
  const pauses: { start: number; duration: number; full: boolean }[] = []
  const observer = new PerformanceObserver(list => {
    for (const e of list.getEntries()) {
      const kind = (e as { detail?: { kind?: number } }).detail?.kind
      pauses.push({ start: e.startTime, duration: e.duration, full: kind === MAJOR_GC })
    }
  })
  observer.observe({ entryTypes: ['gc'] })
  const start = performance.now()
  const cpu = process.cpuUsage()
  const value = fn()
  const used = process.cpuUsage(cpu)
  const end = performance.now()
  // entries arrive after the synchronous fn returns
  await new Promise(resolve => setTimeout(resolve, 50))
  observer.disconnect()
  const within = pauses.filter(p => p.start >= start && p.start < end)
  const seconds = (ps: typeof within) => ps.reduce((sum, p) => sum + p.duration, 0) / 1000
  return [
    value,
    {
      wall: (end - start) / 1000,
      cpu: (used.user + used.system) / 1e6,
      gc: seconds(within),
      fullGc: seconds(within.filter(p => p.full)),
    },
  ]
}

// perf_hooks' NODE_PERFORMANCE_GC_MAJOR
const MAJOR_GC = 4

/** A registry of `n` eligible relays and their 5 assigned witnesses' decoded attestations (not signed). */
function epochOf(net: NetworkDefinition, witnessIds: Uint8Array[], seed: Uint8Array, n: number) {
  const registry = new Map<string, RegisteredRelay>()
  const attestations: Attestation[] = []
  const signature = new Uint8Array(64)
  const helper = peerIdOfPublicKey(key('helper').publicKey)
  const index = new Uint8Array(4)
  for (let i = 0; i < n; i++) {
    // random-looking keys, as real Ed25519 public keys are (the tally never checks they are on the curve)
    new DataView(index.buffer).setUint32(0, i)
    const relay = peerIdOfPublicKey(sha256(utf8('weir-bench/relay'), index))
    const payout = to0x(sha256(relay).subarray(0, 20)) as Address
    registry.set(relayKey(relay), { relay, registeredIn: 0, payout })
    for (const w of assignedWitnessIndices(seed, relay, net.witnesses.length, K)) {
      const capacity = 1_000_000 + ((i * 7919 + w * 104729) % 100_000_000)
      attestations.push({
        net: net.id,
        epoch: EPOCH,
        relay,
        witness: witnessIds[w] as Uint8Array,
        helper,
        startedAt: 1000,
        durationMs: 20_000,
        bytes: 100_000_000,
        forwardBps: capacity,
        reverseBps: capacity + 17,
        rttMs: 20,
        outcome: 'ok',
        signature,
      })
    }
  }
  return { registry, attestations }
}

export async function main(argv: string[]): Promise<void> {
  const flag = argv.indexOf('--relays')
  const sizes = (flag >= 0 ? (argv[flag + 1] ?? '') : '100000,1000000').split(',').map(Number)
  const runsFlag = argv.indexOf('--runs')
  const runs = runsFlag >= 0 ? Number(argv[runsFlag + 1]) : 3
  if (!sizes.every(n => Number.isSafeInteger(n) && n > 0))
    usage('--relays: expected positive integers, comma-separated')
  if (!Number.isSafeInteger(runs) || runs < 1) usage('--runs: expected a positive integer')
  const result: Record<string, number> = {}

  // 1. Ed25519 verification, node:crypto vs @noble/curves, same 200-byte message
  const signer = key('signer')
  const message = new Uint8Array(200).fill(7)
  const sig = signEd25519(signer.seed, message)
  const nodeRate = rate(() => verifyEd25519(signer.publicKey, message, sig))
  const nobleRate = rate(() => ed25519.verify(sig, message, signer.publicKey), 1500)
  result.ed25519VerifyPerSecNode = Math.round(nodeRate)
  result.ed25519VerifyPerSecNoble = Math.round(nobleRate)
  result.ed25519NodeOverNoble = Number((nodeRate / nobleRate).toFixed(2))
  console.log(`Ed25519 verify: node:crypto ${nodeRate.toFixed(0)}/s, @noble/curves ${nobleRate.toFixed(0)}/s`)
  console.log(`  node:crypto is ${(nodeRate / nobleRate).toFixed(1)}× noble`)

  // 2. validateAttestation on encoded bytes, seed and registry known
  const witnessKeys = Array.from({ length: WITNESSES }, (_, i) => key(`witness-${i}`))
  const witnessIds = witnessKeys.map(k => peerIdOfPublicKey(k.publicKey))
  const net = network(witnessIds.map(peerIdToString))
  const canonical = net.witnesses.map(w => witnessKeys[witnessIds.findIndex(id => peerIdToString(id) === w)]!)
  const seed = sha256(utf8('weir-bench/seed'))
  const validationRelays = 2000
  const { registry: smallRegistry } = epochOf(net, [], seed, 0)
  const encoded: Uint8Array[] = []
  for (let i = 0; i < validationRelays; i++) {
    const relay = peerIdOfPublicKey(key(`relay-${i}`).publicKey)
    smallRegistry.set(relayKey(relay), { relay, registeredIn: 0, payout: `0x${'11'.repeat(20)}` })
    const w = assignedWitnessIndices(seed, relay, net.witnesses.length, K)[0]!
    const witness = canonical[w]!
    encoded.push(
      encodeAttestation(
        signAttestation(
          {
            net: net.id,
            epoch: EPOCH,
            relay,
            witness: peerIdOfPublicKey(witness.publicKey),
            helper: witnessIds[0]!,
            startedAt: epochStart(net, EPOCH) + 1000,
            durationMs: 20_000,
            bytes: 100_000_000,
            forwardBps: 5_000_000 + i,
            reverseBps: 4_000_000 + i,
            rttMs: 20,
            outcome: 'ok',
          },
          witness.seed,
        ),
      ),
    )
  }
  const ctx = {
    network: net,
    nowMs: epochStart(net, EPOCH) + 60_000,
    seedOf: () => seed,
    registryFor: () => smallRegistry,
  }
  let next = 0
  let accepted = 0
  const validateRate = rate(() => {
    if (validateAttestation(encoded[next++ % encoded.length]!, ctx).verdict === 'accept') accepted++
  })
  if (accepted === 0) throw new Error('no attestation validated')
  result.attestationsValidatedPerSec = Math.round(validateRate)
  console.log(
    `validateAttestation: ${validateRate.toFixed(0)}/s (${((validateRate / nodeRate) * 100).toFixed(0)}% of raw verify rate)`,
  )

  // 3. each fast path against the definition it computes (operations per second, same inputs)
  fastPaths(result, seed, witnessIds)

  // 4. tally of n relays × 5 attestations, rewards root included, `runs` times; then the Merkle root alone
  for (const n of sizes) {
    const { registry, attestations } = epochOf(
      net,
      witnessIds.map((_, i) => witnessIdAt(net, witnessIds, i)),
      seed,
      n,
    )
    const tallies: Timing[] = []
    let root = ''
    let leaves: RewardLeaf[] = []
    for (let run = 0; run < runs; run++) {
      const [tally, timing] = await time(() =>
        computeTally({ network: net, epoch: EPOCH, seed, attestations, registry, previous: new Map() }),
      )
      if (tally.relays.length !== n || tally.emitted !== net.emissionPerEpoch)
        throw new Error('tally lost relays')
      root = to0x(tally.rewardsRoot)
      if (run === runs - 1) leaves = tally.leaves
      tallies.push(timing)
    }
    report(
      result,
      `tally${n}`,
      `tally of ${n} relays × ${K} attestations (root ${root.slice(0, 18)}…)`,
      tallies,
    )
    if (n === Math.max(...sizes)) {
      const trees: Timing[] = []
      for (let run = 0; run < runs; run++) {
        const [tree, timing] = await time(() => buildRewardsTree(leaves))
        if (to0x(tree.root) !== root) throw new Error('the tree root differs from the tally root')
        trees.push(timing)
      }
      report(result, `merkleRoot${n}`, `rewards tree of ${leaves.length} leaves`, trees)
    }
  }
  console.log(JSON.stringify(result))
}

/**
 * Operations per second of `fast` and of `definition` (the caller has checked that they agree): the best
 * of four alternating rounds each, since other work on the machine skews single rounds.
 */
function versus(
  result: Record<string, number>,
  name: string,
  what: string,
  fast: () => void,
  definition: () => void,
  ms = 1500,
): void {
  let fastRate = 0
  let definitionRate = 0
  for (let round = 0; round < 4; round++) {
    fastRate = Math.max(fastRate, rate(fast, ms / 4))
    definitionRate = Math.max(definitionRate, rate(definition, ms / 4))
  }
  result[`${name}PerSecFast`] = Number(fastRate.toPrecision(3))
  result[`${name}PerSecDefinition`] = Number(definitionRate.toPrecision(3))
  result[`${name}FastOverDefinition`] = Number((fastRate / definitionRate).toFixed(2))
  console.log(
    `${what}: fast ${perOperation(fastRate)}, definition ${perOperation(definitionRate)} (fast ${(fastRate / definitionRate).toFixed(1)}×)`,
  )
}

function fastPaths(result: Record<string, number>, seed: Uint8Array, witnessIds: Uint8Array[]): void {
  // keccak256 of a 64-byte Merkle pair: wasm (protocol/fast/keccak.ts) against @noble/hashes
  const pair = new Uint8Array(64).fill(9)
  const words = new Uint32Array(pair.buffer)
  const viaWasm = () => {
    for (let w = 0; w < 16; w++) stateWords[w] = words[w] as number
    hash64()
  }
  viaWasm()
  if (!equalBytes(new Uint8Array(stateWords.buffer, 0, 32), keccak256(pair)))
    throw new Error('keccak differs')
  versus(result, 'keccak64', 'keccak256 of 64 bytes', viaWasm, () => keccak256(pair))

  // a relay's witness assignment, never asked for before (a new seed every 1000 relays)
  const relays = Array.from({ length: 1000 }, (_, i) =>
    peerIdOfPublicKey(sha256(utf8(`weir-bench/draw-${i}`))),
  )
  let drawSeed = seed
  let at = 0
  const nextRelay = () => {
    if (++at === relays.length) {
      at = 0
      drawSeed = sha256(drawSeed)
    }
    return relays[at] as Uint8Array
  }
  for (const relay of relays.slice(0, 100))
    if (assignedWitnessIndices(seed, relay, 100, K).join() !== drawWitnesses(seed, relay, 100, K).join())
      throw new Error('assignment differs')
  versus(
    result,
    'assignment',
    `assignment of ${K} of 100 witnesses to a new relay`,
    () => assignedWitnessIndices(drawSeed, nextRelay(), 100, K),
    () => drawWitnesses(drawSeed, nextRelay(), 100, K),
  )

  // an attestation's fields to canonical CBOR and back: the direct codec against cborg with its check
  const fields: Field[] = [
    1,
    'bench',
    EPOCH,
    relays[0] as Uint8Array,
    witnessIds[0] as Uint8Array,
    witnessIds[1] as Uint8Array,
    1_700_000_000_000,
    20_000,
    100_000_000,
    5_000_000,
    4_000_000,
    20,
    'ok',
    new Uint8Array(64),
  ]
  const bytes = new Uint8Array(cborEncode(fields))
  if (!equalBytes(encodeSubset(fields) as Uint8Array, bytes)) throw new Error('CBOR encodings differ')
  versus(
    result,
    'cborEncode',
    'CBOR encoding of an attestation',
    () => encodeSubset(fields),
    () => new Uint8Array(cborEncode(fields)),
  )
  const strict = { strict: true, allowIndefinite: false, allowUndefined: false, allowBigInt: false }
  versus(
    result,
    'cborDecode',
    'CBOR decoding of an attestation, canonical form checked',
    () => decodeSubset(bytes),
    () => {
      if (!equalBytes(new Uint8Array(cborEncode(cborDecode(bytes, strict))), bytes)) throw new Error('CBOR')
    },
  )

  // ordering 100,000 leaf hashes by their bytes: native sort of prefix words against a comparator sort
  const hashes = Array.from({ length: 100_000 }, (_, i) => sha256(utf8(`weir-bench/order-${i}`)))
  const byComparator = () =>
    hashes.map((_, i) => i).sort((a, b) => compareBytes(hashes[a]!, hashes[b]!) || a - b)
  const byWords = () =>
    orderByBytes(
      hashes.length,
      (i, j) => (hashes[i] as Uint8Array)[j] ?? -1,
      (i, j) => compareBytes(hashes[i]!, hashes[j]!),
    )
  if (byWords().join() !== byComparator().join()) throw new Error('orders differ')
  versus(result, 'order100k', 'ordering 100,000 hashes by bytes', byWords, byComparator, 3000)

  // the root of a 10,000-leaf rewards tree: flat words and wasm keccak against the plain definition
  const leaves: RewardLeaf[] = hashes.slice(0, 10_000).map((h, i) => ({
    account: to0x(h.subarray(0, 20)) as Address,
    amount: BigInt(i + 1) * 10n ** 15n,
  }))
  if (!equalBytes(rewardsRoot(leaves), rewardsTreeNodes(leaves)[0] as Uint8Array))
    throw new Error('roots differ')
  versus(
    result,
    'merkleRoot10k',
    'root of a 10,000-leaf rewards tree',
    () => rewardsRoot(leaves),
    () => rewardsTreeNodes(leaves),
    3000,
  )
}

interface Timing {
  wall: number
  cpu: number
  /** seconds the garbage collector paused the program, and of those the full (mark-compact) collections */
  gc: number
  fullGc: number
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

function report(result: Record<string, number>, name: string, what: string, timings: Timing[]): void {
  const wall = timings.map(t => t.wall)
  const round = (x: number) => Number(x.toFixed(2))
  result[`${name}Seconds`] = round(median(wall))
  result[`${name}SecondsMin`] = round(Math.min(...wall))
  result[`${name}SecondsMax`] = round(Math.max(...wall))
  result[`${name}CpuSeconds`] = round(median(timings.map(t => t.cpu)))
  result[`${name}GcSeconds`] = round(median(timings.map(t => t.gc)))
  console.log(
    `${what}: median ${median(wall).toFixed(2)} s wall (${Math.min(...wall).toFixed(2)}–${Math.max(...wall).toFixed(2)} over ${timings.length} runs), ${median(timings.map(t => t.cpu)).toFixed(2)} s CPU, GC pauses ${median(timings.map(t => t.gc)).toFixed(2)} s (full ${median(timings.map(t => t.fullGc)).toFixed(2)} s)`,
  )
  console.log(`  runs: ${timings.map(t => `${t.wall.toFixed(2)} s (GC ${t.gc.toFixed(2)} s)`).join(', ')}`)
}

function usage(message: string): never {
  console.error(`${message}\nusage: npm run bench -- protocol [--relays 100000,1000000] [--runs 3]`)
  process.exit(2)
}

/** The PeerId bytes of the witness at canonical index i. */
function witnessIdAt(net: NetworkDefinition, ids: Uint8Array[], i: number): Uint8Array {
  return ids.find(id => peerIdToString(id) === net.witnesses[i]) as Uint8Array
}
