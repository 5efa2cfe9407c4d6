import assert from 'node:assert/strict'
import { generateKeyPairFromSeed, publicKeyFromRaw } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey, peerIdFromString } from '@libp2p/peer-id'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { keccak_256 } from '@noble/hashes/sha3.js'
import fc from 'fast-check'
import { type Hex, recoverTypedDataAddress } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import {
  ATTESTATION_TAG,
  decodeAttestation,
  encodeAttestation,
  verifyAttestation,
  verifyAttestationBytes,
} from '../../protocol/attestation.ts'
import { concatBytes, equalBytes, to0x, utf8 } from '../../protocol/bytes.ts'
import { encodeFields, signingBytes } from '../../protocol/codec.ts'
import { ed25519FromSeed, signEd25519, verifyEd25519 } from '../../protocol/ed25519.ts'
import { DecodeError } from '../../protocol/errors.ts'
import { sha256 } from '../../protocol/hash.ts'
import { peerIdOfPublicKey, peerIdToString, publicKeyOfPeerId } from '../../protocol/peer.ts'
import {
  decodeRelayRecord,
  encodeRelayRecord,
  signRelayRecord,
  verifyRelayRecord,
} from '../../protocol/record.ts'
import {
  addressOfSecretKey,
  type Certificate,
  type EpochRoot,
  recoverVoteSigner,
  signVote,
  verifyCertificate,
  voteDigest,
} from '../../protocol/vote.ts'
import { attest, members, network, party, record, witnesses } from './fixtures.ts'

const relay = party('relay-a')
const domain = { chainId: 31337, verifyingContract: '0x5fbdb2315678afecb367f032d93f642f64180aa3' } as const
const root: EpochRoot = {
  net: network.id,
  epoch: 9,
  contentRoot: sha256(utf8('content')),
  rewardsRoot: sha256(utf8('rewards')),
  cumulativeTotal: 123_456_789_000_000_000_000n,
}

/** Every single-bit flip of `bytes` either fails to decode or decodes to something whose signature fails. */
function everyBitFlipFails(
  bytes: Uint8Array,
  decode: (b: Uint8Array) => unknown,
  verify: (v: never) => boolean,
) {
  for (let i = 0; i < bytes.length; i++) {
    for (let bit = 0; bit < 8; bit++) {
      const flipped = bytes.slice()
      flipped[i]! ^= 1 << bit
      let value: unknown
      try {
        value = decode(flipped)
      } catch (err) {
        assert.ok(err instanceof DecodeError)
        continue
      }
      assert.equal(verify(value as never), false, `flip of bit ${bit} of byte ${i} still verifies`)
    }
  }
}

const n = BigInt('0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141')

describe('signatures', () => {
  describe('Ed25519 records and attestations', () => {
    it('a signed relay record verifies, and every bit flip of its encoding fails', () => {
      const r = record(relay)
      assert.ok(verifyRelayRecord(r))
      assert.ok(verifyRelayRecord(decodeRelayRecord(encodeRelayRecord(r))))
      everyBitFlipFails(encodeRelayRecord(r), decodeRelayRecord, verifyRelayRecord)
    })

    it('a signed attestation verifies, and every bit flip of its encoding fails', () => {
      const a = attest(witnesses[0]!, relay.peerId)
      assert.ok(verifyAttestation(a))
      everyBitFlipFails(encodeAttestation(a), decodeAttestation, verifyAttestation)
    })

    it('verifying from the received bytes agrees with verifying the decoded attestation', () => {
      const verifyBoth = (bytes: Uint8Array) => {
        const a = decodeAttestation(bytes)
        // gossip hands over Node Buffers (whose slice() is a view): the message must stay untouched
        const received = Buffer.from(bytes)
        const result = verifyAttestationBytes(a, received)
        assert.ok(equalBytes(received, bytes), 'the received bytes are not modified')
        assert.equal(result, verifyAttestation(a))
        return result
      }
      fc.assert(
        fc.property(
          fc.record({
            epoch: fc.nat(2 ** 32),
            durationMs: fc.nat(2 ** 32),
            bytes: fc.maxSafeNat(),
            forwardBps: fc.maxSafeNat(),
            rttMs: fc.nat(2 ** 32),
            outcome: fc.constantFrom('ok', 'unreachable', 'refused', 'timeout', 'corrupt' as const),
          }),
          overrides =>
            assert.ok(verifyBoth(encodeAttestation(attest(witnesses[0]!, relay.peerId, overrides)))),
        ),
        { numRuns: 200 },
      )
      everyBitFlipFails(encodeAttestation(attest(witnesses[0]!, relay.peerId)), decodeAttestation, a =>
        verifyBoth(encodeAttestation(a)),
      )
    })

    it('a signature by another key fails', () => {
      const a = attest(witnesses[0]!, relay.peerId)
      assert.equal(verifyAttestation({ ...a, witness: witnesses[1]!.peerId }), false)
      const r = record(relay)
      assert.equal(verifyRelayRecord({ ...r, signature: record(party('relay-b')).signature }), false)
      assert.equal(verifyRelayRecord({ ...r, relay: new Uint8Array(38) }), false)
    })

    it('signs over tag ‖ 0 ‖ network id ‖ 0 ‖ canonical body', () => {
      const a = attest(witnesses[0]!, relay.peerId)
      const body = encodeAttestation(a).subarray(0, -66) // drop the signature (0x58 0x40 + 64 bytes)
      const fields = encodeFields([1, ...bodyFieldsOf(a)])
      // the body of the encoding is the 13-field array: its header differs (0x8d vs 0x8e) but not the rest
      assert.ok(equalBytes(fields.subarray(1), body.subarray(1)))
      const message = concatBytes(
        utf8(ATTESTATION_TAG),
        Uint8Array.of(0),
        utf8(network.id),
        Uint8Array.of(0),
        fields,
      )
      assert.ok(equalBytes(message, signingBytes(ATTESTATION_TAG, network.id, fields)))
      assert.ok(verifyEd25519(witnesses[0]!.key.publicKey, message, a.signature))
    })

    it('signatures of one network do not verify for another network id', () => {
      fc.assert(
        fc.property(fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,31}$/), other => {
          fc.pre(other !== network.id)
          const a = attest(witnesses[0]!, relay.peerId)
          assert.equal(verifyAttestation({ ...a, net: other }), false)
          const r = record(relay)
          assert.equal(verifyRelayRecord({ ...r, net: other }), false)
          // and a record signature never verifies as an attestation body or vice versa (distinct tags)
          const raw = signEd25519(
            relay.key.seed,
            signingBytes('weir/relay-record/v1', other, new Uint8Array(3)),
          )
          assert.equal(
            verifyEd25519(relay.key.publicKey, signingBytes(ATTESTATION_TAG, other, new Uint8Array(3)), raw),
            false,
          )
        }),
        { numRuns: 50 },
      )
    })

    it('re-signing the same body with another network id gives another signature', () => {
      const r = record(relay)
      const { signature: _, ...body } = r
      const elsewhere = signRelayRecord({ ...body, net: 'othernet' }, relay.key.seed)
      assert.ok(verifyRelayRecord(elsewhere))
      assert.ok(!equalBytes(elsewhere.signature, r.signature))
    })

    it('rejects malformed keys and signatures without throwing', () => {
      const msg = utf8('x')
      const sig = signEd25519(relay.key.seed, msg)
      assert.ok(verifyEd25519(relay.key.publicKey, msg, sig))
      assert.equal(verifyEd25519(relay.key.publicKey.subarray(1), msg, sig), false)
      assert.equal(verifyEd25519(relay.key.publicKey, msg, sig.subarray(1)), false)
      assert.equal(verifyEd25519(new Uint8Array(32), msg, sig), false)
      // S ≥ L (the malleable twin S + L) must not verify
      const s = BigInt(`0x${Buffer.from(sig.subarray(32)).reverse().toString('hex')}`)
      const L = 2n ** 252n + 27742317777372353535851937790883648493n
      const twin = Buffer.from((s + L).toString(16).padStart(64, '0'), 'hex').reverse()
      assert.equal(verifyEd25519(relay.key.publicKey, msg, concatBytes(sig.subarray(0, 32), twin)), false)
    })
  })

  describe('PeerIds', () => {
    it('match @libp2p/peer-id and @libp2p/crypto for the same keys', async () => {
      for (let i = 0; i < 20; i++) {
        const seed = sha256(utf8(`peer-${i}`))
        const ours = ed25519FromSeed(seed)
        const theirs = await generateKeyPairFromSeed('Ed25519', seed)
        assert.ok(equalBytes(theirs.publicKey.raw, ours.publicKey))
        const id = peerIdFromPublicKey(publicKeyFromRaw(ours.publicKey))
        const bytes = peerIdOfPublicKey(ours.publicKey)
        assert.equal(peerIdToString(bytes), id.toString())
        assert.ok(equalBytes(id.toMultihash().bytes, bytes))
        assert.ok(
          equalBytes(publicKeyOfPeerId(peerIdFromString(id.toString()).toMultihash().bytes), ours.publicKey),
        )
        // and libp2p's signature over the same message verifies with ours
        const msg = utf8(`message ${i}`)
        assert.ok(verifyEd25519(ours.publicKey, msg, await theirs.sign(msg)))
        assert.ok(await theirs.publicKey.verify(msg, signEd25519(seed, msg)))
      }
    })
  })

  describe('EIP-712 votes', () => {
    const viemTyped = (r: EpochRoot) =>
      ({
        domain: {
          name: 'Weir',
          version: '1',
          chainId: domain.chainId,
          verifyingContract: domain.verifyingContract,
        },
        types: {
          EpochRoot: [
            { name: 'network', type: 'bytes32' },
            { name: 'epoch', type: 'uint64' },
            { name: 'contentRoot', type: 'bytes32' },
            { name: 'rewardsRoot', type: 'bytes32' },
            { name: 'cumulativeTotal', type: 'uint256' },
          ],
        },
        primaryType: 'EpochRoot',
        message: {
          network: to0x(keccak_256(utf8(r.net))),
          epoch: BigInt(r.epoch),
          contentRoot: to0x(r.contentRoot),
          rewardsRoot: to0x(r.rewardsRoot),
          cumulativeTotal: r.cumulativeTotal,
        },
      }) as const

    it('recover the signer', () => {
      for (const m of members) {
        const vote = signVote(domain, root, m.signerKey)
        assert.equal(recoverVoteSigner(domain, root, vote.signature), addressOfSecretKey(m.signerKey))
        assert.notEqual(
          recoverVoteSigner(domain, { ...root, epoch: 10 }, vote.signature),
          addressOfSecretKey(m.signerKey),
        )
        assert.notEqual(
          recoverVoteSigner({ ...domain, chainId: 1 }, root, vote.signature),
          addressOfSecretKey(m.signerKey),
        )
      }
    })

    it('equal viem signTypedData byte for byte and recover with recoverTypedDataAddress', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.uint8Array({ minLength: 32, maxLength: 32 }),
          fc.uint8Array({ minLength: 32, maxLength: 32 }),
          fc.nat({ max: 2 ** 32 }),
          fc.bigInt({ min: 0n, max: (1n << 256n) - 1n }),
          fc.nat(members.length - 1),
          async (contentRoot, rewardsRoot, epoch, cumulativeTotal, who) => {
            const r = { net: network.id, epoch, contentRoot, rewardsRoot, cumulativeTotal }
            const secret = members[who]!.signerKey
            const account = privateKeyToAccount(to0x(secret))
            const theirs = await account.signTypedData(viemTyped(r))
            const ours = signVote(domain, r, secret)
            assert.equal(to0x(ours.signature), theirs)
            const recovered = await recoverTypedDataAddress({ ...viemTyped(r), signature: theirs as Hex })
            assert.equal(recovered.toLowerCase(), addressOfSecretKey(secret))
            assert.equal(recoverVoteSigner(domain, r, ours.signature), account.address.toLowerCase())
          },
        ),
        { numRuns: 25 },
      )
    })

    it('rejects high-s, bad v and wrong lengths', () => {
      const vote = signVote(domain, root, members[0]!.signerKey)
      const sig = vote.signature
      const s = BigInt(to0x(sig.subarray(32, 64)))
      assert.ok(s <= n / 2n)
      // the same signature with s' = n − s and the recovery bit flipped is valid ECDSA, but high-s
      const highS = concatBytes(
        sig.subarray(0, 32),
        Buffer.from((n - s).toString(16).padStart(64, '0'), 'hex'),
        Uint8Array.of(sig[64] === 27 ? 28 : 27),
      )
      const parsed = secp256k1.Signature.fromBytes(highS.subarray(0, 64), 'compact')
      assert.ok(parsed.hasHighS())
      assert.equal(recoverVoteSigner(domain, root, highS), undefined)
      for (const v of [0, 1, 26, 29, 255]) {
        assert.equal(
          recoverVoteSigner(domain, root, concatBytes(sig.subarray(0, 64), Uint8Array.of(v))),
          undefined,
        )
      }
      assert.equal(recoverVoteSigner(domain, root, sig.subarray(0, 64)), undefined)
      assert.equal(recoverVoteSigner(domain, root, new Uint8Array(65).fill(0)), undefined)
      assert.equal(
        recoverVoteSigner(domain, root, concatBytes(new Uint8Array(64).fill(0xff), Uint8Array.of(27))),
        undefined,
      )
    })

    it('certificates need a quorum of distinct committee signers', () => {
      const committee = members.map(m => addressOfSecretKey(m.signerKey))
      const sigs = members.map(m => signVote(domain, root, m.signerKey).signature)
      const cert = (signatures: Uint8Array[]): Certificate => ({ ...root, signatures })
      const ok = verifyCertificate(domain, cert(sigs.slice(0, 3)), committee, 3)
      assert.deepEqual(ok, { ok: true, signers: committee.slice(0, 3) })
      assert.equal(verifyCertificate(domain, cert(sigs.slice(0, 2)), committee, 3).ok, false)
      assert.equal(verifyCertificate(domain, cert([sigs[0]!, sigs[0]!, sigs[1]!]), committee, 3).ok, false)
      const outsider = signVote(domain, root, sha256(utf8('outsider'))).signature
      assert.equal(verifyCertificate(domain, cert([...sigs.slice(0, 2), outsider]), committee, 3).ok, false)
      const otherRoot = signVote(domain, { ...root, epoch: 10 }, members[3]!.signerKey).signature
      assert.equal(verifyCertificate(domain, cert([...sigs.slice(0, 2), otherRoot]), committee, 3).ok, false)
      assert.equal(verifyCertificate(domain, cert(sigs), committee, 3).ok, true)
    })

    it('the digest is the EIP-712 hash viem computes', async () => {
      const { hashTypedData } = await import('viem')
      assert.equal(to0x(voteDigest(domain, root)), hashTypedData(viemTyped(root)))
    })
  })
})

function bodyFieldsOf(a: ReturnType<typeof attest>) {
  return [
    a.net,
    a.epoch,
    a.relay,
    a.witness,
    a.helper,
    a.startedAt,
    a.durationMs,
    a.bytes,
    a.forwardBps,
    a.reverseBps,
    a.rttMs,
    0,
  ]
}
