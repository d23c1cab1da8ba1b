/**
 * The dashboard in headless Chromium: how long the heat map takes to redraw
 * with 1,024 shards × 600 columns (10 minutes at 1 s), next to a peer drawn in
 * the same page on the same data — the naive canvas heat map, one fillRect
 * per cell — and the 16 ms budget of a 60 Hz frame; how long the page takes
 * to become interactive on localhost (navigation to the first summary and
 * heat map drawn); and the gzipped size of every asset the page loads.
 *
 * A frame is the whole redraw (every cell, axes, marks), ended by reading
 * one pixel back so the canvas has really been painted before the clock stops.
 *
 *   npm run bench:dashboard -- [--frames 300] [--loads 5]
 *
 * Prints one JSON line, then a table. About 30 s. Needs /usr/bin/chromium.
 */
import * as hdr from 'hdr-histogram-js';
import { parseArgs } from 'node:util';
import { gzippedSize, loadAssets } from '../../src/dashboard/assets.js';
import { runLoad } from '../../src/load/generator.js';
import { hasBrowser, launchBrowser } from '../../src/testkit/browser.js';
import { startTestHotshard } from '../../src/testkit/hotshard.js';

const { values: args } = parseArgs({
  options: { frames: { type: 'string', default: '300' }, loads: { type: 'string', default: '5' } },
});
const FRAMES = Number(args.frames);
const NAIVE_FRAMES = Math.max(5, Math.round(FRAMES / 15));
const LOADS = Number(args.loads);
const ROWS = 1024;
const COLS = 600;
const TOKEN = 'bench-dashboard-token-0123';

if (!hasBrowser('the dashboard benchmark')) process.exit(0);

function stats(ms: number[]): { median: number; p99: number; max: number; n: number } {
  const h = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 60_000_000,
    numberOfSignificantValueDigits: 3,
  });
  for (const m of ms) h.recordValue(Math.max(1, Math.round(m * 1000)));
  const out = {
    median: h.getValueAtPercentile(50) / 1000,
    p99: h.getValueAtPercentile(99) / 1000,
    max: h.maxValue / 1000,
    n: ms.length,
  };
  h.destroy();
  return out;
}

/** Runs in the page: draws the synthetic map FRAMES times with heatmap.js, and NAIVE_FRAMES times cell by cell. */
const inPage = (rows: number, cols: number, frames: number, naiveFrames: number): string => `(async () => {
  const { Heatmap, colourTable } = await import('/ui/heatmap.js');
  const canvas = document.createElement('canvas');
  canvas.style.width = '1200px';
  document.body.prepend(canvas);
  const map = new Heatmap(canvas, { height: () => 420 });
  // Skewed like a real cluster: most shards quiet, a few hot, some without samples.
  let seed = 42;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296);
  const values = new Float32Array(${rows} * ${cols});
  for (let r = 0; r < ${rows}; r++)
    for (let c = 0; c < ${cols}; c++)
      values[r * ${cols} + c] = r % 97 === 0 && c < 30 ? NaN : 5000 * Math.pow(rand(), 6) * (r % 61 === 0 ? 1 : 0.2);
  const now = Date.now();
  const marks = Array.from({ length: 20 }, (_, i) => ({ at: now - i * 29_000, kind: i % 4 ? 'action' : 'incident', text: 'a-' + i }));
  map.setData({ rows: Array.from({ length: ${rows} }, (_, i) => 's' + i), cols: ${cols}, values, from: now - ${cols} * 1000, stepMs: 1000, max: 5000, unit: 'ops/s', marks });
  const ctx = canvas.getContext('2d', { willReadFrequently: false });
  const ours = [];
  for (let f = 0; f < ${frames}; f++) {
    // Each frame is a new second: the values change, as the live column makes them.
    values[(f % ${rows}) * ${cols} + (f % ${cols})] = 4000;
    const t0 = performance.now();
    map.draw();
    ctx.getImageData(0, 0, 1, 1);
    ours.push(performance.now() - t0);
  }
  // The peer: the same cells, one fillRect each, colour from the same table.
  const { css } = colourTable(['#fff8e1', '#ffeda0', '#fed976', '#feb24c', '#fd8d3c', '#fc4e2a', '#e31a1c', '#a50026']);
  const naive = [];
  const w = canvas.width, h = canvas.height, cw = w / ${cols}, rh = h / ${rows};
  for (let f = 0; f < ${naiveFrames}; f++) {
    const t0 = performance.now();
    ctx.clearRect(0, 0, w, h);
    for (let r = 0; r < ${rows}; r++)
      for (let c = 0; c < ${cols}; c++) {
        const v = values[r * ${cols} + c];
        ctx.fillStyle = v !== v ? '#d4d4d4' : css[Math.min(255, (v * 255 / 5000) | 0)];
        ctx.fillRect(c * cw, r * rh, cw + 0.5, rh + 0.5);
      }
    ctx.getImageData(0, 0, 1, 1);
    naive.push(performance.now() - t0);
  }
  canvas.remove();
  return { ours, naive, canvas: [w, h] };
})()`;

const t = await startTestHotshard({ shards: 16, nodes: 4, adminToken: TOKEN });
const stop = new AbortController();
const load = runLoad({
  target: { kind: 'resp', host: '127.0.0.1', port: t.port, connections: 2 },
  workload: { keys: 10_000, ops: { get: 90, set: 10 }, distribution: { kind: 'zipf', theta: 1.1 } },
  rate: 500,
  durationMs: 600_000,
  signal: stop.signal,
});
const browser = await launchBrowser();
try {
  // Interactive: from navigation start to the first summary and heat map drawn (performance mark).
  const interactive: number[] = [];
  for (let i = 0; i < LOADS; i++) {
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    const page = await context.newPage();
    await page.addInitScript(`sessionStorage.setItem('hotshard.token', ${JSON.stringify(TOKEN)})`);
    await page.goto(`http://127.0.0.1:${t.httpPort}/`);
    await page.locator('body[data-ready="1"]').waitFor({ state: 'attached', timeout: 30_000 });
    interactive.push(
      await page.evaluate<number>(`performance.getEntriesByName('hotshard-ready')[0].startTime`),
    );
    await context.close();
  }
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, deviceScaleFactor: 1 });
  const page = await context.newPage();
  await page.addInitScript(`sessionStorage.setItem('hotshard.token', ${JSON.stringify(TOKEN)})`);
  await page.goto(`http://127.0.0.1:${t.httpPort}/`);
  await page.locator('html[data-app="up"]').waitFor({ state: 'attached' });
  const drawn = await page.evaluate<{ ours: number[]; naive: number[]; canvas: [number, number] }>(
    inPage(ROWS, COLS, FRAMES, NAIVE_FRAMES),
  );
  await context.close();

  const assets = loadAssets();
  const result = {
    bench: 'dashboard',
    heatmap: {
      rows: ROWS,
      cols: COLS,
      canvas: drawn.canvas,
      ours: stats(drawn.ours),
      naiveFillRect: stats(drawn.naive),
      budgetMs: 16,
    },
    interactiveMs: stats(interactive),
    assets: {
      files: assets.size,
      gzippedBytes: gzippedSize(assets),
      rawBytes: [...assets.values()].reduce((n, a) => n + a.body.length, 0),
    },
  };
  console.log(JSON.stringify(result));
  const f = (n: number): string => n.toFixed(2).padStart(9);
  const h = result.heatmap;
  console.log(
    `\nheat map redraw, ${ROWS} shards × ${COLS} columns on a ${drawn.canvas.join('×')} canvas (ms per frame)`,
  );
  console.log(`${'draw'.padEnd(28)}${'median'.padStart(9)}${'p99'.padStart(9)}${'max'.padStart(9)}  frames`);
  console.log(
    `${'hotshard (pixel buffer)'.padEnd(28)}${f(h.ours.median)}${f(h.ours.p99)}${f(h.ours.max)}  ${h.ours.n}`,
  );
  console.log(
    `${'peer: fillRect per cell'.padEnd(28)}${f(h.naiveFillRect.median)}${f(h.naiveFillRect.p99)}${f(h.naiveFillRect.max)}  ${h.naiveFillRect.n}`,
  );
  console.log(`${'frame budget (60 Hz)'.padEnd(28)}${f(16)}`);
  console.log(
    `\ninteractive on localhost (navigation → first summary and heat map drawn): median ${result.interactiveMs.median.toFixed(0)} ms, max ${result.interactiveMs.max.toFixed(0)} ms over ${LOADS} loads`,
  );
  console.log(
    `assets: ${result.assets.files} files, ${(result.assets.gzippedBytes / 1024).toFixed(1)} KB gzipped (${(result.assets.rawBytes / 1024).toFixed(1)} KB raw)`,
  );
} finally {
  await browser.close();
  stop.abort();
  await load.catch(() => {});
  await t.stop();
}
