import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLoad } from '../../src/load/generator.js';
import type { RespTargetSpec } from '../../src/load/targets.js';
import { valueToken, verifyWrites, WriteLedger } from '../../src/load/write-ledger.js';
import { requireBinary, startRedis, type RedisProcess } from '../../src/testkit/index.js';
import { respRoundTrip } from '../../src/testkit/nutcracker.js';

const value = (ledger: WriteLedger, seq: number): Buffer =>
  Buffer.from(`${valueToken(ledger.runTag, seq)}xxxx`);

describe('write ledger - judging final values', () => {
  it('write ledger - a SET key must hold its last acknowledged value or an unknown-outcome one', () => {
    const l = new WriteLedger('run1');
    l.ackWrite('k', 3, false);
    l.ackWrite('k', 5, false);
    l.unknownWrite('k', 7, false);
    expect(l.judge('k', value(l, 5))?.lost).toBe(0);
    expect(l.judge('k', value(l, 7))?.lost).toBe(0); // may have landed
    expect(l.judge('k', value(l, 3))).toEqual({ lost: 1, excess: false, expected: 'run1:5|' }); // went back in time
    expect(l.judge('k', null)?.lost).toBe(1);
    expect(l.judge('k', Buffer.from(`${valueToken('other', 5)}xx`))?.lost).toBe(1); // an earlier run's value
    // Acknowledgements that arrive out of order still pick the latest write.
    l.ackWrite('k', 4, false);
    expect(l.judge('k', value(l, 5))?.lost).toBe(0);
  });

  it('write ledger - a DEL acknowledged last means absent; an unknown DEL allows absent', () => {
    const l = new WriteLedger('run2');
    l.ackWrite('a', 1, false);
    l.ackWrite('a', 2, true);
    expect(l.judge('a', null)?.lost).toBe(0);
    expect(l.judge('a', value(l, 1))?.lost).toBe(1);
    l.ackWrite('b', 1, false);
    l.unknownWrite('b', 2, true);
    expect(l.judge('b', null)?.lost).toBe(0);
    expect(l.judge('b', value(l, 1))?.lost).toBe(0);
  });

  it('write ledger - a counter must lie between acknowledged and acknowledged + unknown increments', () => {
    const l = new WriteLedger('run3');
    // Started at 10 (unknown to the ledger): the first acknowledged INCR returned 11.
    l.ackIncr('c', 2, 11);
    for (let seq = 3; seq < 7; seq++) l.ackIncr('c', seq, 9 + seq);
    l.unknownIncr('c');
    l.unknownIncr('c');
    expect(l.judge('c', 15)).toEqual({ lost: 0, excess: false, expected: '15..17' });
    expect(l.judge('c', Buffer.from('17'))?.lost).toBe(0);
    expect(l.judge('c', 13)?.lost).toBe(2);
    expect(l.judge('c', 18)).toMatchObject({ lost: 0, excess: true });
    expect(l.judge('c', null)?.lost).toBe(5); // gone: every acknowledged increment lost
  });

  it('write ledger - keys with only unknown outcomes are not judged', () => {
    const l = new WriteLedger('run4');
    l.unknownWrite('u', 1, false);
    l.unknownIncr('v');
    expect(l.judge('u', null)).toBeUndefined();
    expect(l.judge('v', 3)).toBeUndefined();
    expect(l.summary()).toEqual({ keys: 2, acknowledgedWrites: 0, unknownWrites: 2 });
  });
});

describe.skipIf(!requireBinary('redis-server', 'write ledger tests against redis-server'))(
  'write ledger against redis-server',
  () => {
    let redis: RedisProcess;
    let target: RespTargetSpec;
    beforeAll(async () => {
      redis = await startRedis();
      target = { kind: 'resp', host: redis.host, port: redis.port, connections: 4 };
    });
    afterAll(() => redis.stop());

    const workload = {
      keys: 300,
      keyPrefix: 'wl:',
      counterPrefix: 'wc:',
      ops: { get: 20, set: 50, incr: 30 },
    };

    it('write ledger - 0 lost when nothing was lost, then catches a deleted key and a decremented counter', async () => {
      const ledger = new WriteLedger();
      await runLoad({ target, workload, rate: 4_000, durationMs: 400, trackWrites: ledger });
      const clean = await verifyWrites(target, ledger);
      expect(clean.lostWrites).toBe(0);
      expect(clean.excessKeys).toBe(0);
      expect(clean.checkedKeys).toBeGreaterThan(200);

      const keys = [...ledger.keys()];
      const stringKey = keys.find((k) => k.startsWith('wl:'))!;
      // A counter with at least 3 acknowledged increments: its expected value is ≥ 3 above its start.
      const counterKey = keys.find((k) => k.startsWith('wc:') && (ledger.judge(k, 0)?.lost ?? 0) >= 3)!;
      expect(counterKey).toBeDefined();
      await respRoundTrip(
        redis.host,
        redis.port,
        [
          ['DEL', stringKey],
          ['DECRBY', counterKey, '3'],
        ],
        2_000,
      );

      const check = await verifyWrites(target, ledger);
      expect(check.lostWrites).toBe(4);
      expect(check.lostKeys).toBe(2);
      expect(check.examples.map((e) => e.key).sort()).toEqual([counterKey, stringKey].sort());
      expect(check.examples.find((e) => e.key === stringKey)?.found).toBe('(absent)');
    });

    it('write ledger - catches writes wiped behind the generator’s back during the run', async () => {
      const ledger = new WriteLedger();
      setTimeout(() => void respRoundTrip(redis.host, redis.port, [['FLUSHALL']], 2_000), 250);
      const report = await runLoad({ target, workload, rate: 2_000, durationMs: 500, trackWrites: ledger });
      expect(report.errors).toBe(0);
      const check = await verifyWrites(target, ledger);
      expect(check.lostWrites).toBeGreaterThan(0);
      expect(check.lostKeys).toBeGreaterThan(0);
    });
  },
);
