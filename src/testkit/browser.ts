/**
 * Drives the Debian `chromium` package with playwright-core for browser tests
 * (the scenario report page, the dashboard). playwright-core ships no browser;
 * we use the system one so CI installs it with apt like every other binary.
 */
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { requireBinary } from './binaries.js';

/**
 * Flags for a quiet, offline-friendly headless Chromium: no sandbox (CI
 * containers run as root), no GPU, and none of the background traffic
 * (component updates, sync, QUIC probes) that would show up as requests.
 */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
] as const;

const DEFAULT_CHROMIUM = '/usr/bin/chromium';

/** The `chromium` that `hasBrowser()` found on PATH, or the Debian location. */
export function chromiumPath(): string {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, 'chromium');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return DEFAULT_CHROMIUM;
}

/**
 * Whether browser tests can run: true when chromium is installed; otherwise
 * throws in CI (they must run there) or prints a skip notice and returns false.
 *
 * @example
 * describe.skipIf(!hasBrowser('report page browser test'))('report page', () => { ... });
 */
export function hasBrowser(what = 'browser tests'): boolean {
  return requireBinary('chromium', what);
}

/**
 * Launches headless Chromium. The caller closes it.
 *
 * @example
 * const browser = await launchBrowser();
 * try { const page = await browser.newPage(); ... } finally { await browser.close(); }
 */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath(), args: [...CHROMIUM_ARGS] });
}

/** What a page did that a test usually wants to be empty, collected as it happens. */
export interface PageWatch {
  /** `console.error` messages and uncaught exceptions. */
  readonly errors: string[];
  /** Requests that failed (network error, blocked by CSP, aborted). */
  readonly failedRequests: string[];
  /** Every URL the page requested, the document itself included. */
  readonly requests: string[];
}

/**
 * Starts recording a page's errors and requests; attach before `goto`.
 *
 * @example
 * const watch = watchPage(page);
 * await page.goto(url);
 * expect(watch.errors).toEqual([]);
 */
export function watchPage(page: Page): PageWatch {
  const watch: PageWatch = { errors: [], failedRequests: [], requests: [] };
  page.on('console', (msg) => {
    if (msg.type() === 'error') watch.errors.push(msg.text());
  });
  page.on('pageerror', (err) => watch.errors.push(`uncaught: ${err.message}`));
  page.on('request', (req) => watch.requests.push(req.url()));
  page.on('requestfailed', (req) =>
    watch.failedRequests.push(`${req.url()}: ${req.failure()?.errorText ?? 'failed'}`),
  );
  return watch;
}
