// @ts-check
/**
 * A canvas heat map of rows (shards, or keyspace buckets) × time columns.
 *
 * Colours are on an ABSOLUTE scale the server chooses (utilization 0..1,
 * p99 0..2×SLO, ...), never stretched to the view: a quiet cluster looks
 * quiet. TiDB's Key Visualizer users complain of exactly that.
 *
 * Drawing is one pass over the values into a 32-bit pixel buffer (one pixel
 * per cell, colours from a 256-entry table), one putImageData and one scaled
 * drawImage: 1,024 shards × 600 columns redraw in a few ms, where a
 * fillRect per cell takes hundreds (`npm run bench:dashboard` measures both).
 * When there are more rows or columns than device pixels, a pixel shows the
 * MAX of the cells it covers, so one hot shard among thousands never vanishes.
 */

/**
 * What a heat map draws.
 * @typedef {object} HeatData
 * @property {string[]} rows         label of each row
 * @property {string[]} [rowDetail]  extra text per row for the tooltip (e.g. its node)
 * @property {number} cols
 * @property {Float32Array} values  rows × cols, row-major; NaN = no sample
 * @property {number} from          epoch ms of column 0
 * @property {number} stepMs
 * @property {number} max           value drawn at full colour (min is 0)
 * @property {string} unit          'ops/s' | 'ms' | 'ratio' | 'bytes/s'
 * @property {{ at: number, until?: number | null, kind: 'action' | 'incident', text: string }[]} [marks]
 * @property {{ row: number, label: string }[]} [edges]  row ticks on the left (keyspace: where shards start)
 */

/** Colour stops of the light and dark scales (low → high). */
const STOPS = {
  light: ['#fff8e1', '#ffeda0', '#fed976', '#feb24c', '#fd8d3c', '#fc4e2a', '#e31a1c', '#a50026'],
  dark: ['#131a45', '#3b0f70', '#8c2981', '#de4968', '#fe9f6d', '#fcfdbf'],
};
const NONE = { light: '#d4d4d4', dark: '#3d3d3d' };

/** @param {string} hex */
function rgb(hex) {
  const n = parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

/** A little-endian RGBA pixel (ImageData's byte order) from r, g, b. */
const pixel = (/** @type {number[]} */ [r, g, b]) => ((255 << 24) | (b << 16) | (g << 8) | r) >>> 0;

/** 256 pixels interpolated between the stops. @param {string[]} stops */
export function colourTable(stops) {
  const lut = new Uint32Array(256);
  const css = new Array(256);
  for (let i = 0; i < 256; i++) {
    const t = (i / 255) * (stops.length - 1);
    const k = Math.min(stops.length - 2, Math.floor(t));
    const a = rgb(stops[k] ?? '#000000');
    const b = rgb(stops[k + 1] ?? '#000000');
    const f = t - k;
    const c = a.map((x, j) => Math.round(x + ((b[j] ?? 0) - x) * f));
    lut[i] = pixel(c);
    css[i] = `rgb(${c.join(',')})`;
  }
  return { lut, css };
}

/** Turns the API's `(number|null)[][]` into the flat buffer a heat map draws. @param {(number|null)[][]} values @param {number} cols */
export function flatten(values, cols) {
  const out = new Float32Array(values.length * cols).fill(NaN);
  values.forEach((row, r) => {
    for (let c = 0; c < cols; c++) {
      const v = row[c];
      if (v !== null && v !== undefined) out[r * cols + c] = v;
    }
  });
  return out;
}

const GUTTER = { left: 58, right: 6, top: 12, bottom: 18 };

export class Heatmap {
  /** @type {HeatData | null} */
  data = null;
  /** Keyboard cursor, in cells. */
  cursor = { row: 0, col: 0, on: false };
  #theme = /** @type {'light' | 'dark'} */ ('light');
  #lut = colourTable(STOPS.light);
  #none = pixel(rgb(NONE.light));
  /** @type {HTMLCanvasElement} */
  #off = document.createElement('canvas');
  /** @type {ImageData | null} */
  #image = null;
  /** @type {Float32Array} */
  #acc = new Float32Array(0);

  /**
   * @param {HTMLCanvasElement} canvas
   * @param {{ tip?: HTMLElement, legend?: HTMLElement, height?: (rows: number) => number, format?: (v: number) => string }} [opts]
   */
  constructor(canvas, opts = {}) {
    this.canvas = canvas;
    this.opts = opts;
    const dark = matchMedia('(prefers-color-scheme: dark)');
    this.setTheme(dark.matches ? 'dark' : 'light');
    dark.addEventListener('change', (e) => {
      this.setTheme(e.matches ? 'dark' : 'light');
      this.draw();
    });
    canvas.addEventListener('mousemove', (e) => this.#hover(e.offsetX, e.offsetY));
    canvas.addEventListener('mouseleave', () => this.#showTip(null));
    canvas.addEventListener('keydown', (e) => this.#key(e));
    canvas.addEventListener('blur', () => {
      this.cursor.on = false;
      this.#showTip(null);
      this.draw();
    });
    new ResizeObserver(() => this.draw()).observe(canvas);
  }

  /** @param {'light' | 'dark'} theme */
  setTheme(theme) {
    this.#theme = theme;
    this.#lut = colourTable(STOPS[theme]);
    this.#none = pixel(rgb(NONE[theme]));
    this.#renderLegend();
  }

  /** @param {HeatData} data */
  setData(data) {
    this.data = data;
    this.cursor.row = Math.min(this.cursor.row, Math.max(0, data.rows.length - 1));
    this.cursor.col = Math.min(this.cursor.col, Math.max(0, data.cols - 1));
    this.#renderLegend();
    this.draw();
  }

  /**
   * Adds the newest column (the SSE `heat` event) without fetching the whole map:
   * columns older than the window slide out on the left.
   *
   * @param {number} at epoch ms of the sample
   * @param {(row: number) => number | null} valueOf
   */
  append(at, valueOf) {
    const d = this.data;
    if (d === null) return;
    const col = Math.floor((at - d.from) / d.stepMs);
    if (col < 0) return;
    const shift = col - (d.cols - 1);
    if (shift > 0) {
      const { cols } = d;
      for (let r = 0; r < d.rows.length; r++) {
        const base = r * cols;
        if (shift >= cols) d.values.fill(NaN, base, base + cols);
        else {
          d.values.copyWithin(base, base + shift, base + cols);
          d.values.fill(NaN, base + cols - shift, base + cols);
        }
      }
      d.from += shift * d.stepMs;
    }
    const c = Math.min(col, d.cols - 1);
    for (let r = 0; r < d.rows.length; r++) {
      const v = valueOf(r);
      if (v !== null) d.values[r * d.cols + c] = v;
    }
    this.draw();
  }

  /** Plot rectangle in device pixels. */
  #plot() {
    const dpr = window.devicePixelRatio || 1;
    return {
      dpr,
      x: Math.round(GUTTER.left * dpr),
      y: Math.round(GUTTER.top * dpr),
      w: Math.max(1, this.canvas.width - Math.round((GUTTER.left + GUTTER.right) * dpr)),
      h: Math.max(1, this.canvas.height - Math.round((GUTTER.top + GUTTER.bottom) * dpr)),
    };
  }

  /** Sizes the canvas to its box and redraws everything. */
  draw() {
    const d = this.data;
    const canvas = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    const cssW = canvas.clientWidth || 600;
    const cssH = this.opts.height?.(d?.rows.length ?? 0) ?? 240;
    if (canvas.style.height !== `${cssH}px`) canvas.style.height = `${cssH}px`;
    const W = Math.round(cssW * dpr);
    const H = Math.round(cssH * dpr);
    if (canvas.width !== W || canvas.height !== H) {
      canvas.width = W;
      canvas.height = H;
    }
    const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d'));
    const style = getComputedStyle(canvas);
    const fg = style.color;
    ctx.clearRect(0, 0, W, H);
    const p = this.#plot();
    if (d === null || d.rows.length === 0 || d.cols === 0) {
      ctx.fillStyle = fg;
      ctx.font = `${12 * dpr}px system-ui, sans-serif`;
      ctx.fillText(d === null ? 'waiting for data…' : 'no shards', p.x, p.y + 16 * dpr);
      return;
    }
    this.#cells(ctx, p);
    this.#axes(ctx, p, fg, dpr);
    this.#marks(ctx, p, dpr);
    if (this.cursor.on) {
      const cw = p.w / d.cols;
      const rh = p.h / d.rows.length;
      ctx.strokeStyle = fg;
      ctx.lineWidth = 2 * dpr;
      ctx.strokeRect(
        p.x + this.cursor.col * cw - dpr,
        p.y + this.cursor.row * rh - dpr,
        Math.max(cw, 2 * dpr) + 2 * dpr,
        Math.max(rh, 2 * dpr) + 2 * dpr,
      );
    }
  }

  /**
   * The cells: max-downsampled into a pixel buffer of at most the plot's size,
   * then scaled onto the plot with smoothing off (crisp cell edges).
   *
   * @param {CanvasRenderingContext2D} ctx
   * @param {{ x: number, y: number, w: number, h: number }} p
   */
  #cells(ctx, p) {
    const d = /** @type {HeatData} */ (this.data);
    const rows = d.rows.length;
    const cols = d.cols;
    const tw = Math.min(cols, p.w);
    const th = Math.min(rows, p.h);
    if (this.#image === null || this.#image.width !== tw || this.#image.height !== th) {
      this.#image = new ImageData(tw, th);
      this.#acc = new Float32Array(tw * th);
      this.#off.width = tw;
      this.#off.height = th;
    }
    // -1 stands for "no sample" (values are never negative): NaN loses every `>`, so
    // one comparison both keeps the max and lets any number beat "no sample".
    const acc = this.#acc;
    const vals = d.values;
    acc.fill(-1);
    if (tw === cols && th === rows) {
      for (let i = 0; i < rows * cols; i++) {
        const v = vals[i];
        if (v >= 0) acc[i] = v;
      }
    } else {
      const xOf = new Int32Array(cols);
      for (let c = 0; c < cols; c++) xOf[c] = Math.floor((c * tw) / cols);
      for (let r = 0; r < rows; r++) {
        const base = Math.floor((r * th) / rows) * tw;
        const src = r * cols;
        for (let c = 0; c < cols; c++) {
          const v = vals[src + c];
          const i = base + xOf[c];
          if (v > acc[i]) acc[i] = v;
        }
      }
    }
    const px = new Uint32Array(this.#image.data.buffer);
    const lut = this.#lut.lut;
    const none = this.#none;
    const k = d.max > 0 ? 255 / d.max : 0;
    for (let i = 0; i < px.length; i++) {
      const v = acc[i];
      if (v < 0) px[i] = none;
      else {
        const j = (v * k) | 0;
        px[i] = lut[j > 255 ? 255 : j];
      }
    }
    const off = /** @type {CanvasRenderingContext2D} */ (this.#off.getContext('2d'));
    off.putImageData(this.#image, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(this.#off, p.x, p.y, p.w, p.h);
  }

  /**
   * Row labels (or the keyspace's shard edges) on the left, times below.
   *
   * @param {CanvasRenderingContext2D} ctx
   * @param {{ x: number, y: number, w: number, h: number }} p
   * @param {string} fg
   * @param {number} dpr
   */
  #axes(ctx, p, fg, dpr) {
    const d = /** @type {HeatData} */ (this.data);
    const rows = d.rows.length;
    const rh = p.h / rows;
    ctx.fillStyle = fg;
    ctx.strokeStyle = fg;
    ctx.font = `${10 * dpr}px system-ui, sans-serif`;
    ctx.textBaseline = 'middle';
    ctx.textAlign = 'right';
    const minGap = 11 * dpr;
    if (d.edges !== undefined) {
      let last = -Infinity;
      for (const e of d.edges) {
        const y = p.y + e.row * rh;
        ctx.fillRect(p.x - 4 * dpr, y, 4 * dpr, Math.max(1, dpr));
        if (y - last >= minGap) {
          ctx.fillText(e.label, p.x - 6 * dpr, Math.min(y + 5 * dpr, p.y + p.h - 4 * dpr));
          last = y;
        }
      }
    } else {
      const every = Math.max(1, Math.ceil(minGap / rh));
      for (let r = 0; r < rows; r += every)
        ctx.fillText(d.rows[r] ?? '', p.x - 4 * dpr, p.y + (r + 0.5) * rh);
    }
    // Times: about one label per 90 css px, on round steps.
    const span = d.cols * d.stepMs;
    const want = Math.max(2, Math.floor(p.w / (90 * dpr)));
    const steps = [1, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600].map(
      (s) => s * 1000,
    );
    const step = steps.find((s) => span / s <= want) ?? 43_200_000;
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    for (let t = Math.ceil(d.from / step) * step; t <= d.from + span; t += step) {
      const x = p.x + ((t - d.from) / span) * p.w;
      ctx.fillRect(x, p.y + p.h, Math.max(1, dpr), 3 * dpr);
      const label = new Date(t).toLocaleTimeString('en-GB', {
        hour12: false,
        ...(step < 60_000 ? {} : { second: undefined }),
      });
      ctx.fillText(step < 60_000 ? label : label.slice(0, 5), x, p.y + p.h + 4 * dpr);
    }
  }

  /**
   * Actions (◆) and incidents (a bar from opening to resolution) on the time axis.
   *
   * @param {CanvasRenderingContext2D} ctx
   * @param {{ x: number, y: number, w: number, h: number }} p
   * @param {number} dpr
   */
  #marks(ctx, p, dpr) {
    const d = /** @type {HeatData} */ (this.data);
    const span = d.cols * d.stepMs;
    const xOf = (/** @type {number} */ t) => p.x + ((t - d.from) / span) * p.w;
    const dark = this.#theme === 'dark';
    for (const m of d.marks ?? []) {
      const x0 = xOf(m.at);
      if (m.kind === 'incident') {
        const x1 = m.until === null || m.until === undefined ? p.x + p.w : xOf(m.until);
        if (x1 < p.x || x0 > p.x + p.w) continue;
        ctx.fillStyle = dark ? '#ff6b6b' : '#c00000';
        ctx.fillRect(
          Math.max(p.x, x0),
          2 * dpr,
          Math.max(2 * dpr, Math.min(x1, p.x + p.w) - Math.max(p.x, x0)),
          4 * dpr,
        );
      } else {
        if (x0 < p.x || x0 > p.x + p.w) continue;
        ctx.fillStyle = dark ? '#7cc4ff' : '#0050b3';
        ctx.fillRect(x0, p.y, Math.max(1, dpr), p.h);
        ctx.beginPath();
        ctx.moveTo(x0, 2 * dpr);
        ctx.lineTo(x0 + 4 * dpr, 6 * dpr);
        ctx.lineTo(x0, 10 * dpr);
        ctx.lineTo(x0 - 4 * dpr, 6 * dpr);
        ctx.fill();
      }
    }
  }

  /** The cell under a point in css pixels, or null. @param {number} x @param {number} y */
  cellAt(x, y) {
    const d = this.data;
    if (d === null) return null;
    const p = this.#plot();
    const px = (x * p.dpr - p.x) / p.w;
    const py = (y * p.dpr - p.y) / p.h;
    if (px < 0 || px >= 1 || py < 0 || py >= 1) return null;
    return { row: Math.floor(py * d.rows.length), col: Math.floor(px * d.cols) };
  }

  /** What a cell says, as one line of text. @param {number} row @param {number} col */
  describe(row, col) {
    const d = this.data;
    if (d === null) return '';
    const v = d.values[row * d.cols + col];
    const t0 = d.from + col * d.stepMs;
    const when = new Date(t0).toLocaleTimeString('en-GB', { hour12: false });
    const value = v === undefined || Number.isNaN(v) ? 'no data' : this.#format(v);
    const near = (d.marks ?? [])
      .filter((m) => m.at >= t0 - d.stepMs && m.at < t0 + 2 * d.stepMs)
      .map((m) => `${m.kind === 'action' ? '◆' : '▲'} ${m.text}`);
    const detail = d.rowDetail?.[row];
    return [`${d.rows[row]}${detail ? ` (${detail})` : ''} at ${when}: ${value}`, ...near].join(' · ');
  }

  /** @param {number} v */
  #format(v) {
    if (this.opts.format) return this.opts.format(v);
    const unit = this.data?.unit ?? '';
    if (unit === 'ratio') return `${(v * 100).toFixed(1)} %`;
    return `${v >= 100 ? Math.round(v).toLocaleString('en') : v.toFixed(2)} ${unit}`;
  }

  /** @param {number} x @param {number} y */
  #hover(x, y) {
    const cell = this.cellAt(x, y);
    this.#showTip(cell === null ? null : this.describe(cell.row, cell.col), x, y);
  }

  /** @param {string | null} text @param {number} [x] @param {number} [y] */
  #showTip(text, x = 0, y = 0) {
    const tip = this.opts.tip;
    if (tip === undefined) return;
    if (text === null) {
      tip.textContent = '';
      tip.hidden = true;
      return;
    }
    tip.textContent = text;
    tip.hidden = false;
    const left = Math.min(x + 14, this.canvas.clientWidth - 260);
    tip.style.left = `${Math.max(0, left)}px`;
    tip.style.top = `${y + 14}px`;
  }

  /** Arrow keys move a cursor cell; its numbers are read out in the tooltip. @param {KeyboardEvent} e */
  #key(e) {
    const d = this.data;
    if (d === null || d.rows.length === 0) return;
    const c = this.cursor;
    const moves = /** @type {Record<string, () => void>} */ ({
      ArrowUp: () => (c.row = Math.max(0, c.row - 1)),
      ArrowDown: () => (c.row = Math.min(d.rows.length - 1, c.row + 1)),
      ArrowLeft: () => (c.col = Math.max(0, c.col - 1)),
      ArrowRight: () => (c.col = Math.min(d.cols - 1, c.col + 1)),
      Home: () => (c.col = 0),
      End: () => (c.col = d.cols - 1),
    });
    const move = moves[e.key];
    if (move === undefined) return;
    e.preventDefault();
    if (!c.on) {
      c.on = true;
      c.col = d.cols - 1;
    } else move();
    this.draw();
    const p = this.#plot();
    this.#showTip(
      this.describe(c.row, c.col),
      (p.x + ((c.col + 1) / d.cols) * p.w) / p.dpr,
      (p.y + ((c.row + 1) / d.rows.length) * p.h) / p.dpr,
    );
  }

  /** The colour bar: the absolute scale from 0 to max, in the unit. */
  #renderLegend() {
    const el = this.opts.legend;
    if (el === undefined) return;
    const d = this.data;
    const bar = document.createElement('span');
    bar.className = 'bar';
    const css = this.#lut.css;
    bar.style.background = `linear-gradient(to right, ${[0, 64, 128, 192, 255].map((i) => css[i]).join(', ')})`;
    const none = document.createElement('span');
    none.className = 'swatch';
    none.style.background = NONE[this.#theme];
    el.replaceChildren('0 ', bar, ` ${d === null ? '' : `≥ ${this.#format(d.max)}`}  `, none, ' no data');
  }
}
