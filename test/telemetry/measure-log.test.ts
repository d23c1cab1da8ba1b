import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import {
  LOG_MAX_KEY_BYTES,
  LOG_RECORDS,
  MeasureLog,
  type MeasureSink,
} from '../../src/telemetry/measure-log.js';
import { Outcome, RouterTelemetry } from '../../src/telemetry/router-telemetry.js';

const START = 1_700_000_000_000;

/** Keeps what a drain hands over, copying the key (the drain reuses its buffer). */
class Recorder implements MeasureSink {
  readonly seen: unknown[][] = [];
  fold(...args: Parameters<MeasureSink['fold']>): void {
    const [shard, node, tenant, key, ...rest] = args;
    this.seen.push([shard, node, tenant, key === null ? null : Buffer.from(key).toString('latin1'), ...rest]);
  }
}

describe('measure log', () => {
  it('measure log - a drain hands every record back in order, keys byte for byte, then the log is empty', () => {
    const log = new MeasureLog();
    const rec = new Recorder();
    const keys = ['a', '', 'user:42:profile', 'é€'].map((k) => Buffer.from(k));
    log.append(1, 2, 3, keys[0]!, false, 10, 20, 30.4, Outcome.Ok, 1, false);
    log.append(4, 5, -1, null, true, 0, 8, 0, Outcome.Shed, 64, false);
    log.append(6, 7, 8, keys[1]!, true, 1, 2, 3, Outcome.Error, 2, true);
    log.append(9, 10, 11, keys[2]!, false, 4, 5, 6, Outcome.Ok, 1, false);
    log.append(12, 13, 14, keys[3]!, true, 7, 8, 9, Outcome.Shed, 4, true);
    expect(log.length).toBe(5);
    log.drain(rec);
    expect(rec.seen).toEqual([
      [1, 2, 3, 'a', false, 10, 20, 30, Outcome.Ok, 1, false], // latency in whole µs
      [4, 5, -1, null, true, 0, 8, 0, Outcome.Shed, 64, false],
      [6, 7, 8, '', true, 1, 2, 3, Outcome.Error, 2, true],
      [9, 10, 11, 'user:42:profile', false, 4, 5, 6, Outcome.Ok, 1, false],
      [12, 13, 14, keys[3]!.toString('latin1'), true, 7, 8, 9, Outcome.Shed, 4, true],
    ]);
    expect(log.length).toBe(0);
    log.drain(rec);
    expect(rec.seen).toHaveLength(5);
  });

  it('measure log - fits says no once the records or the key bytes are used up', () => {
    const log = new MeasureLog();
    const key = Buffer.alloc(LOG_MAX_KEY_BYTES, 0x61);
    let n = 0;
    while (log.fits(key.length)) {
      log.append(0, 0, 0, key, false, 0, 0, 0, Outcome.Ok, 1, false);
      n++;
    }
    expect(n).toBeGreaterThan(0);
    expect(n).toBeLessThan(LOG_RECORDS); // key bytes ran out first
    expect(log.fits(0)).toBe(true);
    const small = new MeasureLog();
    for (let i = 0; i < LOG_RECORDS; i++) small.append(0, 0, 0, null, false, 0, 0, 0, Outcome.Ok, 1, false);
    expect(small.fits(0)).toBe(false);
  });

  it('measure log - router telemetry reads see every measured request, across full logs, long keys and second changes', () => {
    const clock = new ManualClock(START);
    const t = new RouterTelemetry({ clock, sampleBudget: Infinity });
    const s = t.shardIndex('s0');
    const n = t.nodeIndex('n0');
    const tn = t.tenantIndex('acme');
    const long = Buffer.alloc(LOG_MAX_KEY_BYTES + 500, 0x6c); // measured at once, not logged
    const total = 3 * LOG_RECORDS + 7;
    for (let i = 0; i < total; i++) {
      t.count(s, n, tn, false);
      t.measure(s, n, tn, Buffer.from(i % 2 === 0 ? 'hot' : `cold:${i}`), false, 10, 90, 1000, Outcome.Ok, 1);
      if (i % 100 === 0) {
        t.count(s, n, tn, true);
        t.measure(s, n, tn, long, true, 1000, 5, 2000, Outcome.Error, 1);
      }
    }
    // Still within the first second: a read with the current second folds the log in.
    const now = t.window('shard', 1, true).get('s0')!;
    const longs = Math.ceil(total / 100);
    expect(now.requests).toBe(total + longs);
    expect(now.errors * now.seconds).toBeCloseTo(longs, 6);
    expect(now.bytesIn * now.seconds).toBeCloseTo(total * 10 + longs * 1000, 3);
    expect(t.topKeys(1, 1, 'ops', true)[0]!.key.toString()).toBe('hot');
    clock.advance(1000);
    const w = t.window('tenant', 1).get('acme')!;
    expect(w).toMatchObject({ reads: total, writes: longs, bytesIn: total * 10 + longs * 1000 });
    const top = t.topKeys(1, 2);
    expect(top[0]).toMatchObject({ reads: Math.ceil(total / 2), writes: 0 });
    expect(top[1]).toMatchObject({ writes: longs, truncated: true });
  });
});
