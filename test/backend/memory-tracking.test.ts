import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { InvalidationFeed } from '../../src/backend/backend.js';
import { MemoryBackend, type MemoryBackendOptions } from '../../src/backend/memory.js';
import { ManualClock } from '../../src/clock.js';
import { ConfigError } from '../../src/errors.js';
import { nodeId } from '../../src/keyspace/ids.js';
import { makeCommand } from '../../src/protocol/command.js';
import type { Reply } from '../../src/protocol/reply.js';
import { Recorder, plain, readTracked, runTrackingCases } from './tracking.case.js';
import { TRACKING_KEYS, trackingSteps } from './tracking-steps.js';

runTrackingCases('memory', () => {
  const clock = new ManualClock();
  const backend = new MemoryBackend({ node: nodeId('mem-tracking'), clock });
  return Promise.resolve({
    backend,
    external: (...args: string[]) =>
      new Promise<Reply>((resolve) => backend.send(makeCommand(...args), resolve)),
    elapse: (ms: number) => {
      clock.advance(ms); // active expiry (every 100 ms of real time) finds the key
      return Promise.resolve();
    },
    cutLink: () => Promise.resolve(backend.cutInvalidationLinks('cut by the test')),
    restoreLink: () => Promise.resolve(backend.restoreInvalidationLinks()),
    teardown: () => backend.close(),
  });
});

const open: MemoryBackend[] = [];
function backend(options: Partial<MemoryBackendOptions> = {}): MemoryBackend {
  const b = new MemoryBackend({ node: nodeId('mem-t'), ...options });
  open.push(b);
  return b;
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((b) => b.close()));
  vi.useRealTimers();
});

/** Runs a command on a node without a capacity model, where the reply comes before `send` returns. */
function sync(b: MemoryBackend, ...args: string[]): unknown {
  let out: Reply | undefined;
  b.send(makeCommand(...args), (r) => (out = r));
  if (out === undefined) throw new Error(`${args[0]} was not answered synchronously`);
  return plain(out);
}

/** A tracked read answered synchronously, with what the listener had heard when the reply came. */
function syncTracked(
  feed: InvalidationFeed,
  rec: Recorder,
  ...args: string[]
): { reply: unknown; tracked: boolean; heardBefore: number } {
  let out: { reply: unknown; tracked: boolean; heardBefore: number } | undefined;
  feed.readTracked(makeCommand(...args), (reply, tracked) => {
    out = { reply: plain(reply), tracked, heardBefore: rec.heard.length };
  });
  if (out === undefined) throw new Error(`tracked ${args[0]} was not answered synchronously`);
  return out;
}

describe('memory backend - invalidation feed details', () => {
  it('a write is reported before its reply, and a lazy expiry before the reply of the read that found it', () => {
    const clock = new ManualClock();
    const b = backend({ clock });
    const rec = new Recorder();
    const feed = b.trackInvalidations(rec);
    expect(feed.live).toBe(true);
    sync(b, 'SET', 'k', 'v', 'PX', '100');
    expect(syncTracked(feed, rec, 'GET', 'k')).toMatchObject({ reply: 'v', tracked: true });

    let heardAtReply = -1;
    b.send(makeCommand('SET', 'k', 'w', 'PX', '100'), () => (heardAtReply = rec.heard.length));
    expect(heardAtReply).toBe(1);
    expect(rec.keys).toEqual(['k']);

    expect(syncTracked(feed, rec, 'GET', 'k')).toMatchObject({ reply: 'w', tracked: true });
    clock.advance(101); // no active cycle runs: the next look finds it expired
    b.send(makeCommand('EXISTS', 'k'), (r) => {
      expect(r).toBe(0);
      heardAtReply = rec.heard.length;
    });
    expect(heardAtReply).toBe(2);
    expect(rec.keys).toEqual(['k', 'k']);
  });

  it('a tracked read that itself finds its key expired is not told of that expiry, but of the next change', () => {
    const clock = new ManualClock();
    const b = backend({ clock });
    const rec = new Recorder();
    const feed = b.trackInvalidations(rec);
    sync(b, 'SET', 'k', 'v', 'PX', '10');
    clock.advance(11);
    expect(syncTracked(feed, rec, 'GET', 'k')).toEqual({ reply: null, tracked: true, heardBefore: 0 });
    sync(b, 'SET', 'k', 'again');
    expect(rec.keys).toEqual(['k']);
  });

  it('active expiry reports the keys it reclaims', () => {
    vi.useFakeTimers();
    const clock = new ManualClock();
    const b = backend({ clock });
    const rec = new Recorder();
    const feed = b.trackInvalidations(rec);
    for (const k of ['a', 'b', 'c']) {
      sync(b, 'SET', k, 'v', 'PX', '50');
      syncTracked(feed, rec, 'GET', k);
    }
    sync(b, 'SET', 'untracked', 'v', 'PX', '50');
    clock.advance(51);
    vi.advanceTimersByTime(100);
    expect(rec.keys.sort()).toEqual(['a', 'b', 'c']);
    expect(b.expiredKeys).toBe(4);
  });

  it('move operations report what they change: deleteKeys, restoreIfAbsent, flushAll; dump of an expired key', async () => {
    const clock = new ManualClock();
    const b = backend({ clock });
    const rec = new Recorder();
    const feed = b.trackInvalidations(rec);
    sync(b, 'SET', 'a', 'v');
    const dumped = await b.dump(Buffer.from('a'));
    syncTracked(feed, rec, 'GET', 'a');
    syncTracked(feed, rec, 'GET', 'b');
    expect(await b.deleteKeys([Buffer.from('a')])).toBe(1);
    expect(rec.keys).toEqual(['a']);
    expect(await b.restoreIfAbsent(Buffer.from('b'), dumped!)).toBe(true);
    expect(rec.keys).toEqual(['a', 'b']);
    sync(b, 'SET', 'c', 'v', 'PX', '5');
    syncTracked(feed, rec, 'GET', 'c');
    clock.advance(6);
    expect(await b.dump(Buffer.from('c'))).toBeNull();
    expect(rec.keys).toEqual(['a', 'b', 'c']);
    await b.flushAll();
    expect(rec.keys).toEqual(['a', 'b', 'c', '*']);
  });

  it('tracked reads are served through the capacity model, in order with other commands', async () => {
    vi.useFakeTimers();
    const clock = new ManualClock();
    const b = backend({ clock, capacity: 1, maxQueue: 10 });
    const rec = new Recorder();
    const feed = b.trackInvalidations(rec);
    const order: string[] = [];
    b.send(makeCommand('SET', 'k', 'v'), () => order.push('set')); // the burst token
    const read = readTracked(feed, 'GET', 'k').then((r) => {
      order.push('read');
      return r;
    });
    b.send(makeCommand('SET', 'k', 'w'), () => order.push('set2'));
    expect(b.queueDepth).toBe(2);
    expect(order).toEqual(['set']);
    clock.advance(1_000);
    vi.advanceTimersByTime(1_000);
    expect(await read).toEqual({ reply: 'v', tracked: true });
    expect(order).toEqual(['set', 'read']);
    clock.advance(1_000);
    vi.advanceTimersByTime(1_000);
    expect(order).toEqual(['set', 'read', 'set2']);
    expect(rec.keys).toEqual(['k']);
  });

  it('a full tracking table reports its oldest key changed and forgets it, as Redis does', () => {
    const b = backend({ maxTrackedKeys: 2 });
    const rec = new Recorder();
    const feed = b.trackInvalidations(rec);
    for (const k of ['a', 'b']) syncTracked(feed, rec, 'GET', k);
    expect(rec.keys).toEqual([]);
    syncTracked(feed, rec, 'GET', 'c');
    expect(rec.keys).toEqual(['a']);
    sync(b, 'SET', 'a', 'v');
    expect(rec.keys).toEqual(['a']);
    expect(() => backend({ maxTrackedKeys: 0 })).toThrow(ConfigError);
  });

  it('closing the node tells live feeds linkDown; a feed of a closed node is never live', async () => {
    const b = backend();
    const rec = new Recorder();
    const feed = b.trackInvalidations(rec);
    syncTracked(feed, rec, 'GET', 'k');
    await b.close();
    expect(rec.heard).toEqual([{ kind: 'down', reason: 'node mem-t is closed' }]);
    expect(feed.live).toBe(false);
    const late = new Recorder();
    const lateFeed = b.trackInvalidations(late);
    expect(lateFeed.live).toBe(false);
    const r = await readTracked(lateFeed, 'GET', 'k');
    expect(r.tracked).toBe(false);
    expect(r.reply).toMatchObject({ error: expect.stringMatching(/HS_ERR_SHARD_UNAVAILABLE/) as unknown });
    feed.close();
    expect(rec.heard).toHaveLength(1);
  });

  it('a feed made while links are cut starts down and comes up with the others', () => {
    const b = backend();
    b.cutInvalidationLinks('test');
    const rec = new Recorder();
    const feed = b.trackInvalidations(rec);
    expect(feed.live).toBe(false);
    expect(syncTracked(feed, rec, 'GET', 'k').tracked).toBe(false);
    b.restoreInvalidationLinks();
    expect(feed.live).toBe(true);
    expect(rec.links).toEqual(['up']);
  });

  it('a listener that throws does not break the node: the command is answered, the error surfaces', () => {
    const b = backend();
    const feed = b.trackInvalidations({
      invalidate: () => {
        throw new Error('listener bug');
      },
      linkDown: () => undefined,
      linkUp: () => undefined,
    });
    feed.readTracked(makeCommand('GET', 'k'), () => undefined);
    // The error is rethrown on the next tick: caught here instead of by the test runner.
    const later: Array<() => void> = [];
    const hold = (fn: () => void): void => void later.push(fn);
    const tick = vi.spyOn(process, 'nextTick').mockImplementation(hold as typeof process.nextTick);
    try {
      expect(sync(b, 'SET', 'k', 'v')).toBe('OK');
    } finally {
      tick.mockRestore();
    }
    expect(sync(b, 'GET', 'k')).toBe('v');
    expect(later).toHaveLength(1);
    expect(() => later[0]!()).toThrow('listener bug');
  });
});

// --- The property: any change of a tracked key, by any command, is reported ------------------

const KEYS = TRACKING_KEYS;
const { command, read } = trackingSteps(['1', '2', '-1', '0', '100', '150', '0.5']);

type Step =
  | { readonly kind: 'command'; readonly args: string[] }
  | { readonly kind: 'read'; readonly args: string[] }
  | { readonly kind: 'time'; readonly ms: number; readonly tick: boolean };

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: command.map((args): Step => ({ kind: 'command', args })) },
  { weight: 4, arbitrary: read.map((args): Step => ({ kind: 'read', args })) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.integer({ min: 0, max: 200 }), fc.boolean())
      .map(([ms, tick]): Step => ({ kind: 'time', ms, tick })),
  },
);

/** What a client can see of a key: its type, value and absolute expiry. */
function look(b: MemoryBackend, clock: ManualClock, key: string): string {
  const type = sync(b, 'TYPE', key);
  const value = type === 'hash' ? sync(b, 'HGETALL', key) : sync(b, 'GET', key);
  const pttl = sync(b, 'PTTL', key) as number;
  return JSON.stringify([type, value, pttl < 0 ? pttl : clock.now() + pttl]);
}

describe('memory backend - invalidation property', () => {
  it('every change of a tracked key, by any command, expiry or flush, is reported; no untracked key ever is', () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 60, size: 'max' }), (steps) => {
        vi.useFakeTimers();
        const clock = new ManualClock();
        const b = new MemoryBackend({ node: nodeId('mem-prop'), clock });
        try {
          const rec = new Recorder();
          const feed = b.trackInvalidations(rec);
          const tracked = new Set<string>();
          for (const s of steps) {
            const before = new Map(KEYS.map((k) => [k, look(b, clock, k)]));
            const heard = rec.heard.length;
            let heardAtReply = -1;
            if (s.kind === 'command') {
              b.send(makeCommand(...s.args), () => (heardAtReply = rec.heard.length));
            } else if (s.kind === 'read') {
              feed.readTracked(makeCommand(...s.args), (_r, ok) => {
                expect(ok).toBe(true);
                heardAtReply = rec.heard.length;
              });
            } else {
              clock.advance(s.ms);
              if (s.tick) vi.advanceTimersByTime(100); // an active expiry cycle
            }
            const after = new Map(KEYS.map((k) => [k, look(b, clock, k)]));
            // A command's changes are reported before its reply; looking found nothing left to expire.
            if (s.kind !== 'time') expect(rec.heard.length).toBe(heardAtReply);
            const reported = rec.heard.slice(heard).flatMap((h) => {
              expect(h.kind).toBe('invalidate');
              return h.kind === 'invalidate' ? (h.keys ?? ['*']) : [];
            });
            for (const key of reported) {
              if (key === '*') continue;
              expect(tracked.has(key), `${key} reported but not tracked`).toBe(true);
            }
            for (const key of KEYS) {
              if (tracked.has(key) && before.get(key) !== after.get(key)) {
                expect(
                  reported.includes(key) || reported.includes('*'),
                  `${key} changed by ${JSON.stringify(s)} and not reported`,
                ).toBe(true);
              }
            }
            if (reported.includes('*')) tracked.clear();
            for (const key of reported) tracked.delete(key);
            if (s.kind === 'read')
              for (const key of s.args.slice(1, s.args[0] === 'MGET' ? undefined : 2)) tracked.add(key);
          }
        } finally {
          void b.close();
          vi.useRealTimers();
        }
      }),
      { numRuns: 300 },
    );
  });
});
