/**
 * Renders a scenario report to one self-contained HTML page: a verdict strip,
 * throughput, latency, per-shard heat and per-node load over time with markers
 * at onset, skew end, detection and each action, and the before/after tables.
 *
 * Self-contained means the page makes no request at all, opened from disk or
 * mailed as an attachment: uPlot's JS and CSS are inlined, the report rides
 * along as JSON in a `<script type="application/json">` tag, and a
 * Content-Security-Policy forbids anything else. The header and tables are
 * rendered here, so the numbers read without JavaScript; the charts are drawn
 * in the browser from the embedded JSON.
 *
 * This file is longer than most because the page's own script and style live
 * in it as strings; split across files they would be three halves of one page.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { VERSION } from '../version.js';
import type { Imbalance, ReportTarget, ScenarioReport, ScenarioSecond } from './scenario-report.js';

/** What a null measurement renders as: a dash and this note, never a number. */
export const NOT_MEASURED = 'not measured yet';
/** A target measured but judged only once mitigation exists (ReportTarget.met null, actual set). */
export const NOT_JUDGED = 'not judged until mitigation exists';

/**
 * The report as one HTML page that works offline.
 *
 * @example
 * writeFileSync('report.html', renderReportHtml(JSON.parse(readFileSync('report.json', 'utf8'))));
 */
export function renderReportHtml(report: ScenarioReport): string {
  const { js, css } = uplotAssets();
  const hottest = hottestShard(report.series);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<title>${esc(report.scenario)} · hotshard scenario report</title>
<style>${inlineSafe(css, 'style')}</style>
<style>${PAGE_CSS}</style>
</head>
<body>
<main>
${header(report)}
${verdict(report)}
<section class="charts" id="charts" aria-label="Charts over time">
<noscript><p class="note">The charts need JavaScript; every number is also in the tables below.</p></noscript>
${chartCard('throughput', 'Throughput', 'requests completed per second · errors and shed per second on the right axis')}
${chartCard('latency', 'Latency', 'p50 and p99 per second, from the intended send time · log scale')}
${chartCard(
  'heatmap',
  'Per-shard load',
  hottest === null
    ? 'no per-shard data'
    : `requests each shard served per second · hottest over the run: <b class="hot-name">${esc(hottest.id)}</b> (${pct(hottest.share)} of shard requests)`,
  `<div class="heat-foot"><div class="heat-legend" id="heat-legend"></div><span class="readout" id="heat-readout"></span></div>`,
  hottest === null ? '' : ` data-hottest="${esc(hottest.id)}"`,
)}
${chartCard('nodes', 'Per-node load', 'requests each node served per second')}
</section>
${events(report)}
<section class="tables">
${imbalanceTable(report.before, report.after)}
${totalsTable(report)}
${errorsTable(report.totals.errorsByKind, report.totals.errors)}
${targetsTable(report.targets)}
</section>
<footer>hotshard ${esc(VERSION)} · the report this page was rendered from is embedded in it
(<code>script#report-data</code>) · it needs no network</footer>
</main>
<script type="application/json" id="report-data">${jsonForScript(report)}</script>
<script>${inlineSafe(js, 'script')}</script>
<script>${PAGE_JS}</script>
</body>
</html>
`;
}

let assets: { js: string; css: string } | undefined;

/** uPlot's bundle and stylesheet, read once from the installed package. */
function uplotAssets(): { js: string; css: string } {
  if (assets) return assets;
  const dist = join(dirname(createRequire(import.meta.url).resolve('uplot/package.json')), 'dist');
  assets = {
    js: readFileSync(join(dist, 'uPlot.iife.min.js'), 'utf8'),
    css: readFileSync(join(dist, 'uPlot.min.css'), 'utf8'),
  };
  return assets;
}

/**
 * JSON that cannot end its `<script>` element or open an HTML comment: every
 * `<`, `>` and `&` becomes a \u escape, which JSON.parse reads back unchanged.
 */
function jsonForScript(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/** Inlined third-party text, made unable to close its element early (a no-op for uPlot today). */
function inlineSafe(text: string, tag: 'script' | 'style'): string {
  return text.replace(new RegExp(`</(${tag})`, 'gi'), '<\\/$1').replace(/<!--/g, '<\\!--');
}

const ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const num = (n: number): string => n.toLocaleString('en-US', { maximumFractionDigits: 3 });
const ratio = (n: number): string => n.toFixed(2);

function pct(fraction: number): string {
  const p = fraction * 100;
  return `${p < 10 ? p.toFixed(2) : p.toFixed(1)} %`;
}

function ms(value: number): string {
  if (value >= 1000) return `${(value / 1000).toFixed(value >= 10_000 ? 0 : 2)} s`;
  if (value >= 10) return `${Math.round(value)} ms`;
  return `${value.toFixed(value >= 1 ? 1 : 2)} ms`;
}

function seconds(value: number): string {
  return `${Number.isInteger(value) ? value : value.toFixed(1)} s`;
}

function startedAt(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : `${d.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/** The shard with the most requests over the whole run, and its share of all shard requests. */
function hottestShard(series: readonly ScenarioSecond[]): { id: string; share: number } | null {
  const totals = new Map<string, number>();
  for (const s of series)
    for (const [id, ops] of Object.entries(s.shardOps)) totals.set(id, (totals.get(id) ?? 0) + ops);
  let best: { id: string; ops: number } | null = null;
  let sum = 0;
  for (const [id, ops] of totals) {
    sum += ops;
    if (best === null || ops > best.ops) best = { id, ops };
  }
  return best === null ? null : { id: best.id, share: sum > 0 ? best.ops / sum : 0 };
}

function header(r: ScenarioReport): string {
  const meta: [string, string][] = [
    ['backend', r.backend],
    ['seed', String(r.seed)],
    ['duration', seconds(r.durationSeconds)],
    ['started', startedAt(r.startedAt)],
    ['skew', `${seconds(r.onsetSecond)} → ${r.endSecond === null ? 'end of run' : seconds(r.endSecond)}`],
    ['expected', `${r.expected.kind} · ${r.expected.subject}`],
  ];
  return `<header class="top">
<div class="title">
<div class="eyebrow">hotshard scenario report</div>
<h1>${esc(r.scenario)}</h1>
<p class="desc">${esc(r.description)}</p>
</div>
<dl class="meta">${meta.map(([k, v]) => `<div><dt>${k}</dt><dd>${esc(v)}</dd></div>`).join('')}</dl>
</header>`;
}

function tile(
  label: string,
  value: string,
  note: string,
  tone: 'good' | 'bad' | 'unknown' | 'plain',
  id: string,
): string {
  return `<div class="tile ${tone}" id="${id}"><div class="label">${label}</div><div class="value">${value}</div><div class="note">${note}</div></div>`;
}

function verdict(r: ScenarioReport): string {
  const met = r.targets.filter((t) => t.met === true).length;
  const missed = r.targets.filter((t) => t.met === false).length;
  const unjudged = r.targets.filter((t) => t.met === null && t.actual !== null).length;
  const unknown = r.targets.length - met - missed;
  const unmeasured = unknown - unjudged;
  const targetNote =
    r.targets.length === 0
      ? 'no targets declared'
      : [
          `${met} met`,
          `${missed} missed`,
          unjudged > 0 ? `${unjudged} ${NOT_JUDGED}` : '',
          unmeasured > 0 ? `${unmeasured} ${NOT_MEASURED}` : '',
        ]
          .filter(Boolean)
          .join(' · ');
  const targetTone = missed > 0 ? 'bad' : r.targets.length > 0 && unknown === 0 ? 'good' : 'unknown';
  const targetValue =
    r.targets.length === 0 ? '—' : missed > 0 ? `${missed} missed` : `${met} / ${r.targets.length} met`;

  const { ops, errors, errorRate, shed } = r.totals;
  // `errors` already includes the shed requests (a shed request failed too, as
  // far as its client knows); `shed` says how many of them had a retry-after.
  const failed = errors;
  const failedNote = `${int(errors)} failed (${pct(errorRate)}), ${int(shed)} of them shed with retry-after, of ${int(ops)} requests`;

  const w = r.writes;
  const writesNote = `of ${int(w.acknowledged)} acknowledged, ${int(w.checked)} read back`;

  const d = r.detection;
  const detectionValue = r.detectionLatencyMs === null ? '—' : ms(r.detectionLatencyMs);
  const detectionNote =
    r.detectionLatencyMs === null
      ? NOT_MEASURED
      : d === null
        ? 'after onset'
        : `${esc(d.kind)} · ${esc(d.subject)} · ${d.correct ? 'correct' : 'misclassified'}`;
  const detectionTone =
    r.detectionLatencyMs === null ? 'unknown' : d !== null && !d.correct ? 'bad' : 'plain';

  return `<section class="verdict" aria-label="Verdict">
${tile('Targets', targetValue, targetNote, targetTone, 'v-targets')}
${tile('Failed requests', `${int(failed)} <small>(${pct(ops > 0 ? failed / ops : 0)})</small>`, failedNote, failed > 0 ? 'bad' : 'good', 'v-failed')}
${tile('Acknowledged writes lost', int(w.lost), writesNote, w.lost > 0 ? 'bad' : 'good', 'v-lost')}
${tile('Detection latency', detectionValue, detectionNote, detectionTone, 'v-detection')}
${tile(
  'p99 restore time',
  r.p99RestoreSeconds === null ? '—' : seconds(r.p99RestoreSeconds),
  r.p99RestoreSeconds === null ? NOT_MEASURED : 'until p99 was back under its SLO',
  r.p99RestoreSeconds === null ? 'unknown' : 'plain',
  'v-restore',
)}
</section>`;
}

function chartCard(id: string, title: string, hint: string, foot = '', attrs = ''): string {
  return `<figure class="card chart" id="${id}"${attrs}>
<figcaption><h2>${title}</h2><span class="hint">${hint}</span></figcaption>
<div class="plot"></div>${foot}
</figure>`;
}

function events(r: ScenarioReport): string {
  const row = (at: number, dot: string, event: string, subject: string, detail: string): [number, string] => [
    at,
    `<tr><td class="num">${seconds(at)}</td><td><span class="dot ${dot}"></span>${esc(event)}</td><td>${esc(subject)}</td><td>${esc(detail)}</td></tr>`,
  ];
  const rows = [
    row(r.onsetSecond, 'onset', 'onset', r.expected.subject, `skew injected (expected: ${r.expected.kind})`),
  ];
  const d = r.detection;
  if (d) {
    const classified = r.classification === null ? '' : ` (${r.classification})`;
    const verdict = d.correct ? 'correct' : 'misclassified';
    rows.push(
      row(
        d.at,
        'detect',
        'detected',
        d.subject,
        `${d.kind}${classified}, ${ms(d.latencyFromOnsetMs)} after onset, ${verdict}`,
      ),
    );
  }
  for (const a of r.actions ?? []) rows.push(row(a.at, 'action', a.kind, a.subject, a.detail));
  if (r.endSecond !== null)
    rows.push(row(r.endSecond, 'end', 'skew ends', r.expected.subject, 'injected skew stopped'));
  rows.sort((a, b) => a[0] - b[0]);
  const missing = [r.detection === null ? 'detection' : '', r.actions === null ? 'mitigation actions' : '']
    .filter(Boolean)
    .join(' and ');
  const note = missing === '' ? '' : `<p class="note" id="events-note">${missing}: ${NOT_MEASURED}</p>`;
  return `<section class="card events" id="timeline"><h2>Timeline</h2>
<table><thead><tr><th class="num">at</th><th>event</th><th>subject</th><th>detail</th></tr></thead><tbody>${rows.map((x) => x[1]).join('')}</tbody></table>${note}
</section>`;
}

function change(before: number, after: number): string {
  if (before === 0) return '';
  const factor = after / before;
  if (Math.abs(factor - 1) < 0.05) return '<span class="flat">≈</span>';
  // Imbalance: higher is worse.
  return factor > 1
    ? `<span class="worse">▲ ${factor.toFixed(1)}×</span>`
    : `<span class="better">▼ ${factor.toFixed(1)}×</span>`;
}

function imbalanceTable(before: Imbalance, after: Imbalance): string {
  const row = (label: string, b: number, a: number, show: (n: number) => string): string =>
    `<tr><th>${label}</th><td class="num">${show(b)}</td><td class="num">${show(a)}</td><td class="num">${change(b, a)}</td></tr>`;
  return `<section class="card" id="imbalance"><h2>Imbalance before vs after</h2>
<table><thead><tr><th></th><th class="num">before</th><th class="num">after</th><th class="num">change</th></tr></thead><tbody>
${row('node max / mean', before.nodeMaxOverMean, after.nodeMaxOverMean, ratio)}
${row('shard max / mean', before.shardMaxOverMean, after.shardMaxOverMean, ratio)}
${row('hottest shard share', before.hottestShardShare, after.hottestShardShare, pct)}
<tr><th>hottest shard</th><td class="num">${esc(before.hottestShard)}</td><td class="num">${esc(after.hottestShard)}</td><td></td></tr>
</tbody></table></section>`;
}

function totalsTable(r: ScenarioReport): string {
  const t = r.totals;
  const rows: [string, string][] = [
    ['requests', int(t.ops)],
    ['errors', `${int(t.errors)} (${pct(t.errorRate)})`],
    ['shed (retry-after)', int(t.shed)],
    ['p50 latency', ms(t.p50)],
    ['p99 latency', ms(t.p99)],
    [
      'writes acknowledged / read back / lost',
      `${int(r.writes.acknowledged)} / ${int(r.writes.checked)} / ${int(r.writes.lost)}`,
    ],
    [
      'classification',
      r.classification === null ? `— <span class="muted">${NOT_MEASURED}</span>` : esc(r.classification),
    ],
  ];
  return `<section class="card" id="totals"><h2>Totals</h2><table><tbody>${rows
    .map(([k, v]) => `<tr><th>${k}</th><td class="num">${v}</td></tr>`)
    .join('')}</tbody></table></section>`;
}

function errorsTable(byKind: Readonly<Record<string, number>>, errors: number): string {
  const kinds = Object.entries(byKind).sort((a, b) => b[1] - a[1]);
  const body =
    kinds.length === 0
      ? '<tr><td colspan="3" class="muted">no errors</td></tr>'
      : kinds
          .map(
            ([k, n]) =>
              `<tr><td><code>${esc(k)}</code></td><td class="num">${int(n)}</td><td class="num">${errors > 0 ? pct(n / errors) : ''}</td></tr>`,
          )
          .join('');
  return `<section class="card" id="errors"><h2>Errors by kind</h2>
<table><thead><tr><th>kind</th><th class="num">count</th><th class="num">share</th></tr></thead><tbody>${body}</tbody></table></section>`;
}

function targetsTable(targets: readonly ReportTarget[]): string {
  const result = (t: ReportTarget): string =>
    t.met === true
      ? '<span class="pill good">met</span>'
      : t.met === false
        ? '<span class="pill bad">missed</span>'
        : `<span class="pill unknown">${t.actual === null ? NOT_MEASURED : NOT_JUDGED}</span>`;
  const body =
    targets.length === 0
      ? '<tr><td colspan="4" class="muted">this scenario declares no targets</td></tr>'
      : targets
          .map(
            (t) =>
              `<tr><td>${esc(t.name)}</td><td class="num">${num(t.limit)}</td><td class="num">${t.actual === null ? '—' : num(t.actual)}</td><td>${result(t)}</td></tr>`,
          )
          .join('');
  return `<section class="card" id="targets"><h2>Targets</h2>
<table><thead><tr><th>target</th><th class="num">limit</th><th class="num">actual</th><th>result</th></tr></thead><tbody>${body}</tbody></table></section>`;
}

const PAGE_CSS = String.raw`
:root{color-scheme:light dark;--bg:#f4f5f7;--card:#ffffff;--fg:#1c1f24;--muted:#646b76;--line:#dde0e5;--grid:#e9ebef;
--good:#1a7f37;--bad:#cf222e;--warn:#b35c00;--accent:#2463c9;--accent2:#8a3ffc;--teal:#0e8a80;--end:#7a828e}
@media (prefers-color-scheme:dark){:root{--bg:#0e1014;--card:#171a20;--fg:#e5e8ec;--muted:#9aa2ae;--line:#2b303a;--grid:#242932;
--good:#3fb950;--bad:#f85149;--warn:#e3a03a;--accent:#5b9dff;--accent2:#b592ff;--teal:#3cc7b9;--end:#8b939f}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:1240px;margin:0 auto;padding:22px 20px 32px}
h1{font:650 26px/1.2 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;margin:2px 0 6px}
h2{font-size:15px;margin:0 0 8px}
code{font:12.5px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.muted,.note{color:var(--muted)}.note{font-size:12.5px;margin:8px 0 0}
header.top{display:flex;justify-content:space-between;gap:24px;align-items:flex-start;flex-wrap:wrap}
.title{flex:1 1 420px}
.eyebrow{text-transform:uppercase;letter-spacing:.08em;font-size:11px;font-weight:650;color:var(--muted)}
.desc{color:var(--muted);max-width:75ch;margin:0}
dl.meta{display:grid;grid-template-columns:repeat(3,auto);gap:8px 22px;margin:4px 0 0;font-size:13px}
dl.meta dt{color:var(--muted);font-size:11px;text-transform:uppercase;letter-spacing:.06em}
dl.meta dd{margin:0;font-variant-numeric:tabular-nums}
.verdict{display:grid;grid-template-columns:repeat(5,minmax(0,1fr));gap:12px;margin:18px 0 14px}
.tile{background:var(--card);border:1px solid var(--line);border-top:4px solid var(--line);border-radius:10px;padding:10px 14px 12px}
.tile.good{border-top-color:var(--good)}.tile.bad{border-top-color:var(--bad)}.tile.unknown{border-top-color:var(--muted);border-top-style:dashed}
.tile .label{font-size:12px;font-weight:650;color:var(--muted)}
.tile .value{font-size:26px;font-weight:650;font-variant-numeric:tabular-nums;margin:2px 0}
.tile .value small{font-size:14px;font-weight:500;color:var(--muted)}
.tile.bad .value{color:var(--bad)}
.tile .note{font-size:12px;color:var(--muted)}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:12px 14px;margin:0 0 14px}
figure.card{margin:0 0 14px}
figcaption{display:flex;align-items:baseline;gap:12px;margin-bottom:4px;flex-wrap:wrap}
figcaption h2{margin:0}
.hint{color:var(--muted);font-size:12.5px}
.hot-name{color:var(--fg)}
.plot{min-height:120px;position:relative}
.uplot{width:100%;color:var(--fg)}
.u-legend{font-size:12.5px}.u-legend .u-series>*{padding:2px 4px}
.u-axis{color:var(--muted)}
.marker-label{position:absolute;z-index:2;font:600 11px/16px system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;height:18px;padding:0 6px;
border:1px solid var(--c);border-left-width:3px;border-radius:3px;background:var(--card);color:var(--fg);white-space:nowrap;cursor:default}
.hot-label{position:absolute;z-index:2;font:650 11px/16px system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);white-space:nowrap}
.heat-foot{display:flex;justify-content:space-between;align-items:center;gap:16px;margin-top:8px;font-size:12px;color:var(--muted)}
.heat-legend{display:flex;align-items:center;gap:8px}
.heat-legend .bar{position:relative;width:260px;height:10px;border-radius:2px}
.heat-legend .ticks{position:relative;width:260px;height:14px;font-size:10.5px}
.heat-legend .ticks span{position:absolute;transform:translateX(-50%);font-variant-numeric:tabular-nums}
.readout{font-variant-numeric:tabular-nums;min-height:1em}
.tables{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:0 14px;align-items:start}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums;font-size:13px}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid var(--line);vertical-align:top}
tbody th{font-weight:500;color:var(--muted)}thead th{font-size:11.5px;color:var(--muted);font-weight:650}
.num{text-align:right;white-space:nowrap}
.events td:first-child{width:60px}
.worse{color:var(--bad);font-weight:650}.better{color:var(--good);font-weight:650}.flat{color:var(--muted)}
.pill{display:inline-block;padding:0 8px;border-radius:999px;font-size:12px;font-weight:650;border:1px solid currentColor}
.pill.good{color:var(--good)}.pill.bad{color:var(--bad)}.pill.unknown{color:var(--muted);border-style:dashed}
.dot{display:inline-block;width:9px;height:9px;border-radius:50%;margin-right:7px;vertical-align:0}
.dot.onset{background:var(--bad)}.dot.detect{background:var(--warn)}.dot.action{background:var(--teal)}.dot.end{background:var(--end)}
footer{color:var(--muted);font-size:12px;margin-top:6px}
.chart-error{color:var(--bad);font-weight:600}
@media (max-width:900px){.verdict{grid-template-columns:repeat(2,minmax(0,1fr))}.tables{grid-template-columns:1fr}}
`;

/**
 * The page's script: plain ES2020, no template literals or backslashes, so it
 * survives this file's String.raw unchanged. Draws four uPlot charts sharing
 * one x geometry (fixed axis gutters, same x range) so the markers and the
 * cursor line up from chart to chart; the heat map is a uPlot chart whose
 * draw hook paints one cell per shard and second.
 */
const PAGE_JS = String.raw`
(function () {
  'use strict';
  var report = JSON.parse(document.getElementById('report-data').textContent);
  var series = report.series || [];
  var LEFT = 64, RIGHT = 76, LANE = 20, X_AXIS = 34;
  var FONT = '11px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
  var NODE_COLOURS = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];
  var VIRIDIS = [[68, 1, 84], [72, 40, 120], [62, 74, 137], [49, 104, 142], [38, 130, 142],
    [31, 158, 137], [53, 183, 121], [109, 205, 89], [180, 222, 44], [253, 231, 37]];

  var xs = series.map(function (s) { return s.t; });
  // Second t is the bucket [t, t + 1): a heat cell spans it, a line point sits at its start.
  var xMin = xs.length ? xs[0] : 0;
  var xMax = xs.length ? xs[xs.length - 1] + 1 : Math.max(1, report.durationSeconds);

  function cssVar(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }
  function theme() {
    var t = {};
    ['fg', 'muted', 'line', 'grid', 'card', 'good', 'bad', 'warn', 'accent', 'accent2', 'teal', 'end'].forEach(function (k) { t[k] = cssVar('--' + k); });
    return t;
  }
  function alpha(hex, a) {
    var m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex);
    return m ? 'rgba(' + parseInt(m[1], 16) + ',' + parseInt(m[2], 16) + ',' + parseInt(m[3], 16) + ',' + a + ')' : hex;
  }
  function compact(v) {
    if (v == null) return '—';
    var a = Math.abs(v);
    if (a >= 1e6) return +(v / 1e6).toFixed(a >= 1e7 ? 0 : 1) + 'M';
    if (a >= 1e3) return +(v / 1e3).toFixed(a >= 1e4 ? 0 : 1) + 'k';
    return String(a >= 100 ? Math.round(v) : +v.toFixed(2));
  }
  function whole(v) { return v == null ? '—' : Math.round(v).toLocaleString('en-US'); }
  function ms(v) {
    if (v == null) return '—';
    if (v >= 1000) return +(v / 1000).toFixed(v >= 10000 ? 0 : 2) + ' s';
    if (v >= 10) return Math.round(v) + ' ms';
    return +v.toFixed(v >= 1 ? 1 : 2) + ' ms';
  }
  function natural(a, b) { return a.localeCompare(b, 'en', { numeric: true }); }
  function keysOf(pick) {
    var set = {};
    series.forEach(function (s) { Object.keys(pick(s) || {}).forEach(function (k) { set[k] = true; }); });
    return Object.keys(set).sort(natural);
  }
  function maxOf(rows) {
    var m = 0;
    rows.forEach(function (r) { r.forEach(function (v) { if (v != null && v > m) m = v; }); });
    return m;
  }

  function markerList(t) {
    var list = [{ t: report.onsetSecond, label: 'onset', colour: t.bad,
      title: 'skew injected: expected ' + report.expected.kind + ' on ' + report.expected.subject }];
    if (report.detection) {
      var d = report.detection;
      list.push({ t: d.at, label: 'detected', colour: t.warn,
        title: d.kind + ' on ' + d.subject + ', ' + ms(d.latencyFromOnsetMs) + ' after onset' + (d.correct ? '' : ' (misclassified)') });
    }
    (report.actions || []).forEach(function (a) {
      list.push({ t: a.at, label: a.kind, colour: t.teal, title: a.kind + ' ' + a.subject + ': ' + a.detail });
    });
    if (report.endSecond != null) list.push({ t: report.endSecond, label: 'skew ends', colour: t.end, dash: [5, 4], title: 'injected skew stopped' });
    return list.filter(function (m) { return m.t >= xMin && m.t <= xMax; }).sort(function (a, b) { return a.t - b.t; });
  }

  /** Stacks marker labels into lanes so neighbours (onset, detection, first action) never overlap. */
  function layoutMarkers(markers, width) {
    var plotW = width - LEFT - RIGHT;
    var ctx = document.createElement('canvas').getContext('2d');
    ctx.font = '600 ' + FONT;
    var ends = [];
    var items = markers.map(function (m) {
      var px = (m.t - xMin) / (xMax - xMin) * plotW;
      var w = ctx.measureText(m.label).width + 18;
      var right = px + w > plotW + RIGHT - 4;
      var left = right ? px - w : px;
      var lane = 0;
      while (lane < ends.length && ends[lane] + 4 > left) lane++;
      ends[lane] = left + w;
      return Object.assign({}, m, { lane: lane, anchorRight: right, w: w });
    });
    return { items: items, top: 6 + Math.max(1, ends.length) * LANE };
  }

  function markersPlugin(layout) {
    return {
      hooks: {
        draw: [function (u) {
          var ctx = u.ctx, r = devicePixelRatio || 1, bottom = u.bbox.top + u.bbox.height;
          ctx.save();
          layout.items.forEach(function (m) {
            var x = Math.round(u.valToPos(m.t, 'x', true)) + 0.5;
            ctx.strokeStyle = m.colour;
            ctx.lineWidth = 1.5 * r;
            ctx.setLineDash((m.dash || []).map(function (d) { return d * r; }));
            ctx.beginPath();
            ctx.moveTo(x, (3 + m.lane * LANE + 18) * r);
            ctx.lineTo(x, bottom);
            ctx.stroke();
          });
          ctx.restore();
        }],
        ready: [function (u) {
          var wrap = u.root.querySelector('.u-wrap');
          var plotLeft = u.bbox.left / (devicePixelRatio || 1);
          layout.items.forEach(function (m) {
            var el = document.createElement('div');
            el.className = 'marker-label';
            el.textContent = m.label;
            el.title = m.title + ' (at ' + m.t + ' s)';
            el.style.setProperty('--c', m.colour);
            var px = u.valToPos(m.t, 'x');
            el.style.left = Math.round(plotLeft + (m.anchorRight ? px - m.w + 1 : px - 1)) + 'px';
            el.style.top = (3 + m.lane * LANE) + 'px';
            wrap.appendChild(el);
          });
        }],
      },
    };
  }

  function xAxis(t, grid) {
    return { scale: 'x', stroke: t.muted, font: FONT, size: X_AXIS, space: 44,
      grid: { show: grid, stroke: t.grid, width: 1 }, ticks: { stroke: t.line, width: 1, size: 4 },
      values: function (u, vals) { return vals.map(function (v) { return v + ' s'; }); } };
  }
  function yAxis(t, extra) {
    return Object.assign({ stroke: t.muted, font: FONT, size: LEFT, gap: 6,
      grid: { stroke: t.grid, width: 1 }, ticks: { stroke: t.line, width: 1, size: 4 } }, extra);
  }

  function chart(el, t, layout, height, opts, data, rightAxis) {
    var base = {
      width: el.clientWidth,
      height: height + layout.top,
      padding: [layout.top, rightAxis ? 0 : RIGHT, 0, 0],
      cursor: { drag: { x: false, y: false }, y: false, points: { size: 7 },
        sync: { key: 'hotshard', scales: ['x', 'y'], match: [function (a, b) { return a === b; }, function () { return false; }] } },
      legend: { live: true },
      plugins: [markersPlugin(layout)],
    };
    var o = Object.assign(base, opts);
    o.scales = Object.assign({ x: { time: false, range: [xMin, xMax] } }, opts.scales || {});
    return new uPlot(o, data, el);
  }

  function throughput(el, t, layout) {
    var zero = function (u, lo, hi) { return [0, Math.max(10, (hi || 0) * 1.12)]; };
    return chart(el, t, layout, 200, {
      scales: { y: { range: zero }, err: { range: zero } },
      axes: [xAxis(t, true), yAxis(t, { values: function (u, v) { return v.map(compact); } }),
        yAxis(t, { scale: 'err', side: 1, size: RIGHT, grid: { show: false }, values: function (u, v) { return v.map(compact); } })],
      series: [
        { label: 'second', value: function (u, v) { return v == null ? '—' : v + ' s'; } },
        { label: 'ops/s', stroke: t.accent, fill: alpha(t.accent, 0.12), width: 2, points: { show: false }, value: function (u, v) { return whole(v); } },
        { label: 'errors/s', scale: 'err', stroke: t.bad, width: 1.5, points: { show: false }, value: function (u, v) { return whole(v); } },
        { label: 'shed/s', scale: 'err', stroke: t.warn, width: 1.5, points: { show: false }, dash: [6, 3], value: function (u, v) { return whole(v); } },
      ],
    }, [xs, series.map(function (s) { return s.ops; }), series.map(function (s) { return s.errors; }), series.map(function (s) { return s.shed; })], true);
  }

  function latency(el, t, layout) {
    var pos = function (v) { return v > 0 ? v : null; };
    var p50 = series.map(function (s) { return pos(s.p50); }), p99 = series.map(function (s) { return pos(s.p99); });
    var any = p50.concat(p99).some(function (v) { return v != null; });
    return chart(el, t, layout, 200, {
      scales: { y: any ? { distr: 3, log: 10, range: function (u, lo, hi) {
        var a = Math.floor(Math.log10(lo)), b = Math.max(a + 1, Math.ceil(Math.log10(hi)));
        return [Math.pow(10, a), Math.pow(10, b)];
      } } : { range: [0, 1] } },
      axes: [xAxis(t, true), yAxis(t, { space: 22, filter: decades, grid: { stroke: t.grid, width: 1, filter: decades },
        values: function (u, v) { return v.map(function (x) { return x == null ? '' : ms(x); }); } })],
      series: [
        { label: 'second', value: function (u, v) { return v == null ? '—' : v + ' s'; } },
        { label: 'p50', stroke: t.teal, width: 2, points: { show: false }, value: function (u, v) { return ms(v); } },
        { label: 'p99', stroke: t.accent2, width: 2, points: { show: false }, value: function (u, v) { return ms(v); } },
      ],
    }, [xs, p50, p99]);
  }

  /** Log-axis splits at 1, 10, 100 ... only: the 2..9 in between are ticks without labels or grid. */
  function decades(u, splits) {
    return splits.map(function (x) { var e = Math.log10(x); return Math.abs(e - Math.round(e)) < 1e-9 ? x : null; });
  }

  function viridis(f) {
    var x = Math.min(1, Math.max(0, f)) * (VIRIDIS.length - 1), i = Math.min(VIRIDIS.length - 2, Math.floor(x)), k = x - i;
    var a = VIRIDIS[i], b = VIRIDIS[i + 1];
    return 'rgb(' + Math.round(a[0] + (b[0] - a[0]) * k) + ',' + Math.round(a[1] + (b[1] - a[1]) * k) + ',' + Math.round(a[2] + (b[2] - a[2]) * k) + ')';
  }

  function heatLegend(max) {
    var box = document.getElementById('heat-legend');
    box.textContent = '';
    var stops = [];
    for (var i = 0; i <= 10; i++) stops.push(viridis(i / 10) + ' ' + i * 10 + '%');
    var bar = document.createElement('div');
    bar.className = 'bar';
    bar.style.background = 'linear-gradient(to right, ' + stops.join(', ') + ')';
    var ticks = document.createElement('div');
    ticks.className = 'ticks';
    [0, 0.25, 0.5, 0.75, 1].forEach(function (p) {
      var s = document.createElement('span');
      s.style.left = p * 100 + '%';
      s.textContent = compact(max * p * p);
      ticks.appendChild(s);
    });
    var scale = document.createElement('div');
    scale.appendChild(bar);
    scale.appendChild(ticks);
    var label = document.createElement('span');
    label.textContent = 'ops/s per shard (square-root scale)';
    box.appendChild(label);
    box.appendChild(scale);
  }

  function heatmap(el, t, layout) {
    var ids = keysOf(function (s) { return s.shardOps; });
    var n = ids.length;
    if (n === 0) { el.textContent = 'no per-shard data in this report'; return null; }
    var grid = ids.map(function (id) { return series.map(function (s) { return s.shardOps[id] || 0; }); });
    var max = maxOf(grid);
    var hottest = el.closest('figure').getAttribute('data-hottest');
    var hotRow = ids.indexOf(hottest);
    var rowPx = Math.max(6, Math.min(22, Math.floor(420 / Math.max(1, n))));
    var every = Math.ceil(13 / rowPx);
    var readout = document.getElementById('heat-readout');
    heatLegend(max);
    function rowTop(u, r, canvas) { return u.valToPos(n - 1 - r + 0.5, 'y', canvas); }
    function draw(u) {
      var ctx = u.ctx;
      ctx.save();
      ctx.beginPath();
      ctx.rect(u.bbox.left, u.bbox.top, u.bbox.width, u.bbox.height);
      ctx.clip();
      for (var r = 0; r < n; r++) {
        var y0 = Math.round(rowTop(u, r, true)), y1 = Math.round(rowTop(u, r + 1, true));
        for (var i = 0; i < xs.length; i++) {
          var x0 = Math.round(u.valToPos(xs[i], 'x', true)), x1 = Math.round(u.valToPos(xs[i] + 1, 'x', true));
          ctx.fillStyle = viridis(max > 0 ? Math.sqrt(grid[r][i] / max) : 0);
          ctx.fillRect(x0, y0, x1 - x0, y1 - y0);
        }
      }
      if (hotRow >= 0) {
        var r2 = devicePixelRatio || 1;
        ctx.strokeStyle = t.fg;
        ctx.lineWidth = 1.5 * r2;
        ctx.strokeRect(u.bbox.left + r2, Math.round(rowTop(u, hotRow, true)) + r2, u.bbox.width - 2 * r2, Math.round(rowTop(u, hotRow + 1, true) - rowTop(u, hotRow, true)) - 2 * r2);
      }
      ctx.restore();
    }
    function label(u) {
      if (hotRow < 0) return;
      var el2 = document.createElement('div');
      el2.className = 'hot-label';
      el2.id = 'hot-label';
      el2.textContent = '◀ ' + hottest + ' hottest';
      var r2 = devicePixelRatio || 1;
      var mid = (rowTop(u, hotRow, false) + rowTop(u, hotRow + 1, false)) / 2;
      el2.style.left = Math.round((u.bbox.left + u.bbox.width) / r2 + 6) + 'px';
      el2.style.top = Math.round(u.bbox.top / r2 + mid - 8) + 'px';
      u.root.querySelector('.u-wrap').appendChild(el2);
    }
    function cursor(u) {
      var c = u.cursor;
      if (c.left == null || c.left < 0) { readout.textContent = 'hover for values'; return; }
      var at = u.posToVal(c.left, 'x'), i = -1;
      for (var k = 0; k < xs.length; k++) if (xs[k] <= at && at < xs[k] + 1) i = k;
      if (i < 0) { readout.textContent = ''; return; }
      var r = c.top == null || c.top < 0 ? -1 : n - 1 - Math.round(u.posToVal(c.top, 'y'));
      readout.textContent = r >= 0 && r < n
        ? ids[r] + ' at ' + xs[i] + ' s: ' + whole(grid[r][i]) + ' ops/s'
        : xs[i] + ' s: ' + (hotRow >= 0 ? hottest + ' served ' + whole(grid[hotRow][i]) + ' ops/s' : '');
    }
    var plot = chart(el, t, layout, n * rowPx, {
      legend: { show: false },
      cursor: { drag: { x: false, y: false }, points: { show: false },
        sync: { key: 'hotshard', scales: ['x', 'y'], match: [function (a, b) { return a === b; }, function () { return false; }] } },
      scales: { y: { range: [-0.5, n - 0.5] } },
      axes: [xAxis(t, false), yAxis(t, { grid: { show: false }, ticks: { show: false },
        splits: function () { var s = []; for (var r = 0; r < n; r += every) s.push(n - 1 - r); return s; },
        values: function (u, v) { return v.map(function (y) { return ids[n - 1 - y] || ''; }); } })],
      series: [{}, { label: 'ops', stroke: 'transparent', points: { show: false } }],
      // uPlot fires these before the plugins' hooks, so the marker lines land on top of the cells.
      hooks: { draw: [draw], ready: [label], setCursor: [cursor] },
    }, [xs, xs.map(function () { return null; })]);
    readout.textContent = 'hover for values';
    return plot;
  }

  function nodes(el, t, layout) {
    var ids = keysOf(function (s) { return s.nodeOps; });
    return chart(el, t, layout, 180, {
      scales: { y: { range: function (u, lo, hi) { return [0, Math.max(10, (hi || 0) * 1.12)]; } } },
      axes: [xAxis(t, true), yAxis(t, { values: function (u, v) { return v.map(compact); } })],
      series: [{ label: 'second', value: function (u, v) { return v == null ? '—' : v + ' s'; } }].concat(ids.map(function (id, i) {
        return { label: id, stroke: NODE_COLOURS[i % NODE_COLOURS.length], width: 1.75, points: { show: false }, value: function (u, v) { return whole(v); } };
      })),
    }, [xs].concat(ids.map(function (id) { return series.map(function (s) { return s.nodeOps[id] != null ? s.nodeOps[id] : null; }); })));
  }

  var charts = [];
  var builders = [['throughput', throughput], ['latency', latency], ['heatmap', heatmap], ['nodes', nodes]];
  function build() {
    charts.forEach(function (c) { c.destroy(); });
    charts = [];
    var t = theme();
    var markers = markerList(t);
    builders.forEach(function (b) {
      var el = document.querySelector('#' + b[0] + ' .plot');
      el.textContent = '';
      if (!series.length) { el.textContent = 'no per-second data in this report'; return; }
      try {
        var made = b[1](el, t, layoutMarkers(markers, el.clientWidth));
        if (made) charts.push(made);
      } catch (err) {
        el.innerHTML = '<p class="chart-error"></p>';
        el.firstChild.textContent = 'chart failed: ' + err.message;
        console.error(err);
      }
    });
    document.body.setAttribute('data-charts', 'ready');
  }

  var lastWidth = 0, timer = 0;
  new ResizeObserver(function (entries) {
    var w = Math.round(entries[0].contentRect.width);
    if (w === lastWidth) return;
    var first = lastWidth === 0;
    lastWidth = w;
    clearTimeout(timer);
    if (first) build(); else timer = setTimeout(build, 120);
  }).observe(document.getElementById('charts'));
  if (window.matchMedia) window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', build);
})();
`;
