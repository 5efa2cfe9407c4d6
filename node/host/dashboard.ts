/**
 * The operator's dashboard: one self-contained HTML page (inline CSS and JS, nothing fetched but this
 * listener's own `/status`) that each role serves at `GET /` of its status listener. The shell, the
 * chart and the table code are shared; a role picks the renderer that lays out its status JSON.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'

export type DashboardRole = 'relay' | 'witness' | 'ledger'

// The page is self-contained: it may only read its own listener, and no other site may frame it.
const PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy':
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:",
  'x-frame-options': 'DENY',
}

/** Answers `GET /` with the page and says so; leaves every other request to the caller. */
export function serveDashboard(req: IncomingMessage, res: ServerResponse, page: string): boolean {
  if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/') return false
  res.writeHead(200, PAGE_HEADERS).end(page)
  return true
}

export function dashboardPage(role: DashboardRole): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>weir ${role}</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>
<header><h1>weir ${role}</h1><span id="updated">loading…</span></header>
<main id="cards"></main>
<script>const ROLE = ${JSON.stringify(role)};
${SCRIPT}</script>
</body>
</html>
`
}

const STYLE = `
:root { color-scheme: light dark; --fg: #1b1f24; --bg: #f6f7f9; --card: #fff; --muted: #667; --in: #2563eb;
  --out: #d97706; --bad: #b91c1c; --line: #dde; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6e8eb; --bg: #111418; --card: #1b2027; --muted: #99a;
  --line: #333a44; } }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: baseline; padding: .8rem 1rem; }
h1 { font-size: 1.3rem; margin: 0; }
#updated { color: var(--muted); font-size: .85rem; }
main { display: grid; gap: .8rem; padding: 0 1rem 1rem; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr)); }
section { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: .7rem .9rem; min-width: 0; }
section.wide { grid-column: 1 / -1; }
h2 { font-size: 1rem; margin: 0 0 .5rem; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .2rem .8rem; margin: 0; }
dt { color: var(--muted); }
dd { margin: 0; overflow-wrap: anywhere; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; }
th, td { text-align: left; padding: .2rem .4rem; border-bottom: 1px solid var(--line); overflow-wrap: anywhere; }
.note { color: var(--muted); margin: 0; }
.bad { color: var(--bad); }
ul { margin: 0; padding-left: 1.1rem; }
li { overflow-wrap: anywhere; }
svg.chart { width: 100%; height: 180px; display: block; }
svg.chart .grid { stroke: var(--line); }
svg.chart text { fill: var(--muted); font-size: 11px; }
.legend span { margin-right: 1rem; font-size: .85rem; }
.legend i { display: inline-block; width: .8rem; height: .25rem; margin-right: .3rem; vertical-align: middle; }
.bar { height: .5rem; background: var(--line); border-radius: 4px; overflow: hidden; margin-top: .3rem; }
.bar div { height: 100%; background: var(--in); }
`

// Plain ES2020 for the browser, kept free of template literals so it can sit in this one.
const SCRIPT = `
'use strict';
const SVG = 'http://www.w3.org/2000/svg';

function el(tag, attrs, children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const c of children || []) node.append(c instanceof Node ? c : String(c));
  return node;
}
function svgEl(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}
function card(title, children, wide) {
  return el('section', wide ? { class: 'wide' } : {}, [el('h2', {}, [title])].concat(children));
}
function note(text, cls) { return el('p', { class: cls ? 'note ' + cls : 'note' }, [text]); }
function kv(pairs) {
  const dl = el('dl');
  for (const [k, v] of pairs) dl.append(el('dt', {}, [k]), el('dd', {}, [v instanceof Node ? v : String(v)]));
  return dl;
}
function table(headers, rows) {
  return el('table', {}, [
    el('thead', {}, [el('tr', {}, headers.map(h => el('th', {}, [h])))]),
    el('tbody', {}, rows.map(r => el('tr', {}, r.map(c => el('td', {}, [c == null ? '–' : String(c)]))))),
  ]);
}
function list(items, empty) {
  return items.length ? el('ul', {}, items.map(i => el('li', {}, [i]))) : note(empty);
}
function bytes(n) {
  if (n == null) return '–';
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return (i ? n.toFixed(n < 10 ? 2 : 1) : String(n)) + ' ' + units[i];
}
function time(ms) { return new Date(ms).toLocaleTimeString(); }
function bar(used, limit) {
  const pct = limit > 0 ? Math.min(100, (100 * used) / limit) : 0;
  return el('div', { class: 'bar', title: pct.toFixed(1) + '%' }, [el('div', { style: 'width:' + pct + '%' })]);
}
function errors(entries) {
  if (entries === undefined) return note('this role does not keep its errors for the dashboard yet');
  return list(
    (entries || []).slice().reverse().map(e =>
      time(e.time) + ' ' + e.level + ': ' + e.msg + (e.remedy ? ' (' + e.remedy + ')' : '')),
    'none recorded',
  );
}

/** Line chart of rates over time: samples [{t, in, out}], the two series named by names.in and names.out. */
function rateChart(label, samples, names) {
  const w = Math.max(280, document.getElementById('cards').clientWidth - 60), h = 180, left = 64, bottom = 20;
  const svg = svgEl('svg', { class: 'chart', viewBox: '0 0 ' + w + ' ' + h, role: 'img', 'aria-label': label });
  svg.dataset.points = String(samples.length);
  const max = Math.max(1, ...samples.map(s => Math.max(s.in, s.out)));
  const t0 = samples.length ? samples[0].t : 0;
  const span = Math.max(1, samples.length ? samples[samples.length - 1].t - t0 : 1);
  const x = t => left + ((t - t0) / span) * (w - left - 4);
  const y = v => 4 + (1 - v / max) * (h - bottom - 8);
  for (const f of [0, 0.5, 1]) {
    svg.append(svgEl('line', { class: 'grid', x1: left, x2: w, y1: y(max * f), y2: y(max * f) }));
    const t = svgEl('text', { x: 2, y: y(max * f) + 4 });
    t.textContent = bytes(Math.round(max * f)) + '/s';
    svg.append(t);
  }
  if (samples.length) {
    const start = svgEl('text', { x: left, y: h - 4 });
    start.textContent = time(t0);
    svg.append(start);
  }
  for (const [key, color] of [['in', 'var(--in)'], ['out', 'var(--out)']]) {
    if (samples.length < 2) break;
    svg.append(svgEl('polyline', { fill: 'none', stroke: color, 'stroke-width': 2,
      'vector-effect': 'non-scaling-stroke', points: samples.map(s => x(s.t) + ',' + y(s[key])).join(' ') }));
  }
  const legend = el('div', { class: 'legend' }, [
    el('span', {}, [el('i', { style: 'background:var(--in)' }), names.in]),
    el('span', {}, [el('i', { style: 'background:var(--out)' }), names.out]),
  ]);
  return samples.length < 2 ? [svg, note('collecting samples…')] : [svg, legend];
}

function earnings(e) {
  if (!e) return [note('no ledger configured (weir relay --ledger URL)')];
  const out = [kv([['ledger', e.ledger], ['fetched', e.fetchedAt ? time(e.fetchedAt) : 'not yet']])];
  if (e.error) out.push(note(e.error, 'bad'));
  if (e.rewards) out.push(kv([['claimable in total', e.rewards.amount + ' (cumulative, through epoch ' +
    e.rewards.epoch + ')'], ['payout', e.rewards.account]]));
  const history = (e.relay && e.relay.history) || [];
  out.push(history.length
    ? table(['epoch', 'score', 'reward'], history.slice().reverse().map(r => [r.epoch, r.score, r.reward]))
    : note('no epochs scored yet'));
  return out;
}

/** What each role's page reads from its own listener, merged into one object. */
const SOURCES = { relay: ['status'], witness: ['status'], ledger: ['healthz', 'epochs'] };

const RENDER = {
  relay: s => [
    card('Throughput (last 10 minutes)', rateChart('Relay throughput', s.throughput || [],
      { in: 'in (from clients)', out: 'out (to clients)' }), true),
    card('Reachability', [kv([
      ['reachable from outside', s.reachability ? s.reachability.state : 'unknown'],
      ['why', s.reachability ? s.reachability.reason : ''],
      ...(s.reachability && s.reachability.remedy ? [['what to do', s.reachability.remedy]] : []),
      ['peer id', s.peerId], ['network', s.network], ['connections', s.connections],
    ]), el('h2', {}, ['Announced addresses']), list(s.addresses || [], 'none (no record is published)')]),
    card('Tunnels', [kv([['open now', s.openTunnels], ['opened since start', s.tunnels],
      ['bytes in', bytes(s.totals && s.totals.bytesIn)], ['bytes out', bytes(s.totals && s.totals.bytesOut)],
      ['known relays', (s.knownRelays || []).length]])]),
    card('Cap and quota', [kv([
      ['bandwidth cap', s.maxBandwidthBps == null ? 'uncapped' : bytes(s.maxBandwidthBps) + '/s'],
      ['monthly quota', s.quota ? bytes(s.quota.usedBytes) + ' of ' + bytes(s.quota.limitBytes) : 'none set'],
    ])].concat(s.quota ? [bar(s.quota.usedBytes, s.quota.limitBytes)] : [])),
    card('Earnings', earnings(s.earnings)),
    card('Last errors', [errors(s.errors)], true),
  ],
  witness: s => {
    const recent = s.recent || [];
    const probes = s.probes || {};
    const epochs = Array.from(new Set(recent.map(p => p.epoch))).sort((a, b) => a - b);
    return [
      card('Probed capacity (recent probes)', rateChart('Witness probes', recent.slice().reverse().map(p =>
        ({ t: p.startedAt, in: p.forwardBps, out: p.reverseBps })), { in: 'forward', out: 'reverse' }), true),
      card('Witness', [kv([['peer id', s.peerId], ['epoch', s.epoch], ['seed known', s.seedKnown ? 'yes' : 'no'],
        ['relays known', s.relaysKnown], ['epochs measured (recent probes)', epochs.join(', ') || 'none yet']]),
        el('h2', {}, ['Listen addresses']), list(s.addresses || [], 'none')]),
      card('Probes and attestations', [kv([['planned', probes.planned], ['done', probes.done],
        ['failed', probes.failed], ['skipped', probes.skipped], ['attestations published', probes.published],
        ['publishing failed', probes.publishFailed], ['evidence kept', s.evidence]]),
        el('h2', {}, ['Outcomes']), kv(Object.entries(probes.outcomes || {}))]),
      card('Recent probes', [table(['time', 'epoch', 'relay', 'outcome', 'forward', 'reverse', 'rtt'],
        recent.map(p => [time(p.startedAt), p.epoch, p.relay, p.outcome, bytes(p.forwardBps) + '/s',
          bytes(p.reverseBps) + '/s', p.rttMs + ' ms']))], true),
      card('Last errors', [errors(s.errors)], true),
    ];
  },
  ledger: s => [
    card('Ledger', [kv([['network', s.network], ['current epoch', s.currentEpoch],
      ['latest certified', s.latestCertified == null ? 'none yet' : s.latestCertified]])]),
    card('Epochs and certificates', [table(['epoch', 'status', 'attestations', 'relay records', 'certified rewards root'],
      (s.epochs || []).slice().reverse().map(e =>
        [e.epoch, e.status, e.attestations, e.relayRecords, e.rewardsRoot || 'not certified']))], true),
    card('Last errors', [errors(s.errors)], true),
  ],
};

async function refresh() {
  const stamp = document.getElementById('updated');
  try {
    const parts = await Promise.all(SOURCES[ROLE].map(async path => {
      const res = await fetch(path, { cache: 'no-store' });
      if (!res.ok) throw new Error(path + ' answered ' + res.status);
      return res.json();
    }));
    const cards = RENDER[ROLE](Object.assign({}, ...parts));
    document.getElementById('cards').replaceChildren(...cards);
    stamp.textContent = 'updated ' + time(Date.now());
    stamp.className = '';
  } catch (err) {
    stamp.textContent = 'cannot read status: ' + err.message;
    stamp.className = 'bad';
  }
}
refresh();
setInterval(refresh, 2000);
// the chart is drawn to the page's width: a turned phone redraws it
addEventListener('resize', refresh);
`
