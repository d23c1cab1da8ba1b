/**
 * What the dashboard's browser tests share: opening the page with the admin
 * token already entered for the tab, watching every response for failures,
 * reading the heat map's pixels, and saving screenshots as artifacts.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { watchPage, type PageWatch } from '../../src/testkit/browser.js';

/** Where screenshots go (gitignored; CI keeps .ci-report/). */
export const SCREENSHOTS = join(process.cwd(), '.ci-report', 'screenshots');

export const ADMIN_TOKEN = 'dashboard-admin-token-0123';

/** A page and everything it did wrong so far. */
export interface Opened {
  readonly page: Page;
  readonly watch: PageWatch;
  /** Responses with a status of 400 or more (a refused request is not a network failure). */
  readonly badResponses: string[];
}

/**
 * Opens the dashboard on a laptop-sized viewport with the token set for the
 * tab, as the token form leaves it (sessionStorage), and waits until its
 * controls are wired.
 */
export async function openDashboard(
  browser: Browser,
  httpPort: number,
  options: { token?: string | null; colorScheme?: 'light' | 'dark'; bypassCSP?: boolean } = {},
): Promise<Opened> {
  const context = await browser.newContext({
    viewport: { width: 1440, height: 900 },
    colorScheme: options.colorScheme ?? 'light',
    bypassCSP: options.bypassCSP ?? false,
  });
  const page = await context.newPage();
  const token = options.token === undefined ? ADMIN_TOKEN : options.token;
  if (token !== null)
    await page.addInitScript(`sessionStorage.setItem('hotshard.token', ${JSON.stringify(token)})`);
  const watch = watchPage(page);
  const badResponses: string[] = [];
  page.on('response', (r) => {
    if (r.status() >= 400) badResponses.push(`${r.status()} ${r.request().method()} ${r.url()}`);
  });
  await page.goto(`http://127.0.0.1:${httpPort}/`);
  await page.locator('html[data-app="up"]').waitFor({ state: 'attached' });
  return { page, watch, badResponses };
}

/**
 * Waits until the page has drawn its first summary and heat map. (Locators,
 * not waitForFunction: a polled string predicate is eval'd in the page, which
 * the page's CSP forbids.)
 */
export async function waitReady(page: Page): Promise<void> {
  await page.locator('body[data-ready="1"]').waitFor({ state: 'attached', timeout: 30_000 });
}

/** Saves a full-page screenshot under SCREENSHOTS. */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** Geometry of the heat map canvas, as heatmap.js lays it out (gutters in css px). */
const GUTTER = { left: 58, right: 6, top: 12, bottom: 18 };

/**
 * How far from `base` (the colour of 0) each row of the shard heat map is
 * drawn over its newest three columns (the newest may still be filling):
 * the largest colour distance per row.
 */
export async function heatRowDistances(page: Page, rows: number, base: readonly number[]): Promise<number[]> {
  // Browser-side code is passed as text: the test tsconfig has no DOM types.
  return page.evaluate<number[]>(`(() => {
    const g = ${JSON.stringify(GUTTER)};
    const base = ${JSON.stringify(base)};
    const rows = ${rows};
    const canvas = document.getElementById('heat-canvas');
    const ctx = canvas.getContext('2d');
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.width - (g.left + g.right) * dpr;
    const h = canvas.height - (g.top + g.bottom) * dpr;
    const col = w / 600;
    const out = [];
    for (let r = 0; r < rows; r++) {
      const y = Math.floor(g.top * dpr + (r + 0.5) * (h / rows));
      let best = 0;
      for (let k = 0; k < 3; k++) {
        const x = Math.floor(g.left * dpr + w - (k + 0.5) * col);
        const d = ctx.getImageData(x, y, 1, 1).data;
        best = Math.max(best, Math.hypot(d[0] - base[0], d[1] - base[1], d[2] - base[2]));
      }
      out.push(best);
    }
    return out;
  })()`);
}
