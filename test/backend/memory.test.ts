import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MemoryBackend, type MemoryBackendOptions } from '../../src/backend/memory.js';
import { ManualClock } from '../../src/clock.js';
import { ConfigError, HotshardError } from '../../src/errors.js';
import { nodeId } from '../../src/keyspace/ids.js';
import { makeCommand } from '../../src/protocol/command.js';
import { OK, ReplyError, type Reply } from '../../src/protocol/reply.js';
import { runBackendCases } from './backend.case.js';

runBackendCases('memory', () => {
  const backend = new MemoryBackend({ node: nodeId('mem-conformance') });
  return Promise.resolve({ backend, teardown: () => backend.close() });
});

/** Runs a command on a backend without a capacity model, where the reply is synchronous. */
function syncCall(b: MemoryBackend, ...args: Array<string | Buffer>): Reply {
  let out: Reply | undefined;
  let calls = 0;
  b.send(makeCommand(...args), (r) => {
    out = r;
    calls++;
  });
  expect(calls).toBe(1);
  return out!;
}

const open: MemoryBackend[] = [];
function backend(options: Partial<MemoryBackendOptions> = {}): MemoryBackend {
  const b = new MemoryBackend({ node: nodeId('mem-1'), ...options });
  open.push(b);
  return b;
}

afterEach(async () => {
  await Promise.all(open.splice(0).map((b) => b.close()));
  vi.useRealTimers();
});

describe('memory backend - TTL with a manual clock', () => {
  it('a key lives through its last millisecond and is gone one later', () => {
    const clock = new ManualClock();
    const b = backend({ clock });
    expect(syncCall(b, 'SET', 'k', 'v', 'PX', '100')).toBe(OK);
    clock.advance(100);
    expect(syncCall(b, 'PTTL', 'k')).toBe(0);
    expect(syncCall(b, 'GET', 'k')).toEqual(Buffer.from('v'));
    clock.advance(1);
    expect(syncCall(b, 'GET', 'k')).toBeNull();
    expect(syncCall(b, 'PTTL', 'k')).toBe(-2);
    expect(b.expiredKeys).toBe(1);
  });

  it('TTL rounds to the nearest second like Redis', () => {
    const clock = new ManualClock();
    const b = backend({ clock });
    expect(syncCall(b, 'SET', 'k', 'v', 'EX', '10')).toBe(OK);
    clock.advance(4500);
    expect(syncCall(b, 'PTTL', 'k')).toBe(5500);
    expect(syncCall(b, 'TTL', 'k')).toBe(6);
    clock.advance(1);
    expect(syncCall(b, 'TTL', 'k')).toBe(5);
  });

  it('EXAT, PXAT and EXPIRE are exact against the injected clock', () => {
    const clock = new ManualClock(1_700_000_000_000);
    const b = backend({ clock });
    expect(syncCall(b, 'SET', 'a', 'v', 'EXAT', '1700000010')).toBe(OK);
    expect(syncCall(b, 'PTTL', 'a')).toBe(10_000);
    expect(syncCall(b, 'SET', 'b', 'v', 'PXAT', '1700000000000')).toBe(OK);
    expect(syncCall(b, 'PTTL', 'b')).toBe(0); // expires at now: still there this millisecond
    expect(syncCall(b, 'EXPIRE', 'a', '3')).toBe(1);
    expect(syncCall(b, 'PTTL', 'a')).toBe(3000);
    clock.advance(1);
    expect(syncCall(b, 'EXISTS', 'a', 'b')).toBe(1);
  });

  it('dump reports the exact remaining TTL and restore honours it', async () => {
    const clock = new ManualClock();
    const b = backend({ clock });
    syncCall(b, 'SET', 'k', 'v', 'PX', '1000');
    clock.advance(400);
    const d = await b.dump(Buffer.from('k'));
    expect(d?.pttl).toBe(600);
    expect(await b.restoreIfAbsent(Buffer.from('k2'), d!)).toBe(true);
    expect(syncCall(b, 'PTTL', 'k2')).toBe(600);
    clock.advance(600);
    const last = await b.dump(Buffer.from('k2'));
    expect(last?.pttl).toBe(1); // 0 would mean "no expiry" to a RESTORE
    clock.advance(1);
    expect(await b.dump(Buffer.from('k2'))).toBeNull();
  });

  it('keyCount and DBSIZE - count the keys held, as Redis does: an expired key counts until a lookup or active expiry reclaims it', async () => {
    // Redis 7 (checked with DEBUG SET-ACTIVE-EXPIRE 0): DBSIZE is the size of
    // the key dict, so a key past its TTL counts until something reclaims it.
    // Reading the count must not scan the expiries: it stays O(1).
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const clock = new ManualClock();
    const b = backend({ clock });
    const dbsize = (): Reply => syncCall(b, 'DBSIZE');
    syncCall(b, 'SET', 'a', 'v', 'PX', '10');
    syncCall(b, 'SET', 'b', 'v');
    syncCall(b, 'SET', 'c', 'v', 'EX', '100');
    syncCall(b, 'HSET', 'h', 'f', 'v');
    syncCall(b, 'PEXPIRE', 'h', '20');
    expect([dbsize(), await b.keyCount()]).toEqual([4, 4]);
    syncCall(b, 'PERSIST', 'c');
    syncCall(b, 'EXPIRE', 'b', '-1'); // a past expiry deletes at once
    syncCall(b, 'DEL', 'missing');
    expect(dbsize()).toBe(3);
    clock.advance(30); // a and h are now past their TTL, not yet reclaimed
    expect([dbsize(), await b.keyCount()]).toEqual([3, 3]);
    expect(b.expiredKeys).toBe(0); // counting reclaimed nothing
    expect(syncCall(b, 'GET', 'a')).toBeNull(); // lazy expiry reclaims a
    expect([dbsize(), b.expiredKeys]).toEqual([2, 1]);
    syncCall(b, 'SET', 'h', 'v'); // SET reclaims the expired h first (Redis's lookupKeyWrite), then stores it anew
    expect([dbsize(), b.expiredKeys]).toEqual([2, 2]);
    syncCall(b, 'SET', 'd', 'v', 'PX', '5');
    clock.advance(6);
    vi.advanceTimersByTime(100); // active expiry reclaims d
    expect([dbsize(), b.expiredKeys]).toEqual([2, 3]);
    syncCall(b, 'DEL', 'c', 'h');
    expect([dbsize(), await b.keyCount()]).toEqual([0, 0]);
  });
});

describe('memory backend - keyspace stats', () => {
  it('keyspaceStats - keys with an expiry stay exact through lazy and active expiry, without a scan', async () => {
    // Like Redis's `expires` (the size of db->expires): a key past its TTL
    // counts until a lookup or active expiry reclaims it.
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const clock = new ManualClock();
    const b = backend({ clock });
    const counts = async (): Promise<unknown> => {
      const s = await b.keyspaceStats();
      return [s.keys, s.expires, s.avgTtlMs];
    };
    syncCall(b, 'SET', 'a', 'v', 'PX', '10');
    syncCall(b, 'SET', 'b', 'v', 'PX', '20');
    syncCall(b, 'SET', 'c', 'v', 'EX', '100');
    syncCall(b, 'SET', 'p', 'v');
    expect(await counts()).toEqual([4, 3, 0]);
    clock.advance(15); // a is past its TTL, not yet reclaimed
    expect(await counts()).toEqual([4, 3, 0]);
    expect(syncCall(b, 'GET', 'a')).toBeNull(); // lazy expiry
    expect(await counts()).toEqual([3, 2, 0]);
    clock.advance(10);
    vi.advanceTimersByTime(100); // active expiry reclaims b
    expect([await counts(), b.expiredKeys]).toEqual([[2, 1, 0], 2]);
    syncCall(b, 'SET', 'c', 'v', 'PX', '5', 'GET');
    syncCall(b, 'SET', 'b', 'v', 'EX', '1');
    clock.advance(6);
    syncCall(b, 'SET', 'c', 'w', 'EX', '9'); // an expired key written anew has its new TTL, counted once
    expect(await counts()).toEqual([3, 2, 0]);
    syncCall(b, 'FLUSHALL');
    expect(await counts()).toEqual([0, 0, 0]);
  });
});

describe('memory backend - active expiry', () => {
  it('removes expired keys every 100 ms without any access', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const clock = new ManualClock();
    const b = backend({ clock });
    for (let i = 0; i < 1000; i++) syncCall(b, 'SET', `t${i}`, 'v', 'PX', '50');
    for (let i = 0; i < 10; i++) syncCall(b, 'SET', `p${i}`, 'v');
    for (let i = 0; i < 10; i++) syncCall(b, 'SET', `l${i}`, 'v', 'EX', '100');
    vi.advanceTimersByTime(100);
    expect(b.expiredKeys).toBe(0); // nothing expired yet
    clock.advance(51);
    expect(b.expiredKeys).toBe(0);
    vi.advanceTimersByTime(100);
    expect(b.expiredKeys).toBe(1000);
    expect(await b.keyCount()).toBe(20);
  });

  it('spreads the work over cycles when few sampled keys are expired', () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const clock = new ManualClock();
    const b = backend({ clock });
    for (let i = 0; i < 200; i++) syncCall(b, 'SET', `l${i}`, 'v', 'EX', '100');
    for (let i = 0; i < 5; i++) syncCall(b, 'SET', `t${i}`, 'v', 'PX', '10');
    clock.advance(11);
    // a cycle samples 20 keys per round and stops once a round is <= 25 % expired,
    // so the few expired keys at the end of the order go over several cycles
    vi.advanceTimersByTime(100);
    expect(b.expiredKeys).toBe(0);
    vi.advanceTimersByTime(100 * 10);
    expect(b.expiredKeys).toBe(5);
  });

  it('close() stops the expiry timer and fails later work', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const b = backend();
    expect(vi.getTimerCount()).toBe(1);
    await b.close();
    expect(vi.getTimerCount()).toBe(0);
    expect(b.status).toBe('down');
    const reply = syncCall(b, 'GET', 'k');
    expect(reply).toBeInstanceOf(ReplyError);
    expect((reply as ReplyError).message).toBe('ERR HS_ERR_SHARD_UNAVAILABLE node mem-1 is closed');
    await expect(b.keyCount()).rejects.toMatchObject({ code: 'HS_ERR_SHARD_UNAVAILABLE' });
    await expect(b.dump(Buffer.from('k'))).rejects.toBeInstanceOf(HotshardError);
    await b.close(); // idempotent
  });
});

describe('memory backend - storage details', () => {
  it('stores copies of arguments, not views of the caller buffer', () => {
    const b = backend();
    const chunk = Buffer.from('keyAvalueAfieldBfvalueB');
    const key = chunk.subarray(0, 4);
    syncCall(b, 'SET', key, chunk.subarray(4, 10));
    syncCall(b, 'HSET', 'h', chunk.subarray(10, 16), chunk.subarray(16, 23));
    syncCall(b, 'MSET', 'm', chunk.subarray(4, 10));
    chunk.fill(0x78);
    expect(syncCall(b, 'GET', 'keyA')).toEqual(Buffer.from('valueA'));
    expect(syncCall(b, 'GET', 'm')).toEqual(Buffer.from('valueA'));
    expect(syncCall(b, 'HGET', 'h', 'fieldB')).toEqual(Buffer.from('fvalueB'));
  });

  it('maxValueBytes refuses bigger strings with the proto-max-bulk-len error', () => {
    const b = backend({ maxValueBytes: 8 });
    const tooBig = 'ERR string exceeds maximum allowed size (proto-max-bulk-len)';
    expect(syncCall(b, 'SET', 'k', '12345678')).toBe(OK);
    expect(syncCall(b, 'SET', 'k', '123456789')).toEqual(new ReplyError(tooBig));
    expect(syncCall(b, 'APPEND', 'k', '9')).toEqual(new ReplyError(tooBig));
    expect(syncCall(b, 'HSET', 'h', 'f', '123456789')).toEqual(new ReplyError(tooBig));
    expect(syncCall(b, 'MSET', 'a', '1', 'b', '123456789')).toEqual(new ReplyError(tooBig));
    expect(syncCall(b, 'EXISTS', 'h', 'a', 'b')).toBe(0);
    expect(syncCall(b, 'GET', 'k')).toEqual(Buffer.from('12345678'));
  });

  it('maxValueBytes bounds SETBIT growth too', () => {
    const b = backend({ maxValueBytes: 8 });
    expect(syncCall(b, 'SETBIT', 'k', '63', '1')).toBe(0);
    expect(syncCall(b, 'SETBIT', 'k', '64', '1')).toEqual(
      new ReplyError('ERR string exceeds maximum allowed size (proto-max-bulk-len)'),
    );
    expect(syncCall(b, 'STRLEN', 'k')).toBe(8);
  });

  it('a Redis command an embedded node does not serve is refused as such, naming what to use; an unknown one gets Redis text', () => {
    const b = backend();
    const text = (...args: string[]): string => (syncCall(b, ...args) as ReplyError).message;
    expect(text('DUMP', 'k')).toBe(
      'ERR HS_ERR_NOT_ALLOWED DUMP is not served by embedded nodes; use Redis nodes (backend: redis)',
    );
    expect(text('PFDEBUG', 'GETREG', 'p')).toBe(
      'ERR HS_ERR_NOT_ALLOWED PFDEBUG is not served by embedded nodes; use Redis nodes (backend: redis)',
    );
    expect(text('OBJECT', 'ENCODING', 'k')).toBe(
      'ERR HS_ERR_NOT_ALLOWED OBJECT is not served by embedded nodes; use Redis nodes (backend: redis)',
    );
    expect(text('NOSUCH', 'a')).toBe("ERR unknown command 'NOSUCH', with args beginning with: 'a' ");
  });

  it('answers synchronously without a capacity model', () => {
    const b = backend();
    let replied = false;
    b.send(makeCommand('PING'), () => {
      replied = true;
    });
    expect(replied).toBe(true);
    expect(b.capacity).toBeNull();
    expect(b.queueDepth).toBe(0);
  });

  it('refuses invalid options naming the field', () => {
    expect(() => new MemoryBackend({ node: nodeId('x'), capacity: 0 })).toThrow(/capacity/);
    expect(() => new MemoryBackend({ node: nodeId('x'), capacity: Number.NaN })).toThrow(ConfigError);
    expect(() => new MemoryBackend({ node: nodeId('x'), capacity: 10, maxQueue: -1 })).toThrow(/maxQueue/);
    expect(() => new MemoryBackend({ node: nodeId('x'), maxValueBytes: 1.5 })).toThrow(/maxValueBytes/);
  });

  it('restoreIfAbsent refuses payloads that are not its own and bad TTLs', async () => {
    const b = backend();
    syncCall(b, 'HSET', 'h', 'f', 'v');
    const d = (await b.dump(Buffer.from('h')))!;
    const bad = { code: 'HS_ERR_BAD_REQUEST' };
    await expect(
      b.restoreIfAbsent(Buffer.from('x'), { payload: Buffer.from('garbage'), pttl: -1 }),
    ).rejects.toMatchObject(bad);
    await expect(
      b.restoreIfAbsent(Buffer.from('x'), { payload: d.payload.subarray(0, d.payload.length - 1), pttl: -1 }),
    ).rejects.toMatchObject(bad);
    await expect(b.restoreIfAbsent(Buffer.from('x'), { payload: d.payload, pttl: 0 })).rejects.toMatchObject(
      bad,
    );
    await expect(b.restoreIfAbsent(Buffer.from('x'), { payload: d.payload, pttl: -2 })).rejects.toMatchObject(
      bad,
    );
    expect(syncCall(b, 'EXISTS', 'x')).toBe(0);
  });

  it('scanKeys skips keys deleted during the scan and rejects a bad batch size', async () => {
    const b = backend();
    for (let i = 0; i < 30; i++) syncCall(b, 'SET', `k${i}`, 'v');
    const seen: string[] = [];
    for await (const batch of b.scanKeys(() => true, 10)) {
      for (const k of batch) seen.push(k.toString());
      if (seen.length === 10) syncCall(b, 'DEL', 'k25', 'k26');
    }
    expect(seen).toHaveLength(28);
    expect(seen).not.toContain('k25');
    const drain = async (): Promise<void> => {
      for await (const batch of b.scanKeys(() => true, 0)) void batch;
    };
    await expect(drain()).rejects.toThrow(RangeError);
  });

  it("a move's bulk calls take turns with the event loop, as a remote node's would", async () => {
    const b = backend();
    for (let i = 0; i < 5000; i++) syncCall(b, 'SET', `k${i}`, 'v');
    // Stands for the client requests waiting in the event loop during a move.
    let turns = 0;
    let ticking = true;
    const tick = (): void => {
      turns++;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    try {
      const keys = Array.from({ length: 500 }, (_, i) => Buffer.from(`k${i}`));
      const before = turns;
      const dumps = await b.dumpKeys(keys);
      expect(turns).toBeGreaterThan(before);
      const at = turns;
      await b.restoreKeys(keys.map((key, i) => ({ key, dump: dumps[i] ?? null })));
      expect(turns).toBeGreaterThan(at);
      // A scan over 5,000 names that takes none lets the loop turn at least every 1,024.
      const scanStart = turns;
      let batches = 0;
      for await (const batch of b.scanKeys(() => false, 10)) batches += batch.length;
      expect(batches).toBe(0);
      expect(turns - scanStart).toBeGreaterThanOrEqual(4);
    } finally {
      ticking = false;
    }
  });

  it('INCRBY - matches 64-bit arithmetic on random sequences', () => {
    const int64 = fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n });
    fc.assert(
      fc.property(
        int64,
        fc.array(fc.oneof(int64, fc.bigInt({ min: -1000n, max: 1000n })), { maxLength: 20 }),
        (start, steps) => {
          const b = new MemoryBackend({ node: nodeId('prop') });
          try {
            syncCall(b, 'SET', 'n', String(start));
            let model = start;
            for (const step of steps) {
              const reply = syncCall(b, 'INCRBY', 'n', String(step));
              const next = model + step;
              if (next > (1n << 63n) - 1n || next < -(1n << 63n)) {
                expect(reply).toEqual(new ReplyError('ERR increment or decrement would overflow'));
              } else {
                model = next;
                expect(BigInt(reply as number | bigint)).toBe(model);
                const safe =
                  model >= BigInt(Number.MIN_SAFE_INTEGER) && model <= BigInt(Number.MAX_SAFE_INTEGER);
                expect(typeof reply).toBe(safe ? 'number' : 'bigint');
              }
            }
            expect(syncCall(b, 'GET', 'n')).toEqual(Buffer.from(String(model)));
          } finally {
            void b.close();
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
