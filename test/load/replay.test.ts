/**
 * Traces and `hotshard replay`: a hotshard's access log read back, replayed
 * into a second hotshard at 10x, with and without an injected hot key.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { replayOptions, type ReplayFlags } from '../../src/cli/replay.js';
import {
  Injector,
  parseInjection,
  replayTrace,
  validateInjections,
  type ReplayReport,
} from '../../src/load/replay.js';
import {
  loadTrace,
  parseTraceLine,
  replayCommand,
  scanTrace,
  setValueSize,
  TraceError,
  type TraceRecord,
} from '../../src/load/trace.js';
import { startTestHotshard, type TestHotshard } from '../../src/testkit/hotshard.js';

const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;
const LINE = '{"t":1000,"tenant":"a","op":"get","key":"k","bytes":20,"shard":"s0","latencyMs":0.1}';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'hotshard-replay-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function record(t: number, op: string, key: string, bytes = 30): TraceRecord {
  return { t, tenant: 'default', op, key, bytes, shard: 's0', latencyMs: 0.1 };
}

function writeTrace(name: string, records: readonly TraceRecord[]): string {
  const file = join(dir, name);
  writeFileSync(file, records.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return file;
}

function hotshard(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('trace - reading', () => {
  it('trace - bad lines fail with the file, line number and field; blank lines are skipped', async () => {
    const cases: [string, RegExp][] = [
      ['{"t":1', /line 3: not JSON/],
      ['[1,2]', /line 3: expected a JSON object/],
      [LINE.replace('"key":"k",', ''), /line 3: "key" must be a string, got nothing/],
      [
        LINE.replace('"t":1000', '"t":"soon"'),
        /line 3: "t" must be a time in ms since the epoch, got "soon"/,
      ],
      [LINE.replace('"bytes":20', '"bytes":-1'), /line 3: "bytes" must be a number ≥ 0, got -1/],
      [LINE.replace('"op":"get"', '"op":""'), /line 3: "op" must be a command name/],
    ];
    for (const [bad, message] of cases) {
      const file = join(dir, 'bad.jsonl');
      writeFileSync(file, `${LINE}\n\n${bad}\n${LINE}\n`);
      const err = await scanTrace(file).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TraceError);
      expect((err as TraceError).line).toBe(3);
      expect((err as Error).message).toMatch(message);
      expect((err as Error).message).toContain(file);
    }
    const file = join(dir, 'blank.jsonl');
    writeFileSync(file, `\n${LINE}\n   \n${LINE.replace('1000', '1500')}\r\n\n`);
    expect(await scanTrace(file)).toMatchObject({ records: 2, firstT: 1000, spanMs: 500, ops: { get: 2 } });
    await expect(scanTrace(join(dir, 'missing.jsonl'))).rejects.toThrow(
      /missing\.jsonl: cannot read the trace/,
    );
    expect(parseTraceLine('  ', 9)).toBeNull();
  });

  it('trace - a bad line stops a replay before anything is sent', async () => {
    const file = join(dir, 'late-bad.jsonl');
    writeFileSync(file, `${LINE}\n`.repeat(50) + 'oops\n');
    // Port 1 has no listener: a TraceError (not a connection error) proves the trace is checked first.
    await expect(
      replayTrace({ trace: file, target: { kind: 'resp', host: '127.0.0.1', port: 1, connections: 1 } }),
    ).rejects.toThrow(/late-bad\.jsonl line 51: not JSON/);
  });

  it('trace - records map back to commands; MGET becomes GET of its first key, others are skipped', () => {
    expect(replayCommand(record(0, 'get', 'a'))).toEqual({
      op: 'get',
      key: 'a',
      valueSize: 0,
      fromMget: false,
    });
    expect(replayCommand(record(0, 'incr', 'c'))).toMatchObject({ op: 'incr', key: 'c' });
    expect(replayCommand(record(0, 'del', 'c'))).toMatchObject({ op: 'del', key: 'c' });
    expect(replayCommand(record(0, 'mget', 'k1'))).toEqual({
      op: 'get',
      key: 'k1',
      valueSize: 0,
      fromMget: true,
    });
    expect(replayCommand(record(0, 'hset', 'h'))).toEqual({ skip: 'unsupported-op' });
    // *3\r\n $3\r\nSET\r\n $1\r\nk\r\n $10\r\n <10 bytes>\r\n = 37 bytes, +OK\r\n = 5
    expect(replayCommand(record(0, 'set', 'k', 42))).toMatchObject({ op: 'set', valueSize: 10 });
    expect(setValueSize(4 + 9 + 7 + 6 + 102 + 5, 'k')).toBe(100);
    expect(setValueSize(4 + 9 + 7 + 4 + 11 + 5, 'k')).toBe(9);
    expect(setValueSize(3, 'k')).toBe(0);
    const utf8 = 'b64:' + Buffer.from('ключ', 'utf8').toString('base64');
    expect(replayCommand(record(0, 'get', utf8))).toMatchObject({ key: 'ключ' });
    const binary = 'b64:' + Buffer.from([0xff, 0x00, 0xfe]).toString('base64');
    expect(replayCommand(record(0, 'get', binary))).toEqual({ skip: 'binary-key' });
  });
});

describe('replay - injection', () => {
  it('replay - --inject reads KEY:SHARE:FROM_S[:TO_S] from the right, so keys may hold colons', () => {
    expect(parseInjection('hot:0.3:10')).toEqual({ key: 'hot', share: 0.3, fromS: 10 });
    expect(parseInjection('user:42:30%:10:20')).toEqual({ key: 'user:42', share: 0.3, fromS: 10, toS: 20 });
    expect(parseInjection('user:42:0.5:0')).toEqual({ key: 'user:42', share: 0.5, fromS: 0 });
    for (const bad of [
      'hot',
      'hot:0.3',
      ':0.3:1',
      'hot:1.5:0',
      'hot:0:0',
      'hot:0.3:-1',
      'hot:0.3:5:5',
      'hot:x:1',
    ])
      expect(() => parseInjection(bad), bad).toThrow(/--inject must be KEY:SHARE:FROM_S/);
    expect(() =>
      validateInjections([
        { key: 'a', share: 0.6, fromS: 0, toS: 10 },
        { key: 'b', share: 0.6, fromS: 5 },
      ]),
    ).toThrow(/active at 5 s take 120.0 %/);
    expect(() =>
      validateInjections([
        { key: 'a', share: 0.6, fromS: 0, toS: 5 },
        { key: 'b', share: 0.6, fromS: 5 },
      ]),
    ).not.toThrow();
  });

  it('replay - injection takes its share only inside its window, the same for the same seed', () => {
    const draw = (seed: number): (string | undefined)[] => {
      const inj = new Injector(
        [
          { key: 'hot', share: 0.3, fromS: 1, toS: 2 },
          { key: 'other', share: 0.2, fromS: 1.5 },
        ],
        seed,
      );
      return Array.from({ length: 30_000 }, (_, i) => inj.pick(i / 10_000)); // 0..3 s
    };
    const picks = draw(7);
    const share = (from: number, to: number, key: string): number =>
      picks.slice(from, to).filter((k) => k === key).length / (to - from);
    expect(share(0, 10_000, 'hot') + share(0, 15_000, 'other')).toBe(0);
    expect(share(10_000, 20_000, 'hot')).toBeCloseTo(0.3, 1);
    expect(share(15_000, 30_000, 'other')).toBeCloseTo(0.2, 1);
    expect(share(20_000, 30_000, 'hot')).toBe(0);
    expect(draw(7)).toEqual(picks);
    expect(draw(8)).not.toEqual(picks);
  });
});

describe('replay - end to end', () => {
  let source: TestHotshard;
  let sink: TestHotshard;
  let traceFile: string;
  const before = new Map<string, string | null>();

  beforeAll(async () => {
    traceFile = join(dir, 'access.jsonl');
    source = await startTestHotshard({ password: 'pw', accessLog: { file: traceFile, sampleRate: 1 } });
    sink = await startTestHotshard({});
    const client = new Redis({ port: source.port, username: 'acme', password: 'pw', lazyConnect: true });
    await client.connect();
    // ~1.5 s of traffic: 300 commands in 30 bursts, each awaited so the log order is the send order.
    for (let i = 0; i < 300; i++) {
      const key = `key:${i % 10}`;
      if (i % 3 === 0) await client.set(key, 'v'.repeat(50 + (i % 7)));
      else if (i % 3 === 1) await client.get(key);
      else await client.incr('counter');
      if (i % 10 === 9) await sleep(50);
    }
    await client.mget('key:1', 'key:2');
    await client.hset('h', 'f', '1');
    for (const k of [...Array.from({ length: 10 }, (_, i) => `key:${i}`), 'counter'])
      before.set(k, await client.get(k));
    client.disconnect();
    await source.stop(); // flushes the access log
  });
  afterAll(async () => {
    await sink.stop();
  });

  it('replay - the access log holds every request with its op, key, shard and tenant', async () => {
    const records = await loadTrace(traceFile);
    const table = sink.hs.router.table; // same config, so the same routing
    expect(records.slice(0, 300).map((r) => [r.op, r.key])).toEqual(
      Array.from({ length: 300 }, (_, i) =>
        i % 3 === 0 ? ['set', `key:${i % 10}`] : i % 3 === 1 ? ['get', `key:${i % 10}`] : ['incr', 'counter'],
      ),
    );
    expect(records.slice(300, 302).map((r) => [r.op, r.key])).toEqual([
      ['mget', 'key:1'],
      ['hset', 'h'],
    ]);
    for (const r of records) {
      expect(r.tenant).toBe('acme');
      expect(r.shard).toBe(table.shardFor(Buffer.from(r.key)).id);
    }
    const summary = await scanTrace(traceFile);
    expect(summary.spanMs).toBeGreaterThan(1_200);
  });

  it('replay - 10x replays the same writes in a tenth of the time', async () => {
    const summary = await scanTrace(traceFile);
    const report = await replayTrace({
      trace: traceFile,
      target: { kind: 'resp', host: '127.0.0.1', port: sink.port, connections: 4 },
      speed: 10,
    });
    expect(report).toMatchObject({
      scheduled: 313 - 1, // every logged request but the HSET
      errors: 0,
      mgetAsGet: 1,
      skipped: { 'unsupported-op': 1 },
      unsupportedOps: { hset: 1 },
      injected: 0,
      opsByType: { set: 100, get: 100 + 1 + 11, incr: 100 },
    });
    expect(report.ok).toBe(report.scheduled);
    // Paced, not sent at once: it takes the trace's span over 10. The upper
    // bound only says "far faster than 1x": a loaded machine runs late.
    const expected = summary.spanMs / 10;
    expect(report.durationMs).toBeGreaterThanOrEqual(expected * 0.9);
    expect(report.durationMs).toBeLessThan(summary.spanMs / 2);
    expect(report.series.reduce((n, s) => n + s.ops, 0)).toBe(report.ops);

    const client = new Redis({ port: sink.port, lazyConnect: true });
    await client.connect();
    try {
      expect(await client.get('counter')).toBe('100');
      for (const [k, v] of before) {
        if (k === 'counter') continue;
        // Values are rebuilt at their logged size (embedded nodes log a simple
        // reply as 8 bytes, not the 5 of +OK); the content is filler.
        const replayed = (await client.get(k))?.length ?? -1;
        expect(replayed - (v?.length ?? 0), k).toBeGreaterThanOrEqual(0);
        expect(replayed - (v?.length ?? 0), k).toBeLessThanOrEqual(3);
      }
    } finally {
      client.disconnect();
    }
  });

  it('replay - an injected key takes its share of the replayed requests', async () => {
    // 3000 GETs over 1.5 s; from 0.5 s, 25 % of them become GET celebrity.
    const records = Array.from({ length: 3000 }, (_, i) => record(1e12 + i / 2, 'get', `k:${i % 100}`));
    const file = writeTrace('spread.jsonl', records);
    const report: ReplayReport = await replayTrace({
      trace: file,
      target: { kind: 'resp', host: '127.0.0.1', port: sink.port, connections: 4 },
      speed: 3,
      seed: 5,
      inject: [{ key: 'celebrity', share: 0.25, fromS: 0.5 }],
    });
    expect(report.errors).toBe(0);
    const inWindow = records.filter((r) => r.t - 1e12 >= 500).length;
    expect(report.injectedByKey.celebrity).toBe(report.injected);
    expect(report.injected / inWindow).toBeGreaterThan(0.22);
    expect(report.injected / inWindow).toBeLessThan(0.28);
    // The target saw it: the celebrity is its heaviest key by far.
    const top = sink.hs.telemetry!.topKeys(10, 3, 'ops', true);
    expect(top[0]!.key.toString()).toBe('celebrity');
    expect(top[0]!.reads).toBeGreaterThan(3 * top[1]!.reads);
  });
});

describe('cli replay', () => {
  const BASE: ReplayFlags = { speed: '1', inject: [], seed: '1', timeout: '10s' };

  it('cli replay - bad flags fail with a message naming the flag', () => {
    const cases: [Partial<ReplayFlags>, RegExp][] = [
      [{}, /exactly one target/],
      [{ resp: 'h:1', http: 'http://x' }, /exactly one target/],
      [{ resp: 'localhost' }, /--resp must be host:port/],
      [{ resp: 'h:1', speed: '0' }, /--speed must be a number > 0/],
      [{ resp: 'h:1', speed: 'fast' }, /--speed must be a number > 0/],
      [{ resp: 'h:1', inject: ['hot:2:0'] }, /--inject must be KEY:SHARE:FROM_S/],
      [{ resp: 'h:1', seed: 'x' }, /--seed must be an integer/],
      [{ resp: 'h:1', connections: '0' }, /--connections must be an integer/],
    ];
    for (const [flags, message] of cases)
      expect(() => replayOptions('t.jsonl', { ...BASE, ...flags }), JSON.stringify(flags)).toThrow(message);
    expect(
      replayOptions('t.jsonl', { ...BASE, resp: '127.0.0.1:7000', speed: '10', inject: ['a:b:20%:3'] }),
    ).toMatchObject({
      trace: 't.jsonl',
      target: { kind: 'resp', host: '127.0.0.1', port: 7000 },
      speed: 10,
      inject: [{ key: 'a:b', share: 0.2, fromS: 3 }],
    });
    expect(
      replayOptions('t.jsonl', { ...BASE, http: 'http://127.0.0.1:8080', password: 'pw' }).target,
    ).toEqual({
      kind: 'http',
      url: 'http://127.0.0.1:8080/',
      password: 'pw',
    });
  });

  it('cli replay - exit 2 on a bad flag or a bad trace, 0 with a JSON report', async () => {
    const sink = await startTestHotshard({});
    try {
      const file = writeTrace(
        'cli.jsonl',
        Array.from({ length: 200 }, (_, i) => record(1e12 + i, i % 2 ? 'get' : 'incr', 'n')),
      );
      const badFile = join(dir, 'cli-bad.jsonl');
      writeFileSync(badFile, `${LINE}\n{"t":\n`);
      const report = join(dir, 'cli-report.json');
      const [bad, badTrace, good] = await Promise.all([
        hotshard(['replay', file, '--resp', `127.0.0.1:${sink.port}`, '--speed', 'fast']),
        hotshard(['replay', badFile, '--resp', `127.0.0.1:${sink.port}`]),
        hotshard([
          'replay',
          file,
          '--resp',
          `127.0.0.1:${sink.port}`,
          '--speed',
          '2',
          '--inject',
          'hot:50%:0.1',
          '--report',
          report,
        ]),
      ]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/--speed must be a number > 0/);
      expect(badTrace.code).toBe(2);
      expect(badTrace.stderr).toMatch(/cli-bad\.jsonl line 2: not JSON/);
      expect(good.code, good.stderr).toBe(0);
      expect(good.stdout).toMatch(/injected\s+\d+ GETs/);
      const json = JSON.parse(readFileSync(report, 'utf8')) as ReplayReport;
      expect(json).toMatchObject({ ops: 200, errors: 0, trace: { records: 200 } });
      expect(json.injected).toBeGreaterThan(50);
      expect(json.latency.p99).toBeGreaterThan(0);
      expect(json.series.length).toBeGreaterThan(0);
    } finally {
      await sink.stop();
    }
  });
});
