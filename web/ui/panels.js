// @ts-check
/**
 * The read-only panels: "where it hurts" (from GET /dashboard/summary and
 * GET /nodes) and "what is being done" (incidents, hotspots, moves, the
 * actions log, the routing table). Each render replaces its panel's content
 * from the latest answer; nothing here calls the API.
 */
import { ago, byId, clock, fillTable, h, num, pct } from './dom.js';

/** @typedef {{ onKey?: (key: string) => void, onCancel?: (id: string) => void, onRevert?: (id: string) => void, onThrottle?: (id: string, keysPerSec: number | null) => void }} Hooks */

/** @param {string | null | undefined} text @param {string} cls */
const pill = (text, cls) => (text ? h('span', { class: `pill ${cls}` }, text) : '—');

/**
 * Skew gauges: each measure as a meter against its threshold.
 * @param {{ name: string, value: number | null, threshold: number, over: boolean }[]} skew
 */
export function renderSkew(skew) {
  const el = byId('skew');
  el.replaceChildren(
    ...skew.map((s) => {
      const value = s.value ?? Infinity;
      // The scale runs to twice the threshold so "over" sits past the middle.
      const top = s.threshold * 2;
      return h(
        'div',
        { class: `gauge${s.over ? ' over' : ''}` },
        h('span', { class: 'gname' }, s.name),
        h('meter', {
          min: 0,
          max: top,
          high: s.threshold,
          optimum: 0,
          value: Math.min(Number.isFinite(value) ? value : top, top),
          'aria-label': `${s.name} ${num(value)}, threshold ${num(s.threshold)}`,
        }),
        h('span', { class: 'gval' }, `${num(value)} / ${num(s.threshold)}${s.over ? ' over' : ''}`),
      );
    }),
  );
}

/**
 * @param {any} summary GET /dashboard/summary
 * @param {any[]} nodes GET /nodes rows
 * @param {Hooks} hooks
 */
export function renderHurts(summary, nodes, hooks) {
  renderSkew(summary.skew ?? []);
  fillTable(
    byId('top-keys'),
    [
      {
        label: 'key',
        cell: (k) =>
          hooks.onKey
            ? h(
                'button',
                { type: 'button', class: 'link', title: 'act on this key', 'data-key': k.key },
                k.key,
              )
            : k.key,
      },
      { label: 'reads/s', cell: (k) => num(k.reads), num: true },
      { label: 'writes/s', cell: (k) => num(k.writes), num: true },
      { label: 'bytes/s', cell: (k) => num(k.bytes), num: true },
      { label: 'share', cell: (k) => pct(k.share), num: true },
      { label: 'policy', cell: (k) => pill(k.policy, 'ok') },
    ],
    summary.topKeys ?? [],
    'no traffic',
  );
  fillTable(
    byId('top-shards'),
    [
      { label: 'shard', cell: (s) => s.id },
      { label: 'node', cell: (s) => s.node },
      { label: 'ops/s', cell: (s) => num(s.qps), num: true },
      { label: 'p99 ms', cell: (s) => num(s.p99), num: true },
      { label: 'util.', cell: (s) => pct(s.utilization), num: true },
    ],
    summary.topShards ?? [],
    'no traffic',
    (s) => (s.utilization !== null && s.utilization >= 0.9 ? 'hot' : undefined),
  );
  const stats = new Map((summary.topNodes ?? []).map((/** @type {any} */ n) => [n.id, n]));
  fillTable(
    byId('top-nodes'),
    [
      { label: 'node', cell: (n) => n.id },
      { label: 'status', cell: (n) => pill(n.status, n.status === 'up' ? 'ok' : 'bad') },
      { label: 'ops/s', cell: (n) => num(stats.get(n.id)?.qps), num: true },
      { label: 'util.', cell: (n) => pct(stats.get(n.id)?.utilization), num: true },
      { label: 'latency ms', cell: (n) => num(n.latencyMs ?? stats.get(n.id)?.latencyMs), num: true },
      { label: 'shards', cell: (n) => n.shards, num: true },
    ],
    nodes,
    'no nodes',
    (n) => (n.status !== 'up' ? 'down' : undefined),
  );
  fillTable(
    byId('top-tenants'),
    [
      { label: 'tenant', cell: (t) => t.tenant },
      { label: 'ops/s', cell: (t) => num(t.qps), num: true },
      { label: 'share', cell: (t) => pct(t.share), num: true },
      { label: 'throttled', cell: (t) => (t.throttled ? pill('throttled', 'warn') : 'no') },
    ],
    summary.topTenants ?? [],
    'no traffic',
  );
}

/**
 * Incidents with their customer notice (the SLA downgrade), affected tenants, SLOs and actions.
 * @param {any[]} incidents GET /incidents
 * @param {number} now
 */
export function renderIncidents(incidents, now) {
  const el = byId('incidents');
  if (incidents.length === 0) {
    el.replaceChildren(h('p', { class: 'muted' }, 'No incidents.'));
    return;
  }
  el.replaceChildren(
    ...incidents
      .slice(0, 8)
      .map((i) =>
        h(
          'article',
          { class: `incident ${i.state === 'resolved' ? 'resolved' : i.severity}`, 'data-incident': i.id },
          h(
            'h4',
            {},
            pill(i.state, i.state === 'resolved' ? 'ok' : 'bad'),
            ' ',
            pill(i.severity, i.severity === 'critical' ? 'bad' : 'warn'),
            ` ${i.id}: ${i.title}`,
          ),
          h(
            'p',
            { class: 'muted' },
            `opened ${clock(i.openedAt)} (${ago(i.openedAt, now)})`,
            i.resolvedAt ? `, resolved ${clock(i.resolvedAt)}` : '',
          ),
          h('p', { class: 'notice' }, h('strong', {}, 'Customer notice: '), i.customerText),
          i.tenants?.length
            ? h(
                'p',
                {},
                h('strong', {}, 'Tenants: '),
                i.tenants.map((/** @type {any} */ t) => `${t.tenant} (${pct(t.share)})`).join(', '),
              )
            : null,
          i.slos?.length
            ? h(
                'p',
                {},
                h('strong', {}, 'SLOs: '),
                i.slos.map((/** @type {any} */ s) => `${s.objective}: ${s.status}`).join('; '),
              )
            : null,
          i.actions?.length
            ? h(
                'ul',
                { class: 'inc-actions' },
                ...i.actions.map((/** @type {any} */ a) =>
                  h(
                    'li',
                    {},
                    `${a.id} ${a.kind} ${a.subject}: ${a.state}, outcome `,
                    pill(a.outcome, outcomeClass(a.outcome)),
                  ),
                ),
              )
            : null,
          i.summary
            ? h(
                'p',
                { class: 'muted' },
                `detected in ${num(i.summary.detectionLatencyMs)} ms, restored in ${num(i.summary.timeToRestoreMs / 1000)} s, ${i.summary.failedRequests} failed requests`,
              )
            : null,
        ),
      ),
  );
}

/** @param {string} outcome */
function outcomeClass(outcome) {
  return outcome === 'effective'
    ? 'ok'
    : outcome === 'ineffective'
      ? 'bad'
      : outcome === 'pending'
        ? 'warn'
        : '';
}

/** @param {any} hotspots GET /hotspots @param {number} now */
export function renderHotspots(hotspots, now) {
  const active = new Set((hotspots.active ?? []).map((/** @type {any} */ x) => x.id));
  const list = [
    ...(hotspots.active ?? []),
    ...(hotspots.recent ?? []).filter((/** @type {any} */ x) => !active.has(x.id)),
  ];
  fillTable(
    byId('hotspots'),
    [
      { label: 'detected', cell: (x) => `${clock(x.detectedAt)} (${ago(x.detectedAt, now)})` },
      { label: 'kind', cell: (x) => `${x.kind} ${x.heat ?? ''}` },
      { label: 'subject', cell: (x) => x.subject },
      {
        label: 'severity',
        cell: (x) =>
          pill(x.severity, x.severity === 'info' ? '' : x.severity === 'critical' ? 'bad' : 'warn'),
      },
      {
        label: 'state',
        cell: (x) => (x.clearedAt ? `cleared ${clock(x.clearedAt)}` : pill('active', 'bad')),
      },
      { label: 'why', cell: (x) => x.summary },
    ],
    list.slice(0, 12),
    'No hotspots.',
  );
}

/**
 * The actions log, newest first: evidence (reason), predicted against measured, outcome, revert.
 * @param {any[]} actions GET /actions (the same id may come twice: the move and the executor record)
 * @param {Hooks} hooks
 */
export function renderActions(actions, hooks) {
  /** @type {Map<string, any>} */
  const byIdMap = new Map();
  for (const a of actions) byIdMap.set(a.id, { ...byIdMap.get(a.id), ...a });
  const rows = [...byIdMap.values()].sort((a, b) => b.createdAt - a.createdAt);
  fillTable(
    byId('actions'),
    [
      { label: 'id', cell: (a) => a.id },
      { label: 'at', cell: (a) => clock(a.createdAt) },
      { label: 'kind', cell: (a) => `${a.kind} by ${a.by}` },
      { label: 'subject', cell: (a) => `${a.subject?.type ?? ''} ${a.subject?.name ?? ''}` },
      { label: 'state', cell: (a) => a.state },
      { label: 'outcome', cell: (a) => pill(a.outcome ?? '—', outcomeClass(a.outcome)) },
      { label: 'predicted → measured', cell: (a) => h('span', { class: 'reason' }, prediction(a)) },
      {
        label: 'evidence',
        cell: (a) => h('span', { class: 'reason' }, a.reason ?? '', a.detail ? ` (${a.detail})` : ''),
      },
      {
        label: 'act',
        cell: (a) => {
          if ((a.state === 'running' || a.state === 'pending') && hooks.onCancel)
            return h('button', { type: 'button', 'data-cancel': a.id }, `Cancel ${a.id}`);
          if (
            a.state === 'done' &&
            a.outcome !== 'reverted' &&
            a.revertedAt == null &&
            hooks.onRevert &&
            !LONG.has(a.kind)
          )
            return h('button', { type: 'button', 'data-revert': a.id }, `Revert ${a.id}`);
          return '';
        },
      },
    ],
    rows.slice(0, 30),
    'No actions yet.',
  );
}

/** Long operations: cancelled, not reverted. */
const LONG = new Set(['move', 'merge', 'drain', 'split', 'add-node']);

/** @param {any} a */
function prediction(a) {
  const p = a.prediction;
  if (!p) return '—';
  const dir = p.direction === 'below' ? '≤' : p.direction === 'above' ? '≥' : '→';
  const m = a.measurement?.value;
  return `${p.metric}: ${num(p.before)} → ${dir} ${num(p.expected)}; measured ${m === undefined ? '…' : num(m)}`;
}

/**
 * Moves in progress with a progress bar, their copy throttle and cancel.
 * @param {any[]} moves summary.moves
 * @param {Hooks} hooks
 */
export function renderMoves(moves, hooks) {
  const el = byId('moves');
  if (moves.length === 0) {
    el.replaceChildren(h('p', { class: 'muted' }, 'No moves in progress.'));
    return;
  }
  // A focused throttle field keeps what the operator is typing: the panel is redrawn every second.
  const focused = document.activeElement instanceof HTMLInputElement ? document.activeElement.id : '';
  const typed = focused.startsWith('throttle-')
    ? /** @type {HTMLInputElement} */ (document.activeElement).value
    : null;
  el.replaceChildren(
    ...moves.map((m) => {
      const inputId = `throttle-${m.action}`;
      const form = h(
        'form',
        { class: 'inline', 'data-throttle': m.action },
        h('label', { for: inputId }, 'max keys/s'),
        h('input', {
          id: inputId,
          type: 'number',
          min: 1,
          step: 1,
          value: m.maxKeysPerSec ?? '',
          placeholder: 'unlimited',
        }),
        h('button', { type: 'submit' }, `Set throttle of ${m.action}`),
        h('button', { type: 'button', 'data-cancel': m.action }, `Cancel ${m.action}`),
      );
      return h(
        'div',
        { class: 'move', 'data-move': m.action },
        h('p', {}, `${m.action}: ${m.shard} ${m.source} → ${m.target}, ${m.phase}`),
        h('progress', {
          max: Math.max(1, m.keysTotal ?? 0),
          value: m.keysCopied ?? 0,
          'aria-label': `${m.action} copied ${m.keysCopied} of ${m.keysTotal ?? '?'} keys`,
        }),
        h(
          'p',
          { class: 'muted' },
          `${num(m.keysCopied)} / ${num(m.keysTotal)} keys, ${num(m.rate)} keys/s, ETA ${m.etaMs == null ? '—' : `${num(m.etaMs / 1000)} s`}, throttle ${m.maxKeysPerSec == null ? 'none' : `${num(m.maxKeysPerSec)} keys/s`}`,
        ),
        form,
      );
    }),
  );
  if (focused !== '') {
    const again = document.getElementById(focused);
    if (again instanceof HTMLInputElement) {
      if (typed !== null) again.value = typed;
      again.focus();
    }
  }
  void hooks;
}

/** The routing table: ranges, nodes, status. @param {any} shards GET /shards */
export function renderRouting(shards) {
  byId('table-version').textContent =
    `version ${shards.version}, ${shards.partitioner}, ${shards.shards.length} shards`;
  fillTable(
    byId('routing'),
    [
      { label: 'shard', cell: (s) => s.shard_id },
      { label: 'range start', cell: (s) => s.key_range[0] },
      { label: 'range end', cell: (s) => s.key_range[1] ?? 'end' },
      { label: 'node', cell: (s) => s.node },
      { label: 'status', cell: (s) => pill(s.status, s.status === 'active' ? 'ok' : 'warn') },
      { label: 'node status', cell: (s) => s.node_status },
      { label: 'capacity', cell: (s) => num(s.capacity), num: true },
      { label: 'throttle ops/s', cell: (s) => num(s.throttle_ops_per_sec), num: true },
    ],
    shards.shards,
    'no shards',
  );
}
