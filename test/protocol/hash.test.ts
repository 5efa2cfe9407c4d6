import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { keccak_256 } from '@noble/hashes/sha3.js'
import fc from 'fast-check'
import { concatBytes, equalBytes, toHex } from '../../protocol/bytes.ts'
import { keccak256, keccak256Into, keccak256Pair, keccak256PairInto, sha256 } from '../../protocol/hash.ts'

describe('hashes', () => {
  it('keccak256 equals noble keccak_256 for inputs of every length around the 136-byte rate', () => {
    for (let n = 0; n <= 300; n++) {
      const data = Uint8Array.from({ length: n }, (_, i) => (i * 131 + n) & 255)
      assert.equal(toHex(keccak256(data)), toHex(keccak_256(data)), `length ${n}`)
    }
    assert.equal(
      toHex(keccak256(new Uint8Array(0))),
      'c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470',
    )
  })

  it('keccak256 and keccak256Pair equal noble for random inputs (32, 64 and other lengths)', () => {
    const lengths = fc.oneof(fc.constant(32), fc.constant(64), fc.nat(200))
    fc.assert(
      fc.property(
        lengths.chain(n => fc.uint8Array({ minLength: n, maxLength: n })),
        fc.uint8Array({ maxLength: 100 }),
        (a, b) => {
          assert.ok(equalBytes(keccak256(a), keccak_256(a)))
          assert.ok(equalBytes(keccak256Pair(a, b), keccak_256(concatBytes(a, b))))
        },
      ),
      { numRuns: 3000 },
    )
  })

  it('keccak256Into and keccak256PairInto write the hash at the offset and touch nothing else', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 160, maxLength: 160 }),
        fc.nat(64),
        fc.nat(64),
        fc.nat(96),
        (src, a, b, o) => {
          const out = src.slice()
          keccak256PairInto(src, a, b, out, o)
          const expected = keccak_256(concatBytes(src.subarray(a, a + 32), src.subarray(b, b + 32)))
          assert.ok(equalBytes(out.subarray(o, o + 32), expected))
          assert.ok(equalBytes(out.subarray(0, o), src.subarray(0, o)))
          assert.ok(equalBytes(out.subarray(o + 32), src.subarray(o + 32)))
          const into = new Uint8Array(200)
          keccak256Into(src.subarray(0, a + b), into, o)
          assert.ok(equalBytes(into.subarray(o, o + 32), keccak_256(src.subarray(0, a + b))))
        },
      ),
      { numRuns: 1000 },
    )
  })

  it('returns fresh arrays (results do not alias the shared block)', () => {
    const x = keccak256(Uint8Array.of(1))
    const copy = x.slice()
    keccak256(Uint8Array.of(2))
    assert.ok(equalBytes(x, copy))
    assert.equal(x.buffer.byteLength, 32)
  })

  it('sha256 hashes the concatenation of its parts', () => {
    const parts = [Uint8Array.of(1, 2), new Uint8Array(0), Uint8Array.of(3)]
    const expected = createHash('sha256')
      .update(Uint8Array.of(1, 2, 3))
      .digest('hex')
    assert.equal(toHex(sha256(...parts)), expected)
  })
})
