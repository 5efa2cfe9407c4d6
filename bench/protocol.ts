import { ed25519 } from '@noble/curves/ed25519.js'
import { keccak_256 } from '@noble/hashes/sha3.js'
import { assignedWitnessIndices } from '../protocol/assignment.ts'
import { type Attestation, encodeAttestation, signAttestation } from '../protocol/attestation.ts'
import { equalBytes, to0x, utf8 } from '../protocol/bytes.ts'
import { ed25519FromSeed, signEd25519, verifyEd25519 } from '../protocol/ed25519.ts'
import { epochStart } from '../protocol/epoch.ts'
import { keccak256Pair, sha256 } from '../protocol/hash.ts'
import { buildRewardsTree, type RewardLeaf } from '../protocol/merkle.ts'
import { type Address, type NetworkDefinition, parseNetworkDefinition } from '../protocol/network.ts'
import { peerIdOfPublicKey, peerIdToString } from '../protocol/peer.ts'
import type { RegisteredRelay } from '../protocol/registry.ts'
import { relayKey } from '../protocol/registry.ts'
import { computeTally } from '../protocol/tally.ts'
import { validateAttestation } from '../protocol/validate.ts'
import { addressOfSecretKey } from '../protocol/vote.ts'

// Protocol hot paths: signature verification (node:crypto against @noble/curves in the same run),
// gossip validation of encoded attestations, keccak (ours against @noble/hashes), and the epoch tally
// with its rewards root at scale.
// `npm run bench -- protocol [--relays 100000,1000000]`

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

/** Runs `fn` repeatedly for about `ms` and returns operations per second. */
function rate(fn: () => void, ms = 1500): number {
  const start = performance.now()
  let n = 0
  while (performance.now() - start < ms) {
    for (let i = 0; i < 100; i++) fn()
    n += 100
  }
  return n / ((performance.now() - start) / 1000)
}

/**
 * Wall and CPU (user + system) seconds of fn: on a shared machine CPU time is the steadier figure. Starts
 * from a collected heap when the runtime allows (`npm run bench` does), so that collecting the garbage
 * left by building the input is not billed to fn.
 */
function time<T>(fn: () => T): [T, number, number] {
  ;(globalThis as { gc?: () => void }).gc?.()
  const start = performance.now()
  const cpu = process.cpuUsage()
  const value = fn()
  const used = process.cpuUsage(cpu)
  return [value, (performance.now() - start) / 1000, (used.user + used.system) / 1e6]
}

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

  // 3. keccak256 of a 64-byte Merkle pair: ours (one keccak-f in wasm) against @noble/hashes
  const pair = new Uint8Array(64).fill(9)
  const left = pair.subarray(0, 32)
  const right = pair.subarray(32)
  const oursRate = rate(() => keccak256Pair(left, right))
  const nobleKeccakRate = rate(() => keccak_256(pair))
  if (!equalBytes(keccak256Pair(left, right), keccak_256(pair))) throw new Error('keccak differs from noble')
  result.keccakPerSecOurs = Math.round(oursRate)
  result.keccakPerSecNoble = Math.round(nobleKeccakRate)
  result.keccakOursOverNoble = Number((oursRate / nobleKeccakRate).toFixed(2))
  console.log(
    `keccak256 of 64 bytes: ours ${oursRate.toFixed(0)}/s, @noble/hashes ${nobleKeccakRate.toFixed(0)}/s (${(oursRate / nobleKeccakRate).toFixed(1)}×)`,
  )

  // 4. tally of n relays × 5 attestations, rewards root included; then the Merkle root alone
  for (const n of sizes) {
    const { registry, attestations } = epochOf(
      net,
      witnessIds.map((_, i) => witnessIdAt(net, witnessIds, i)),
      seed,
      n,
    )
    const [tally, seconds, cpu] = time(() =>
      computeTally({ network: net, epoch: EPOCH, seed, attestations, registry, previous: new Map() }),
    )
    if (tally.relays.length !== n || tally.emitted !== net.emissionPerEpoch)
      throw new Error('tally lost relays')
    result[`tallySeconds${n}`] = Number(seconds.toFixed(2))
    result[`tallyCpuSeconds${n}`] = Number(cpu.toFixed(2))
    console.log(
      `tally of ${n} relays × ${K} attestations: ${seconds.toFixed(2)} s wall, ${cpu.toFixed(2)} s CPU (root ${to0x(tally.rewardsRoot).slice(0, 18)}…)`,
    )
    if (n === Math.max(...sizes)) {
      const leaves: RewardLeaf[] = tally.leaves
      const [tree, treeSeconds, treeCpu] = time(() => buildRewardsTree(leaves))
      result[`merkleRootSeconds${n}`] = Number(treeSeconds.toFixed(2))
      result[`merkleRootCpuSeconds${n}`] = Number(treeCpu.toFixed(2))
      console.log(
        `rewards tree of ${leaves.length} leaves: ${treeSeconds.toFixed(2)} s wall, ${treeCpu.toFixed(2)} s CPU (${to0x(tree.root).slice(0, 18)}…)`,
      )
    }
  }
  console.log(JSON.stringify(result))
}

/** The PeerId bytes of the witness at canonical index i. */
function witnessIdAt(net: NetworkDefinition, ids: Uint8Array[], i: number): Uint8Array {
  return ids.find(id => peerIdToString(id) === net.witnesses[i]) as Uint8Array
}
