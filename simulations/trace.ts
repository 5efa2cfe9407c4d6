import { createHash, type Hash } from 'node:crypto'

/**
 * The run's fingerprint: a running sha256 over a canonical binary serialization of every processed event
 * (and of what it produced), buffered so hashing costs almost nothing per event. Two runs with the same
 * fingerprint processed the same events with the same results in the same order.
 */
export class Trace {
  private hash: Hash = createHash('sha256')
  private buffer = Buffer.alloc(1 << 16)
  private offset = 0
  events = 0

  event(kind: number, time: number, a: number, b: number): void {
    this.events++
    this.room(17)
    this.buffer.writeUInt8(kind, this.offset)
    this.buffer.writeDoubleBE(time, this.offset + 1)
    this.buffer.writeInt32BE(a, this.offset + 9)
    this.buffer.writeInt32BE(b, this.offset + 13)
    this.offset += 17
  }

  number(value: number): void {
    this.room(8)
    this.buffer.writeDoubleBE(value, this.offset)
    this.offset += 8
  }

  bytes(value: Uint8Array): void {
    this.flush()
    this.hash.update(value)
  }

  digest(): string {
    this.flush()
    return this.hash.digest('hex')
  }

  private room(n: number): void {
    if (this.offset + n > this.buffer.length) this.flush()
  }

  private flush(): void {
    if (this.offset > 0) this.hash.update(this.buffer.subarray(0, this.offset))
    this.offset = 0
  }
}
