import assert from 'node:assert/strict'
import fc from 'fast-check'
import {
  type Attestation,
  decodeAttestation,
  encodeAttestation,
  MAX_ATTESTATION_BYTES,
  OUTCOMES,
} from '../../protocol/attestation.ts'
import { concatBytes, equalBytes } from '../../protocol/bytes.ts'
import { decodeFields, encodeFields, type Field } from '../../protocol/codec.ts'
import { DecodeError, type DecodeErrorCode } from '../../protocol/errors.ts'
import { PEER_ID_BYTES } from '../../protocol/peer.ts'
import {
  decodeRelayRecord,
  encodeRelayRecord,
  exitAllows,
  MAX_RELAY_RECORD_BYTES,
  type RelayRecord,
  verifyRelayRecord,
} from '../../protocol/record.ts'
import {
  type Certificate,
  decodeCertificate,
  decodeVote,
  encodeCertificate,
  encodeVote,
  MAX_CERTIFICATE_BYTES,
  MAX_VOTE_BYTES,
  signVote,
  type Vote,
} from '../../protocol/vote.ts'
import { attest, members, network, party, record, witnesses } from './fixtures.ts'

const domain = { chainId: 31337, verifyingContract: '0x5fbdb2315678afecb367f032d93f642f64180aa3' } as const
const root = {
  net: network.id,
  epoch: 7,
  contentRoot: new Uint8Array(32).fill(1),
  rewardsRoot: new Uint8Array(32).fill(2),
  cumulativeTotal: 10n ** 24n,
}

interface Codec {
  name: string
  decode(bytes: Uint8Array): unknown
  encode(value: never): Uint8Array
  max: number
  valid: Uint8Array[]
}

const aRecord = record(party('relay-a'))
const anAttestation = attest(witnesses[0]!, party('relay-a').peerId)
const aVote = signVote(domain, root, members[0]!.signerKey)
const aCertificate: Certificate = {
  ...root,
  signatures: members.slice(0, 3).map(m => signVote(domain, root, m.signerKey).signature),
}

const webExits = {
  ipv4: true,
  ipv6: true,
  ports: [
    [80, 80],
    [443, 443],
    [8000, 8999],
  ],
} as const

const codecs: Codec[] = [
  {
    name: 'relay record',
    decode: decodeRelayRecord,
    encode: encodeRelayRecord,
    max: MAX_RELAY_RECORD_BYTES,
    valid: [
      encodeRelayRecord(aRecord),
      encodeRelayRecord(record(party('relay-b'), { addrs: [], seq: 2 ** 40, maxBandwidthBps: 1e9 })),
      encodeRelayRecord(record(party('relay-c'), { exits: webExits })),
    ],
  },
  {
    name: 'attestation',
    decode: decodeAttestation,
    encode: encodeAttestation,
    max: MAX_ATTESTATION_BYTES,
    valid: [
      encodeAttestation(anAttestation),
      encodeAttestation(
        attest(witnesses[1]!, party('relay-b').peerId, { outcome: 'timeout', forwardBps: 0 }),
      ),
      encodeAttestation(
        attest(witnesses[2]!, party('relay-c').peerId, { background: { forwardBps: 1e6, reverseBps: 2e6 } }),
      ),
    ],
  },
  { name: 'vote', decode: decodeVote, encode: encodeVote, max: MAX_VOTE_BYTES, valid: [encodeVote(aVote)] },
  {
    name: 'certificate',
    decode: decodeCertificate,
    encode: encodeCertificate,
    max: MAX_CERTIFICATE_BYTES,
    valid: [encodeCertificate(aCertificate)],
  },
]

function expectDecodeError(decode: (b: Uint8Array) => unknown, bytes: Uint8Array, code: DecodeErrorCode) {
  assert.throws(
    () => decode(bytes),
    (err: unknown) => {
      assert.ok(err instanceof DecodeError, `expected DecodeError, got ${err}`)
      assert.equal(err.code, code, err.message)
      return true
    },
  )
}

const hex = (text: string) => Uint8Array.from(Buffer.from(text, 'hex'))
const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n })
const peerId = bytes(PEER_ID_BYTES - 6).map(k => concatBytes(hex('002408011220'), k))
const netId = fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,31}$/)
const safeUint = fc.nat({ max: Number.MAX_SAFE_INTEGER })
const u32 = fc.nat({ max: 2 ** 32 })

const recordArb: fc.Arbitrary<RelayRecord> = fc.record({
  net: netId,
  relay: peerId,
  epoch: u32,
  seq: safeUint,
  addrs: fc.array(fc.string({ minLength: 1, maxLength: 256 }), { maxLength: 8 }),
  payout: bytes(20),
  maxBandwidthBps: safeUint,
  signature: bytes(64),
})

const attestationArb: fc.Arbitrary<Attestation> = fc.record({
  net: netId,
  epoch: u32,
  relay: peerId,
  witness: peerId,
  helper: peerId,
  startedAt: safeUint,
  durationMs: u32,
  bytes: safeUint,
  forwardBps: safeUint,
  reverseBps: safeUint,
  rttMs: u32,
  outcome: fc.constantFrom(...OUTCOMES),
  signature: bytes(64),
})

const rootArb = fc.record({
  net: netId,
  epoch: u32,
  contentRoot: bytes(32),
  rewardsRoot: bytes(32),
  cumulativeTotal: fc.bigInt({ min: 0n, max: (1n << 256n) - 1n }),
})
const voteArb: fc.Arbitrary<Vote> = fc
  .tuple(rootArb, bytes(65))
  .map(([r, signature]) => ({ ...r, signature }))
const certificateArb: fc.Arbitrary<Certificate> = fc
  .tuple(rootArb, fc.array(bytes(65), { minLength: 1, maxLength: 100 }))
  .map(([r, signatures]) => ({ ...r, signatures }))

describe('codecs', () => {
  describe('round trips', () => {
    const roundTrip = <T>(arb: fc.Arbitrary<T>, encode: (v: T) => Uint8Array, decode: (b: Uint8Array) => T) =>
      fc.assert(
        fc.property(arb, value => {
          const encoded = encode(value)
          const decoded = decode(encoded)
          assert.deepEqual(decoded, { ...value })
          assert.ok(equalBytes(encode(decoded), encoded))
        }),
        { numRuns: 300 },
      )
    it('encodings are plain Uint8Arrays that own their bytes (not views into a shared pool)', () => {
      for (const c of codecs) {
        const v = c.valid[0]!
        assert.equal(Object.getPrototypeOf(v), Uint8Array.prototype)
        assert.equal(v.byteOffset, 0)
        assert.equal(v.buffer.byteLength, v.length)
      }
    })
    it('relay records', () => roundTrip(recordArb, encodeRelayRecord, decodeRelayRecord))
    it('attestations', () => roundTrip(attestationArb, encodeAttestation, decodeAttestation))
    it('votes', () => roundTrip(voteArb, encodeVote, decodeVote))
    it('certificates', () => roundTrip(certificateArb, encodeCertificate, decodeCertificate))
  })

  describe('strict decoding', () => {
    // The attestation's fields, so single fields can be replaced by wrong forms.
    const fields = (): Field[] => {
      const a = anAttestation
      return [1, a.net, a.epoch, a.relay, a.witness, a.helper, a.startedAt, a.durationMs, a.bytes]
        .concat([a.forwardBps, a.reverseBps, a.rttMs, 0, a.signature])
        .map(f => f as Field)
    }
    const withField = (i: number, value: Field) => {
      const f = fields()
      f[i] = value
      return encodeFields(f)
    }
    const valid = encodeAttestation(anAttestation)

    it('accepts the canonical encoding', () => {
      assert.deepEqual(decodeAttestation(valid), anAttestation)
      assert.ok(equalBytes(encodeFields(fields()), valid))
    })

    it('rejects an unknown version', () => {
      expectDecodeError(decodeAttestation, withField(0, 3), 'version')
      expectDecodeError(decodeAttestation, withField(0, 0), 'version')
      expectDecodeError(decodeAttestation, withField(0, '1'), 'version')
      for (const c of codecs) {
        const v = c.valid[0]!.slice()
        assert.equal(v[1], 0x01) // array header, then version 1
        v[1] = 0x03 // no message has a version 3 (attestations and relay records have a version 2)
        expectDecodeError(c.decode, v, 'version')
      }
    })

    it('rejects trailing bytes and truncation', () => {
      for (const c of codecs) {
        const v = c.valid[0]!
        expectDecodeError(c.decode, concatBytes(v, Uint8Array.of(0)), 'malformed')
        if (2 * v.length <= c.max) expectDecodeError(c.decode, concatBytes(v, v), 'malformed')
        expectDecodeError(c.decode, v.subarray(0, v.length - 1), 'malformed')
        expectDecodeError(c.decode, new Uint8Array(0), 'malformed')
      }
    })

    it('rejects non-minimal integers as non-canonical', () => {
      // epoch 5 as a one-byte-argument integer (0x18 0x05) instead of 0x05
      const epochAt = 1 + 1 + 1 + network.id.length
      assert.equal(valid[epochAt], 5)
      const widened = concatBytes(valid.subarray(0, epochAt), hex('1805'), valid.subarray(epochAt + 1))
      expectDecodeError(decodeAttestation, widened, 'noncanonical')
      // the array header itself widened: 0x8e → 0x98 0x0e
      expectDecodeError(decodeAttestation, concatBytes(hex('980e'), valid.subarray(1)), 'noncanonical')
    })

    it('rejects indefinite lengths as non-canonical', () => {
      const indefinite = concatBytes(hex('9f'), valid.subarray(1), hex('ff'))
      expectDecodeError(decodeAttestation, indefinite, 'noncanonical')
    })

    it('rejects floats standing in for integers and non-UTF-8 text as non-canonical', () => {
      // epoch 5 as a half-precision float 5.0 decodes to the same number but is not its canonical form
      const epochAt = 1 + 1 + 1 + network.id.length
      const float = concatBytes(valid.subarray(0, epochAt), hex('f94500'), valid.subarray(epochAt + 1))
      expectDecodeError(decodeAttestation, float, 'noncanonical')
      const badUtf8 = encodeFields([1, 'x'])
      badUtf8[3] = 0xff
      expectDecodeError(b => decodeFields(b, 100, 2, 'pair'), badUtf8, 'noncanonical')
    })

    it('rejects a map instead of an array, and other top-level types', () => {
      for (const c of codecs) {
        for (const top of ['a0', 'a1616101', '01', '6161', '4161', 'f6', 'c1820105', '80']) {
          expectDecodeError(c.decode, hex(top), top === '80' ? 'version' : 'malformed')
        }
      }
    })

    it('rejects oversize input before decoding it', () => {
      for (const c of codecs) {
        expectDecodeError(c.decode, new Uint8Array(c.max + 1), 'oversize')
        expectDecodeError(c.decode, concatBytes(c.valid[0]!, new Uint8Array(c.max)), 'oversize')
      }
    })

    it('rejects wrong arity', () => {
      expectDecodeError(decodeAttestation, encodeFields(fields().slice(0, 13)), 'malformed')
      expectDecodeError(decodeAttestation, encodeFields([...fields(), 0]), 'malformed')
      expectDecodeError(decodeRelayRecord, encodeFields([1]), 'malformed')
      expectDecodeError(decodeVote, encodeFields([1, 'x', 1, 'y', 'z', 'w', 'v', 'u']), 'malformed')
      expectDecodeError(decodeCertificate, encodeFields([1, 'x']), 'malformed')
    })

    it('rejects wrong field types and out-of-range values', () => {
      const cases: [number, Field][] = [
        [1, ''], // empty net
        [1, 'a'.repeat(33)],
        [1, 7],
        [2, 2 ** 32 + 1], // epoch out of range
        [2, 'x'],
        [2, -1],
        [3, new Uint8Array(37)], // relay too short
        [3, 'relay'],
        [4, new Uint8Array(39)],
        [5, [1, 2]],
        [6, new Uint8Array(8)],
        [7, 2 ** 33],
        [11, -5],
        [12, 5], // outcome index out of range
        [12, 'ok'],
        [13, new Uint8Array(63)],
        [13, new Uint8Array(65)],
      ]
      for (const [i, value] of cases) expectDecodeError(decodeAttestation, withField(i, value), 'field')
      const r = aRecord
      const recordFields = (addrs: Field, payout: Field = r.payout): Field[] => [
        1,
        r.net,
        r.relay,
        r.epoch,
        r.seq,
        addrs,
        payout,
        r.maxBandwidthBps,
        r.signature,
      ]
      expectDecodeError(decodeRelayRecord, encodeFields(recordFields('x')), 'field')
      expectDecodeError(decodeRelayRecord, encodeFields(recordFields(Array(17).fill('/a'))), 'field')
      expectDecodeError(decodeRelayRecord, encodeFields(recordFields(['a'.repeat(257)])), 'field')
      expectDecodeError(decodeRelayRecord, encodeFields(recordFields([''])), 'field')
      expectDecodeError(decodeRelayRecord, encodeFields(recordFields([], new Uint8Array(21))), 'field')
      const rootFields = [1, root.net, root.epoch, root.contentRoot, root.rewardsRoot, new Uint8Array(32)]
      expectDecodeError(decodeVote, encodeFields([...rootFields, new Uint8Array(64)]), 'field')
      expectDecodeError(decodeCertificate, encodeFields([...rootFields, []]), 'field')
      expectDecodeError(decodeCertificate, encodeFields([...rootFields, new Uint8Array(65)]), 'field')
      expectDecodeError(
        decodeCertificate,
        encodeFields([...rootFields, Array(101).fill(aVote.signature)]),
        'field',
      )
      expectDecodeError(decodeCertificate, encodeFields([...rootFields, [new Uint8Array(64)]]), 'field')
      const shortWord = [1, root.net, root.epoch, root.contentRoot, root.rewardsRoot, new Uint8Array(31)]
      expectDecodeError(decodeVote, encodeFields([...shortWord, aVote.signature]), 'field')
    })
  })

  describe('fuzzing', () => {
    /** Decoding either round-trips exactly or throws DecodeError; anything else fails the property. */
    const check = (c: Codec, input: Uint8Array) => {
      let value: unknown
      try {
        value = c.decode(input)
      } catch (err) {
        if (err instanceof DecodeError) return
        throw err
      }
      assert.ok(equalBytes(c.encode(value as never), input), `${c.name} decoded but did not round-trip`)
    }

    // positions drawn without fast-check's bias towards small numbers, so mutations reach every byte
    const position = fc.noBias(fc.nat({ max: 1 << 20 }))
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('flip' as const), at: position, bit: fc.nat(7) }),
      fc.record({ kind: fc.constant('set' as const), at: position, value: fc.nat(255) }),
      fc.record({ kind: fc.constant('insert' as const), at: position, value: fc.nat(255) }),
      fc.record({ kind: fc.constant('delete' as const), at: position }),
      fc.record({ kind: fc.constant('truncate' as const), at: position }),
      fc.record({ kind: fc.constant('append' as const), tail: fc.uint8Array({ maxLength: 8 }) }),
    )
    type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never

    function mutate(input: Uint8Array, mutations: Mutation[]): Uint8Array {
      let out: Uint8Array = input.slice()
      for (const m of mutations) {
        const at = 'at' in m ? m.at % (out.length + 1) : 0
        if (m.kind === 'flip' && at < out.length) out[at]! ^= 1 << m.bit
        if (m.kind === 'set' && at < out.length) out[at] = m.value
        if (m.kind === 'insert')
          out = concatBytes(out.subarray(0, at), Uint8Array.of(m.value), out.subarray(at))
        if (m.kind === 'delete') out = concatBytes(out.subarray(0, at), out.subarray(at + 1))
        if (m.kind === 'truncate') out = out.slice(0, at)
        if (m.kind === 'append') out = concatBytes(out, m.tail)
      }
      return out
    }

    for (const c of codecs) {
      it(`${c.name}: 10,000 random byte strings decode exactly or throw DecodeError`, () => {
        fc.assert(
          fc.property(fc.uint8Array({ maxLength: 600 }), input => check(c, input)),
          { numRuns: 10_000 },
        )
      })

      it(`${c.name}: 10,000 mutations of valid encodings decode exactly or throw DecodeError`, () => {
        let decoded = 0
        fc.assert(
          fc.property(
            fc.constantFrom(...c.valid),
            fc.array(mutation, { minLength: 1, maxLength: 4 }),
            (valid, mutations) => {
              const input = mutate(valid, mutations)
              check(c, input)
              if (!equalBytes(input, valid)) {
                try {
                  c.decode(input)
                  decoded++
                } catch {}
              }
            },
          ),
          { numRuns: 10_000 },
        )
        // Mutations that land in a byte string or a number still decode: the fuzzer reaches past the header.
        assert.ok(decoded > 100, `only ${decoded} mutated inputs decoded`)
      })
    }

    it('random well-formed CBOR arrays of the right arity decode exactly or throw DecodeError', () => {
      const leaf: fc.Arbitrary<Field> = fc.oneof(
        fc.nat({ max: Number.MAX_SAFE_INTEGER }),
        fc.string({ maxLength: 40 }),
        fc.uint8Array({ maxLength: 70 }),
      )
      const field = fc.oneof(leaf, fc.array(leaf, { maxLength: 4 }))
      for (const [c, arity] of [
        [codecs[0]!, 9],
        [codecs[1]!, 14],
        [codecs[2]!, 7],
        [codecs[3]!, 7],
      ] as const) {
        fc.assert(
          fc.property(fc.array(field, { minLength: arity - 1, maxLength: arity - 1 }), rest =>
            check(c, encodeFields([1, ...rest])),
          ),
          { numRuns: 2000 },
        )
      }
    })
  })
})

describe('relay records of version 2: the exit policy', () => {
  /** A version 2 record's bytes with `exits` as given, whatever it is (the signature is not checked). */
  const withExits = (exits: Field) => {
    const r = aRecord
    return encodeFields([
      2,
      r.net,
      r.relay,
      r.epoch,
      r.seq,
      r.addrs,
      r.payout,
      r.maxBandwidthBps,
      exits,
      r.signature,
    ])
  }

  it('round-trips, and verifies under its own signing tag only', () => {
    const v2 = record(party('relay-c'), { exits: webExits })
    const decoded = decodeRelayRecord(encodeRelayRecord(v2))
    assert.deepEqual(decoded.exits, webExits)
    assert.ok(verifyRelayRecord(decoded))
    // the same fields signed as version 1 do not verify as version 2
    assert.equal(verifyRelayRecord({ ...decoded, signature: aRecord.signature }), false)
    assert.equal(decodeRelayRecord(encodeRelayRecord(aRecord)).exits, undefined)
  })

  it('refuses every non-canonical or out-of-range policy with a DecodeError', () => {
    const bad: Field[] = [
      [0, [[80, 80]]],
      [4, [[80, 80]]],
      [3, []],
      [3, [[0, 80]]],
      [3, [[80, 65536]]],
      [3, [[443, 80]]],
      [
        3,
        [
          [443, 443],
          [80, 80],
        ],
      ],
      [
        3,
        [
          [80, 90],
          [85, 100],
        ],
      ],
      [
        3,
        [
          [80, 90],
          [91, 100],
        ],
      ],
      [3, [[80, 80, 81]]],
      [3, [80]],
      [3],
      [3, Array.from({ length: 65 }, (_, i) => [2 * i + 1, 2 * i + 1])],
    ]
    for (const exits of bad) expectDecodeError(decodeRelayRecord, withExits(exits), 'field')
    assert.deepEqual(decodeRelayRecord(withExits([1, [[1, 65535]]])).exits, {
      ipv4: true,
      ipv6: false,
      ports: [[1, 65535]],
    })
    expectDecodeError(
      decodeRelayRecord,
      concatBytes(withExits([3, [[80, 80]]]), Uint8Array.of(0)),
      'malformed',
    )
    expectDecodeError(decodeRelayRecord, encodeFields([3, ...encodeFieldsOfRecord()]), 'version')
  })

  it('refuses to sign a policy it could not decode', () => {
    assert.throws(
      () => record(party('relay-c'), { exits: { ipv4: false, ipv6: false, ports: [[1, 2]] } }),
      RangeError,
    )
  })

  it('tells whether a destination port and family are allowed', () => {
    assert.ok(exitAllows(webExits, 443, 6))
    assert.ok(exitAllows(webExits, 8500, undefined))
    assert.equal(exitAllows(webExits, 22, 4), false)
    const v4 = { ipv4: true, ipv6: false, ports: [[1, 65535]] as [number, number][] }
    assert.equal(exitAllows(v4, 443, 6), false)
    assert.ok(exitAllows(v4, 443, undefined))
  })
})

/** A version 1 record's fields after the version. */
function encodeFieldsOfRecord(): Field[] {
  const r = aRecord
  return [r.net, r.relay, r.epoch, r.seq, r.addrs, r.payout, r.maxBandwidthBps, r.signature]
}
