/**
 * .ci/run's closing line, read from real vitest runs of deliberately failing
 * suites (test/ci/fixtures): any failure, in a test or not, counts as failed.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = new URL('../..', import.meta.url).pathname;
const FIXTURES = new URL('fixtures/', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'hotshard-ci-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs vitest on the fixtures matching `pattern`, then .ci/summary.js on its report and exit status. */
function summary(pattern: string): { status: number | null; line: string } {
  const report = join(dir, `${pattern.replace(/\W/g, '_')}.json`);
  const vitest = spawnSync(
    process.execPath,
    [join(ROOT, 'node_modules/vitest/vitest.mjs'), 'run', '--root', FIXTURES],
    { cwd: FIXTURES, env: { ...process.env, FIXTURES: pattern, REPORT: report }, encoding: 'utf8' },
  );
  const out = spawnSync(process.execPath, [join(ROOT, '.ci/summary.js'), report, String(vitest.status)], {
    encoding: 'utf8',
  });
  expect(out.status).toBe(0);
  return { status: vitest.status, line: out.stdout.trim().split('\n').at(-1)! };
}

describe('ci summary', () => {
  it('ci summary - passing suites: all passed', () => {
    expect(summary('passes.fixture.ts')).toEqual({ status: 0, line: '1 passed, 0 failed, 0 skipped' });
  });

  it('ci summary - a suite failed in beforeAll and one that fails to load count as failed', () => {
    expect(summary('{passes,hook,import}.fixture.ts')).toEqual({
      status: 1,
      line: '1 passed, 2 failed, 2 skipped',
    });
  });

  it('ci summary - an unhandled error with every test passed counts as failed', () => {
    const { status, line } = summary('{passes,unhandled}.fixture.ts');
    expect(status).toBe(1);
    expect(line).toBe('2 passed, 1 failed, 0 skipped');
  });
});
