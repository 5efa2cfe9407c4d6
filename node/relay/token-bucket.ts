/**
 * A token bucket in bytes, shared by every tunnel of a relay. Traffic is let through first and paid
 * for after: `take(n)` returns how long the caller must pause before sending more, so the long-run
 * rate is exact and a single large chunk never stalls forever.
 *
 * While the bucket is in debt each caller pauses for its own chunk's part of it (the debt's time to
 * clear, scaled by the chunk against REFERENCE_CHUNK_BYTES), so busy tunnels get equal bytes per second
 * whatever the sizes of their chunks. When every caller paused for the whole debt, each got a share in
 * proportion to its chunks: a download read from a TCP socket in 64 KiB chunks took 80% of a 2 MB/s
 * relay from a probe arriving in smaller ones (test/witness/readings.test.ts, "hungry").
 */
const REFERENCE_CHUNK_BYTES = 64 * 1024

export class TokenBucket {
  rate = 0
  burst = 0
  private tokens = 0
  private last: number

  constructor(
    bytesPerSecond: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.last = this.now()
    this.setRate(bytesPerSecond)
    this.tokens = this.burst
  }

  /**
   * Changes the rate from now on: tunnels already paying for earlier bytes keep their debt, and savings
   * above the new burst are dropped, so a lower rate holds from the next chunk.
   */
  setRate(bytesPerSecond: number): void {
    if (!(bytesPerSecond > 0)) throw new RangeError('bucket rate must be positive')
    this.take(0)
    this.rate = bytesPerSecond
    // 50 ms of traffic, and at least 1 MiB: more than a yamux stream's initial window (256 KiB), so a
    // tunnel paused by the bucket does not then idle for the round trip its window update takes (which
    // made probes read ~20% low at 2 MB/s); too little to skew an average over seconds.
    this.burst = Math.max(bytesPerSecond / 20, 1024 * 1024)
    this.tokens = Math.min(this.tokens, this.burst)
  }

  /** Spends `bytes` tokens; returns the milliseconds to wait before the next send (0 if none). */
  take(bytes: number): number {
    const now = this.now()
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.rate) / 1000)
    this.last = now
    this.tokens -= bytes
    if (this.tokens >= 0) return 0
    return (((-this.tokens * 1000) / this.rate) * bytes) / REFERENCE_CHUNK_BYTES
  }
}
