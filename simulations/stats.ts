/** Small statistics used by metrics and reports; inputs are not modified. */

export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN
  const pos = (sorted.length - 1) * q
  const lo = Math.floor(pos)
  const hi = Math.min(lo + 1, sorted.length - 1)
  return (sorted[lo] as number) + ((sorted[hi] as number) - (sorted[lo] as number)) * (pos - lo)
}

export function sortedCopy(values: ArrayLike<number>): Float64Array {
  return Float64Array.from(values).sort()
}

/** Ranks 1..n, ties sharing their average rank. */
function ranks(values: ArrayLike<number>): Float64Array {
  const n = values.length
  const order = Array.from({ length: n }, (_, i) => i).sort(
    (a, b) => (values[a] as number) - (values[b] as number) || a - b,
  )
  const out = new Float64Array(n)
  for (let i = 0; i < n; ) {
    let j = i
    while (j + 1 < n && values[order[j + 1] as number] === values[order[i] as number]) j++
    const rank = (i + j) / 2 + 1
    for (let t = i; t <= j; t++) out[order[t] as number] = rank
    i = j + 1
  }
  return out
}

function pearson(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = x.length
  let mx = 0
  let my = 0
  for (let i = 0; i < n; i++) {
    mx += x[i] as number
    my += y[i] as number
  }
  mx /= n
  my /= n
  let sxy = 0
  let sxx = 0
  let syy = 0
  for (let i = 0; i < n; i++) {
    const dx = (x[i] as number) - mx
    const dy = (y[i] as number) - my
    sxy += dx * dy
    sxx += dx * dx
    syy += dy * dy
  }
  return sxx === 0 || syy === 0 ? Number.NaN : sxy / Math.sqrt(sxx * syy)
}

/** Spearman's rank correlation (Pearson correlation of average ranks); NaN when undefined. */
export function spearman(x: ArrayLike<number>, y: ArrayLike<number>): number {
  if (x.length < 2) return Number.NaN
  return pearson(ranks(x), ranks(y))
}

/** Gini coefficient of non-negative values (0 = equal, → 1 = one takes all). */
export function gini(values: ArrayLike<number>): number {
  const sorted = sortedCopy(values)
  const n = sorted.length
  let sum = 0
  let weighted = 0
  for (let i = 0; i < n; i++) {
    sum += sorted[i] as number
    weighted += (i + 1) * (sorted[i] as number)
  }
  return n === 0 || sum === 0 ? Number.NaN : (2 * weighted) / (n * sum) - (n + 1) / n
}

// two-sided 97.5% quantiles of Student's t for 1..30 degrees of freedom; 1.96 beyond
const T975 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131,
  2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
]

export interface Interval {
  mean: number
  low: number
  high: number
  n: number
}

/** Mean and 95% Student-t confidence interval across runs (NaN values left out; one run: no width). */
export function tInterval(values: readonly number[]): Interval {
  const v = values.filter(x => Number.isFinite(x))
  const n = v.length
  if (n === 0) return { mean: Number.NaN, low: Number.NaN, high: Number.NaN, n }
  const mean = v.reduce((a, b) => a + b, 0) / n
  if (n === 1) return { mean, low: mean, high: mean, n }
  const sd = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1))
  const half = (T975[n - 2] ?? 1.96) * (sd / Math.sqrt(n))
  return { mean, low: mean - half, high: mean + half, n }
}
