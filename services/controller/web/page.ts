/**
 * The rollout page: one self-contained HTML document (inline CSS and JS, nothing fetched from
 * elsewhere) that polls the page's JSON endpoints every 2 s and shows each rollout (phase,
 * weight, step, sample sizes, every metric's value against its tolerance, the latest decision,
 * the recorded decisions) and per model SVG charts of requests and p95 latency per version.
 */

const STYLE = `
:root { --fg:#1d2430; --muted:#6a7382; --line:#dfe3ea; --bg:#f6f7f9; --ok:#1f8a4c; --bad:#c0392b; --warn:#b7791f; --info:#2b6cb0; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
header { padding: 14px 24px; background: #fff; border-bottom: 1px solid var(--line); display: flex; align-items: baseline; gap: 16px; }
header h1 { font-size: 18px; margin: 0; }
header .muted { color: var(--muted); font-size: 12px; }
main { padding: 16px 24px; display: grid; gap: 16px; }
section.card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px; }
h2 { font-size: 15px; margin: 0 0 8px; display: flex; gap: 10px; align-items: center; flex-wrap: wrap; }
.badge { font-size: 12px; padding: 1px 8px; border-radius: 10px; color: #fff; background: var(--info); text-transform: uppercase; letter-spacing: .03em; }
.phase-promoted { background: var(--ok); } .phase-rolled_back, .phase-aborted { background: var(--bad); } .phase-paused { background: var(--warn); } .phase-baking { background: var(--ok); opacity: .75; }
.facts { display: flex; gap: 22px; flex-wrap: wrap; color: var(--muted); margin-bottom: 8px; }
.facts b { color: var(--fg); font-weight: 600; }
.bar { height: 8px; background: var(--line); border-radius: 4px; overflow: hidden; width: 220px; display: inline-block; vertical-align: middle; }
.bar > span { display: block; height: 100%; background: var(--info); }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 600; }
.st-regressed { color: var(--bad); font-weight: 600; } .st-accepted { color: var(--ok); font-weight: 600; } .st-inconclusive, .st-pending, .st-no_data { color: var(--muted); }
.decision { margin: 8px 0; padding: 6px 10px; background: var(--bg); border-radius: 6px; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 12px; }
svg.chart { width: 100%; height: auto; background: #fff; }
svg.chart text { font-size: 10px; fill: var(--muted); }
.legend { display: flex; gap: 12px; flex-wrap: wrap; font-size: 12px; color: var(--muted); }
.legend i { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 4px; vertical-align: middle; }
.empty { color: var(--muted); }
.error { color: var(--bad); }
`;

const SCRIPT = String.raw`
const PREFIX = document.body.dataset.prefix;
const COLORS = ['#2b6cb0', '#c05621', '#2f855a', '#6b46c1', '#b83280', '#2c7a7b', '#975a16', '#4a5568'];
const $ = (tag, attrs = {}, ...kids) => {
  const el = document.createElementNS(attrs.svg ? 'http://www.w3.org/2000/svg' : 'http://www.w3.org/1999/xhtml', tag);
  for (const [k, v] of Object.entries(attrs)) if (k !== 'svg' && v !== undefined && v !== null) el.setAttribute(k, String(v));
  for (const k of kids.flat()) if (k !== null && k !== undefined) el.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return el;
};
const svg = (tag, attrs = {}, ...kids) => $(tag, { ...attrs, svg: true }, ...kids);
async function getJson(path) {
  const res = await fetch(PREFIX + path, { cache: 'no-store' });
  const body = await res.json();
  if (!res.ok) throw new Error(body && body.error ? body.error.code + ': ' + body.error.message : 'HTTP ' + res.status);
  return body;
}
function colorOf(versions, v) { return COLORS[versions.indexOf(v) % COLORS.length]; }

function rolloutCard(item, decisions) {
  const r = item.rollout, d = item.display;
  const card = $('section', { class: 'card rollout', 'data-rollout': r.id, 'data-phase': r.phase, 'data-weight': r.weight });
  card.append($('h2', {}, $('span', { class: 'rollout-id' }, r.id), $('span', { class: 'badge phase phase-' + r.phase }, r.phase.replace('_', ' ')), $('span', { class: 'muted' }, d.title)));
  card.append($('div', { class: 'facts' },
    $('span', {}, 'weight ', $('b', { class: 'weight' }, r.weight + '%'), ' ', $('span', { class: 'bar' }, $('span', { style: 'width:' + r.weight + '%' }))),
    $('span', {}, 'step ', $('b', {}, d.step)),
    $('span', {}, 'samples canary ', $('b', {}, d.samples.canary ?? '-'), ' / stable ', $('b', {}, d.samples.stable ?? '-')),
    $('span', {}, 'gates ', $('b', {}, d.gates)),
    $('span', {}, 'elapsed ', $('b', {}, d.elapsed)),
    $('span', {}, 'next evaluation in ', $('b', { class: 'next-tick' }, d.nextTick)),
    d.deadline === '-' ? null : $('span', { class: 'deadline' }, d.deadline)));
  if (d.decision) card.append($('div', { class: 'decision' }, 'latest decision #' + d.decision.seq + ': ', $('b', {}, d.decision.action), ' - ' + d.decision.reason));
  const rows = d.metrics.map((m) => $('tr', {}, $('td', {}, m.name + (m.critical ? '' : ' (non-critical)')), $('td', { class: 'st-' + m.status }, m.status),
    $('td', {}, m.value), $('td', {}, m.tolerance), $('td', {}, m.test)));
  card.append($('table', { class: 'metrics' }, $('tr', {}, ...['metric', 'status', 'value', 'tolerance', 'test / threshold'].map((h) => $('th', {}, h))), ...rows));
  if (decisions && decisions.rows.length) {
    card.append($('h3', { style: 'font-size:13px;margin:12px 0 4px' }, 'Recorded decisions (ClickHouse, ' + decisions.total + ' in all; waits hidden)'));
    card.append($('table', { class: 'decisions' }, $('tr', {}, ...['time (UTC)', 'action', 'step', 'weight', 'actor', 'reason'].map((h) => $('th', {}, h))),
      ...decisions.rows.map((x) => $('tr', {}, $('td', {}, x.ts), $('td', {}, x.action), $('td', {}, x.step), $('td', {}, x.weight_before + '% → ' + x.weight_after + '%'), $('td', {}, x.actor), $('td', {}, x.reason)))));
  }
  return card;
}

function chart(title, series, versions, pick, unit, from, to) {
  const W = 640, H = 200, L = 44, R = 10, T = 18, B = 22;
  const pts = series.flatMap((s) => s.points.map((p) => pick(p))).filter((v) => v !== null && Number.isFinite(v));
  const max = Math.max(1, ...pts) * 1.1;
  const x = (t) => L + ((t - from) / Math.max(1, to - from)) * (W - L - R);
  const y = (v) => H - B - (v / max) * (H - T - B);
  const g = svg('svg', { class: 'chart', viewBox: '0 0 ' + W + ' ' + H, 'data-title': title });
  g.append(svg('text', { x: L, y: 12 }, title + ' (' + unit + ')'));
  for (let i = 0; i <= 4; i++) {
    const v = (max / 4) * i;
    g.append(svg('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: '#eef0f4' }));
    g.append(svg('text', { x: 4, y: y(v) + 3 }, v >= 10 ? Math.round(v) : v.toFixed(1)));
  }
  for (let i = 0; i <= 4; i++) {
    const t = from + ((to - from) / 4) * i;
    g.append(svg('text', { x: x(t) - 18, y: H - 6 }, new Date(t).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' })));
  }
  for (const s of series) {
    const c = colorOf(versions, s.version);
    const ps = s.points.filter((p) => pick(p) !== null);
    if (!ps.length) continue;
    g.append(svg('polyline', { class: 'series', fill: 'none', stroke: c, 'stroke-width': 2, 'stroke-dasharray': s.shadow ? '4 3' : null,
      'data-version': s.version, points: ps.map((p) => x(p.t).toFixed(1) + ',' + y(pick(p)).toFixed(1)).join(' ') }));
    for (const p of ps) g.append(svg('circle', { class: 'pt', cx: x(p.t).toFixed(1), cy: y(pick(p)).toFixed(1), r: 2.5, fill: c },
      svg('title', {}, s.version + (s.shadow ? ' shadow' : '') + ': ' + pick(p) + ' ' + unit)));
  }
  return g;
}

function modelCharts(model, traffic) {
  const series = traffic.series.filter((s) => s.model === model);
  const versions = [...new Set(series.map((s) => s.version))].sort();
  const perSec = traffic.bucketMs / 1000;
  // Start the time axis at the first bucket with data (at most the queried span back).
  const first = Math.min(...series.flatMap((s) => s.points.map((p) => p.t)));
  const from = Number.isFinite(first) ? Math.max(traffic.from, first - traffic.bucketMs) : traffic.from;
  const card = $('section', { class: 'card traffic', 'data-model': model });
  card.append($('h2', {}, 'Traffic of ' + model, $('span', { class: 'muted' }, '(from ClickHouse, ' + perSec + ' s buckets; dashed = shadow copies)')));
  if (!series.length) { card.append($('p', { class: 'empty' }, 'no requests in this period yet')); return card; }
  card.append($('div', { class: 'legend' }, ...series.map((s) => $('span', {}, $('i', { style: 'background:' + colorOf(versions, s.version) }), s.version + (s.shadow ? ' (shadow)' : '')))));
  card.append($('div', { class: 'charts' },
    chart('requests/s', series, versions, (p) => Math.round((p.requests / (p.spanMs / 1000)) * 10) / 10, 'req/s', from, traffic.to),
    chart('errors/s', series, versions, (p) => Math.round((p.errors / (p.spanMs / 1000)) * 10) / 10, 'err/s', from, traffic.to),
    chart('p95 latency', series, versions, (p) => p.p95, 'ms', from, traffic.to)));
  return card;
}

async function refresh() {
  const status = document.getElementById('status');
  try {
    const [rollouts, traffic] = await Promise.all([getJson('/api/rollouts'), getJson('/api/traffic?bucket=10s&minutes=' + (window.MINUTES || 10))]);
    const decisions = await Promise.all(rollouts.rollouts.map((x) => getJson('/api/decisions?rollout=' + encodeURIComponent(x.rollout.id)).catch(() => null)));
    const models = [...new Set([...rollouts.rollouts.map((x) => x.rollout.model), ...traffic.series.map((s) => s.model)])].sort();
    const main = document.querySelector('main');
    const kids = [
      ...(rollouts.rollouts.length ? rollouts.rollouts.map((x, i) => rolloutCard(x, decisions[i])) : [$('section', { class: 'card empty' }, 'No rollouts yet. Create one with POST /v1/rollouts on the controller API.')]),
      ...models.map((m) => modelCharts(m, traffic)),
    ];
    main.replaceChildren(...kids);
    status.textContent = 'updated ' + new Date().toLocaleTimeString();
    status.className = 'muted';
    document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);
  } catch (err) {
    status.textContent = 'update failed: ' + err.message;
    status.className = 'error';
  }
}
refresh();
setInterval(refresh, 2000);
`;

/** The page's HTML; `prefix` is where its JSON endpoints are mounted (e.g. `/ui`). */
export function rolloutPageHtml(prefix: string): string {
  const safePrefix = prefix.replace(/[^A-Za-z0-9/_-]/g, '');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>mlgate rollouts</title>
<style>${STYLE}</style>
</head>
<body data-prefix="${safePrefix}">
<header><h1>mlgate rollouts</h1><span id="status" class="muted">loading…</span></header>
<main></main>
<script>${SCRIPT}</script>
</body>
</html>
`;
}
