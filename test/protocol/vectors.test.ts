import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { decode } from 'cborg'
import { join } from 'node:path'
import { assignedWitnessIndices, drawWitnesses } from '../../protocol/assignment.ts'
import {
  type AttestationBody,
  capacityOf,
  decodeAttestation,
  encodeAttestation,
  signAttestation,
  verifyAttestation,
} from '../../protocol/attestation.ts'
import { parseHex, to0x } from '../../protocol/bytes.ts'
import { encodeFields, type Field, signingBytes } from '../../protocol/codec.ts'
import { contentRoot } from '../../protocol/content.ts'
import { buildRewardsTree, hexProof, leafHash, verifyRewardProof } from '../../protocol/merkle.ts'
import { type Address, networkDefinitionToJson, parseNetworkDefinition } from '../../protocol/network.ts'
import {
  decodeRelayRecord,
  encodeRelayRecord,
  itemId,
  type RelayRecordBody,
  signRelayRecord,
  verifyRelayRecord,
} from '../../protocol/record.ts'
import { buildRegistry } from '../../protocol/registry.ts'
import { epochSeed } from '../../protocol/seed.ts'
import { computeTally } from '../../protocol/tally.ts'
import {
  decodeCertificate,
  decodeVote,
  domainSeparator,
  encodeCertificate,
  encodeVote,
  type EpochRoot,
  recoverVoteSigner,
  signVote,
  verifyCertificate,
  voteDigest,
} from '../../protocol/vote.ts'

// Pinned vectors (written once by test/vectors/generate.ts): the code must reproduce every byte.

// biome-ignore lint/suspicious/noExplicitAny: vectors are untyped JSON
const load = (name: string): any =>
  JSON.parse(readFileSync(join(import.meta.dirname, '../vectors', name), 'utf8'))
const b = (hex: string): Uint8Array => parseHex(hex) as Uint8Array
const unsigned = (bytes: Uint8Array) => {
  // the signed body is the message's fields without the trailing signature, re-encoded as an array
  const fields = decode(bytes) as Field[]
  return encodeFields(fields.slice(0, -1))
}

const network = load('network.json')
const net = parseNetworkDefinition(network.input)

describe('pinned vectors', () => {
  it('network definition', () => {
    assert.deepEqual(networkDefinitionToJson(net), network.normalised)
  })

  for (const [file, tag] of [
    ['relay-records.json', 'weir/relay-record/v1'],
    ['relay-records-v2.json', 'weir/relay-record/v2'],
  ] as const) {
    it(`relay records (${file}): signing bytes, signature, encoding, id`, () => {
      for (const v of load(file)) {
        const body: RelayRecordBody = { ...v.body, relay: b(v.body.relay), payout: b(v.body.payout) }
        const record = signRelayRecord(body, b(v.signerSeed))
        const bytes = encodeRelayRecord(record)
        assert.equal(to0x(record.signature), v.signature)
        assert.equal(to0x(bytes), v.bytes)
        assert.equal(to0x(signingBytes(tag, net.id, unsigned(bytes))), v.signingBytes)
        assert.equal(to0x(itemId('relay-record', bytes)), v.id)
        assert.deepEqual(decodeRelayRecord(b(v.bytes)), record)
        assert.ok(verifyRelayRecord(record))
      }
    })
  }

  for (const [file, tag] of [
    ['attestations.json', 'weir/attestation/v1'],
    ['attestations-v2.json', 'weir/attestation/v2'],
  ]) {
    it(`${file}: signing bytes, signature, encoding, id (and credited capacity)`, () => {
      for (const v of load(file as string)) {
        const body: AttestationBody = {
          ...v.body,
          relay: b(v.body.relay),
          witness: b(v.body.witness),
          helper: b(v.body.helper),
        }
        const a = signAttestation(body, b(v.signerSeed))
        const bytes = encodeAttestation(a)
        assert.equal(to0x(a.signature), v.signature)
        assert.equal(to0x(bytes), v.bytes)
        assert.equal(to0x(signingBytes(tag as string, net.id, unsigned(bytes))), v.signingBytes)
        assert.equal(to0x(itemId('attestation', bytes)), v.id)
        assert.deepEqual(decodeAttestation(b(v.bytes)), a)
        assert.ok(verifyAttestation(a))
        if (v.capacity !== undefined) assert.equal(capacityOf(a), v.capacity)
      }
    })
  }

  it('seeds of epochs 0..3', () => {
    for (const v of load('seeds.json')) {
      const certified = v.certifiedTwoBefore && {
        epoch: v.certifiedTwoBefore.epoch,
        contentRoot: b(v.certifiedTwoBefore.contentRoot),
        rewardsRoot: b(v.certifiedTwoBefore.rewardsRoot),
      }
      assert.equal(to0x(epochSeed(net, v.epoch, certified ?? undefined) as Uint8Array), v.seed)
    }
  })

  it('assignments', () => {
    for (const v of load('assignment.json')) {
      assert.deepEqual(assignedWitnessIndices(b(v.seed), b(v.relay), v.witnessCount, v.k), v.indices)
      assert.deepEqual(drawWitnesses(b(v.seed), b(v.relay), v.witnessCount, v.k), v.indices)
    }
  })

  it('content roots', () => {
    for (const v of load('content-root.json')) {
      assert.equal(to0x(contentRoot(v.ids.map(b))), v.root)
    }
  })

  it('tally: scores, rewards, leaves, rewards root and proofs', () => {
    const v = load('tally.json')
    const records = v.recordBytes.map((x: string) => decodeRelayRecord(b(x)))
    const attestations = v.attestationBytes.map((x: string) => decodeAttestation(b(x)))
    assert.ok(records.every(verifyRelayRecord) && attestations.every(verifyAttestation))
    const t = computeTally({
      network: net,
      epoch: v.epoch,
      seed: b(v.seed),
      attestations,
      registry: buildRegistry(net, records),
      previous: new Map(
        v.previous.map((p: { account: Address; amount: string }) => [p.account, BigInt(p.amount)]),
      ),
    })
    assert.deepEqual(
      t.relays.map(r => ({ ...r, relay: to0x(r.relay), reward: r.reward.toString() })),
      v.relays,
    )
    assert.equal(t.equivocations, v.equivocations)
    assert.equal(t.emitted.toString(), v.emitted)
    assert.deepEqual(
      t.leaves.map(l => ({ account: l.account, amount: l.amount.toString(), leafHash: to0x(leafHash(l)) })),
      v.leaves,
    )
    assert.equal(t.cumulativeTotal.toString(), v.cumulativeTotal)
    assert.equal(to0x(t.rewardsRoot), v.rewardsRoot)
    const tree = buildRewardsTree(t.leaves)
    for (const p of v.proofs) {
      assert.deepEqual(hexProof(tree.proof(p.account) ?? []), p.proof)
      const leaf = t.leaves.find(l => l.account === p.account)!
      assert.ok(verifyRewardProof(t.rewardsRoot, leaf, p.proof.map(b)))
    }
  })

  it('votes: domain separator, digest, signatures, encodings, certificate', () => {
    const v = load('votes.json')
    const root: EpochRoot = {
      ...v.root,
      contentRoot: b(v.root.contentRoot),
      rewardsRoot: b(v.root.rewardsRoot),
      cumulativeTotal: BigInt(v.root.cumulativeTotal),
    }
    assert.equal(to0x(domainSeparator(v.domain)), v.domainSeparator)
    assert.equal(to0x(voteDigest(v.domain, root)), v.digest)
    const signatures: Uint8Array[] = []
    for (const m of v.votes) {
      const vote = signVote(v.domain, root, b(m.secretKey))
      assert.equal(to0x(vote.signature), m.signature)
      assert.equal(to0x(encodeVote(vote)), m.bytes)
      assert.deepEqual(decodeVote(b(m.bytes)), vote)
      assert.equal(recoverVoteSigner(v.domain, root, vote.signature), m.signer)
      signatures.push(vote.signature)
    }
    const cert = { ...root, signatures: signatures.slice(0, 3) }
    assert.equal(to0x(encodeCertificate(cert)), v.certificate)
    const decoded = decodeCertificate(b(v.certificate))
    assert.deepEqual(decoded, cert)
    const committee = net.committee.map(m => m.signer)
    assert.deepEqual(verifyCertificate(v.domain, decoded, committee, net.quorum), {
      ok: true,
      signers: v.votes.slice(0, 3).map((m: { signer: Address }) => m.signer),
    })
  })
})
