/**
 * The dashboard's accessibility (axe-core finds no serious or critical
 * violation, light and dark, with data in every panel and the confirm step
 * open), keyboard use of the heat map, and the token entered once for the tab.
 */
import { createRequire } from 'node:module';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLoad } from '../../src/load/generator.js';
import { hasBrowser, launchBrowser } from '../../src/testkit/browser.js';
import { startTestHotshard, type TestHotshard } from '../../src/testkit/hotshard.js';
import { ADMIN_TOKEN, openDashboard, screenshot, waitReady } from './page.js';

const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

interface Violation {
  id: string;
  impact: string;
  help: string;
  nodes: string[];
}

/** axe's serious and critical violations on the page as it is now. */
async function seriousViolations(page: Page): Promise<Violation[]> {
  return page.evaluate<Violation[]>(`axe
    .run(document, { resultTypes: ['violations'] })
    .then((r) => r.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map((n) => n.target.join(' ')) })))`);
}

describe.skipIf(!hasBrowser('dashboard accessibility tests'))(
  'dashboard - accessibility and the token',
  () => {
    let t: TestHotshard;
    let browser: Browser;
    const stopLoad = new AbortController();
    let load: Promise<unknown> = Promise.resolve();

    beforeAll(async () => {
      t = await startTestHotshard({ shards: 8, nodes: 2, adminToken: ADMIN_TOKEN });
      browser = await launchBrowser();
      // Enough traffic that every table has rows.
      load = runLoad({
        target: { kind: 'resp', host: '127.0.0.1', port: t.port, connections: 2 },
        workload: { keys: 1000, ops: { get: 80, set: 20 }, distribution: { kind: 'zipf', theta: 1.1 } },
        rate: 500,
        durationMs: 120_000,
        signal: stopLoad.signal,
      });
    }, 60_000);

    afterAll(async () => {
      stopLoad.abort();
      await load.catch(() => {});
      await browser?.close();
      await t?.stop();
    });

    it(
      'dashboard - axe finds no serious or critical violation, light and dark',
      { timeout: 90_000 },
      async () => {
        for (const colorScheme of ['light', 'dark'] as const) {
          const { page, watch } = await openDashboard(browser, t.httpPort, { colorScheme, bypassCSP: true });
          await waitReady(page);
          await page.locator('#top-keys tbody tr td button').first().waitFor({ timeout: 30_000 });
          // The confirm step is part of the page too.
          await page.click('form[data-act="split"] button[type="submit"]');
          await page.locator('#confirm').waitFor();
          await page.addScriptTag({ path: AXE });
          expect(await seriousViolations(page)).toEqual([]);
          // Readable on a laptop screen: nothing wider than the 1440 px viewport.
          expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(
            1440,
          );
          expect(watch.errors).toEqual([]);
          await screenshot(page, `dashboard-${colorScheme}`);
          await page.context().close();
        }
      },
    );

    it('dashboard - the heat map reads out a cell with the keyboard', { timeout: 60_000 }, async () => {
      const { page } = await openDashboard(browser, t.httpPort);
      await waitReady(page);
      await page.focus('#heat-canvas');
      await page.keyboard.press('ArrowLeft');
      await page.keyboard.press('ArrowDown');
      await page.keyboard.press('ArrowDown');
      // The cursor starts on the newest column of the first row; two down is the third shard.
      await expect
        .poll(() => page.locator('#heat-tip').textContent())
        .toMatch(/^s2 \(n0, active\) at \d\d:\d\d:\d\d: /);
      await page.context().close();
    });

    it(
      'dashboard - without a token the page says what to enter; entered once, it lasts for the tab',
      { timeout: 60_000 },
      async () => {
        const { page } = await openDashboard(browser, t.httpPort, { token: null });
        await expect
          .poll(() => page.locator('#banner').textContent(), { timeout: 15_000 })
          .toContain('token');
        expect(await page.locator('#token-state').textContent()).toBe('no token');
        await page.fill('#token', ADMIN_TOKEN);
        await page.click('#token-form button[type="submit"]');
        expect(await page.locator('#token').inputValue()).toBe('');
        await expect.poll(() => page.locator('#banner').isHidden(), { timeout: 15_000 }).toBe(true);
        await page.reload();
        await page.locator('html[data-app="up"]').waitFor({ state: 'attached' });
        expect(await page.locator('#token-state').textContent()).toBe('token set for this tab');
        await waitReady(page);
        // The token is never put in a URL.
        expect(page.url()).not.toContain(ADMIN_TOKEN);
        await page.context().close();
      },
    );
  },
);
