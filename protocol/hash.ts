import { createHash } from 'node:crypto'
import { keccak_256 } from '@noble/hashes/sha3.js'

export function sha256(...parts: Uint8Array[]): Uint8Array {
  const h = createHash('sha256')
  for (const p of parts) h.update(p)
  return new Uint8Array(h.digest())
}

export function keccak256(data: Uint8Array): Uint8Array {
  return keccak_256(data)
}
