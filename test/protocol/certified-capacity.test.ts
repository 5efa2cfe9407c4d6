import assert from 'node:assert/strict'
import { assignedWitnessIndices } from '../../protocol/assignment.ts'
import { encodeAttestation } from '../../protocol/attestation.ts'
import { equalBytes, utf8 } from '../../protocol/bytes.ts'
import {
  type CapacityEvidence,
  type CertifiedCapacity,
  verifyCapacityEvidence,
} from '../../protocol/certified-capacity.ts'
import { contentProof, contentRoot, contentTree, verifyContentProof } from '../../protocol/content.ts'
import { sha256 } from '../../protocol/hash.ts'
import { itemId } from '../../protocol/record.ts'
import { epochSeed } from '../../protocol/seed.ts'
import { type Certificate, type EpochRoot, signVote, voteDomain } from '../../protocol/vote.ts'
import { member } from '../helpers/network.ts'
import { attest, members, network, party, witnesses } from './fixtures.ts'

const ids = (n: number, salt = 'id') => Array.from({ length: n }, (_, i) => sha256(utf8(`${salt}-${i}`)))
const relay = party('certified-relay')
const EPOCH = 5

/** A certificate of `root` signed by the first `quorum` of `signers` (the network's committee by default). */
function certify(root: EpochRoot, signers = members): Certificate {
  const domain = voteDomain(network)
  const signatures = signers.slice(0, network.quorum).map(m => signVote(domain, root, m.signerKey).signature)
  return { ...root, signatures }
}

const rootOf = (epoch: number, content: Uint8Array): EpochRoot => ({
  net: network.id,
  epoch,
  contentRoot: content,
  rewardsRoot: sha256(utf8(`rewards-${epoch}`)),
  cumulativeTotal: 1000n * BigInt(epoch),
})

/**
 * Evidence of the relay's capacity in EPOCH: its assigned witnesses' attestations (capacities 4, 6 and
 * 8 MB/s) among 20 other items of certified content, seeded by a certificate of EPOCH − 2.
 */
function evidence(o: { signers?: typeof members; epochOf?: (i: number) => number } = {}) {
  const seedCertificate = certify(rootOf(EPOCH - 2, sha256(utf8('earlier content'))))
  const seed = epochSeed(network, EPOCH, seedCertificate) as Uint8Array
  const assigned = assignedWitnessIndices(seed, relay.peerId, network.witnesses.length, 3)
  const byText = new Map(witnesses.map(w => [w.text, w]))
  const bodies = assigned.map((w, i) => {
    const witness = byText.get(network.witnesses[w] as string)!
    const bps = 4_000_000 + 2_000_000 * i
    const epoch = o.epochOf?.(i) ?? EPOCH
    return encodeAttestation(attest(witness, relay.peerId, { epoch, forwardBps: bps, reverseBps: bps + 1 }))
  })
  const tree = contentTree([...ids(20), ...bodies.map(b => itemId('attestation', b))])
  const indexOf = (bytes: Uint8Array) =>
    tree.ids.findIndex(id => equalBytes(id, itemId('attestation', bytes)))
  const result: CapacityEvidence = {
    relay: relay.peerId,
    certificate: certify(rootOf(EPOCH, tree.root), o.signers),
    seedCertificate,
    itemCount: tree.ids.length,
    attestations: bodies.map(bytes => ({
      bytes,
      index: indexOf(bytes),
      proof: contentProof(tree, indexOf(bytes)),
    })),
  }
  return { evidence: result, seed, assigned }
}

function flipBit(bytes: Uint8Array, at: number): void {
  bytes[at] = (bytes[at] as number) ^ 0x80
}

function rejected(verdict: CertifiedCapacity, reason: RegExp): void {
  assert.equal(verdict.ok, false, 'accepted')
  assert.match((verdict as { reason: string }).reason, reason)
}

describe('content tree proofs', () => {
  it('prove every item of trees of 1 to 33 items against contentRoot, and nothing else', () => {
    for (let n = 1; n <= 33; n++) {
      const tree = contentTree(ids(n))
      assert.deepEqual(tree.root, contentRoot(ids(n)))
      tree.ids.forEach((id, i) => {
        const proof = contentProof(tree, i)
        assert.ok(verifyContentProof(tree.root, id, i, n, proof), `item ${i} of ${n}`)
        if (n === 1) return
        const tampered = proof.map(p => new Uint8Array(p))
        flipBit(tampered[0] as Uint8Array, 0)
        assert.equal(verifyContentProof(tree.root, id, i, n, tampered), false)
        assert.equal(verifyContentProof(tree.root, sha256(id), i, n, proof), false)
        assert.equal(verifyContentProof(tree.root, id, i, n, [...proof, proof[0] as Uint8Array]), false)
      })
      assert.equal(verifyContentProof(tree.root, tree.ids[0] as Uint8Array, n, n, []), false)
    }
  })
})

describe('certified capacity of a relay', () => {
  it("is the tally's score (lower median) of its assigned witnesses' proven attestations", () => {
    const verdict = verifyCapacityEvidence(network, evidence().evidence, EPOCH)
    assert.deepEqual(verdict, {
      ok: true,
      epoch: EPOCH,
      relay: relay.peerId,
      score: 6_000_000,
      attestations: 3,
    })
  })

  it('is 0 with fewer attestations shown than the network requires', () => {
    const { evidence: e } = evidence()
    const verdict = verifyCapacityEvidence(network, { ...e, attestations: e.attestations.slice(0, 1) }, EPOCH)
    assert.ok(verdict.ok && verdict.score === 0)
  })

  it('rejects a tampered proof', () => {
    const { evidence: e } = evidence()
    const [first, ...rest] = e.attestations
    const proof = first!.proof.map(p => new Uint8Array(p))
    flipBit(proof[1] as Uint8Array, 5)
    rejected(
      verifyCapacityEvidence(network, { ...e, attestations: [{ ...first!, proof }, ...rest] }, EPOCH),
      /not proven to be in the certified content of epoch 5/,
    )
  })

  it('rejects a certificate signed by others than the committee, or by too few of it', () => {
    const others = Array.from({ length: 4 }, (_, i) => member(`impostor-${i}`))
    rejected(
      verifyCapacityEvidence(network, evidence({ signers: others }).evidence, EPOCH),
      /certificate of epoch 5 does not verify: signer 0x[0-9a-f]+ is not a committee member/,
    )
    const { evidence: e } = evidence()
    const thin = { ...e.certificate, signatures: e.certificate.signatures.slice(0, 2) }
    rejected(verifyCapacityEvidence(network, { ...e, certificate: thin }, EPOCH), /2 signatures, quorum is 3/)
    const badSeed = { ...e.seedCertificate!, signatures: [] }
    rejected(
      verifyCapacityEvidence(network, { ...e, seedCertificate: badSeed }, EPOCH),
      /epoch 3 does not verify/,
    )
  })

  it('rejects an attestation by a witness not assigned to the relay', () => {
    const { evidence: e, assigned } = evidence()
    const stranger = witnesses.find(w => !assigned.map(i => network.witnesses[i]).includes(w.text))!
    const bytes = encodeAttestation(attest(stranger, relay.peerId, { epoch: EPOCH }))
    // proven in content: only the assignment is wrong
    const contentIds = [
      ...ids(20),
      ...e.attestations.map(a => itemId('attestation', a.bytes)),
      itemId('attestation', bytes),
    ]
    const tree = contentTree(contentIds)
    const index = tree.ids.findIndex(id => equalBytes(id, itemId('attestation', bytes)))
    const forged = {
      ...e,
      certificate: certify(rootOf(EPOCH, tree.root)),
      itemCount: tree.ids.length,
      attestations: [{ bytes, index, proof: contentProof(tree, index) }],
    }
    rejected(
      verifyCapacityEvidence(network, forged, EPOCH),
      new RegExp(`witness ${stranger.text} was not assigned`),
    )
  })

  it('rejects evidence of the wrong epoch: attestations of another epoch, a stale epoch, a wrong seed epoch', () => {
    rejected(
      verifyCapacityEvidence(
        network,
        evidence({ epochOf: i => (i === 1 ? EPOCH - 1 : EPOCH) }).evidence,
        EPOCH,
      ),
      /an attestation of epoch 4 in evidence of epoch 5/,
    )
    const { evidence: e } = evidence()
    rejected(verifyCapacityEvidence(network, e, EPOCH + 1), /epoch 5 is older than epoch 6/)
    const wrongSeed = certify(rootOf(EPOCH - 1, sha256(utf8('earlier content'))))
    rejected(
      verifyCapacityEvidence(network, { ...e, seedCertificate: wrongSeed }, EPOCH),
      /a certificate of epoch 4 where epoch 3 was needed/,
    )
    rejected(
      verifyCapacityEvidence(network, { ...e, seedCertificate: undefined }, EPOCH),
      /no certificate of epoch 3/,
    )
  })

  it("rejects another relay's attestation and another network's certificate", () => {
    const { evidence: e } = evidence()
    rejected(
      verifyCapacityEvidence(network, { ...e, relay: party('another-relay').peerId }, EPOCH),
      /an attestation of relay 12D3KooW/,
    )
    rejected(
      verifyCapacityEvidence({ ...network, id: 'elsewhere' }, e, EPOCH),
      /a certificate of network testnet-1/,
    )
  })
})
