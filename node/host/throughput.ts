/** Byte rates over one sampling interval: `in` from clients, `out` back to them, in bytes per second. */
export interface RateSample {
  /** unix ms at the end of the interval */
  t: number
  in: number
  out: number
}

export interface ByteTotals {
  bytesIn: number
  bytesOut: number
}

/**
 * The recent throughput of a role, for its dashboard: running byte totals read once a second and kept as
 * rates for the last `size` samples (ten minutes by default), oldest dropped first.
 */
export class ThroughputHistory {
  private readonly samples: RateSample[] = []
  private last: { t: number; totals: ByteTotals } | undefined
  private timer: NodeJS.Timeout | undefined

  constructor(
    private readonly read: () => ByteTotals,
    private readonly size = 600,
    private readonly now: () => number = Date.now,
  ) {}

  start(intervalMs = 1000): void {
    this.sample()
    this.timer = setInterval(() => this.sample(), intervalMs)
    this.timer.unref()
  }

  stop(): void {
    clearInterval(this.timer)
  }

  /** Reads the totals and records the rate since the previous read (the first read only sets the start). */
  sample(): void {
    const t = this.now()
    const { bytesIn, bytesOut } = this.read()
    const last = this.last
    this.last = { t, totals: { bytesIn, bytesOut } }
    if (last === undefined || t <= last.t) return
    const seconds = (t - last.t) / 1000
    this.samples.push({
      t,
      in: Math.round((bytesIn - last.totals.bytesIn) / seconds),
      out: Math.round((bytesOut - last.totals.bytesOut) / seconds),
    })
    if (this.samples.length > this.size) this.samples.shift()
  }

  /** The kept samples, oldest first. */
  list(): RateSample[] {
    return [...this.samples]
  }
}
