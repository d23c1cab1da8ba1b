import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLoad, type SecondStats } from '../../src/load/generator.js';
import { formatProgress, formatReport } from '../../src/load/progress.js';
import { startSlowServer, type SlowServer } from './slow-server.js';

const SERVICE_MS = 5;

describe('generator against a slow server', () => {
  let slow: SlowServer;
  beforeAll(async () => {
    slow = await startSlowServer(SERVICE_MS);
  });
  afterAll(() => slow.close());

  it('generator - open loop above capacity reports the queueing; closed loop reports the service time', async () => {
    const target = { kind: 'resp' as const, host: '127.0.0.1', port: slow.port, connections: 4 };
    const workload = { ops: { get: 1 } };
    // Capacity is ~200 req/s (5 ms each, serially); ask for 400 req/s for 0.5 s.
    const open = await runLoad({ target, workload, rate: 400, durationMs: 500 });
    expect(open.errors).toBe(0);
    expect(open.sent).toBe(200);
    expect(open.ok).toBe(200);
    // Requests were sent on time...
    expect(open.sendLag.p99).toBeLessThan(50);
    // ... and waited in the server's queue: the last ones about half a second.
    expect(open.latency.p50).toBeGreaterThan(100);
    expect(open.latency.p99).toBeGreaterThan(300);
    expect(open.drainMs).toBeGreaterThan(200);

    // One request at a time never queues: latency ≈ service time.
    const closed = await runLoad({ target, workload, concurrency: 1, durationMs: 300 });
    expect(closed.errors).toBe(0);
    expect(closed.ok).toBeGreaterThan(20);
    expect(closed.latency.p50).toBeGreaterThanOrEqual(SERVICE_MS - 0.5);
    // (p50: a shared CI machine can stall any single request.)
    expect(closed.latency.p50).toBeLessThan(15);
    expect(open.latency.p50).toBeGreaterThan(20 * closed.latency.p50);
  });

  it('generator - past maxOutstanding due requests fail as overload-local instead of slowing down', async () => {
    const target = { kind: 'resp' as const, host: '127.0.0.1', port: slow.port, connections: 2 };
    const report = await runLoad({ target, rate: 1_000, durationMs: 400, maxOutstanding: 10 });
    expect(report.scheduled).toBe(400);
    expect(report.errorsByKind['overload-local']).toBeGreaterThan(200);
    expect(report.sent + report.errorsByKind['overload-local']!).toBe(400);
    expect(report.errorExamples['overload-local']).toMatch(/10 requests already in flight/);
  });

  it('generator - a timeout resets the connection and counts as timeout', async () => {
    const target = { kind: 'resp' as const, host: '127.0.0.1', port: slow.port, connections: 1 };
    // 300 req/s for 0.6 s against 200 req/s: the queue outgrows a 150 ms timeout.
    const report = await runLoad({ target, rate: 300, durationMs: 600, timeoutMs: 150 });
    expect(report.errorsByKind.timeout).toBeGreaterThan(0);
    expect(report.ok).toBeGreaterThan(0);
    expect(report.ok + report.errors).toBe(report.scheduled);
  });
});

describe('generator timing', () => {
  let slow: SlowServer;
  beforeAll(async () => {
    slow = await startSlowServer(0);
  });
  afterAll(() => slow.close());

  it('generator - onSecond reports every second, and the series adds up to the totals', async () => {
    const seconds: SecondStats[] = [];
    const report = await runLoad({
      target: { kind: 'resp', host: '127.0.0.1', port: slow.port, connections: 2 },
      rate: 500,
      durationMs: 1_100,
      onSecond: (s) => seconds.push(s),
    });
    expect(seconds.map((s) => s.t)).toEqual([0, 1]);
    expect(report.series).toEqual(seconds);
    expect(seconds.reduce((a, s) => a + s.ops, 0)).toBe(report.ops);
    expect(report.ops).toBe(550);
    // Most of second 0's 500 requests complete in it; a stall on a busy CI
    // machine (two test workers, 2 cores) can push ~150 of them into second 1.
    expect(seconds[0]!.ops).toBeGreaterThan(250);
    expect(seconds[0]!.p99).toBeGreaterThan(0);
    expect(report.throughput).toBeGreaterThan(450);
    expect(report.throughput).toBeLessThan(550);
    expect(formatProgress(seconds[0]!, 1_100)).toMatch(
      /1\/2 s .* ops\/s {2}p99 .* ms {2}errors 0 \(0\.00 %\)/,
    );
    expect(formatReport(report)).toMatch(/open loop, 500 req\/s/);
  });

  it('generator - a lost connection fails fast while it is down, then the lane reconnects', async () => {
    let dropped = false;
    let okAfter = 0;
    setTimeout(() => {
      slow.dropConnections();
      setTimeout(() => (dropped = true), 300);
    }, 200);
    const report = await runLoad({
      target: { kind: 'resp', host: '127.0.0.1', port: slow.port, connections: 2 },
      rate: 400,
      durationMs: 900,
      onRequest: (_key, _op, ok) => {
        if (dropped && ok) okAfter++;
      },
    });
    expect(report.errorsByKind.connection).toBeGreaterThan(10);
    expect(report.errorExamples.connection).toMatch(/connection \d is down|connection lost/);
    expect(okAfter).toBeGreaterThan(50);
    expect(report.ok + report.errors).toBe(report.scheduled);
  });

  it('generator - the same seed sends the same requests in the same order', async () => {
    const sequence = async (seed: number): Promise<string[]> => {
      const seen: string[] = [];
      await runLoad({
        target: { kind: 'resp', host: '127.0.0.1', port: slow.port, connections: 1 },
        workload: {
          keys: 1_000,
          distribution: { kind: 'zipf', theta: 1.2 },
          ops: { get: 6, set: 2, incr: 1, mget: 1 },
        },
        rate: 1_000,
        durationMs: 300,
        seed,
        onRequest: (key, op) => seen.push(`${op} ${key.toString()}`),
      });
      return seen;
    };
    const first = await sequence(7);
    expect(first.length).toBeGreaterThan(300); // MGET reports each of its keys
    expect(await sequence(7)).toEqual(first);
    expect(await sequence(8)).not.toEqual(first);
  });

  it('generator - an abort ends the run early and reports what ran', async () => {
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 300);
    const started = Date.now();
    const report = await runLoad({
      target: { kind: 'resp', host: '127.0.0.1', port: slow.port, connections: 1 },
      concurrency: 4,
      durationMs: 30_000,
      signal: abort.signal,
    });
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(report.aborted).toBe(true);
    expect(report.durationMs).toBeLessThan(1_000);
    expect(report.ok).toBeGreaterThan(0);
  });

  it('generator - bad options fail fast naming the field', async () => {
    const target = { kind: 'resp' as const, host: '127.0.0.1', port: slow.port };
    await expect(runLoad({ target, durationMs: 100 })).rejects.toThrow(/give rate .*concurrency/);
    await expect(runLoad({ target, rate: 10, concurrency: 2, durationMs: 100 })).rejects.toThrow(/not both/);
    await expect(runLoad({ target, rate: 10, durationMs: 0 })).rejects.toThrow(/durationMs/);
    await expect(
      runLoad({
        target: { kind: 'http', url: 'http://127.0.0.1:1' },
        workload: { ops: { mget: 1 } },
        rate: 1,
        durationMs: 1,
      }),
    ).rejects.toThrow(/no MGET/);
  });
});
