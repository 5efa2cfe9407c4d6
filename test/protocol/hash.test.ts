import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { keccak_256 } from '@noble/hashes/sha3.js'
import fc from 'fast-check'
import { concatBytes, equalBytes, toHex } from '../../protocol/bytes.ts'
import { keccak256, keccak256Pair, sha256 } from '../../protocol/hash.ts'

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
