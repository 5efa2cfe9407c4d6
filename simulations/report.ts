import { breakdownHtml, CAUSE_NOTE } from './breakdown.ts'
import { HISTOGRAM_BINS } from './metrics.ts'
import type { JobResult } from './job.ts'
import type { AdversaryName, Scenario } from './scenario.ts'
import type { PointSummary } from './metrics.ts'
import { type Interval, tInterval } from './stats.ts'

// report.html: one self-contained page (inline SVG, inline CSS, no script, no network) so it opens
// anywhere and archives with the run. Bands and error bars are 95% Student-t intervals across runs.

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2']
const W = 560
const H = 320
const M = { left: 64, right: 16, top: 28, bottom: 44 }

interface Series {
  name: string
  color: string
  points?: [number, number][]
  line?: [number, number][]
  band?: [number, number, number][]
  bars?: { x0: number; x1: number; y: number; lo: number; hi: number }[]
}

interface Plot {
  title: string
  x: string
  y: string
  logX?: boolean
  logY?: boolean
  series: Series[]
  /** y = x, or a horizontal line at a value */
  reference?: 'diagonal' | number
}

let clipIds = 0
const esc = (s: string) =>
  s.replace(/[&<>"]/g, c => `&${{ '&': 'amp', '<': 'lt', '>': 'gt', '"': 'quot' }[c]};`)
const fmt = (v: number) =>
  !Number.isFinite(v)
    ? '–'
    : Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0)
      ? v.toExponential(2)
      : String(Number(v.toPrecision(3)))

function ticks(lo: number, hi: number, log: boolean, integer = false): number[] {
  if (log) {
    const out: number[] = []
    for (let e = Math.floor(lo); e <= Math.ceil(hi); e++) if (e >= lo - 1e-9 && e <= hi + 1e-9) out.push(e)
    return out.length >= 2 ? out : [lo, hi]
  }
  const span = hi - lo || 1
  const step = 10 ** Math.floor(Math.log10(span / 5))
  let nice = [1, 2, 5, 10].map(m => m * step).find(s => span / s <= 6) ?? step * 10
  if (integer) nice = Math.max(1, Math.round(nice))
  const out: number[] = []
  for (let v = Math.ceil(lo / nice) * nice; v <= hi + 1e-12; v += nice) out.push(Number(v.toPrecision(12)))
  return out
}

function svgPlot(p: Plot): string {
  const tx = (v: number) => (p.logX ? Math.log10(v) : v)
  const ty = (v: number) => (p.logY ? Math.log10(v) : v)
  const ok = (x: number, y: number) => Number.isFinite(tx(x)) && Number.isFinite(ty(y))
  const xs: number[] = []
  const ys: number[] = []
  for (const s of p.series) {
    for (const [x, y] of [...(s.points ?? []), ...(s.line ?? [])]) {
      if (!ok(x, y)) continue
      xs.push(tx(x))
      ys.push(ty(y))
    }
    for (const [x, lo, hi] of s.band ?? []) {
      if (!ok(x, lo) || !ok(x, hi)) continue
      xs.push(tx(x))
      ys.push(ty(lo), ty(hi))
    }
    for (const b of s.bars ?? []) {
      xs.push(b.x0, b.x1)
      ys.push(0, Number.isFinite(b.hi) ? b.hi : b.y)
    }
  }
  if (typeof p.reference === 'number') ys.push(ty(p.reference))
  if (xs.length === 0) xs.push(0, 1)
  if (ys.length === 0) ys.push(0, 1)
  let [x0, x1] = [Math.min(...xs), Math.max(...xs)]
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)]
  if (x0 === x1) [x0, x1] = [x0 - 0.5, x1 + 0.5]
  if (y0 === y1) [y0, y1] = [y0 - 0.5, y1 + 0.5]
  const pad = (y1 - y0) * 0.05
  y0 -= pad
  y1 += pad
  const px = (v: number) => M.left + ((v - x0) / (x1 - x0)) * (W - M.left - M.right)
  const py = (v: number) => H - M.bottom - ((v - y0) / (y1 - y0)) * (H - M.top - M.bottom)
  const label = (v: number, log?: boolean) => (log ? fmt(10 ** v) : fmt(v))
  const clip = `c${(clipIds++).toString(36)}`
  const parts: string[] = []
  for (const t of ticks(x0, x1, !!p.logX, p.x === 'epoch')) {
    parts.push(
      `<line x1="${px(t)}" x2="${px(t)}" y1="${M.top}" y2="${H - M.bottom}" class="grid"/>`,
      `<text x="${px(t)}" y="${H - M.bottom + 16}" text-anchor="middle">${label(t, p.logX)}</text>`,
    )
  }
  for (const t of ticks(y0, y1, !!p.logY)) {
    parts.push(
      `<line x1="${M.left}" x2="${W - M.right}" y1="${py(t)}" y2="${py(t)}" class="grid"/>`,
      `<text x="${M.left - 6}" y="${py(t) + 4}" text-anchor="end">${label(t, p.logY)}</text>`,
    )
  }
  if (p.reference === 'diagonal') {
    const a = Math.max(x0, y0)
    const b = Math.min(x1, y1)
    if (b > a) parts.push(`<line x1="${px(a)}" y1="${py(a)}" x2="${px(b)}" y2="${py(b)}" class="ref"/>`)
  } else if (typeof p.reference === 'number') {
    const y = py(ty(p.reference))
    parts.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${y}" y2="${y}" class="ref"/>`)
  }
  parts.push(`<g clip-path="url(#${clip})">`)
  for (const s of p.series) {
    for (const b of s.bars ?? []) {
      const top = py(b.y)
      parts.push(
        `<rect x="${px(b.x0) + 0.5}" y="${top}" width="${Math.max(0.5, px(b.x1) - px(b.x0) - 1)}" height="${Math.max(0, py(Math.max(0, y0)) - top)}" fill="${s.color}" fill-opacity="0.55"/>`,
      )
      if (Number.isFinite(b.lo) && b.hi > b.lo) {
        const cx = (px(b.x0) + px(b.x1)) / 2
        parts.push(`<line x1="${cx}" x2="${cx}" y1="${py(b.lo)}" y2="${py(b.hi)}" stroke="#333"/>`)
      }
    }
    const band = (s.band ?? []).filter(([x, lo, hi]) => ok(x, lo) && ok(x, hi))
    if (band.length > 1) {
      const upper = band.map(([x, , hi]) => `${px(tx(x))},${py(ty(hi))}`)
      const lower = band.map(([x, lo]) => `${px(tx(x))},${py(ty(lo))}`).reverse()
      parts.push(
        `<polygon points="${[...upper, ...lower].join(' ')}" fill="${s.color}" fill-opacity="0.18"/>`,
      )
    }
    const line = (s.line ?? []).filter(([x, y]) => ok(x, y))
    if (line.length > 1) {
      const d = line.map(([x, y]) => `${px(tx(x))},${py(ty(y))}`).join(' ')
      parts.push(`<polyline points="${d}" fill="none" stroke="${s.color}" stroke-width="2"/>`)
    }
    for (const [x, y] of s.points ?? []) {
      if (ok(x, y))
        parts.push(
          `<circle cx="${px(tx(x)).toFixed(1)}" cy="${py(ty(y)).toFixed(1)}" r="2" fill="${s.color}" fill-opacity="0.5"/>`,
        )
    }
  }
  parts.push('</g>')
  const legend = p.series
    .map(
      (s, i) =>
        `<text x="${M.left + 8}" y="${M.top + 14 + 14 * i}" fill="${s.color}">■ ${esc(s.name)}</text>`,
    )
    .join('')
  return `<figure><svg class="chart" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(p.title)}">
<clipPath id="${clip}"><rect x="${M.left}" y="${M.top}" width="${W - M.left - M.right}" height="${H - M.top - M.bottom}"/></clipPath>
<text x="${W / 2}" y="16" text-anchor="middle" class="title">${esc(p.title)}</text>
${parts.join('\n')}
<line x1="${M.left}" x2="${M.left}" y1="${M.top}" y2="${H - M.bottom}" class="axis"/>
<line x1="${M.left}" x2="${W - M.right}" y1="${H - M.bottom}" y2="${H - M.bottom}" class="axis"/>
<text x="${(W + M.left) / 2}" y="${H - 8}" text-anchor="middle">${esc(p.x)}</text>
<text transform="translate(14 ${(H - M.bottom + M.top) / 2}) rotate(-90)" text-anchor="middle">${esc(p.y)}</text>
${legend}</svg></figure>`
}

/** Per-epoch mean and 95% interval across runs of one metric. */
function epochSeries(
  results: JobResult[],
  pick: (e: JobResult['epochs'][number]) => number,
): [number, Interval][] {
  const epochs = Math.max(0, ...results.map(r => r.epochs.length))
  return Array.from(
    { length: epochs },
    (_, e) =>
      [e, tInterval(results.map(r => pick(r.epochs[e] as JobResult['epochs'][number]) ?? Number.NaN))] as [
        number,
        Interval,
      ],
  )
}

function overEpochs(
  title: string,
  y: string,
  groups: [string, JobResult[]][],
  pick: (e: JobResult['epochs'][number]) => number,
  reference?: number,
): string {
  const series = groups.map(([name, results], i) => {
    const s = epochSeries(results, e => (e ? pick(e) : Number.NaN))
    return {
      name,
      color: COLORS[i % COLORS.length] as string,
      line: s.map(([x, v]) => [x, v.mean] as [number, number]),
      band: s.map(([x, v]) => [x, v.low, v.high] as [number, number, number]),
    }
  })
  return svgPlot({ title, x: 'epoch', y, series, ...(reference === undefined ? {} : { reference }) })
}

const cell = (v: Interval) =>
  v.n > 1 ? `${fmt(v.mean)} <span class="ci">[${fmt(v.low)}, ${fmt(v.high)}]</span>` : fmt(v.mean)

export function writeReport(
  scenario: Scenario,
  results: JobResult[],
  points: PointSummary[],
  meta: { fingerprint: string; codeVersion: string },
): string {
  clipIds = 0
  const groups: [string, JobResult[]][] = points.map(p => [p.point, results.filter(r => r.point === p.point)])
  const adversaries = [
    ...new Set(results.flatMap(r => Object.keys(r.headline.gains))),
  ].sort() as AdversaryName[]
  const scatter = (pick: (r: JobResult) => [number, number][]) =>
    groups.map(([name, rs], i) => ({
      name,
      color: COLORS[i % COLORS.length] as string,
      points: rs.flatMap(pick).slice(0, 3000),
    }))
  const charts: string[] = []
  charts.push(
    svgPlot({
      title: 'Estimate vs true capacity (last certified epoch)',
      x: 'true capacity (bytes/s)',
      y: 'estimated capacity (bytes/s)',
      logX: true,
      logY: true,
      reference: 'diagonal',
      series: scatter(r => r.sample.map(s => [s.truth, s.estimate])),
    }),
  )
  charts.push(
    svgPlot({
      title: 'Error distribution: estimate ÷ truth − 1 (steady epochs)',
      x: 'relative error (clipped to [−1, 1])',
      y: 'share of relays',
      series: groups.map(([name, rs], i) => ({
        name,
        color: COLORS[i % COLORS.length] as string,
        bars: Array.from({ length: HISTOGRAM_BINS }, (_, b) => {
          const shares = rs.map(r => {
            const total = r.histogram.reduce((a, c) => a + c, 0)
            return total ? (r.histogram[b] as number) / total : Number.NaN
          })
          const ci = tInterval(shares)
          return {
            x0: -1 + (2 * b) / HISTOGRAM_BINS,
            x1: -1 + (2 * (b + 1)) / HISTOGRAM_BINS,
            y: ci.mean,
            lo: ci.low,
            hi: ci.high,
          }
        }),
      })),
    }),
  )
  charts.push(
    svgPlot({
      title: 'Cumulative reward vs true capacity',
      x: 'true capacity (bytes/s)',
      y: 'cumulative reward (base units)',
      logX: true,
      logY: true,
      series: scatter(r => r.cumulative.map(c => [c.truth, c.reward])),
    }),
  )
  for (const name of adversaries) {
    charts.push(
      overEpochs(
        `Gain ratio of ${name} over epochs`,
        'gain ratio (1 = fair)',
        groups,
        e => e.gains[name] ?? Number.NaN,
        1,
      ),
    )
  }
  if (adversaries.length === 0) {
    charts.push(
      overEpochs(
        'Attacker gain over epochs (no adversary: honest reference)',
        'gain ratio',
        groups,
        () => Number.NaN,
        1,
      ),
    )
  }
  charts.push(overEpochs('Gini coefficient of rewards', 'Gini', groups, e => e.gini))
  charts.push(
    overEpochs('Median relative capacity error', '|estimate − truth| ÷ truth', groups, e => e.medianRelError),
  )
  charts.push(
    overEpochs('Spearman correlation of reward with true capacity', 'Spearman ρ', groups, e => e.spearman),
  )

  const rows = points
    .map(
      p =>
        `<tr><td>${esc(p.point)}</td><td>${p.runs}</td><td>${cell(p.medianRelError)}</td><td>${cell(p.p95RelError)}</td><td>${cell(p.spearman)}</td><td>${cell(p.gini)}</td>${adversaries.map(a => `<td>${p.gains[a] ? cell(p.gains[a] as Interval) : '–'}</td>`).join('')}</tr>`,
    )
    .join('\n')
  const runs = results
    .map(
      r =>
        `<tr><td>${esc(r.point)}</td><td>${r.seed}</td><td><code>${r.fingerprint.slice(0, 16)}…</code></td><td>${r.events}</td></tr>`,
    )
    .join('\n')
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Weir simulation: ${esc(scenario.name)}</title>
<link rel="icon" href="data:,">
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#f4f4f4}
td:first-child{text-align:left}.ci{color:#777;font-size:12px}
.charts{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0;border:1px solid #e4e4e4}
svg text{font-size:11px;fill:#333}svg .title{font-size:13px;font-weight:600}
.grid{stroke:#eee}.axis{stroke:#555}.ref{stroke:#999;stroke-dasharray:4 3}
</style></head><body>
<h1>Weir simulation: ${esc(scenario.name)}</h1>
<p>${esc(scenario.description)}</p>
<p>${results.length} run(s) · ${scenario.epochs} epochs · ${scenario.network.relays} relays · ${scenario.network.witnesses} witnesses · k = ${scenario.network.witnessesPerRelay} · crypto ${scenario.crypto}<br>
fingerprint <code>${meta.fingerprint}</code> · ${esc(meta.codeVersion)}</p>
<h2>Headline (steady-state epochs; mean [95% t-interval across runs])</h2>
<table><tr><th>point</th><th>runs</th><th>median rel. error</th><th>p95 rel. error</th><th>Spearman(reward, capacity)</th><th>Gini</th>${adversaries.map(a => `<th>gain: ${a}</th>`).join('')}</tr>
${rows}</table>
<h2>Error by relay size and cause (steady-state epochs; mean over runs)</h2>
<p>${esc(CAUSE_NOTE)}</p>
${points.map(p => `<h3>${esc(p.point)}</h3>\n${breakdownHtml(p)}`).join('\n')}
<h2>Charts</h2>
<div class="charts">
${charts.join('\n')}
</div>
<h2>Runs</h2>
<table><tr><th>point</th><th>seed</th><th>fingerprint</th><th>events</th></tr>
${runs}</table>
<p>Gain ratio = an adversary's rewards ÷ what honest relays of the same true capacity earned (reward per unit of
true capacity of the 50 honest relays nearest in capacity, times its capacity; a Sybil operator counts as one machine).
Relative error = |estimate − truth| ÷ truth over eligible relays online for the whole epoch.
Intervals: Student-t, 95%, across runs (seeds); a single run has none.</p>
</body></html>
`
}
