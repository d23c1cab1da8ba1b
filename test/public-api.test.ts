/**
 * The package as a user gets it: `import 'hotshard'` resolves through the
 * "exports" map to the built dist/, starts and stops a server, type-checks
 * under nodenext resolution, and keeps the testkit and other internals out.
 * Runs against the built package (`npm test` builds it first).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitForOutput } from './cli/wait-for-output.js';

const ROOT = new URL('..', import.meta.url).pathname;
const BUILT = existsSync(join(ROOT, 'dist/cli/main.js'));
if (!BUILT) console.warn('public API tests skipped: no dist/ (run `npm run build`)');

/** A project with hotshard installed as a dependency (a symlink, as `npm link` or a workspace makes). */
let project: string;
beforeAll(() => {
  project = mkdtempSync(join(tmpdir(), 'hs-user-'));
  mkdirSync(join(project, 'node_modules'));
  symlinkSync(ROOT, join(project, 'node_modules', 'hotshard'), 'dir');
  writeFileSync(
    join(project, 'package.json'),
    JSON.stringify({ name: 'user', type: 'module', private: true }),
  );
});
afterAll(() => rmSync(project, { recursive: true, force: true }));

describe.skipIf(!BUILT)('public API', () => {
  it('public API - import "hotshard" starts a server, serves RESP and HTTP, and closes it', async () => {
    writeFileSync(
      join(project, 'serve.js'),
      `import * as api from 'hotshard';
const hs = await api.startHotshard(api.loadConfig({ flags: { respPort: 0, httpPort: 0, logLevel: 'silent' } }));
console.log(JSON.stringify({ names: Object.keys(api).sort(), version: api.VERSION, resp: hs.respPort, http: hs.httpPort }));
process.stdin.once('data', async () => { await hs.close(); console.log('closed'); });
`,
    );
    const child = spawn(process.execPath, ['serve.js'], { cwd: project, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise((resolve) => child.on('exit', resolve));
    try {
      await waitForOutput({ child, output: () => out }, /"resp":\d+/);
      const started = JSON.parse(out.trim()) as {
        names: string[];
        version: string;
        resp: number;
        http: number;
      };
      expect(started.names).toEqual(
        expect.arrayContaining([
          'ConfigError',
          'ErrorCode',
          'HotshardError',
          'VERSION',
          'loadConfig',
          'startHotshard',
        ]),
      );
      expect(started.names.filter((n) => /redis|testkit|free|manual|cluster/i.test(n))).toEqual([]);
      const redis = new Redis({ port: started.resp, host: '127.0.0.1', maxRetriesPerRequest: 0 });
      await redis.set('api:k', 'v');
      expect(await redis.get('api:k')).toBe('v');
      redis.disconnect();
      const shards = (await (await fetch(`http://127.0.0.1:${started.http}/shards`)).json()) as {
        shards: unknown[];
      };
      expect(shards.shards).toHaveLength(16);
      child.stdin.end('stop\n');
      expect(await exited).toBe(0);
      expect(out).toMatch(/closed/);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('public API - the testkit and internal modules are not importable from the package', () => {
    writeFileSync(
      join(project, 'deep.js'),
      `for (const path of ['hotshard/dist/testkit/index.js', 'hotshard/dist/hotshard.js', 'hotshard/src/index.ts']) {
  try { await import(path); console.log('imported ' + path); } catch (err) { console.log(err.code); }
}
const pkg = await import('hotshard/package.json', { with: { type: 'json' } });
console.log(pkg.default.name);
`,
    );
    const r = spawnSync(process.execPath, ['deep.js'], { cwd: project, encoding: 'utf8' });
    expect(r.stdout.trim().split('\n')).toEqual([
      'ERR_PACKAGE_PATH_NOT_EXPORTED',
      'ERR_PACKAGE_PATH_NOT_EXPORTED',
      'ERR_PACKAGE_PATH_NOT_EXPORTED',
      'hotshard',
    ]);
  });

  it('public API - its types check in a TypeScript project (nodenext resolution)', () => {
    writeFileSync(
      join(project, 'typed.ts'),
      `import { startHotshard, loadConfig, ConfigError, type Config, type ConfigInput, type Hotshard } from 'hotshard';
const input: ConfigInput = { respPort: 0, limits: { maxClients: 10 } };
const config: Config = loadConfig({ flags: input });
const hs: Promise<Hotshard> = startHotshard(config);
const port: Promise<number> = hs.then((h) => h.respPort);
const e: Error = new ConfigError('x');
// @ts-expect-error a config needs its defaults applied (loadConfig), not a raw input
void startHotshard(input);
export { port, e };
`,
    );
    const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
    const r = spawnSync(
      process.execPath,
      [
        tsc,
        '--noEmit',
        '--strict',
        '--module',
        'nodenext',
        '--moduleResolution',
        'nodenext',
        '--skipLibCheck',
        'typed.ts',
      ],
      { cwd: project, encoding: 'utf8' },
    );
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  }, 60_000);
});
