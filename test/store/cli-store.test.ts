/**
 * `hotshard start` with a store it cannot use: exits 1 at once with one
 * clear line (never a hang): a bad URL, a server that refuses, a data
 * directory that cannot be made.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;

/** Runs the CLI to its exit (killed after 20 s: a hang is a failure, reported as such). */
function run(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const hang = setTimeout(() => {
      output += '\n(still running after 20 s: killed)';
      child.kill('SIGKILL');
    }, 20_000);
    child.on('exit', (code) => {
      clearTimeout(hang);
      resolve({ code, output });
    });
  });
}

describe('cli start - config store', () => {
  it('cli start - a store URL that is not postgres exits 1 naming --store', async () => {
    const r = await run(['start', '--store', 'mysql://db/hotshard', '--resp-port', '0', '--http-port', '0']);
    expect(r.code).toBe(1);
    expect(r.output).toMatch(
      /store \(from the command line\): "mysql:\/\/db\/hotshard" is not a PostgreSQL URL/,
    );
  });

  it('cli start - an unreachable PostgreSQL store exits 1 with the URL, password masked', async () => {
    const r = await run([
      'start',
      '--store',
      'postgres://postgres:hunter2@127.0.0.1:1/hotshard',
      '--resp-port',
      '0',
      '--http-port',
      '0',
    ]);
    expect(r.code).toBe(1);
    expect(r.output).toMatch(
      /hotshard: cannot reach the PostgreSQL config store at postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:1\/hotshard/,
    );
    expect(r.output).not.toContain('hunter2');
  });

  it('cli start - a data directory that cannot hold the store exits 1 naming it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hs-cli-store-'));
    try {
      // Under a regular file: no directory can be made there.
      const file = join(dir, 'a-file');
      writeFileSync(file, 'x');
      const dataDir = join(file, 'data');
      const r = await run(['start', '--data-dir', dataDir, '--resp-port', '0', '--http-port', '0']);
      expect(r.code).toBe(1);
      expect(r.output).toContain(dataDir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
