import { hash } from 'node:crypto'
import { keccak_256 } from '@noble/hashes/sha3.js'

// One-shot crypto.hash rather than createHash: no Hash object per call for the short inputs hashed here
// (ids, seeds), which the simulator hashes by the million.
export function sha256(...parts: Uint8Array[]): Uint8Array {
  const data = parts.length === 1 ? (parts[0] as Uint8Array) : Buffer.concat(parts)
  return new Uint8Array(hash('sha256', data, 'buffer'))
}

/** Keccak-256 as Ethereum uses it (the original padding, not FIPS 202 SHA3-256). */
export function keccak256(data: Uint8Array): Uint8Array {
  return keccak_256(data)
}
