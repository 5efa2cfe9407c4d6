import { readFileSync } from 'node:fs'
import { compareBytes, to0x, toHex, u64be, utf8 } from '../protocol/bytes.ts'
import { ed25519FromSeed } from '../protocol/ed25519.ts'
import { sha256 } from '../protocol/hash.ts'
import { type Address, type NetworkDefinition, parseNetworkDefinition } from '../protocol/network.ts'
import { peerIdOfPublicKey, peerIdToString } from '../protocol/peer.ts'
import { addressOfSecretKey } from '../protocol/vote.ts'
import { Rng } from './rng.ts'
import { type Scenario, ScenarioError } from './scenario.ts'

/** Relay roles (bit flags): who an adversary is, and whom it favours. */
export const ROLE = { inflating: 1, target: 2, sybil: 4, dropper: 8, favoured: 16 } as const

export const GENESIS_MS = 1_700_000_000_000

/** A simulated node's identity: its id, its PeerId, and (with real crypto) its Ed25519 seed. */
export interface Identity {
  id: string
  peer: Uint8Array
  key: string
  seed: Uint8Array
}

/**
 * Everything fixed at the start of a run: identities (keys derived from the run seed and node id),
 * capacities, latencies, roles, machines, and the network definition built from them. Relays include
 * those that join later; machines are the physical resources relays' identities run on (a Sybil
 * operator's identities share one machine, or split it).
 */
export interface World {
  scenario: Scenario
  seed: number
  net: NetworkDefinition
  relays: Identity[]
  relayIndex: Map<string, number>
  relayRng: Rng[]
  relayMachine: Int32Array
  /** true relaying capacity of each identity (its share of its machine), bytes/s */
  relayTruth: Float64Array
  relayLatencyMs: Float64Array
  relayRole: Uint8Array
  relayPayout: Address[]
  /** the epoch a relay joins in; -1 for relays in the network definition */
  relayJoinEpoch: Int32Array
  /** Sybil operator of each identity (-1 for others), to sum their gain per machine */
  relayOperator: Int32Array
  /**
   * The identities reached at one address, for every address with more than one: a witness probes them
   * together (docs/witness.md, co-location). Only a shared Sybil machine has such an address; a split
   * one is modelled as separate machines, each identity at its own address.
   */
  colocated: Int32Array[]
  /** witnesses in the network's canonical order (net.witnesses[i] is witnesses[i]) */
  witnesses: Identity[]
  witnessRng: Rng[]
  witnessLatencyMs: Float64Array
  witnessLazy: Uint8Array
  witnessColluding: Uint8Array
  members: (Identity & { signer: Uint8Array; address: Address; byzantine: boolean })[]
  memberLatencyMs: Float64Array
  /** machine capacities (bytes/s): relay machines first, then one per witness */
  machineCapacity: Float64Array
  relayMachines: number
  /** the scenario-level stream (role draws, join counts) */
  rng: Rng
}

function identity(seed: number, id: string, realKeys: boolean): Identity {
  const secret = sha256(utf8('weir/sim/key\0'), u64be(seed), utf8(id))
  // Without real crypto any 32 bytes stand in for a public key: PeerIds only need the right shape.
  const publicKey = realKeys ? ed25519FromSeed(secret).publicKey : sha256(utf8('weir/sim/pk\0'), secret)
  const peer = peerIdOfPublicKey(publicKey)
  return { id, peer, key: toHex(peer), seed: secret }
}

function capacitySampler(s: Scenario): (rng: Rng) => number {
  const c = s.capacity
  if (c.distribution === 'uniform') return rng => rng.uniform(c.min, c.max)
  if (c.distribution === 'lognormal') return rng => rng.lognormal(c.median, c.sigma)
  const values = readColumn(c.file, c.column)
  return rng => values[rng.int(values.length)] as number
}

function readColumn(file: string, column: string): number[] {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    throw new ScenarioError(`capacity.file: cannot read ${file}`)
  }
  const lines = text.split(/\r?\n/).filter(l => l.trim() !== '')
  const header = (lines[0] ?? '').split(',').map(h => h.trim())
  const at = header.indexOf(column)
  if (at < 0) throw new ScenarioError(`capacity.column: no column '${column}' in ${file} (has ${header})`)
  const values = lines.slice(1).map((line, i) => {
    const v = Number(line.split(',')[at])
    if (!Number.isFinite(v) || v <= 0)
      throw new ScenarioError(`capacity.file: ${file} line ${i + 2}: expected a positive number of bytes/s`)
    return v
  })
  if (values.length === 0) throw new ScenarioError(`capacity.file: ${file} has no rows`)
  return values
}

/** Shuffled 0..n-1 from a stream (Fisher–Yates). */
function permutation(rng: Rng, n: number): number[] {
  const p = Array.from({ length: n }, (_, i) => i)
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1)
    ;[p[i], p[j]] = [p[j] as number, p[i] as number]
  }
  return p
}

export function buildWorld(s: Scenario, seed: number): World {
  const realKeys = s.crypto === 'real'
  const rng = new Rng(seed, 'scenario')
  const n = s.network
  const adv = s.adversaries
  const sample = capacitySampler(s)

  // Operators are the genesis relays; Sybil operators run several identities on one machine.
  const sybilOps = new Set(permutation(rng, n.relays).slice(0, adv.sybil?.machines ?? 0))
  const joins: number[] = []
  for (let e = 0; e < s.epochs; e++) joins.push(rng.poisson(s.churn.join))
  const total =
    n.relays + (adv.sybil ? sybilOps.size * (adv.sybil.identities - 1) : 0) + joins.reduce((a, b) => a + b, 0)

  const relays: Identity[] = []
  const relayRng: Rng[] = []
  const relayMachine = new Int32Array(total)
  const relayTruth = new Float64Array(total)
  const relayLatencyMs = new Float64Array(total)
  const relayRole = new Uint8Array(total)
  const relayJoinEpoch = new Int32Array(total).fill(-1)
  const relayOperator = new Int32Array(total).fill(-1)
  const machineCaps: number[] = []
  const colocated: Int32Array[] = []

  const addRelay = (joinEpoch: number): { index: number; rng: Rng } => {
    const index = relays.length
    const id = `relay-${index}`
    const r = new Rng(seed, id)
    relays.push(identity(seed, id, realKeys))
    relayRng.push(r)
    relayJoinEpoch[index] = joinEpoch
    relayLatencyMs[index] = r.lognormal(s.latency.medianMs, s.latency.sigma)
    return { index, rng: r }
  }
  const machineOf = (up: number) => Math.min(up, up * s.capacity.downRatio)

  for (let op = 0; op < n.relays; op++) {
    const { index, rng: r } = addRelay(-1)
    const capacity = machineOf(sample(r))
    if (!sybilOps.has(op) || !adv.sybil) {
      relayMachine[index] = machineCaps.push(capacity) - 1
      relayTruth[index] = capacity
      continue
    }
    const { identities, mode, addresses } = adv.sybil
    const group = [index]
    for (let i = 1; i < identities; i++) group.push(addRelay(-1).index)
    const shared = mode === 'shared' ? machineCaps.push(capacity) - 1 : -1
    if (shared >= 0) {
      // identity i is reached at the machine's address i mod addresses
      for (let a = 0; a < addresses; a++) {
        const at = group.filter((_, i) => i % addresses === a)
        if (at.length > 1) colocated.push(Int32Array.from(at))
      }
    }
    for (const member of group) {
      relayMachine[member] = shared >= 0 ? shared : machineCaps.push(capacity / identities) - 1
      relayTruth[member] = capacity / identities
      relayRole[member] = (relayRole[member] as number) | ROLE.sybil
      relayOperator[member] = op
    }
  }
  joins.forEach((count, epoch) => {
    for (let i = 0; i < count; i++) {
      const { index, rng: r } = addRelay(epoch)
      const capacity = machineOf(sample(r))
      relayMachine[index] = machineCaps.push(capacity) - 1
      relayTruth[index] = capacity
    }
  })

  // Relay roles are disjoint: drawn in turn from one shuffle of the honest genesis relays.
  const candidates = relays.flatMap((_, i) =>
    relayJoinEpoch[i] === -1 && relayOperator[i] === -1 ? [i] : [],
  )
  const genesisHonest = permutation(rng, candidates.length).map(j => candidates[j] as number)
  let cursor = 0
  const take = (count: number, role: number) => {
    for (const i of genesisHonest.slice(cursor, cursor + count))
      relayRole[i] = (relayRole[i] as number) | role
    cursor += count
  }
  take(Math.round((adv.inflating?.fraction ?? 0) * n.relays), ROLE.inflating)
  take(adv.colluding ? Math.min(adv.colluding.targets, n.relays) : 0, ROLE.target)
  take(Math.round((adv.droppers?.fraction ?? 0) * n.relays), ROLE.dropper)
  take(adv.byzantine ? 1 : 0, ROLE.favoured)

  const witnessIds = Array.from({ length: n.witnesses }, (_, i) => identity(seed, `witness-${i}`, realKeys))
  witnessIds.sort((a, b) => compareBytes(a.peer, b.peer))
  const witnessRng = witnessIds.map(w => new Rng(seed, w.id))
  const witnessLatencyMs = Float64Array.from(witnessRng, r =>
    r.lognormal(s.latency.medianMs, s.latency.sigma),
  )
  const witnessLazy = new Uint8Array(n.witnesses)
  const witnessColluding = new Uint8Array(n.witnesses)
  const wOrder = permutation(rng, n.witnesses)
  const lazyCount = Math.round((adv.lazy?.fraction ?? 0) * n.witnesses)
  const colludingCount = Math.round((adv.colluding?.witnesses ?? 0) * n.witnesses)
  for (const i of wOrder.slice(0, lazyCount)) witnessLazy[i] = 1
  for (const i of wOrder.slice(lazyCount, lazyCount + colludingCount)) witnessColluding[i] = 1

  const members = Array.from({ length: n.committee }, (_, i) => {
    const id = identity(seed, `ledger-${i}`, realKeys)
    const signer = sha256(utf8('weir/sim/signer\0'), id.seed)
    return {
      ...id,
      signer,
      address: addressOfSecretKey(signer),
      byzantine: i < (adv.byzantine?.members ?? 0),
    }
  })
  const memberLatencyMs = Float64Array.from(members, m =>
    new Rng(seed, m.id).lognormal(s.latency.medianMs, s.latency.sigma),
  )

  const relayPayout = relays.map(r => to0x(sha256(utf8('weir/sim/payout\0'), r.peer).subarray(0, 20)))
  const net = parseNetworkDefinition({
    version: 1,
    id: 'sim',
    genesis: GENESIS_MS,
    epochSeconds: n.epochSeconds,
    graceSeconds: n.graceSeconds,
    probe: {
      windowSeconds: n.probeWindowSeconds,
      warmupSeconds: n.probeWarmupSeconds,
      timeoutSeconds: 4 * n.probeWindowSeconds,
    },
    witnessesPerRelay: n.witnessesPerRelay,
    minAttestations: n.minAttestations,
    witnesses: witnessIds.map(w => peerIdToString(w.peer)),
    committee: members.map(m => ({ peerId: peerIdToString(m.peer), signer: m.address })),
    genesisSeed: toHex(sha256(utf8('weir/sim/genesis\0'), u64be(seed))),
    eligibilityDelay: n.eligibilityDelay,
    relays: relays.flatMap((r, i) =>
      relayJoinEpoch[i] === -1 ? [{ peerId: peerIdToString(r.peer), payout: relayPayout[i] as Address }] : [],
    ),
    emissionPerEpoch: n.emissionPerEpoch,
    chain: { chainId: 31337, rewards: to0x(sha256(utf8('weir/sim/rewards')).subarray(0, 20)) },
    bootstrap: [],
  })

  const relayMachines = machineCaps.length
  for (let w = 0; w < n.witnesses; w++) machineCaps.push(s.witnessCapacity)
  return {
    scenario: s,
    seed,
    net,
    relays,
    relayIndex: new Map(relays.map((r, i) => [r.key, i])),
    relayRng,
    relayMachine,
    relayTruth,
    relayLatencyMs,
    relayRole,
    relayPayout,
    relayJoinEpoch,
    relayOperator,
    colocated,
    witnesses: witnessIds,
    witnessRng,
    witnessLatencyMs,
    witnessLazy,
    witnessColluding,
    members,
    memberLatencyMs,
    machineCapacity: Float64Array.from(machineCaps),
    relayMachines,
    rng,
  }
}
