import type { ErrorBreakdownRow, PointSummary } from './metrics.ts'

// The error breakdown as a table: one row per relay size (and one for all relays), the relative error's
// median and p95, and the mean shortfall of each cause in % of true capacity (they add up to `bias`).

const HEADER = [
  'relays (capacity quantiles)',
  'from MB/s',
  'relay-epochs',
  'median error %',
  'p95 error %',
  'shortfall %',
  'sampling',
  'users',
  'other probes',
  'helpers',
  'credit',
  'tally',
]

/** What each cause column means (for the report and breakdown.md). */
export const CAUSE_NOTE =
  'Each cause is the mean share of true capacity the score falls short by (negative: adds), and they add up to ' +
  'the shortfall: sampling = slow start and the per-second median with the whole target to the probe; users = ' +
  "capacity the target's user sessions took; other probes = probes crossing the target (as helper or target); " +
  "helpers = the probe's helpers (and witness) carrying less than the target had for it; credit = background " +
  "credited (FlashFlow's rule); tally = gossip losses and the tally's median of several probes. Relay-epochs: " +
  'eligible relays online all epoch, steady-state epochs, all runs.'

const pct = (v: number) => (Number.isFinite(v) ? (100 * v).toFixed(1) : '–')

function cells(r: ErrorBreakdownRow): string[] {
  return [
    r.size,
    r.size === 'all' ? '' : (r.fromBps / 1e6).toFixed(1),
    String(r.count),
    pct(r.median),
    pct(r.p95),
    pct(r.bias),
    pct(r.sampling),
    pct(r.users),
    pct(r.probes),
    pct(r.helpers),
    pct(r.credit),
    pct(r.tally),
  ]
}

/** A Markdown table of one sweep point's breakdown. */
export function breakdownMarkdown(p: PointSummary): string {
  const line = (xs: string[]) => `| ${xs.join(' | ')} |`
  return [
    line(HEADER),
    line(HEADER.map((_, i) => (i === 0 ? '---' : '---:'))),
    ...p.breakdown.map(r => line(cells(r))),
  ].join('\n')
}

/** The same table in HTML (text already safe: sizes and numbers only). */
export function breakdownHtml(p: PointSummary): string {
  const head = `<tr>${HEADER.map(h => `<th>${h}</th>`).join('')}</tr>`
  const body = p.breakdown
    .map(
      r =>
        `<tr>${cells(r)
          .map(c => `<td>${c}</td>`)
          .join('')}</tr>`,
    )
    .join('\n')
  return `<table>${head}\n${body}</table>`
}

/** A Markdown table of the sweep points' headline figures (mean over runs), e.g. a load sweep. */
export function pointsMarkdown(points: PointSummary[]): string {
  const line = (xs: string[]) => `| ${xs.join(' | ')} |`
  const rows = points.map(p => {
    const all = p.breakdown.at(-1)
    return line([
      p.point,
      String(p.runs),
      pct(p.medianRelError.mean),
      pct(p.p95RelError.mean),
      Number.isFinite(p.spearman.mean) ? p.spearman.mean.toFixed(4) : '–',
      pct(all?.users ?? Number.NaN),
      pct(all?.credit ?? Number.NaN),
      pct(all?.helpers ?? Number.NaN),
    ])
  })
  return [
    line(['point', 'runs', 'median error %', 'p95 error %', 'Spearman', 'users %', 'credit %', 'helpers %']),
    line(['---', '---:', '---:', '---:', '---:', '---:', '---:', '---:']),
    ...rows,
  ].join('\n')
}

/** breakdown.md: each point's breakdown, and the points side by side when there are several. */
export function breakdownDocument(name: string, points: PointSummary[]): string {
  const parts = [`# Error by relay size and cause: ${name}`, '', CAUSE_NOTE, '']
  for (const p of points) parts.push(`## ${p.point} (${p.runs} run(s))`, '', breakdownMarkdown(p), '')
  if (points.length > 1) parts.push('## Points', '', pointsMarkdown(points), '')
  return parts.join('\n')
}
