/**
 * A token bucket in bytes, shared by every tunnel of a relay. Traffic is let through first and paid
 * for after: `take(n)` returns how long the caller must pause before sending more, so the long-run
 * rate is exact and a single large chunk never stalls forever.
 */
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
    return this.tokens >= 0 ? 0 : (-this.tokens * 1000) / this.rate
  }
}
