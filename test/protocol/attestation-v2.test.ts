import assert from 'node:assert/strict'
import fc from 'fast-check'
import {
  ATTESTATION_TAG,
  ATTESTATION_V2_TAG,
  type AttestationBody,
  capacityOf,
  decodeAttestation,
  encodeAttestation,
  verifyAttestation,
} from '../../protocol/attestation.ts'
import { decode } from 'cborg'
import { encodeFields, type Field } from '../../protocol/codec.ts'
import { DecodeError } from '../../protocol/errors.ts'
import { validateAttestation } from '../../protocol/validate.ts'
import { attest, network, party, witnesses } from './fixtures.ts'

// Version 2 of the attestation carries the target's reported background traffic; capacityOf credits it
// up to a third of the probe's own rate in each direction (FlashFlow's rule with r = 1/4).

const relay = party('relay-a').peerId
const withBackground = (forwardBps: number, reverseBps: number, over: Partial<AttestationBody> = {}) =>
  attest(witnesses[0]!, relay, { background: { forwardBps, reverseBps }, ...over })

const code = (fn: () => unknown) => {
  try {
    fn()
  } catch (err) {
    assert.ok(err instanceof DecodeError, String(err))
    return err.code
  }
  return 'decoded'
}

describe('attestation v2 (background traffic)', () => {
  it('encodes as version 2 with 16 fields, signs under its own tag, decodes and verifies', () => {
    const a = withBackground(1_000_000, 2_000_000)
    const bytes = encodeAttestation(a)
    assert.equal(bytes[0], 0x80 | 16)
    assert.equal(bytes[1], 2)
    const decoded = decodeAttestation(bytes)
    assert.deepEqual(decoded, a)
    assert.ok(verifyAttestation(decoded))
    // the signature covers the background: changing it breaks it
    assert.ok(
      !verifyAttestation({ ...decoded, background: { forwardBps: 1_000_001, reverseBps: 2_000_000 } }),
    )
    // and a v2 signature is not a v1 signature of the same fields
    const { background: _, ...v1Body } = decoded
    assert.ok(!verifyAttestation(v1Body))
    assert.notEqual(ATTESTATION_TAG, ATTESTATION_V2_TAG)
  })

  it('leaves version 1 as it was: no background key, 14 fields, v1 tag', () => {
    const a = attest(witnesses[0]!, relay)
    const bytes = encodeAttestation(a)
    assert.equal(bytes[0], 0x80 | 14)
    assert.equal(bytes[1], 1)
    const decoded = decodeAttestation(bytes)
    assert.ok(!('background' in decoded))
    assert.ok(verifyAttestation(decoded))
  })

  it('passes the signature check of gossip validation, made on the received bytes', () => {
    // validateAttestation cuts the signed body out of the bytes (a 15-field header for v2); with no seed
    // yet, a good signature gets as far as 'ignore', a bad one is rejected
    const ctx = {
      network,
      nowMs: network.genesis + 5 * 600_000 + 5000,
      seedOf: () => undefined,
      registryFor: () => undefined,
    }
    const good = encodeAttestation(withBackground(10, 20))
    assert.deepEqual(validateAttestation(good, ctx), {
      verdict: 'ignore',
      reason: 'seed of epoch 5 not known yet',
      waiting: true,
    })
    const forged = encodeAttestation({
      ...withBackground(10, 20),
      background: { forwardBps: 10, reverseBps: 21 },
    })
    assert.deepEqual(validateAttestation(forged, ctx), { verdict: 'reject', reason: 'bad signature' })
  })

  it('decodes strictly: field count per version, rate limits, unknown versions', () => {
    const a = withBackground(1, 2)
    // version, net … reverseBps (0–10), the background (11, 12), rttMs, outcome, signature
    const fields = decode(encodeAttestation(a)) as Field[]
    assert.deepEqual(decodeAttestation(encodeFields(fields)), a)
    const v1Shaped = [1, ...fields.slice(1, 11), ...fields.slice(13)] as Field[]
    assert.equal(
      code(() => decodeAttestation(encodeFields(v1Shaped))),
      'decoded',
    )
    // a version 1 array of 16 fields, a version 2 array of 14
    assert.equal(
      code(() => decodeAttestation(encodeFields([1, ...fields.slice(1)] as Field[]))),
      'malformed',
    )
    assert.equal(
      code(() => decodeAttestation(encodeFields([2, ...v1Shaped.slice(1)] as Field[]))),
      'malformed',
    )
    assert.equal(
      code(() => decodeAttestation(encodeFields([3, ...fields.slice(1)] as Field[]))),
      'version',
    )
    // rates up to 2^48 bytes/s, so a rate plus its credit stays a safe integer
    for (const at of [9, 10, 11, 12]) {
      const at48 = fields.slice()
      at48[at] = 2 ** 48
      assert.equal(
        code(() => decodeAttestation(encodeFields(at48))),
        'decoded',
      )
      at48[at] = 2 ** 48 + 1
      assert.equal(
        code(() => decodeAttestation(encodeFields(at48))),
        'field',
      )
    }
  })

  it('credits background up to a third of the probe, per direction', () => {
    // honest background under the cap counts in full
    assert.equal(
      capacityOf(withBackground(1_000_000, 1_000_000, { forwardBps: 7_500_000, reverseBps: 8_000_000 })),
      8_500_000,
    )
    // above the cap, a third of the probe's own rate
    assert.equal(
      capacityOf(withBackground(9e9, 9e9, { forwardBps: 3_000_000, reverseBps: 3_000_001 })),
      4_000_000,
    )
    // the slower direction with its own credit
    assert.equal(
      capacityOf(withBackground(0, 3_000_000, { forwardBps: 9_000_000, reverseBps: 6_000_000 })),
      8_000_000,
    )
    // failed probes are 0 whatever the background
    assert.equal(capacityOf(withBackground(9e9, 9e9, { outcome: 'timeout' })), 0)
  })

  it('never credits a lie more than 4/3 of what the probe showed', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 2 ** 48 }),
        fc.nat({ max: 2 ** 48 }),
        fc.nat({ max: 2 ** 48 }),
        fc.nat({ max: 2 ** 48 }),
        (forwardBps, reverseBps, bf, br) => {
          const body = { ...withBackground(bf, br), forwardBps, reverseBps }
          const c = capacityOf(body)
          const probe = Math.min(forwardBps, reverseBps)
          assert.ok(Number.isSafeInteger(c))
          assert.ok(c >= probe && c <= (4 * probe) / 3, `${c} for ${probe}`)
        },
      ),
      { numRuns: 500 },
    )
  })
})
