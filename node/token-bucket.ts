/**
 * A token bucket in bytes, shared by every tunnel of a relay. Traffic is let through first and paid
 * for after: `take(n)` returns how long the caller must pause before sending more, so the long-run
 * rate is exact and a single large chunk never stalls forever.
 */
export class TokenBucket {
  readonly rate: number
  readonly burst: number
  private tokens: number
  private last: number

  constructor(
    bytesPerSecond: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(bytesPerSecond > 0)) throw new RangeError('bucket rate must be positive')
    this.rate = bytesPerSecond
    // 50 ms of traffic (at least 256 KiB): enough to absorb chunking, too little to skew an average.
    this.burst = Math.max(bytesPerSecond / 20, 1024 * 1024)
    this.tokens = this.burst
    this.last = this.now()
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
