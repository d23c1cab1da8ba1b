// @ts-check
/**
 * Small DOM helpers. Everything the page shows from the API goes in as text
 * (textContent), never as markup: keys, shard ids and reasons are data.
 */

/**
 * Creates an element with attributes and children (strings become text nodes).
 *
 * @param {string} tag
 * @param {Record<string, string | number | boolean | undefined | null>} [attrs]
 * @param {...(Node | string | number | null | undefined | false)} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = String(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'object' ? c : String(c));
  }
  return el;
}

/** @param {string} id */
export function byId(id) {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`no element #${id}`);
  return el;
}

/**
 * A column of a table: its heading and how a row fills its cell.
 * @typedef {{ label: string, cell: (row: any) => Node | string | number | null, num?: boolean }} Column
 */

/**
 * Fills a table: a header once, then the body replaced in one go.
 *
 * @param {HTMLElement} el a <table>
 * @param {Column[]} columns
 * @param {any[]} rows
 * @param {string} [empty] shown when there are no rows
 * @param {(row: any) => string | undefined} [rowClass]
 */
export function fillTable(el, columns, rows, empty = 'nothing', rowClass) {
  const table = /** @type {HTMLTableElement} */ (el);
  if (table.tHead === null || table.dataset.cols !== columns.map((c) => c.label).join('|')) {
    table.replaceChildren(
      h(
        'thead',
        {},
        h('tr', {}, ...columns.map((c) => h('th', { scope: 'col', class: c.num ? 'num' : '' }, c.label))),
      ),
      h('tbody'),
    );
    table.dataset.cols = columns.map((c) => c.label).join('|');
  }
  const body = /** @type {HTMLTableSectionElement} */ (table.tBodies[0]);
  if (rows.length === 0) {
    body.replaceChildren(h('tr', {}, h('td', { colspan: columns.length, class: 'muted' }, empty)));
    return;
  }
  body.replaceChildren(
    ...rows.map((r) =>
      h(
        'tr',
        { class: rowClass?.(r) },
        ...columns.map((c) => h('td', { class: c.num ? 'num' : '' }, c.cell(r))),
      ),
    ),
  );
}

const compact = new Intl.NumberFormat('en', { maximumFractionDigits: 1, notation: 'compact' });
const fixed = new Intl.NumberFormat('en', { maximumFractionDigits: 2 });

/** A number for a table cell: compact above 10,000, '—' when unknown. @param {number | null | undefined} n */
export function num(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return '—';
  if (!Number.isFinite(n)) return '∞';
  return Math.abs(n) >= 10_000 ? compact.format(n) : fixed.format(n);
}

/** @param {number | null | undefined} share 0..1 */
export const pct = (share) => (share === null || share === undefined ? '—' : `${(share * 100).toFixed(1)} %`);

/** A value in a metric's unit. @param {number | null | undefined} v @param {string} unit */
export function withUnit(v, unit) {
  if (v === null || v === undefined) return 'no data';
  if (unit === 'ratio') return pct(v);
  return `${num(v)} ${unit}`;
}

/** Local wall-clock time of an epoch ms, to the second. @param {number} ms */
export const clock = (ms) => new Date(ms).toLocaleTimeString('en-GB', { hour12: false });

/** How long ago, coarse. @param {number} ms @param {number} now */
export function ago(ms, now) {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 90) return `${s} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  return `${(s / 3600).toFixed(1)} h ago`;
}
