import { createCipheriv, randomBytes } from 'node:crypto'
import type { Writable } from 'node:stream'

// A probe's payload is AES-256-CTR keystream under a key only the witness knows: incompressible, and
// unpredictable to a relay, so every byte must really be carried and can be checked by the receiver.

export const PROBE_ID_BYTES = 16
export const PROBE_KEY_BYTES = 32
export const CHUNK_BYTES = 64 * 1024

export type Direction = 'forward' | 'reverse'

const ZEROS = Buffer.alloc(CHUNK_BYTES)
const PUMP_BYTES = 1024 * 1024

/** A fresh secret per probe: the id names it to the sink, the key makes its bytes. */
export function newProbeSecret(): { id: Uint8Array; key: Uint8Array } {
  return { id: randomBytes(PROBE_ID_BYTES), key: randomBytes(PROBE_KEY_BYTES) }
}

/**
 * Flow control: the sender of a window keeps at most IN_FLIGHT_BYTES per lane (the circuits through one
 * helper, shared evenly) beyond what the receiver has verified. In the forward window the witness reads
 * the sink's count directly; in the reverse window it acknowledges each circuit's verified bytes (8-byte
 * big-endian totals, every ACK_EVERY_BYTES). Without a bound the relays' buffers fill: a lane through a
 * helper slower than its share of the target would take the target's rate for bytes that reach the
 * receiver only after the window. Every byte in flight sits in the relays' buffers and costs them CPU
 * (bench/probe-cpu.ts): with 16 MiB the forward window of a testnet starved its shared machine and read
 * low. 4 MiB per lane still covers a 20 MB/s lane at a 200 ms round trip.
 */
export const ACK_EVERY_BYTES = 256 * 1024
export const IN_FLIGHT_BYTES = 4 * 1024 * 1024

/** Circuits a probe may run in parallel: 7 bits of the keystream's initial counter block name one. */
export const MAX_CIRCUITS = 128

/**
 * The keystream of one direction of one circuit of a probe; no two of them share counter blocks.
 */
export class Keystream {
  private readonly cipher

  constructor(key: Uint8Array, direction: Direction, circuit = 0) {
    if (!(Number.isInteger(circuit) && circuit >= 0 && circuit < MAX_CIRCUITS))
      throw new RangeError(`no circuit ${circuit}`)
    const iv = Buffer.alloc(16)
    iv[0] = (direction === 'forward' ? 0 : 0x80) | circuit
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

/**
 * Streams keystream into `out` until it is destroyed or ended, with exactly one continuation pending at
 * a time: after 'drain' when `out` pushes back, after a short wait while `mayWrite()` says no (the
 * caller's in-flight limit), and otherwise on the next turn of the event loop after PUMP_BYTES, so a
 * writable that never pushes back cannot starve the process.
 */
export function pumpKeystream(out: Writable, stream: Keystream, mayWrite: () => boolean = () => true): void {
  const step = () => {
    for (let sent = 0; sent < PUMP_BYTES; sent += CHUNK_BYTES) {
      if (out.destroyed || out.writableEnded) return
      if (!mayWrite()) {
        setTimeout(step, 2)
        return
      }
      if (!out.write(stream.next())) {
        out.once('drain', step)
        return
      }
    }
    setImmediate(step)
  }
  step()
}
