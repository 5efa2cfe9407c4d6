// Writes the pinned protocol vectors in test/vectors/*.json from fixed keys and seeds.
// Run by hand, once, when an encoding deliberately changes: `npx tsx test/vectors/generate.ts`.
// test/protocol/vectors.test.ts only reads the JSON and checks the code still reproduces it.
import '../../node/host/runtime.ts'
import { writeFileSync } from 'node:fs'
import { peerIdFromString } from '@libp2p/peer-id'
import { decode as decodeCbor } from 'cborg'
import { join } from 'node:path'
import { assignedWitnessIndices } from '../../protocol/assignment.ts'
import { type AttestationBody, capacityOf, encodeAttestation, signAttestation } from '../../protocol/attestation.ts'
import { to0x, utf8 } from '../../protocol/bytes.ts'
import { encodeFields, signingBytes } from '../../protocol/codec.ts'
import { contentRoot } from '../../protocol/content.ts'
import { ed25519FromSeed } from '../../protocol/ed25519.ts'
import { sha256 } from '../../protocol/hash.ts'
import { buildRewardsTree, hexProof, leafHash } from '../../protocol/merkle.ts'
import { type Address, networkDefinitionToJson, parseNetworkDefinition } from '../../protocol/network.ts'
import { peerIdOfPublicKey, peerIdToString } from '../../protocol/peer.ts'
import { encodeRelayRecord, itemId, type RelayRecordBody, signRelayRecord } from '../../protocol/record.ts'
import { buildRegistry } from '../../protocol/registry.ts'
import { epochSeed } from '../../protocol/seed.ts'
import { encodeReply, encodeRequest, exitChannelPrologue, type TunnelRequest } from '../../node/tunnel/wire.ts'
import { encodeTrafficReport, encodeTrafficRequest } from '../../node/relay/traffic-wire.ts'
import { computeTally } from '../../protocol/tally.ts'
import {
  addressOfSecretKey,
  domainSeparator,
  encodeCertificate,
  encodeVote,
  type EpochRoot,
  signVote,
  voteDigest,
} from '../../protocol/vote.ts'

const dir = import.meta.dirname
const hex = to0x
const seedOf = (label: string) => sha256(utf8(`weir-vectors/${label}`))
const key = (label: string) => {
  const seed = seedOf(label)
  const { publicKey } = ed25519FromSeed(seed)
  const peerId = peerIdOfPublicKey(publicKey)
  return { label, seed, publicKey, peerId, text: peerIdToString(peerId) }
}
const secp = (label: string) => sha256(utf8(`weir-vectors/secp256k1/${label}`))
const payout = (label: string) => to0x(sha256(utf8(`weir-vectors/payout/${label}`)).subarray(0, 20)) as Address

function write(name: string, value: unknown): void {
  const text = JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? v.toString() : v), 2)
  writeFileSync(join(dir, name), `${text}\n`)
}

const witnesses = Array.from({ length: 5 }, (_, i) => key(`witness-${i}`))
const members = Array.from({ length: 4 }, (_, i) => ({ identity: key(`member-${i}`), signer: secp(`member-${i}`) }))
const relays = Array.from({ length: 4 }, (_, i) => key(`relay-${i}`))

const networkJson = {
  version: 1,
  id: 'weir-vectors',
  genesis: 1_767_225_600_000,
  epochSeconds: 3600,
  graceSeconds: 300,
  probe: { windowSeconds: 10, warmupSeconds: 2, timeoutSeconds: 60 },
  witnessesPerRelay: 3,
  minAttestations: 2,
  witnesses: witnesses.map(w => w.text),
  committee: members.map(m => ({ peerId: m.identity.text, signer: addressOfSecretKey(m.signer) })),
  quorum: 3,
  genesisSeed: hex(seedOf('genesis-seed')),
  eligibilityDelay: 1,
  relays: [{ peerId: relays[0]!.text, payout: payout('genesis') }],
  emissionPerEpoch: '1000000000000000000000',
  chain: { chainId: 31337, rewards: '0x5fbdb2315678afecb367f032d93f642f64180aa3' },
  bootstrap: [],
}
const net = parseNetworkDefinition(networkJson)
write('network.json', { input: networkJson, normalised: networkDefinitionToJson(net) })

// relay records: relays 1..3 publish in epoch 0 (eligible from epoch 1); relay 1 publishes twice
const recordBodies: (RelayRecordBody & { signer: string })[] = [
  [1, 0, 1, 'relay-1-old'],
  [1, 0, 2, 'relay-1'],
  [2, 0, 1, 'relay-2'],
  [3, 0, 1, 'relay-3'],
].map(([r, epoch, seq, label]) => ({
  signer: relays[r as number]!.label,
  net: net.id,
  relay: relays[r as number]!.peerId,
  epoch: epoch as number,
  seq: seq as number,
  addrs: [`/ip4/127.0.0.1/tcp/${4000 + (r as number)}`, `/ip4/127.0.0.1/tcp/${5000 + (r as number)}/ws`],
  payout: sha256(utf8(`weir-vectors/payout/${label}`)).subarray(0, 20),
  maxBandwidthBps: 12_500_000 * (r as number),
}))
/** A relay record's vector: the body, signed by `signer`, under the signing tag of its version. */
function recordVector(body: RelayRecordBody, signer: string, tag: string) {
  const record = signRelayRecord(body, seedOf(signer))
  const bytes = encodeRelayRecord(record)
  return {
    signerSeed: hex(seedOf(signer)),
    body: { ...body, relay: hex(body.relay), payout: hex(body.payout) },
    signingBytes: hex(signingBytes(tag, net.id, encodeFields(encodeFieldsOf(bytes).slice(0, -1)))),
    signature: hex(record.signature),
    bytes: hex(bytes),
    id: hex(itemId('relay-record', bytes)),
  }
}
const records = recordBodies.map(({ signer, ...body }) => recordVector(body, signer, 'weir/relay-record/v1'))
write('relay-records.json', records)

// relay records of version 2, with exit policies: relay 1 allows web ports over both families, relay 2
// everything but SMTP over IPv4 only
const exitPolicies: NonNullable<RelayRecordBody['exits']>[] = [
  { ipv4: true, ipv6: true, ports: [[80, 80], [443, 443], [8000, 8999]] },
  { ipv4: true, ipv6: false, ports: [[1, 24], [26, 65535]] },
]
const recordsV2 = exitPolicies.map((exits, i) => {
  const { signer, ...v1 } = recordBodies[i + 1] as RelayRecordBody & { signer: string }
  const body: RelayRecordBody = { ...v1, seq: v1.seq + 1, exits }
  return recordVector(body, signer, 'weir/relay-record/v2')
})
write('relay-records-v2.json', recordsV2)

// seeds: epochs 0 and 1 from the genesis seed; 2 and 3 from made-up certified roots of 0 and 1
const certified = [0, 1].map(epoch => ({
  epoch,
  contentRoot: sha256(utf8(`weir-vectors/content/${epoch}`)),
  rewardsRoot: sha256(utf8(`weir-vectors/rewards/${epoch}`)),
}))
const seeds = [0, 1, 2, 3].map(epoch => ({
  epoch,
  certifiedTwoBefore:
    epoch < 2
      ? null
      : {
          epoch: epoch - 2,
          contentRoot: hex(certified[epoch - 2]!.contentRoot),
          rewardsRoot: hex(certified[epoch - 2]!.rewardsRoot),
        },
  seed: hex(epochSeed(net, epoch, epoch < 2 ? undefined : certified[epoch - 2]) as Uint8Array),
}))
write('seeds.json', seeds)

// assignment of every relay under the seed of epoch 3, and of a few more relay ids under a larger witness set
const seed3 = epochSeed(net, 3, certified[1]) as Uint8Array
const assignment = [
  ...relays.map(r => ({ relay: hex(r.peerId), witnessCount: 5, k: 3 })),
  ...[0, 1, 2].map(i => ({ relay: hex(key(`extra-relay-${i}`).peerId), witnessCount: 1000, k: 7 })),
  { relay: hex(relays[1]!.peerId), witnessCount: 3, k: 5 },
].map(a => ({
  seed: hex(seed3),
  ...a,
  indices: assignedWitnessIndices(seed3, Buffer.from(a.relay.slice(2), 'hex'), a.witnessCount, a.k),
}))
write('assignment.json', assignment)

/** An attestation's vector fields: signer seed, body, signing bytes under `tag`, signature, bytes, id. */
function attestationVector(body: AttestationBody, seed: Uint8Array, tag: string) {
  const attestation = signAttestation(body, seed)
  const bytes = encodeAttestation(attestation)
  const vector = {
    signerSeed: hex(seed),
    body: { ...body, relay: hex(body.relay), witness: hex(body.witness), helper: hex(body.helper) },
    signingBytes: hex(signingBytes(tag, net.id, encodeFields(encodeFieldsOf(bytes).slice(0, -1)))),
    signature: hex(attestation.signature),
    bytes: hex(bytes),
    id: hex(itemId('attestation', bytes)),
  }
  return { vector, attestation }
}

// attestations of epoch 3: every assigned witness of relays 0..3 (relay 3 also by an unassigned
// witness, which the tally ignores); relay 2's first witness reports a timeout
const epoch = 3
const attestations = relays.flatMap((r, ri) => {
  const assigned = assignedWitnessIndices(seed3, r.peerId, net.witnesses.length, net.witnessesPerRelay)
  const unassigned = [0, 1, 2, 3, 4].filter(i => !assigned.includes(i))
  const by = ri === 3 ? [...assigned, unassigned[0]!] : assigned
  return by.map((w, j) => {
    const witness = witnesses.find(x => x.text === net.witnesses[w])!
    const body: AttestationBody = {
      net: net.id,
      epoch,
      relay: r.peerId,
      witness: witness.peerId,
      helper: relays[(ri + 1) % relays.length]!.peerId,
      startedAt: net.genesis + epoch * 3_600_000 + 60_000 * (1 + j),
      durationMs: 20_400,
      bytes: 250_000_000 + ri * 1000 + j,
      forwardBps: 10_000_000 * (ri + 1) + 1_234 * j,
      reverseBps: 9_000_000 * (ri + 1) + 4_321 * j,
      rttMs: 12 + ri + j,
      outcome: ri === 2 && j === 0 ? 'timeout' : 'ok',
    }
    const { vector, attestation } = attestationVector(body, witness.seed, 'weir/attestation/v1')
    return { ...vector, decoded: attestation }
  })
})
write(
  'attestations.json',
  attestations.map(({ decoded: _, ...a }) => a),
)

// version 2 (background traffic) of epoch 3: relay 0's assigned witnesses, with background under the
// credit's cap, at it, and far above it (a third of the probe is credited); `capacity` is capacityOf
const v2Relay = relays[0]!
const attestationsV2 = assignedWitnessIndices(seed3, v2Relay.peerId, net.witnesses.length, net.witnessesPerRelay).map(
  (w, j) => {
    const witness = witnesses.find(x => x.text === net.witnesses[w])!
    const forwardBps = 7_500_000 + j
    const reverseBps = 8_000_000 + 3 * j
    const background = [
      { forwardBps: 1_000_000, reverseBps: 500_000 },
      { forwardBps: Math.floor(forwardBps / 3), reverseBps: Math.floor(reverseBps / 3) },
      { forwardBps: 2 ** 48, reverseBps: 40_000_000 },
    ][j]!
    const body: AttestationBody = {
      net: net.id,
      epoch,
      relay: v2Relay.peerId,
      witness: witness.peerId,
      helper: relays[1]!.peerId,
      startedAt: net.genesis + epoch * 3_600_000 + 120_000 * (1 + j),
      durationMs: 20_400,
      bytes: 300_000_000 + j,
      forwardBps,
      reverseBps,
      rttMs: 30 + j,
      outcome: 'ok',
      background,
    }
    const { vector, attestation } = attestationVector(body, witness.seed, 'weir/attestation/v2')
    return { ...vector, capacity: capacityOf(attestation) }
  },
)
write('attestations-v2.json', attestationsV2)

// content root of epoch 3: its attestations and no records; and of epoch 0: the four records
write('content-root.json', [
  { ids: attestations.map(a => a.id), root: hex(contentRoot(attestations.map(a => Buffer.from(a.id.slice(2), 'hex')))) },
  { ids: records.map(r => r.id), root: hex(contentRoot(records.map(r => Buffer.from(r.id.slice(2), 'hex')))) },
  { ids: [], root: hex(contentRoot([])) },
])

// the tally of epoch 3 with a previous cumulative amount for one payout
const registry = buildRegistry(
  net,
  recordBodies.map(({ signer, ...body }) => signRelayRecord(body, seedOf(signer))),
)
const previous = new Map<Address, bigint>([
  [payout('genesis'), 5_000_000_000_000_000_000n],
  [payout('retired'), 7n],
])
const tally = computeTally({
  network: net,
  epoch,
  seed: seed3,
  attestations: attestations.map(a => a.decoded),
  registry,
  previous,
})
const tree = buildRewardsTree(tally.leaves)
write('tally.json', {
  epoch,
  seed: hex(seed3),
  recordBytes: records.map(r => r.bytes),
  attestationBytes: attestations.map(a => a.bytes),
  previous: [...previous].map(([account, amount]) => ({ account, amount })),
  relays: tally.relays.map(r => ({ ...r, relay: hex(r.relay) })),
  equivocations: tally.equivocations,
  emitted: tally.emitted,
  leaves: tally.leaves.map(l => ({ ...l, leafHash: hex(leafHash(l)) })),
  cumulativeTotal: tally.cumulativeTotal,
  rewardsRoot: hex(tally.rewardsRoot),
  proofs: tally.leaves.map(l => ({ account: l.account, proof: hexProof(tree.proof(l.account) ?? []) })),
})

// a vote of each member over epoch 3's roots, and the certificate of the first three
const domain = { chainId: net.chain.chainId, verifyingContract: net.chain.rewards as Address }
const root: EpochRoot = {
  net: net.id,
  epoch,
  contentRoot: contentRoot(attestations.map(a => Buffer.from(a.id.slice(2), 'hex'))),
  rewardsRoot: tally.rewardsRoot,
  cumulativeTotal: tally.cumulativeTotal,
}
const votes = members.map(m => signVote(domain, root, m.signer))
write('votes.json', {
  domain,
  domainSeparator: hex(domainSeparator(domain)),
  root: { ...root, contentRoot: hex(root.contentRoot), rewardsRoot: hex(root.rewardsRoot) },
  digest: hex(voteDigest(domain, root)),
  votes: members.map((m, i) => ({
    secretKey: hex(m.signer),
    signer: addressOfSecretKey(m.signer),
    signature: hex(votes[i]!.signature),
    bytes: hex(encodeVote(votes[i]!)),
  })),
  certificate: hex(encodeCertificate({ ...root, signatures: votes.slice(0, 3).map(v => v.signature) })),
})

// The tunnel handshake (node/tunnel/wire.ts): unsigned, but one encoding per padding length. `domains`
// says where each message travels: `tunnel` in the clear on a tunnel stream (to the first relay, or from
// it to the second), `exit channel` inside the client's Noise channel to the second relay of a circuit.
const hopTo = relays[2]!.text
const both = ['tunnel', 'exit channel']
write('tunnel-wire.json', {
  exitChannel: {
    network: net.id,
    noise: 'libp2p Noise XX (Noise_XX_25519_ChaChaPoly_SHA256), no early muxer negotiation',
    prologue: hex(exitChannelPrologue(net.id)),
  },
  requests: [
    { target: { kind: 'exit', host: 'example.com', port: 443 }, padding: 0, domains: both },
    { target: { kind: 'exit', host: '2001:db8::1', port: 8080 }, padding: 17, domains: both },
    { target: { kind: 'hop', relay: hopTo }, padding: 0, domains: ['tunnel'] },
    { target: { kind: 'hop', relay: hopTo }, padding: 255, domains: ['tunnel'] },
    { target: { kind: 'forwarded' }, padding: 5, domains: ['tunnel'] },
  ].map(v => {
    const target = (
      v.target.kind === 'hop' ? { kind: 'hop', relay: peerIdFromString(hopTo) } : v.target
    ) as TunnelRequest
    return { ...v, bytes: hex(encodeRequest(target, v.padding)) }
  }),
  replies: [
    { code: 'ok' as const, padding: 0, domains: both },
    { code: 'hop-failed' as const, padding: 3, domains: ['tunnel'] },
    { code: 'refused' as const, padding: 255, domains: both },
  ].map(v => ({ ...v, bytes: hex(encodeReply(v.code, v.padding)) })),
})

const trafficTotals = [
  { t: 1_767_225_600_000, bytesIn: 0, bytesOut: 0 },
  { t: 1_767_225_601_000, bytesIn: 15_000_000, bytesOut: 120_000 },
  { t: 1_767_225_601_250, bytesIn: 15_000_000, bytesOut: 2 ** 40 },
]
write('traffic-report.json', {
  requests: [
    { fromMs: 1_767_225_600_000, toMs: 1_767_225_612_000 },
    { fromMs: 0, toMs: 120_000 },
  ].map(r => ({ ...r, bytes: hex(encodeTrafficRequest(r)) })),
  reports: [[], trafficTotals.slice(0, 1), trafficTotals].map(totals => ({
    totals,
    bytes: hex(encodeTrafficReport(totals)),
  })),
})

/** The positional fields of an encoded message (to rebuild its unsigned body). */
function encodeFieldsOf(bytes: Uint8Array) {
  return decodeCbor(bytes) as Parameters<typeof encodeFields>[0]
}
