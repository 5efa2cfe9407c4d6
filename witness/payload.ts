import { createCipheriv, randomBytes } from 'node:crypto'

// A probe's payload is AES-256-CTR keystream under a key only the witness knows: incompressible, and
// unpredictable to a relay, so every byte must really be carried and can be checked by the receiver.

export const PROBE_ID_BYTES = 16
export const PROBE_KEY_BYTES = 32
export const CHUNK_BYTES = 64 * 1024

export type Direction = 'forward' | 'reverse'

const ZEROS = Buffer.alloc(CHUNK_BYTES)

/** A fresh secret per probe: the id names it to the sink, the key makes its bytes. */
export function newProbeSecret(): { id: Uint8Array; key: Uint8Array } {
  return { id: randomBytes(PROBE_ID_BYTES), key: randomBytes(PROBE_KEY_BYTES) }
}

/** The keystream of one direction of one probe; the two directions never share counter blocks. */
export class Keystream {
  private readonly cipher

  constructor(key: Uint8Array, direction: Direction) {
    const iv = Buffer.alloc(16)
    iv[0] = direction === 'forward' ? 0 : 0x80
    this.cipher = createCipheriv('aes-256-ctr', key, iv)
  }

  /** The next `length` bytes (at most CHUNK_BYTES). */
  next(length = CHUNK_BYTES): Buffer {
    return this.cipher.update(ZEROS.subarray(0, length))
  }

  /** Whether `chunk` is exactly the next bytes of the stream (consumes them either way). */
  matches(chunk: Uint8Array): boolean {
    for (let offset = 0; offset < chunk.length; offset += CHUNK_BYTES) {
      const part = chunk.subarray(offset, offset + CHUNK_BYTES)
      if (!this.next(part.length).equals(part)) return false
    }
    return true
  }
}
