/**
 * Per-second goodput of one window, from the arrival times of verified chunks. A chunk's bytes are
 * spread evenly over the time since the previous chunk, so a chunk that straddles a second boundary
 * is split between the two seconds instead of landing whole in one (which would add a chunk's worth
 * of noise to every sample at low rates). The window starts with the first chunk.
 */
export class GoodputMeter {
  private readonly times: number[] = []
  private readonly totals: number[] = []
  total = 0

  /** `atMs` must not decrease between calls. */
  add(atMs: number, bytes: number): void {
    this.total += bytes
    this.times.push(atMs)
    this.totals.push(this.total)
  }

  get startedAt(): number | undefined {
    return this.times[0]
  }

  /** Bytes delivered by `atMs`. */
  private deliveredBy(atMs: number): number {
    const times = this.times
    if (times.length === 0 || atMs <= (times[0] as number)) return this.totals[0] ?? 0
    let lo = 0
    let hi = times.length - 1
    if (atMs >= (times[hi] as number)) return this.total
    // the first chunk that arrived at or after atMs
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if ((times[mid] as number) < atMs) lo = mid + 1
      else hi = mid
    }
    const t1 = times[lo] as number
    const t0 = times[lo - 1] as number
    const before = this.totals[lo - 1] as number
    return before + (((this.totals[lo] as number) - before) * (atMs - t0)) / (t1 - t0)
  }

  /** Bytes in each whole second of the window, `seconds` of them, from the first chunk on. */
  samples(seconds: number): number[] {
    const start = this.startedAt
    if (start === undefined) return Array.from({ length: seconds }, () => 0)
    return Array.from(
      { length: seconds },
      (_, i) => this.deliveredBy(start + (i + 1) * 1000) - this.deliveredBy(start + i * 1000),
    )
  }
}

/** The median of the samples after the warm-up, in whole bytes per second (FlashFlow's estimator). */
export function steadyRate(samples: readonly number[], warmupSeconds: number): number {
  const steady = samples.slice(warmupSeconds).sort((a, b) => a - b)
  if (steady.length === 0) return 0
  const mid = steady.length >> 1
  const median =
    steady.length % 2 === 1
      ? (steady[mid] as number)
      : ((steady[mid - 1] as number) + (steady[mid] as number)) / 2
  return Math.round(median)
}
