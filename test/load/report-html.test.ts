import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NOT_JUDGED, NOT_MEASURED, renderReportHtml } from '../../src/load/report-html.js';
import type { ScenarioReport } from '../../src/load/scenario-report.js';
import { hasBrowser, launchBrowser, watchPage } from '../../src/testkit/browser.js';

/** Fixtures built by fixtures/make-fixtures.ts: no detection yet, and detection plus two actions. */
const load = (name: string): ScenarioReport =>
  JSON.parse(readFileSync(new URL(`fixtures/${name}.json`, import.meta.url), 'utf8')) as ScenarioReport;
const unmitigated = load('celebrity-read');
const mitigated = load('celebrity-read-mitigated');

/** The bits of HTMLCanvasElement the browser test reads (the test tsconfig has no DOM lib). */
interface Canvas {
  readonly width: number;
  readonly height: number;
  getContext(
    kind: '2d',
  ): { getImageData(x: number, y: number, w: number, h: number): { data: ArrayLike<number> } } | null;
}

/** The text of the JSON data tag, parsed. */
function embedded(html: string): unknown {
  const match = /<script type="application\/json" id="report-data">([\s\S]*?)<\/script>/.exec(html);
  if (!match?.[1]) throw new Error('no report-data script tag');
  return JSON.parse(match[1]);
}

/** The markup of the element with this id, up to the next verdict tile or section end. */
function part(html: string, id: string): string {
  const start = html.indexOf(`id="${id}"`);
  if (start < 0) throw new Error(`no element #${id}`);
  const rest = html.slice(html.indexOf('>', start) + 1);
  const end = rest.search(/<div class="tile |<\/section>/);
  return rest.slice(0, end < 0 ? undefined : end);
}

/** Visible text of a markup fragment: tags dropped, whitespace collapsed. */
const text = (markup: string): string =>
  markup
    .replace(/<[^>]*>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();

/** The report with every per-second series' shard `from` renamed to `to`. */
function renameShard(r: ScenarioReport, from: string, to: string): ScenarioReport {
  const rename = (ops: Readonly<Record<string, number>>): Record<string, number> =>
    Object.fromEntries(Object.entries(ops).map(([k, v]) => [k === from ? to : k, v]));
  return {
    ...r,
    series: r.series.map((s) => ({ ...s, shardOps: rename(s.shardOps) })),
    after: { ...r.after, hottestShard: r.after.hottestShard === from ? to : r.after.hottestShard },
  };
}

describe('report html', () => {
  const html = renderReportHtml(unmitigated);

  it('report html - is one page that requests nothing: no external src, href, import or url()', () => {
    for (const page of [html, renderReportHtml(mitigated)]) {
      expect(page).not.toMatch(/\b(?:src|href|action|poster)\s*=\s*["']?\s*(?:https?:)?\/\//i);
      expect(page).not.toMatch(/<script[^>]*\ssrc=/i);
      expect(page).not.toMatch(/<link\b/i);
      expect(page).not.toMatch(/@import|url\(\s*["']?(?:https?:)?\/\//i);
      expect(page).toContain(`Content-Security-Policy" content="default-src 'none';`);
      // uPlot is inlined, not referenced.
      expect(page).toMatch(/var uPlot\s*=\s*function|uPlot=function|function uPlot\(/);
    }
  });

  it('report html - embeds the report as JSON that parses back to the identical report', () => {
    expect(embedded(html)).toEqual(unmitigated);
    expect(embedded(renderReportHtml(mitigated))).toEqual(mitigated);
  });

  it('report html - a shard name containing </script> or <!-- cannot break out of the data tag', () => {
    const hostile = '</script><script>alert(1)</script><!--';
    const r = renameShard(mitigated, 's6', hostile);
    const page = renderReportHtml(r);
    // Only the three real script elements close: data, uPlot, the page's own script.
    expect(page.match(/<\/script/gi)).toHaveLength(3);
    expect(page).not.toContain('<!--');
    expect(page).not.toContain('<script>alert(1)');
    expect(embedded(page)).toEqual(r);
    // Where the name shows as text (the imbalance table), it is escaped.
    expect(part(page, 'imbalance')).toContain('&lt;/script&gt;&lt;script&gt;alert(1)');
  });

  it('report html - text fields are escaped, not interpreted', () => {
    const page = renderReportHtml({
      ...unmitigated,
      scenario: 'evil<b>',
      description: '<img src=x onerror="alert(1)"> & friends',
    });
    expect(page).toContain('<h1>evil&lt;b&gt;</h1>');
    expect(page).toContain('&lt;img src=x onerror=&quot;alert(1)&quot;&gt; &amp; friends');
    expect(page).not.toContain('<img');
  });

  it('report html - header names scenario, description, backend, seed, duration and the skew window', () => {
    const header = text(html.slice(html.indexOf('<header'), html.indexOf('</header>')));
    expect(header).toContain('celebrity-read');
    expect(header).toContain('20 % of all reads');
    expect(header).toContain('backend memory');
    expect(header).toContain('seed 42');
    expect(header).toContain('duration 60 s');
    expect(header).toContain('skew 20 s → 50 s');
    expect(header).toContain('2025-06-14 09:30:00 UTC');
  });

  it('report html - null detection, restore time and actions render as "not measured yet", never as numbers', () => {
    for (const id of ['v-detection', 'v-restore']) {
      expect(text(part(html, id))).toMatch(new RegExp(`^\\S+ [\\w ]+ — ${NOT_MEASURED}$`));
    }
    expect(text(part(html, 'timeline'))).toContain(`detection and mitigation actions: ${NOT_MEASURED}`);
    expect(text(part(html, 'totals'))).toContain(`classification — ${NOT_MEASURED}`);
    const targets = text(part(html, 'targets'));
    expect(targets).toContain(`hot key detected after onset (ms) 1,000 — ${NOT_MEASURED}`);
    expect(targets).toContain(`p99 back under 10 ms after onset (s) 10 — ${NOT_MEASURED}`);
  });

  it('report html - verdict strip counts targets and shows failed requests and lost writes from the report', () => {
    expect(text(part(html, 'v-targets'))).toBe(`Targets 2 missed 1 met · 2 missed · 2 ${NOT_MEASURED}`);
    // errors include the shed requests; the note says how many of them were shed.
    const { errors, errorRate, ops, shed } = unmitigated.totals;
    expect(shed).toBeGreaterThan(0);
    const n = (x: number): string => x.toLocaleString('en-US');
    expect(text(part(html, 'v-failed'))).toBe(
      `Failed requests ${n(errors)} (${((errors / ops) * 100).toFixed(2)} %) ` +
        `${n(errors)} failed (${(errorRate * 100).toFixed(2)} %), ${n(shed)} of them shed with retry-after, of ${n(ops)} requests`,
    );
    expect(text(part(renderReportHtml(mitigated), 'v-failed'))).toBe(
      `Failed requests 0 (0.00 %) 0 failed (0.00 %), 0 of them shed with retry-after, of ${n(mitigated.totals.ops)} requests`,
    );
    const w = unmitigated.writes;
    expect(text(part(html, 'v-lost'))).toBe(
      `Acknowledged writes lost 0 of ${w.acknowledged.toLocaleString('en-US')} acknowledged, ${w.checked.toLocaleString('en-US')} read back`,
    );
    expect(html).toContain('<div class="tile bad" id="v-targets">');
  });

  it('report html - a measured target that is not judged yet shows its value and says "not judged", not "not measured yet"', () => {
    // The runner measures failed requests but judges them only once mitigation exists (met null).
    const report: ScenarioReport = {
      ...unmitigated,
      targets: unmitigated.targets.map((t) => (t.name === 'failed requests (%)' ? { ...t, met: null } : t)),
    };
    const page = renderReportHtml(report);
    const targets = text(part(page, 'targets'));
    expect(targets).toContain(`failed requests (%) 1 2.005 ${NOT_JUDGED}`);
    expect(targets).not.toContain(`failed requests (%) 1 2.005 ${NOT_MEASURED}`);
    expect(text(part(page, 'v-targets'))).toBe(
      `Targets 1 missed 1 met · 1 missed · 1 ${NOT_JUDGED} · 2 ${NOT_MEASURED}`,
    );
  });

  it('report html - a filled detection and actions show their values, on the timeline in order', () => {
    const page = renderReportHtml(mitigated);
    expect(text(part(page, 'v-targets'))).toBe('Targets 5 / 5 met 5 met · 0 missed');
    expect(text(part(page, 'v-detection'))).toBe(
      'Detection latency 800 ms hot-key · user:{celebrity}:profile · correct',
    );
    expect(text(part(page, 'v-restore'))).toBe('p99 restore time 2 s until p99 was back under its SLO');
    expect(page).not.toContain(NOT_MEASURED);
    const timeline = text(part(page, 'timeline'));
    const order = ['20 s onset', '20.8 s detected', '21.1 s coalesce', '23.4 s cache', '50 s skew ends'];
    const at = order.map((e) => timeline.indexOf(e));
    expect(at.every((i) => i >= 0)).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    expect(timeline).toContain('read-through cache overlay, ttl 250 ms, invalidated on write');
  });

  it('report html - a report without per-second data still renders its header and tables', () => {
    const page = renderReportHtml({ ...unmitigated, series: [] });
    expect(page).toContain('no per-shard data');
    expect(text(part(page, 'totals'))).toContain(
      `requests ${unmitigated.totals.ops.toLocaleString('en-US')}`,
    );
    expect(embedded(page)).toEqual({ ...unmitigated, series: [] });
  });

  it('report html - imbalance table shows before, after and which way it moved', () => {
    const table = text(part(html, 'imbalance'));
    expect(table).toContain('node max / mean 1.02 1.47 ▲ 1.4×');
    expect(table).toContain('hottest shard s11 s6');
    expect(text(part(html, 'errors'))).toMatch(/^Errors by kind kind count share timeout [\d,]+ 100\.0 %$/);
    expect(text(part(renderReportHtml(mitigated), 'errors'))).toContain('no errors');
  });
});

describe.skipIf(!hasBrowser('report page browser test'))('report html in chromium', () => {
  let browser: Browser | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'hotshard-report-'));

  beforeAll(async () => {
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
  });

  const cases = [
    { name: 'celebrity-read', report: unmitigated, scheme: 'light', markers: ['onset', 'skew ends'] },
    {
      name: 'celebrity-read-mitigated',
      report: mitigated,
      scheme: 'dark',
      markers: ['onset', 'detected', 'coalesce', 'cache', 'skew ends'],
    },
  ] as const;

  for (const c of cases) {
    it(`report html - ${c.name} renders offline in ${c.scheme} mode: charts, heat, markers, no errors or requests`, async () => {
      const file = join(dir, `${c.name}.html`);
      writeFileSync(file, renderReportHtml(c.report));
      const url = pathToFileURL(file).href;
      const page = await browser!.newPage({ viewport: { width: 1280, height: 900 }, colorScheme: c.scheme });
      const watch = watchPage(page);
      await page.goto(url);
      await page.waitForSelector('body[data-charts="ready"]', { timeout: 10_000 });

      expect(watch.errors).toEqual([]);
      expect(watch.failedRequests).toEqual([]);
      expect(watch.requests).toEqual([url]);

      // Four uPlot charts, each a canvas with a real size.
      const sizes = await page.$$eval('.uplot canvas', (cs) =>
        (cs as unknown as Canvas[]).map((c) => [c.width, c.height] as const),
      );
      expect(sizes).toHaveLength(4);
      for (const [w, h] of sizes) {
        expect(w).toBeGreaterThan(600);
        expect(h).toBeGreaterThan(100);
      }

      // The heat map painted cells: most of its plot area is opaque, in many shades.
      const heat = await page.$eval('#heatmap canvas', (element) => {
        const canvas = element as unknown as Canvas;
        const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
        const shades = new Set<number>();
        let opaque = 0;
        for (let i = 0; i < data.length; i += 4) {
          if (data[i + 3]! < 255) continue;
          opaque++;
          shades.add((data[i]! << 16) | (data[i + 1]! << 8) | data[i + 2]!);
        }
        return { opaque: opaque / (data.length / 4), shades: shades.size };
      });
      expect(heat.opaque).toBeGreaterThan(0.4);
      expect(heat.shades).toBeGreaterThan(20);
      await expect(page.locator('#hot-label').textContent()).resolves.toBe('◀ s6 hottest');

      // Every chart carries every marker, labelled.
      for (const id of ['throughput', 'latency', 'heatmap', 'nodes']) {
        const labels = await page.locator(`#${id} .marker-label`).allTextContents();
        expect(labels).toEqual(c.markers);
      }
      await expect(page.locator('.marker-label').first().isVisible()).resolves.toBe(true);

      // Hovering the heat map names the shard, the second and its load.
      const over = page.locator('#heatmap .u-over');
      const box = await over.boundingBox();
      await over.hover({ position: { x: box!.width * 0.6, y: box!.height * 0.4 } });
      await expect(page.locator('#heat-readout').textContent()).resolves.toMatch(
        /^s\d+ at \d+ s: [\d,]+ ops\/s$/,
      );

      const shot = join(dir, `${c.name}-${c.scheme}.png`);
      await page.screenshot({ path: shot, fullPage: true });
      console.log(`report screenshot: ${shot}`);
      expect(watch.errors).toEqual([]);
      await page.close();
    });
  }
});
