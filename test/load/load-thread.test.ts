/**
 * The load thread (src/load/load-thread.ts): the generator and the write
 * check run on a worker thread against a real hotshard on embedded nodes;
 * seconds come back as they close, then the report, the check and the other
 * tenants' latency by due second. A run that cannot start fails with the
 * generator's own message.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { startHotshard, type Hotshard } from '../../src/hotshard.js';
import type { SecondStats } from '../../src/load/generator.js';
import { dueSecond, LoadThread } from '../../src/load/load-thread.js';

describe('load thread', () => {
  let hs: Hotshard;
  beforeAll(async () => {
    const config = loadConfig({
      flags: { respPort: 0, httpPort: 0, logLevel: 'silent', automation: 'manual', nodes: 2, shards: 4 },
    });
    hs = await startHotshard(config, pino({ level: 'silent' }));
  });
  afterAll(() => hs.close());

  it('load thread - relays each second in order, then the report, the write check and the others’ latency', async () => {
    const thread = await LoadThread.open();
    try {
      const seconds: SecondStats[] = [];
      const { report, check, others } = await thread.run(
        {
          target: { kind: 'resp', host: '127.0.0.1', port: hs.respPort, connections: 2 },
          workload: {
            keys: 200,
            ops: { get: 50, set: 50 },
            tenants: [
              { name: 'a', rate: 300 },
              { name: 'b', rate: 100 },
            ],
          },
          durationMs: 2000,
          seed: 7,
          verifyWrites: true,
          othersOf: 'b',
        },
        (s) => seconds.push(s),
      );
      expect(report.errors).toBe(0);
      expect(report.ok).toBe(800);
      expect(seconds.map((s) => s.t)).toEqual(report.series.map((s) => s.t));
      expect(seconds.map((s) => s.ops)).toEqual(report.series.map((s) => s.ops));
      expect(check).not.toBeNull();
      expect(check!.lostWrites).toBe(0);
      expect(check!.acknowledgedWrites).toBe(report.opsByType['set']);
      expect(check!.acknowledgedWrites).toBeGreaterThan(300);
      // Tenant a's requests only: about three in four of all, each second.
      const a = others.reduce((n, s) => n + (s?.ops ?? 0), 0);
      expect(a).toBeGreaterThan(0.65 * report.ok);
      expect(a).toBeLessThan(0.85 * report.ok);
      expect(others.every((s) => s === undefined || s.p99 > 0)).toBe(true);
      await expect(
        thread.run({
          target: { kind: 'resp', host: '127.0.0.1', port: hs.respPort },
          durationMs: 1,
          verifyWrites: false,
        }),
      ).rejects.toThrow(/one load/);
    } finally {
      await thread.close();
    }
  });

  it('load thread - a target that cannot be reached fails the run with the reason', async () => {
    const thread = await LoadThread.open();
    try {
      // Port 1 is privileged and never listened on here.
      await expect(
        thread.run({
          target: { kind: 'resp', host: '127.0.0.1', port: 1, connections: 1 },
          durationMs: 500,
          rate: 10,
          verifyWrites: false,
        }),
      ).rejects.toThrow(/ECONNREFUSED|connect/);
    } finally {
      await thread.close();
    }
  });

  it('load thread - a due second’s p99 is read as the scenario report reads it', () => {
    expect(dueSecond([])).toEqual({ ops: 0, p99: 0 });
    const l = Array.from({ length: 200 }, (_, i) => 200 - i);
    expect(dueSecond(l)).toEqual({ ops: 200, p99: 199 });
  });
});
