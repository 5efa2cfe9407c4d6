import { hash } from 'node:crypto'
import { keccak_256 } from '@noble/hashes/sha3.js'
import { permute, state } from './keccak-f.ts'

// One-shot crypto.hash is about twice as fast as createHash for the short inputs hashed here (ids, seeds,
// assignment draws), and the simulator hashes millions of them.
export function sha256(...parts: Uint8Array[]): Uint8Array {
  const data = parts.length === 1 ? (parts[0] as Uint8Array) : Buffer.concat(parts)
  return new Uint8Array(hash('sha256', data, 'buffer'))
}

// Keccak-256 of inputs shorter than its 136-byte rate (one block: addresses, ABI words, Merkle pairs)
// runs one keccak-f permutation in WebAssembly (./keccak-f.ts): the rewards tree hashes ~3 million such
// inputs per million relays, and noble's general-purpose sponge costs several µs each. Longer inputs go
// to noble. The property test in test/protocol/hash.test.ts pins both paths to noble.
const RATE = 136

export function keccak256(data: Uint8Array): Uint8Array {
  if (data.length >= RATE) return keccak_256(data)
  state.fill(0)
  state.set(data)
  return squeeze(data.length)
}

/** keccak256(a ‖ b) without concatenating (a Merkle pair, an ABI-encoded leaf). */
export function keccak256Pair(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length + b.length >= RATE) return keccak_256(Buffer.concat([a, b]))
  state.fill(0)
  state.set(a)
  state.set(b, a.length)
  return squeeze(a.length + b.length)
}

/**
 * keccak256(src[a, a+32) ‖ src[b, b+32)) written to out[o, o+32): the Merkle tree hashes its flat node
 * array in place, with no allocation per node.
 */
export function keccak256PairInto(src: Uint8Array, a: number, b: number, out: Uint8Array, o: number): void {
  state.fill(0, 64)
  for (let i = 0; i < 32; i++) {
    state[i] = src[a + i] as number
    state[32 + i] = src[b + i] as number
  }
  absorbPadding(64)
  for (let i = 0; i < 32; i++) out[o + i] = state[i] as number
}

/** keccak256 of data (shorter than 136 bytes) written to out[o, o+32). */
export function keccak256Into(data: Uint8Array, out: Uint8Array, o: number): void {
  if (data.length >= RATE) {
    out.set(keccak_256(data), o)
    return
  }
  state.fill(0)
  state.set(data)
  absorbPadding(data.length)
  for (let i = 0; i < 32; i++) out[o + i] = state[i] as number
}

function absorbPadding(length: number): void {
  state[length] = (state[length] as number) ^ 0x01
  state[RATE - 1] = (state[RATE - 1] as number) ^ 0x80
  permute()
}

function squeeze(length: number): Uint8Array {
  absorbPadding(length)
  return state.slice(0, 32)
}
