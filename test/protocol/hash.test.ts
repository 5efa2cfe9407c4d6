import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { keccak_256 } from '@noble/hashes/sha3.js'
import fc from 'fast-check'
import { equalBytes, toHex } from '../../protocol/bytes.ts'
import { hash32, hash64, state } from '../../protocol/fast/keccak.ts'
import { keccak256, sha256 } from '../../protocol/hash.ts'

/** keccak256 of 32 or 64 bytes by the wasm functions of protocol/fast/keccak.ts. */
function fastKeccak(data: Uint8Array): Uint8Array {
  state.fill(0xa5) // what the state held before must not matter
  state.set(data)
  if (data.length === 32) hash32()
  else hash64()
  return state.slice(0, 32)
}

describe('hashes', () => {
  it('keccak256 is Ethereum keccak-256', () => {
    assert.equal(
      toHex(keccak256(new Uint8Array(0))),
      'c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470',
    )
    assert.equal(
      toHex(keccak256(new TextEncoder().encode('abc'))),
      '4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45',
    )
  })

  it('the fast keccak of 32 and 64 bytes equals @noble/hashes keccak_256', () => {
    for (const n of [32, 64]) {
      for (const fill of [0, 0xff]) {
        const data = new Uint8Array(n).fill(fill)
        assert.equal(toHex(fastKeccak(data)), toHex(keccak_256(data)), `${n} bytes of ${fill}`)
      }
    }
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ minLength: 32, maxLength: 32 }),
          fc.uint8Array({ minLength: 64, maxLength: 64 }),
        ),
        data => {
          assert.ok(equalBytes(fastKeccak(data), keccak_256(data)))
        },
      ),
      { numRuns: 5000 },
    )
  })

  it('sha256 hashes the concatenation of its parts', () => {
    const parts = [Uint8Array.of(1, 2), new Uint8Array(0), Uint8Array.of(3)]
    const expected = createHash('sha256')
      .update(Uint8Array.of(1, 2, 3))
      .digest('hex')
    assert.equal(toHex(sha256(...parts)), expected)
  })
})
