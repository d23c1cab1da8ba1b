// @ts-check
/**
 * The dashboard's entry point: fetches what each panel shows, keeps it live
 * (GET /dashboard/summary every second, the /events stream for everything
 * else, the `heat` event appending the newest column), and wires the token
 * form and the Act panel.
 */
import { confirmThen, fillSelect, setupAct } from './act.js';
import { ApiError, followEvents, get, setToken, token } from './api.js';
import { byId } from './dom.js';
import { flatten, Heatmap } from './heatmap.js';
import {
  renderActions,
  renderHotspots,
  renderHurts,
  renderIncidents,
  renderMoves,
  renderRouting,
} from './panels.js';

/** Latest answers, each as the API gave it. */
const state = {
  /** @type {any[]} */ nodes: [],
  /** @type {any} */ shards: null,
  /** @type {any[]} */ incidents: [],
  /** @type {any[]} */ actions: [],
  /** @type {string[]} rows of the shard heat map, for the live column */ heatRows: [],
  metric: 'qps',
  seconds: 600,
  ksMetric: 'qps',
  /** Whether the first summary and heat map are drawn (the benchmark's "interactive"). */
  ready: { summary: false, heat: false },
};

const heat = new Heatmap(/** @type {HTMLCanvasElement} */ (byId('heat-canvas')), {
  tip: byId('heat-tip'),
  legend: byId('heat-legend'),
  height: (rows) => Math.max(140, Math.min(420, rows * 14 + 30)),
});
const keyspace = new Heatmap(/** @type {HTMLCanvasElement} */ (byId('ks-canvas')), {
  tip: byId('ks-tip'),
  legend: byId('ks-legend'),
  height: () => 220,
});

/** What failed, by the panel that asked: one panel's success must not hide another's error. */
const problems = new Map();

/** Shows the page's error line from what is failing now. @param {string} what @param {string | null} text */
function banner(what, text) {
  if (text === null) problems.delete(what);
  else problems.set(what, text);
  const el = byId('banner');
  el.hidden = problems.size === 0;
  el.textContent = [...problems.values()].join(' ');
}

/** Turns a failed request into a line a person can act on. @param {string} what @param {unknown} err */
function failed(what, err) {
  if (err instanceof ApiError && (err.status === 401 || err.status === 403))
    banner(what, `${what}: ${err.message}. Enter the read or admin token above (kept for this tab only).`);
  else if (err instanceof ApiError) banner(what, `${what}: ${err.status} ${err.code}: ${err.message}`);
  else banner(what, `${what}: hotshard does not answer (${String(err)}); retrying.`);
}

const hooks = { onKey: () => {}, onCancel: () => {}, onRevert: () => {} };

/** Actions and incidents as marks on the heat map's time axis. */
function marks() {
  const seen = new Set();
  /** @type {{ at: number, until?: number | null, kind: 'action' | 'incident', text: string }[]} */
  const out = [];
  for (const a of state.actions) {
    if (seen.has(a.id)) continue;
    seen.add(a.id);
    out.push({
      at: a.createdAt,
      kind: 'action',
      text: `${a.id} ${a.kind} ${a.subject?.name ?? ''} (${a.state})`,
    });
  }
  for (const i of state.incidents)
    out.push({ at: i.openedAt, until: i.resolvedAt, kind: 'incident', text: `${i.id} ${i.title}` });
  return out;
}

async function loadHeat() {
  try {
    const m = await get(`/heat?metric=${state.metric}&seconds=${state.seconds}`);
    const cols = m.values[0]?.length ?? Math.max(0, Math.round((m.to - m.from) / m.stepMs));
    state.heatRows = m.rows.map((/** @type {any} */ r) => r.id);
    heat.setData({
      rows: state.heatRows,
      rowDetail: m.rows.map((/** @type {any} */ r) => `${r.node}, ${r.status}`),
      cols,
      values: flatten(m.values, cols),
      from: m.from,
      stepMs: m.stepMs,
      max: m.scale.max,
      unit: m.unit,
      marks: marks(),
    });
    byId('heat-why').textContent = `colour scale 0 to ${m.scale.max} ${m.unit}: ${m.scale.why}`;
    state.ready.heat = true;
    banner('heat map', null);
    markReady();
  } catch (err) {
    failed('heat map', err);
  }
}

async function loadKeyspace() {
  try {
    const buckets = Math.max(16, Math.min(1024, Math.round(220 * (window.devicePixelRatio || 1))));
    const k = await get(`/heat/keyspace?metric=${state.ksMetric}&buckets=${buckets}&seconds=600`);
    const cols = k.values[0]?.length ?? Math.max(0, Math.round((k.to - k.from) / k.stepMs));
    keyspace.setData({
      rows: k.shardOfBucket.map((/** @type {string} */ _s, /** @type {number} */ b) => `bucket ${b}`),
      rowDetail: k.shardOfBucket.map((/** @type {string} */ s) => `shard ${s}`),
      cols,
      values: flatten(k.values, cols),
      from: k.from,
      stepMs: k.stepMs,
      max: k.scale.max,
      unit: state.ksMetric === 'qps' ? 'ops/s' : 'bytes/s',
      edges: k.edges.map((/** @type {any} */ e) => ({
        row: e.bucket,
        label: k.shardOfBucket[e.bucket] ?? e.label,
      })),
      marks: marks(),
    });
    banner('keyspace heat map', null);
    byId('ks-why').textContent =
      `${k.partitioner} partitioner, ${k.buckets} buckets; colour scale 0 to ${k.scale.max}: ${k.scale.why}`;
  } catch (err) {
    failed('keyspace heat map', err);
  }
}

async function loadSummary() {
  try {
    const s = await get('/dashboard/summary');
    renderHurts(s, state.nodes, hooks);
    renderMoves(s.moves ?? [], hooks);
    byId('mode').textContent = `automation: ${s.automation?.mode ?? '?'}`;
    state.ready.summary = true;
    banner('summary', null);
    markReady();
  } catch (err) {
    failed('summary', err);
  }
}

async function loadShards() {
  try {
    const [shards, nodes] = await Promise.all([get('/shards'), get('/nodes')]);
    state.shards = shards;
    state.nodes = nodes.nodes;
    renderRouting(shards);
    fillSelect(
      'shards',
      shards.shards.map((/** @type {any} */ s) => s.shard_id),
    );
    fillSelect(
      'nodes',
      state.nodes.map((n) => n.id),
    );
    banner('routing table', null);
  } catch (err) {
    failed('routing table', err);
  }
}

async function loadDoing() {
  try {
    const [hotspots, incidents, actions] = await Promise.all([
      get('/hotspots'),
      get('/incidents?limit=20'),
      get('/actions?limit=60'),
    ]);
    state.incidents = incidents.incidents;
    state.actions = actions.actions;
    const now = Date.now();
    renderHotspots(hotspots, now);
    renderIncidents(state.incidents, now);
    renderActions(state.actions, hooks);
    banner('incidents and actions', null);
    if (heat.data !== null) {
      heat.data.marks = marks();
      heat.draw();
    }
  } catch (err) {
    failed('incidents and actions', err);
  }
}

/** Runs `fn` at most once per `ms`, trailing, however often it is asked for. @param {() => Promise<void>} fn @param {number} ms */
function debounce(fn, ms) {
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  return () => {
    if (timer !== undefined) return;
    timer = setTimeout(() => {
      timer = undefined;
      void fn();
    }, ms);
  };
}
const soonDoing = debounce(loadDoing, 200);
const soonShards = debounce(loadShards, 200);
const soonHeat = debounce(loadHeat, 500);

/** @param {string} type @param {any} data */
function onEvent(type, data) {
  if (type === 'heat') {
    if (state.seconds !== 600) return;
    const metric = state.metric;
    heat.append(data.at, (r) => data.shards?.[state.heatRows[r] ?? '']?.[metric] ?? null);
    return;
  }
  if (type.startsWith('hotspot.') || type.startsWith('incident.') || type.startsWith('action.')) soonDoing();
  if (
    type.startsWith('shard.') ||
    type.startsWith('node.') ||
    type.startsWith('routing.') ||
    type.startsWith('action.')
  ) {
    soonShards();
    // A new or gone shard changes the heat map's rows.
    if (type.startsWith('shard.') || type === 'action.done') soonHeat();
  }
  if (type === 'automation.changed') byId('mode').textContent = `automation: ${data.mode ?? data.to ?? '?'}`;
}

/** @type {AbortController | null} */
let stream = null;
function connect() {
  stream?.abort();
  stream = new AbortController();
  const conn = byId('conn');
  void followEvents(
    onEvent,
    (s, detail) => {
      conn.textContent =
        s === 'live'
          ? '● live'
          : s === 'reconnecting'
            ? '○ reconnecting…'
            : `○ events refused (${detail}): enter a token`;
      conn.className = `conn ${s}`;
    },
    stream.signal,
  );
}

function markReady() {
  if (state.ready.summary && state.ready.heat && document.body.dataset.ready !== '1') {
    document.body.dataset.ready = '1';
    performance.mark('hotshard-ready');
  }
}

function refreshAll() {
  void loadSummary();
  void loadShards();
  void loadDoing();
  void loadHeat();
  void loadKeyspace();
}

function tokenState() {
  byId('token-state').textContent = token() === '' ? 'no token' : 'token set for this tab';
}

function wire() {
  const form = /** @type {HTMLFormElement} */ (byId('token-form'));
  const field = /** @type {HTMLInputElement} */ (byId('token'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    setToken(field.value.trim());
    field.value = '';
    tokenState();
    connect();
    refreshAll();
  });
  byId('token-forget').addEventListener('click', () => {
    setToken('');
    tokenState();
    connect();
    refreshAll();
  });
  const metric = /** @type {HTMLSelectElement} */ (byId('heat-metric'));
  metric.addEventListener('change', () => {
    state.metric = metric.value;
    void loadHeat();
  });
  const range = /** @type {HTMLSelectElement} */ (byId('heat-range'));
  range.addEventListener('change', () => {
    state.seconds = Number(range.value);
    void loadHeat();
  });
  const ks = /** @type {HTMLSelectElement} */ (byId('ks-metric'));
  ks.addEventListener('change', () => {
    state.ksMetric = ks.value;
    void loadKeyspace();
  });
  // Buttons inside panels that are redrawn every second: one delegated listener each.
  document.addEventListener('click', (e) => {
    const t = /** @type {HTMLElement} */ (e.target);
    const cancel = t.closest('[data-cancel]')?.getAttribute('data-cancel');
    const revert = t.closest('[data-revert]')?.getAttribute('data-revert');
    const key = t.closest('[data-key]')?.getAttribute('data-key');
    if (cancel) {
      confirmThen(
        {
          what: `Cancel ${cancel}: a move before its cutover goes back to exactly the old state; a pending action stops.`,
          method: 'POST',
          path: `/actions/${encodeURIComponent(cancel)}:cancel`,
          body: { reason: 'cancelled from the dashboard' },
        },
        refreshAll,
      );
    } else if (revert) {
      confirmThen(
        {
          what: `Revert ${revert}: its remedy is taken away and the subject is served as before.`,
          method: 'POST',
          path: `/actions/${encodeURIComponent(revert)}:revert`,
          body: { reason: 'reverted from the dashboard' },
        },
        refreshAll,
      );
    } else if (key) {
      const input = /** @type {HTMLInputElement} */ (byId('key-name'));
      input.value = key;
      input.focus();
    }
  });
  document.addEventListener('submit', (e) => {
    const f = /** @type {HTMLElement} */ (e.target);
    const id = f.getAttribute('data-throttle');
    if (!id) return;
    e.preventDefault();
    const v = /** @type {HTMLInputElement | null} */ (f.querySelector('input'))?.value.trim() ?? '';
    const maxKeysPerSec = v === '' ? null : Number(v);
    confirmThen(
      {
        what:
          maxKeysPerSec === null
            ? `Let ${id} copy without a limit.`
            : `Limit ${id}'s copy to ${maxKeysPerSec} keys/s.`,
        method: 'PATCH',
        path: `/actions/${encodeURIComponent(id)}`,
        body: { maxKeysPerSec, reason: 'throttled from the dashboard' },
      },
      refreshAll,
    );
  });
}

setupAct(refreshAll);
wire();
// Tells tests and the benchmark that the controls are wired (module scripts run after parsing).
document.documentElement.dataset.app = 'up';
tokenState();
connect();
refreshAll();
setInterval(() => void loadSummary(), 1000);
setInterval(() => void loadDoing(), 5000);
setInterval(() => void loadShards(), 5000);
setInterval(() => void loadKeyspace(), 10_000);
// The live column comes from /events; a full fetch now and then mends any gap.
setInterval(() => void loadHeat(), 60_000);
