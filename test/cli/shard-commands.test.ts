/**
 * `hotshard shards`, `nodes`, `audit` and the `actions cancel|limit` verbs,
 * run as the real CLI against a started hotshard: tables an operator reads,
 * splits and throttles that change the router, the server's refusals printed
 * with status and code (exit 1), bad usage (exit 2), and the audit trail of
 * what was done with the reasons given.
 */
import { spawn } from 'node:child_process';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { startHotshard, type Hotshard } from '../../src/hotshard.js';
import { shardId } from '../../src/keyspace/ids.js';
import { answeringRemedy } from '../mitigate/test-remedy.js';

const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;
const ADMIN = 'cli-shards-admin-token-0123';
const READ = 'cli-shards-read-token-01234';

interface Ran {
  code: number | null;
  out: string;
  err: string;
}

function hotshard(args: string[]): Promise<Ran> {
  const env = { ...process.env };
  delete env.HOTSHARD_ADMIN_TOKEN;
  delete env.HOTSHARD_READ_TOKEN;
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, out, err })));
}

describe('cli shard commands', () => {
  let hs: Hotshard;
  let api: string[];
  let read: string[];
  beforeAll(async () => {
    const config = loadConfig({
      flags: {
        respPort: 0,
        httpPort: 0,
        nodes: 2,
        shards: 4,
        logLevel: 'silent',
        adminToken: ADMIN,
        readToken: READ,
      },
    });
    hs = await startHotshard(config, pino({ level: 'silent' }), [answeringRemedy('cache')]);
    const url = `http://127.0.0.1:${hs.httpPort}`;
    api = ['--url', url, '--token', ADMIN];
    read = ['--url', url, '--token', READ];
  });
  afterAll(async () => {
    await hs.close();
  });

  it('cli shards - lists the table, splits with a reason, throttles and lifts it; the audit command shows each with who and why', async () => {
    const split = await hotshard([
      'shards',
      'split',
      's1',
      '--at',
      '1500000000',
      '--reason',
      'hot range',
      ...api,
    ]);
    expect(split.err).toBe('');
    expect(split.code).toBe(0);
    expect(split.out).toMatch(/^split s1: routing table v2$/m);
    expect(split.out).toMatch(/^s1\s+\[1073741824, 1500000000\)\s+n1\s+active/m);
    expect(split.out).toMatch(/^s4\s+\[1500000000, 2147483648\)\s+n1\s+active/m);
    expect(hs.router.table.shard(shardId('s4'))?.node).toBe('n1');

    const throttle = await hotshard(['shards', 'throttle', 's4', '250', '--reason', 'batch job', ...api]);
    expect(throttle.code).toBe(0);
    expect(throttle.out).toMatch(/shard s4: at most 250 ops\/s \(burst 250\)/);
    expect(hs.router.admission.shardLimit(shardId('s4'))).toEqual({ opsPerSec: 250, burst: 250 });

    const [list, one] = await Promise.all([
      hotshard(['shards', ...read]),
      hotshard(['shards', 's4', ...read]),
    ]);
    expect(list.code).toBe(0);
    expect(list.out).toMatch(/SHARD\s+RANGE\s+NODE\s+STATUS\s+NODE STATUS\s+CAPACITY\s+THROTTLE/);
    expect(list.out).toMatch(/^s4\s+.*250 ops\/s$/m);
    expect(list.out).toMatch(/routing table v2, hash partitioner, 5 shards/);
    expect(one.code).toBe(0);
    expect(one.out).toMatch(/^load\s+0\.0 ops\/s over 10 s/m);
    expect(one.out).toMatch(/^throttle\s+250 ops\/s \(burst 250\): 0 admitted, 0 refused/m);

    const off = await hotshard(['shards', 'throttle', 's4', 'off', ...api]);
    expect(off.out).toMatch(/shard s4: no limit/);
    expect(hs.router.admission.shardLimit(shardId('s4'))).toBeUndefined();

    const audit = await hotshard(['audit', ...read]);
    expect(audit.code).toBe(0);
    const rows = audit.out.split('\n').filter((l) => /^\d{4}-/.test(l));
    expect(rows.map((r) => r.split(/\s{2,}/).slice(1, 5))).toEqual([
      ['operator', 'shard.throttle', 'shard:s4', '-'],
      ['operator', 'shard.throttle', 'shard:s4', 'batch job'],
      ['operator', 'shard.split', 'shard:s1', 'hot range'],
    ]);
  }, 120_000);

  it('cli shards - refusals: 501 for a move without the engine (exit 1), 409/404 as the server says, bad usage exits 2, the read token cannot change state', async () => {
    const [move, drain, add, cancel, limit, noLimit, badOps, readOnly, missing] = await Promise.all([
      hotshard(['shards', 'move', 's0', 'n1', '--no-wait', ...api]),
      hotshard(['nodes', 'drain', 'n1', ...api]),
      hotshard(['nodes', 'add', '10.0.0.9:6379', ...api]),
      hotshard(['actions', 'cancel', 'a-40', ...api]),
      hotshard(['actions', 'limit', 'a-40', '--keys-per-sec', '50000', '--bytes-per-sec', 'off', ...api]),
      hotshard(['actions', 'limit', 'a-40', ...api]),
      hotshard(['shards', 'throttle', 's0', 'fast', ...api]),
      hotshard(['shards', 'split', 's0', ...read]),
      hotshard(['shards', 's77', ...read]),
    ]);
    for (const r of [move, drain, add, cancel, limit]) {
      expect(r.code, r.err).toBe(1);
      expect(r.err).toMatch(/501 HS_ERR_NOT_ALLOWED: .*move engine/);
    }
    expect(move.err).toMatch(/^hotshard shards: 501 /);
    expect(noLimit.code).toBe(2);
    expect(noLimit.err).toMatch(/give --keys-per-sec and\/or --bytes-per-sec/);
    expect(badOps.code).toBe(2);
    expect(badOps.err).toMatch(/OPS must be a number > 0 or "off", got "fast"/);
    expect(readOnly.code).toBe(1);
    expect(readOnly.err).toMatch(/403 HS_ERR_NOT_ALLOWED: the read-only token cannot change state/);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/404 HS_ERR_NOT_FOUND: no shard 's77'/);
  }, 120_000);

  it('cli actions - `actions ID --revert` and `actions --state` still work beside the cancel and limit verbs', async () => {
    const put = await hs.http.inject({
      method: 'PUT',
      url: '/policies/user:9',
      headers: { authorization: `Bearer ${ADMIN}` },
      payload: { cache: {}, reason: 'launch' },
    });
    const id = put.json<{ action: { id: string } }>().action.id;
    const revert = await hotshard(['actions', id, '--revert', '--reason', 'launch over', ...api]);
    expect(revert.err).toBe('');
    expect(revert.code).toBe(0);
    expect(revert.out).toMatch(/^state\s+rolled-back$/m);
    const listed = await hotshard(['actions', '--state', 'rolled-back', ...read]);
    expect(listed.out).toMatch(new RegExp(`^${id} .* policy\\s+user:9\\s+rolled-back`, 'm'));
    const audit = await hotshard(['audit', '--limit', '1', ...read]);
    expect(audit.out).toMatch(new RegExp(`operator\\s+action.revert\\s+action:${id}\\s+launch over`));
  }, 120_000);

  it('cli nodes - lists every node with its health and shard count', async () => {
    const nodes = await hotshard(['nodes', ...read]);
    expect(nodes.code).toBe(0);
    expect(nodes.out).toMatch(/NODE\s+KIND\s+ADDRESS\s+STATUS\s+SINCE\s+LATENCY\s+SHARDS/);
    expect(nodes.out).toMatch(/^n0\s+memory\s+-\s+up\s+/m);
    expect(nodes.out.split('\n').filter((l) => /^n\d/.test(l))).toHaveLength(2);
  }, 120_000);
});
