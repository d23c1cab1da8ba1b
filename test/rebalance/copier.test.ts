import { afterEach, describe, expect, it } from 'vitest';
import type { KeyDump, ShardBackend } from '../../src/backend/backend.js';
import { MemoryBackend } from '../../src/backend/memory.js';
import { nodeId } from '../../src/keyspace/ids.js';
import { CopyThrottle, NO_LIMITS, RangeCopier, type MoveLimits } from '../../src/rebalance/copier.js';
import { direct, value } from './move-harness.js';

const open: MemoryBackend[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((b) => b.close()));
});

function node(name: string): MemoryBackend {
  const b = new MemoryBackend({ node: nodeId(name), maxValueBytes: 64 * 1024 * 1024 });
  open.push(b);
  return b;
}

/** `n` keys `k:<i>` with `bytes`-byte values; every third also `in:` (the range) and every fifth with a TTL. */
async function fill(b: ShardBackend, n: number, bytes = 8): Promise<void> {
  const writes: Promise<unknown>[] = [];
  for (let i = 0; i < n; i++) {
    const key = i % 3 === 0 ? `in:${i}` : `out:${i}`;
    const v = Buffer.alloc(bytes, 'v');
    writes.push(i % 5 === 0 ? direct(b, 'SET', key, v, 'PX', '600000') : direct(b, 'SET', key, v));
  }
  await Promise.all(writes);
}

const inRange = (key: Buffer): boolean => key.toString('latin1').startsWith('in:');

/** What a wrapped source saw: dump batch sizes, most dumps in flight at once, scan steps. */
interface Seen {
  dumpSizes: number[];
  maxDumpsInFlight: number;
  scanSteps: number;
  scanEnded: boolean;
}

/**
 * `b` with its dumps answered a turn later (as a node's would be), counted,
 * and held while `gate` is set; `onDump` runs before each; the scan fails
 * after `failScanAfter` steps when given.
 */
function watched(
  b: MemoryBackend,
  opts: { onDump?: (seen: Seen) => void; failScanAfter?: number } = {},
): { backend: ShardBackend; seen: Seen; hold: () => () => void } {
  const seen: Seen = { dumpSizes: [], maxDumpsInFlight: 0, scanSteps: 0, scanEnded: false };
  let inFlight = 0;
  let gate: Promise<void> | null = null;
  const dumpKeys = async (keys: readonly Buffer[]): Promise<(KeyDump | null)[]> => {
    opts.onDump?.(seen);
    seen.dumpSizes.push(keys.length);
    seen.maxDumpsInFlight = Math.max(seen.maxDumpsInFlight, ++inFlight);
    try {
      await new Promise((r) => setImmediate(r));
      if (gate !== null) await gate;
      return await b.dumpKeys(keys);
    } finally {
      inFlight--;
    }
  };
  async function* scanKeys(accept: (key: Buffer) => boolean, size?: number): AsyncIterable<Buffer[]> {
    try {
      for await (const keys of b.scanKeys(accept, size)) {
        if (opts.failScanAfter !== undefined && seen.scanSteps >= opts.failScanAfter)
          throw new Error('scan failed (injected)');
        seen.scanSteps++;
        yield keys;
      }
    } finally {
      seen.scanEnded = true;
    }
  }
  const backend = new Proxy(b, {
    get(target, prop) {
      if (prop === 'dumpKeys') return dumpKeys;
      if (prop === 'scanKeys') return scanKeys;
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  const hold = (): (() => void) => {
    let release!: () => void;
    gate = new Promise((r) => (release = r));
    return () => {
      gate = null;
      release();
    };
  };
  return { backend, seen, hold };
}

/** A throttle on a fake clock whose sleeps advance it: waits cost no time, their lengths still count. */
function fakeThrottle(limits: MoveLimits): CopyThrottle {
  let now = 0;
  return new CopyThrottle(
    limits,
    () => now,
    (ms) => {
      now += ms;
      return Promise.resolve();
    },
  );
}

/** Every key of a node with its value. */
async function rangeOn(b: MemoryBackend): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const keys of b.scanKeys(() => true))
    for (const k of keys) {
      const v = value(await direct(b, 'GET', k));
      out.set(k.toString('latin1'), Buffer.isBuffer(v) ? v.toString('latin1') : JSON.stringify(v));
    }
  return out;
}

describe('range copier', () => {
  it('range copier - copies every key of the range with its TTL and nothing else', async () => {
    const source = node('a');
    const target = node('b');
    await fill(source, 3_000);
    const copier = new RangeCopier({ source, target, inRange, throttle: new CopyThrottle(NO_LIMITS) });
    await copier.copyAll(() => undefined);
    const want = new Map([...(await rangeOn(source))].filter(([k]) => k.startsWith('in:')));
    expect(await rangeOn(target)).toEqual(want);
    expect(copier.counters.keysCopied).toBe(1_000);
    expect(copier.counters.keysScanned).toBe(3_000);
    const ttl = Number(value(await direct(target, 'PTTL', 'in:0')));
    expect(ttl).toBeGreaterThan(500_000);
    expect(ttl).toBeLessThanOrEqual(600_000);
    expect(value(await direct(target, 'PTTL', 'in:3'))).toBe(-1);
  });

  it('range copier - the scan runs ahead while batches wait on the source, bounded', async () => {
    const source = node('a');
    const target = node('b');
    await fill(source, 6_000);
    const w = watched(source);
    const release = w.hold();
    const copier = new RangeCopier({
      source: w.backend,
      target,
      inRange: () => true,
      throttle: new CopyThrottle(NO_LIMITS),
      batchKeys: 100,
      scanKeys: 100,
      window: 2,
    });
    const copy = copier.copyAll(() => undefined);
    // The first batch (8 keys, alone: no size known yet) is held at the source; the scan goes on
    // until its queue holds (window + 1) steps of 100, then waits. In line, it would wait too.
    for (let i = 0; i < 100; i++) await new Promise((r) => setImmediate(r));
    expect(w.seen.dumpSizes).toEqual([8]);
    expect(w.seen.scanSteps).toBe(4);
    release();
    await copy;
    expect(copier.counters.keysCopied).toBe(6_000);
    expect(await target.keyCount()).toBe(6_000);
  });

  it('range copier - a low keys/s limit sends batches of 100 ms of it at most, a new limit from the next batch', async () => {
    const source = node('a');
    const target = node('b');
    await fill(source, 6_000);
    const throttle = fakeThrottle({ maxKeysPerSec: 1_000, maxBytesPerSec: null });
    let changedAt = -1;
    const w = watched(source, {
      onDump: (seen) => {
        const done = seen.dumpSizes.reduce((a, b) => a + b, 0);
        if (changedAt < 0 && done >= 3_000) {
          changedAt = seen.dumpSizes.length;
          throttle.setLimits({ maxKeysPerSec: 200 });
        }
      },
    });
    const copier = new RangeCopier({ source: w.backend, target, inRange: () => true, throttle });
    await copier.copyAll(() => undefined);
    const before = w.seen.dumpSizes.slice(0, changedAt);
    const after = w.seen.dumpSizes.slice(changedAt + 1);
    expect(Math.max(...before)).toBe(100);
    expect(after.length).toBeGreaterThan(0);
    expect(Math.max(...after)).toBeLessThanOrEqual(20);
    expect(await target.keyCount()).toBe(6_000);
  });

  it('range copier - batches of large values go one at a time, small ones fill the window', async () => {
    const big = node('a');
    const small = node('b');
    await fill(big, 30, 256 * 1024);
    await fill(small, 5_000);
    const run = async (source: MemoryBackend): Promise<Seen> => {
      const w = watched(source);
      const target = node(`t-${source.node}`);
      const copier = new RangeCopier({
        source: w.backend,
        target,
        inRange: () => true,
        throttle: new CopyThrottle(NO_LIMITS),
        batchBytes: 1024 * 1024,
        window: 4,
      });
      await copier.copyAll(() => undefined);
      expect(await target.keyCount()).toBe(await source.keyCount());
      return w.seen;
    };
    const bigSeen = await run(big);
    expect(bigSeen.maxDumpsInFlight).toBe(1);
    expect(Math.max(...bigSeen.dumpSizes)).toBeLessThanOrEqual(8);
    expect((await run(small)).maxDumpsInFlight).toBe(4);
    const copied = value(await direct(open.at(-2)!, 'GET', 'in:0'));
    expect(Buffer.isBuffer(copied) && copied.length).toBe(256 * 1024);
  });

  it('range copier - a scan failing mid-way fails the copy (no hang), a stop ends the scan', async () => {
    const source = node('a');
    await fill(source, 5_000);
    const failing = watched(source, { failScanAfter: 2 });
    const copier = new RangeCopier({
      source: failing.backend,
      target: node('b'),
      inRange: () => true,
      throttle: new CopyThrottle(NO_LIMITS),
      scanKeys: 500,
    });
    await expect(copier.copyAll(() => undefined)).rejects.toThrow('scan failed (injected)');

    const stopped = watched(source);
    const again = new RangeCopier({
      source: stopped.backend,
      target: node('c'),
      inRange: () => true,
      throttle: new CopyThrottle(NO_LIMITS),
      scanKeys: 100,
    });
    let batches = 0;
    const stop = (): void => {
      if (++batches > 3) throw new Error('stopped');
    };
    await expect(again.copyAll(stop)).rejects.toThrow('stopped');
    expect(stopped.seen.scanEnded).toBe(true);
    expect(stopped.seen.scanSteps).toBeLessThan(50);
  });
});
