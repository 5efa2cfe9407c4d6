import { hash } from 'node:crypto'
import { keccak_256 } from '@noble/hashes/sha3.js'

// One-shot crypto.hash is about twice as fast as createHash for the short inputs hashed here (ids, seeds,
// assignment draws), and the simulator hashes millions of them.
export function sha256(...parts: Uint8Array[]): Uint8Array {
  const data = parts.length === 1 ? (parts[0] as Uint8Array) : Buffer.concat(parts)
  return new Uint8Array(hash('sha256', data, 'buffer'))
}

export function keccak256(data: Uint8Array): Uint8Array {
  return keccak_256(data)
}
