// @ts-check
/**
 * The Act panel: split, move, merge, throttle, key policies, cancel, automation.
 *
 * No control sends anything at once. Submitting a form builds the exact
 * request (method, path, JSON body) and shows it with a sentence saying what
 * it will do; only "Send" sends it, with the admin token of this tab.
 */
import { ApiError, request } from './api.js';
import { byId, h } from './dom.js';

/**
 * A request the operator is about to send.
 * @typedef {{ what: string, method: string, path: string, body?: unknown, then?: (answer: any) => Promise<string | void> }} Planned
 */

/**
 * A key as the API writes it (`\xNN` for bytes outside printable ASCII, `\\`
 * for a backslash) turned into the percent-encoded bytes of a /policies/ path.
 *
 * @param {string} text
 */
export function keyPath(text) {
  /** @type {number[]} */
  const bytes = [];
  const enc = new TextEncoder();
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\\' && text[i + 1] === '\\') {
      bytes.push(0x5c);
      i++;
    } else if (c === '\\' && text[i + 1] === 'x' && /^[0-9a-fA-F]{2}$/.test(text.slice(i + 2, i + 4))) {
      bytes.push(parseInt(text.slice(i + 2, i + 4), 16));
      i += 3;
    } else {
      const cp = /** @type {number} */ (text.codePointAt(i));
      const s = String.fromCodePoint(cp);
      bytes.push(...enc.encode(s));
      i += s.length - 1;
    }
  }
  return bytes
    .map((b) =>
      /[A-Za-z0-9\-_.~:]/.test(String.fromCharCode(b))
        ? String.fromCharCode(b)
        : `%${b.toString(16).toUpperCase().padStart(2, '0')}`,
    )
    .join('');
}

/** @param {string} id @param {string} label @param {HTMLElement} control */
const field = (id, label, control) => {
  control.id = id;
  return h('div', { class: 'field' }, h('label', { for: id }, label), control);
};
const input = (/** @type {Record<string, string | number | boolean>} */ attrs = {}) => h('input', attrs);
const select = (/** @type {string} */ name) => h('select', { 'data-list': name });
const reasonField = (/** @type {string} */ form) =>
  field(`${form}-reason`, 'reason', input({ value: 'from the dashboard', maxlength: 300 }));

/** @param {string} id */
const val = (id) => /** @type {HTMLInputElement | HTMLSelectElement} */ (byId(id)).value.trim();

/**
 * Builds the forms; `refresh` is called after every request that was sent.
 * @param {() => void} refresh
 */
export function setupAct(refresh) {
  const forms = byId('act-forms');
  /** @type {[string, string, HTMLElement[], () => Planned][]} */
  const specs = [
    [
      'split',
      'Split a shard',
      [
        field('split-shard', 'shard', select('shards')),
        field('split-at', 'at (optional position)', input({ placeholder: 'middle' })),
        reasonField('split'),
      ],
      () => {
        const id = val('split-shard');
        const at = val('split-at');
        return {
          what: `Split ${id} ${at === '' ? 'in the middle of its range' : `at ${at}`}: both halves stay on its node, the right half gets a new id.`,
          method: 'POST',
          path: `/shards/${encodeURIComponent(id)}:split`,
          body: { ...(at === '' ? {} : { at }), reason: val('split-reason') },
        };
      },
    ],
    [
      'move',
      'Move a shard',
      [
        field('move-shard', 'shard', select('shards')),
        field('move-node', 'to node', select('nodes')),
        field(
          'move-rate',
          'max keys/s (optional)',
          input({ type: 'number', min: 1, step: 1, placeholder: 'unlimited' }),
        ),
        reasonField('move'),
      ],
      () => {
        const id = val('move-shard');
        const node = val('move-node');
        const rate = val('move-rate');
        const keysPerSec = rate === '' ? null : Number(rate);
        if (keysPerSec !== null && !(keysPerSec > 0))
          throw new Error('max keys/s must be a number above 0, or empty');
        return {
          what: `Move ${id} to ${node}, live${keysPerSec === null ? '' : `, copying at most ${keysPerSec} keys/s (then PATCH /actions/{id} {"maxKeysPerSec": ${keysPerSec}} as soon as the copy starts)`}. It can be cancelled until its cutover.`,
          method: 'POST',
          path: `/shards/${encodeURIComponent(id)}:move`,
          body: { node, reason: val('move-reason') },
          then: keysPerSec === null ? undefined : (answer) => throttleMove(answer.action.id, keysPerSec),
        };
      },
    ],
    [
      'merge',
      'Merge with the right-hand neighbour',
      [field('merge-shard', 'shard', select('shards')), reasonField('merge')],
      () => ({
        what: `Merge ${val('merge-shard')} with the shard after it (moved onto its node first when they are on different nodes).`,
        method: 'POST',
        path: `/shards/${encodeURIComponent(val('merge-shard'))}:merge`,
        body: { reason: val('merge-reason') },
      }),
    ],
    [
      'throttle',
      'Throttle a shard',
      [
        field('throttle-shard', 'shard', select('shards')),
        field('throttle-ops', 'ops/s (empty lifts it)', input({ type: 'number', min: 1, step: 1 })),
        reasonField('throttle'),
      ],
      () => {
        const ops = val('throttle-ops');
        const opsPerSec = ops === '' ? null : Number(ops);
        if (opsPerSec !== null && !(opsPerSec > 0))
          throw new Error('ops/s must be a number above 0, or empty to lift the limit');
        return {
          what:
            opsPerSec === null
              ? `Lift the throttle of ${val('throttle-shard')}.`
              : `Limit every keyed request to ${val('throttle-shard')} to ${opsPerSec} ops/s; more is refused with BUSY / HTTP 429.`,
          method: 'POST',
          path: `/shards/${encodeURIComponent(val('throttle-shard'))}:throttle`,
          body: { opsPerSec, reason: val('throttle-reason') },
        };
      },
    ],
    [
      'key',
      'Key policy',
      [
        field('key-name', 'key', input({ placeholder: 'user:42', spellcheck: false })),
        field('key-remedy', 'remedy', select('remedies')),
        field('key-count', 'replicas (replicate)', input({ type: 'number', min: 1, max: 16, value: 2 })),
        reasonField('key'),
      ],
      () => {
        const key = val('key-name');
        if (key === '') throw new Error('give a key');
        const remedy = val('key-remedy');
        const path = `/policies/${keyPath(key)}`;
        const reason = val('key-reason');
        if (remedy === 'uncache')
          return {
            what: `Remove every remedy from ${key}: it is served plainly again.`,
            method: 'DELETE',
            path: `${path}?reason=${encodeURIComponent(reason)}`,
          };
        if (remedy === 'replicate') {
          const count = Number(val('key-count'));
          return {
            what: `Replace ${key}'s policy with ${count} replicas (strong: never stale, writes go to every copy).`,
            method: 'PUT',
            path,
            body: { consistency: 'strong', replicas: { count }, reason },
          };
        }
        return {
          what: `Replace ${key}'s policy with a coherent cache + coalescing (a read never older than an acknowledged write).`,
          method: 'PUT',
          path,
          body: { cache: { maxStaleMs: 1000 }, coalesce: true, reason },
        };
      },
    ],
    [
      'cancel',
      'Cancel an action',
      [
        field('cancel-id', 'action id', input({ placeholder: 'a-12', spellcheck: false })),
        reasonField('cancel'),
      ],
      () => ({
        what: `Cancel ${val('cancel-id')}: a move before its cutover goes back to exactly the old state; a pending action stops.`,
        method: 'POST',
        path: `/actions/${encodeURIComponent(val('cancel-id'))}:cancel`,
        body: { reason: val('cancel-reason') },
      }),
    ],
    [
      'mode',
      'Automation mode',
      [field('mode-mode', 'mode', select('modes')), reasonField('mode')],
      () => ({
        what: `Set automation to ${val('mode-mode')} (auto: the planner acts; dry-run: it only recommends; manual: only operators act; frozen: nothing changes).`,
        method: 'POST',
        path: '/automation',
        body: { mode: val('mode-mode'), reason: val('mode-reason') },
      }),
    ],
  ];
  for (const [name, title, fields, plan] of specs) {
    const form = h(
      'form',
      { class: 'act', 'data-act': name },
      h('h3', {}, title),
      ...fields,
      h('button', { type: 'submit' }, `Review ${title.toLowerCase()}`),
    );
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      try {
        confirmThen(plan(), refresh);
      } catch (err) {
        result(`Not sent: ${err instanceof Error ? err.message : String(err)}`, true);
      }
    });
    forms.append(form);
  }
  fillSelect('modes', ['auto', 'dry-run', 'manual', 'frozen']);
  fillSelect('remedies', ['cache', 'uncache', 'replicate']);
}

/** Sets the options of every select bound to a list, keeping each one's choice. @param {string} list @param {string[]} values */
export function fillSelect(list, values) {
  for (const el of document.querySelectorAll(`select[data-list="${list}"]`)) {
    const s = /** @type {HTMLSelectElement} */ (el);
    const keep = s.value;
    if ([...s.options].map((o) => o.value).join('|') === values.join('|')) continue;
    s.replaceChildren(...values.map((v) => h('option', { value: v }, v)));
    if (values.includes(keep)) s.value = keep;
  }
}

/** @param {string} text @param {boolean} [bad] */
function result(text, bad = false) {
  const el = byId('act-result');
  el.textContent = text;
  el.className = bad ? 'bad' : 'ok';
}

/** @type {Planned | null} */
let pending = null;

/**
 * Shows what a request will do and the request itself; "Send" sends it.
 * @param {Planned} plan
 * @param {() => void} refresh
 */
export function confirmThen(plan, refresh) {
  pending = plan;
  byId('confirm-what').textContent = plan.what;
  byId('confirm-request').textContent =
    `${plan.method} ${plan.path}${plan.body === undefined ? '' : `\n${JSON.stringify(plan.body, null, 2)}`}`;
  const box = byId('confirm');
  box.hidden = false;
  const send = /** @type {HTMLButtonElement} */ (byId('confirm-send'));
  send.focus();
  send.onclick = async () => {
    const p = pending;
    if (p === null) return;
    pending = null;
    box.hidden = true;
    result(`Sending ${p.method} ${p.path}…`);
    try {
      const answer = await request(p.method, p.path, p.body);
      const extra = p.then ? await p.then(answer) : undefined;
      result(`Done: ${p.method} ${p.path} → ${summarize(answer)}${extra ? `; ${extra}` : ''}`);
    } catch (err) {
      result(
        err instanceof ApiError
          ? `Refused (${err.status} ${err.code}): ${err.message}`
          : `Failed: ${String(err)}`,
        true,
      );
    }
    refresh();
  };
  byId('confirm-cancel').onclick = () => {
    pending = null;
    box.hidden = true;
    result('Not sent.');
  };
}

/** A short line for an answer. @param {any} answer */
function summarize(answer) {
  if (answer?.action) return `action ${answer.action.id} ${answer.action.state}`;
  if (answer?.shards && answer?.version)
    return `table version ${answer.version}: ${answer.shards.map((/** @type {any} */ s) => s.id ?? s.shard_id ?? s).join(', ')}`;
  if (answer?.version) return `table version ${answer.version}`;
  if (answer?.mode) return `mode ${answer.mode}`;
  return 'ok';
}

/**
 * Sets a new move's copy limit. The executor starts the move on a later tick
 * and a move that is not running yet has no copy to limit (the PATCH would be
 * refused), so this first waits for it to run.
 *
 * @param {string} id
 * @param {number} keysPerSec
 */
async function throttleMove(id, keysPerSec) {
  const path = `/actions/${encodeURIComponent(id)}`;
  for (let i = 0; i < 200; i++) {
    const { action } = await request('GET', path);
    if (action.state === 'running') {
      await request('PATCH', path, { maxKeysPerSec: keysPerSec, reason: 'throttle set with the move' });
      return `copy limited to ${keysPerSec} keys/s`;
    }
    if (action.state !== 'pending') return `not throttled: the move is ${action.state}`;
    await new Promise((r) => setTimeout(r, 25));
  }
  return 'not throttled: the move did not start within 5 s';
}
