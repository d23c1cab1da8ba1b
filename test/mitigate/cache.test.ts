/**
 * The cache overlay and coalescing over embedded nodes: the model check under
 * concurrency (nodes with a capacity model, so replies are asynchronous and
 * reorder across nodes), the GET-in-flight-across-a-SET regression, writes
 * that bypass the router, a lost invalidation link, coalescing, and the
 * bounds (size, entries, TTL, maxStaleMs, stale-while-revalidate).
 */
import { describe, expect, it } from 'vitest';
import type {
  InvalidationFeed,
  InvalidationListener,
  ShardBackend,
  TrackedReplyCallback,
} from '../../src/backend/backend.js';
import type { MemoryBackend } from '../../src/backend/memory.js';
import { ManualClock } from '../../src/clock.js';
import { cacheRemedy, type CacheOptions } from '../../src/mitigate/actions/cache.js';
import { PolicyManager } from '../../src/mitigate/policies.js';
import { measureDefault } from '../../src/mitigate/verify.js';
import type { ActionRecord } from '../../src/mitigate/action.js';
import type { CacheSettings, KeyPolicy } from '../../src/mitigate/policy.js';
import { makeCommand, type Command } from '../../src/protocol/command.js';
import type { Reply } from '../../src/protocol/reply.js';
import type { Router } from '../../src/router/router.js';
import { plain, runModel, USUAL_LOAD } from './cache-model.js';
import { memoryCluster, memoryNodes, routerOver, send } from './cluster.js';
import { Session } from '../../src/router/session.js';
import { mulberry32 } from '../seeded-random.js';

const NODES = ['n0', 'n1'];
/** A second client, for reads that are not the writer's own. */
const reader = new Session(2, 'reader', false, 0);

async function text(r: Router, ...args: string[]): Promise<unknown> {
  return plain(await send(r, ...args));
}

function direct(b: ShardBackend, ...args: string[]): Promise<Reply> {
  return new Promise((resolve) => b.send(makeCommand(...args), resolve));
}

const policy = (cache: Partial<CacheSettings> = {}, extra: Partial<KeyPolicy> = {}): KeyPolicy => ({
  consistency: 'bounded',
  cache: { maxStaleMs: 60_000, staleWhileRevalidate: false, ...cache },
  ...extra,
});

async function cached(r: Router, keys: string[], p = policy(), options: CacheOptions = {}) {
  const remedy = cacheRemedy(options);
  const manager = new PolicyManager({ router: r, clock: options.clock ?? new ManualClock() }, [remedy]);
  for (const k of keys) await manager.set(Buffer.from(k), p);
  const status = (k: string) =>
    manager.get(Buffer.from(k))!.status['cache'] as Record<string, number | boolean>;
  return { manager, remedy, status };
}

/** The node that owns `key` in the router's table. */
function ownerOf(r: Router, key: string): MemoryBackend {
  const t = r.table;
  return r.backends.get(t.shards[t.indexFor(Buffer.from(key))]!.node) as MemoryBackend;
}

/**
 * A node whose feed delivers replies and invalidations only when the test says
 * so: how a Redis feed behaves when its push arrives after the write's
 * acknowledgement, made deterministic.
 */
class GatedFeeds {
  readonly held: (() => void)[] = [];
  holdReplies = false;
  holdInvalidations = false;
  /** Reads the node served (fills), by command name. */
  readonly reads = new Map<string, number>();
  constructor(
    readonly inner: MemoryBackend,
    /** When set, every tracked reply and invalidation is delivered this many ms later (a slow push link). */
    readonly lag?: () => number,
  ) {}

  backend(): ShardBackend {
    const inner = this.inner;
    return new Proxy(inner, {
      get: (target, prop) => {
        if (prop === 'trackInvalidations') return (l: InvalidationListener) => this.#track(l);
        if (prop === 'send')
          return (cmd: Command, done: (r: Reply) => void) => {
            this.reads.set(cmd.name, (this.reads.get(cmd.name) ?? 0) + 1);
            inner.send(cmd, done);
          };
        const v = Reflect.get(target, prop, target) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  }

  release(): void {
    for (const f of this.held.splice(0)) f();
  }

  #track(listener: InvalidationListener): InvalidationFeed {
    const lag = this.lag;
    const gate = (f: () => void): void => {
      if (this.holdInvalidations) this.held.push(f);
      else if (lag !== undefined) setTimeout(f, lag());
      else f();
    };
    const feed = this.inner.trackInvalidations({
      invalidate: (keys) => gate(() => listener.invalidate(keys)),
      linkDown: (reason) => listener.linkDown(reason),
      linkUp: () => listener.linkUp(),
    });
    return {
      get live() {
        return feed.live;
      },
      readTracked: (cmd: Command, done: TrackedReplyCallback): void => {
        this.reads.set(cmd.name, (this.reads.get(cmd.name) ?? 0) + 1);
        feed.readTracked(cmd, (reply, tracked) => {
          if (this.holdReplies) this.held.push(() => done(reply, tracked));
          else if (lag !== undefined) setTimeout(() => done(reply, tracked), lag());
          else done(reply, tracked);
        });
      },
      close: () => feed.close(),
    };
  }
}

function gatedRouter(capacity?: number[], lag?: () => number): { r: Router; gates: GatedFeeds[] } {
  const gates = memoryNodes(NODES, capacity).map((b) => new GatedFeeds(b, lag));
  return {
    r: routerOver(
      gates.map((g) => g.backend()),
      4,
    ),
    gates,
  };
}

function gateOf(r: Router, gates: GatedFeeds[], key: string): GatedFeeds {
  const t = r.table;
  return gates.find((g) => g.inner.node === t.shards[t.indexFor(Buffer.from(key))]!.node)!;
}

describe('cache overlay: the model under concurrency (embedded nodes)', () => {
  it.each([1, 2, 3])('no read older than a write acknowledged before it was sent (seed %i)', async (seed) => {
    // Different capacities, so replies of the two nodes interleave differently.
    const r = memoryCluster({ nodes: NODES, shards: 4, capacity: [4_000, 9_000] });
    const keys = ['hot:a', 'hot:b', 'hot:c', 'hot:d'];
    const { status } = await cached(r, keys);
    const run = await runModel({ router: r, keys, seed, ops: 120, ...USUAL_LOAD });
    expect(run.violations).toEqual([]);
    expect(run.writes).toBeGreaterThan(50);
    const hits = keys.reduce((n, k) => n + (status(k)['hits'] as number), 0);
    expect(hits).toBeGreaterThan(0);
  });

  // As with Redis, whose invalidations arrive on another connection: the
  // node's reports and the fills' replies come late and out of step with the
  // writes' acknowledgements, so coherence rests on the router's own
  // invalidation at the acknowledgement and on the generation rule.
  it.each([1, 2, 3])('also when the nodes report changes late (seed %i)', async (seed) => {
    const rand = mulberry32(seed * 7919);
    const { r } = gatedRouter([4_000, 9_000], () => Math.floor(rand() * 4));
    const keys = ['hot:a', 'hot:b', 'hot:c', 'hot:d'];
    const { status } = await cached(r, keys);
    const run = await runModel({ router: r, keys, seed, ops: 120, ...USUAL_LOAD });
    expect(run.violations).toEqual([]);
    const total = (name: string): number => keys.reduce((n, k) => n + (status(k)[name] as number), 0);
    expect(total('hits')).toBeGreaterThan(0);
    expect(total('fillsDiscarded')).toBeGreaterThan(0);
  });
});

describe('cache overlay: writes through the router', () => {
  it('a GET in flight across a SET answers its reader but does not refill the cache with the old value', async () => {
    const { r, gates } = gatedRouter();
    const { status } = await cached(r, ['k']);
    const gate = gateOf(r, gates, 'k');
    await send(r, 'set', 'k', 'old');
    gate.holdReplies = true;
    gate.holdInvalidations = true; // the node's report arrives late, as Redis's push may
    // Another client's read: the writer's own earlier read would hold its write back.
    const inFlight = send(r, reader, 'get', 'k');
    expect(gate.held).toHaveLength(1); // the read was served by the node; its reply is held
    expect(await send(r, 'set', 'k', 'new')).toBeDefined();
    gate.holdReplies = false;
    gate.release(); // the old read's reply, then the late invalidation
    expect(plain(await inFlight)).toBe('old');
    expect(await text(r, 'get', 'k')).toBe('new');
    expect(status('k')['fillsDiscarded']).toBe(1);
  });

  it('a write waits for its own session’s read still out on the feed connection, which could not see it', async () => {
    const { r, gates } = gatedRouter();
    await cached(r, ['k']);
    const gate = gateOf(r, gates, 'k');
    gate.holdReplies = true;
    const read = send(r, 'get', 'k'); // a miss: filled over the feed, its reply held
    expect(gate.held).toHaveLength(1);
    const write = send(r, 'set', 'k', 'new');
    // Not sent yet: on Redis the feed and the write's connection are not ordered with each other.
    expect(gate.reads.get('set')).toBeUndefined();
    gate.holdReplies = false;
    gate.release();
    expect(gate.reads.get('set')).toBe(1);
    expect(plain(await read)).toBeNull();
    expect(plain(await write)).toBe('OK');
    expect(await text(r, 'get', 'k')).toBe('new');
  });

  it('a write acknowledged before the node reports it still invalidates (at the acknowledgement)', async () => {
    const { r, gates } = gatedRouter();
    const { status } = await cached(r, ['k']);
    const gate = gateOf(r, gates, 'k');
    await send(r, 'set', 'k', 'v1');
    expect(await text(r, 'get', 'k')).toBe('v1');
    expect(await text(r, 'get', 'k')).toBe('v1');
    expect(status('k')['hits']).toBe(1);
    gate.holdInvalidations = true;
    for (const [write, after] of [
      [['set', 'k', 'v2'], 'v2'],
      [['append', 'k', 'x'], 'v2x'],
      [['expire', 'k', '100'], 'v2x'],
      [['del', 'k'], null],
      [['hset', 'k', 'f', '1'], '!WRONGTYPE'],
    ] as const) {
      expect(await text(r, 'get', 'k')).toBeDefined(); // fills the cache
      await send(r, ...write);
      expect(await text(r, 'get', 'k')).toBe(after);
    }
    // Each key of a multi-key write is a write of that key.
    await send(r, 'mset', 'k', 'm1', 'other', 'o');
    expect(await text(r, 'mget', 'k', 'other')).toEqual(['m1', 'o']);
    await send(r, 'del', 'other', 'k');
    expect(await text(r, 'mget', 'k', 'other')).toEqual([null, null]);
  });

  it('caches the hash reads per command and arguments, and a hash write invalidates them all', async () => {
    const { r, gates } = gatedRouter();
    const { status } = await cached(r, ['h']);
    gateOf(r, gates, 'h').holdInvalidations = true;
    await send(r, 'hset', 'h', 'a', '1', 'b', '2');
    const reads = [
      ['hget', 'h', 'a'],
      ['hget', 'h', 'b'],
      ['hmget', 'h', 'a', 'b'],
      ['hgetall', 'h'],
    ];
    for (const args of reads) await send(r, ...args);
    for (const args of reads) await send(r, ...args);
    expect(status('h')['hits']).toBe(4);
    expect(status('h')['entries']).toBe(4);
    await send(r, 'hdel', 'h', 'a');
    expect(status('h')['entries']).toBe(0);
    expect(await text(r, 'hget', 'h', 'a')).toBeNull();
    expect(await text(r, 'hmget', 'h', 'a', 'b')).toEqual([null, '2']);
    expect(await text(r, 'hgetall', 'h')).toEqual(['b', '2']);
  });
});

describe('cache overlay: writes that bypass the router', () => {
  it('a write straight to the node is reported by its feed and seen at once', async () => {
    const r = memoryCluster({ nodes: NODES, shards: 4 });
    const { status } = await cached(r, ['k']);
    const node = ownerOf(r, 'k');
    await direct(node, 'set', 'k', 'v1');
    expect(await text(r, 'get', 'k')).toBe('v1');
    expect(await text(r, 'get', 'k')).toBe('v1');
    await direct(node, 'set', 'k', 'v2');
    expect(await text(r, 'get', 'k')).toBe('v2');
    await direct(node, 'flushall');
    expect(await text(r, 'get', 'k')).toBeNull();
    expect(status('k')['hits']).toBe(1);
  });

  it('with the invalidation link down nothing is served from the cache, and caching resumes once it is back', async () => {
    const r = memoryCluster({ nodes: NODES, shards: 4 });
    const { status, remedy } = await cached(r, ['k']);
    const node = ownerOf(r, 'k');
    await direct(node, 'set', 'k', 'v1');
    await send(r, 'get', 'k');
    expect(status('k')['entries']).toBe(1);
    node.cutInvalidationLinks();
    expect(status('k')['entries']).toBe(0);
    expect(status('k')['liveFeed']).toBe(false);
    for (let i = 2; i < 5; i++) {
      expect(await text(r, 'get', 'k')).toBe(`v${i - 1}`);
      await direct(node, 'set', 'k', `v${i}`); // unreported: the link is down
    }
    expect(status('k')['hits']).toBe(0);
    expect(status('k')['entries']).toBe(0);
    node.restoreInvalidationLinks();
    expect(await text(r, 'get', 'k')).toBe('v4');
    expect(await text(r, 'get', 'k')).toBe('v4');
    expect(status('k')['hits']).toBe(1);
    expect(remedy.storeStatus(r)).toMatchObject({ entries: 1 });
  });
});

describe('what the cache reports', () => {
  it('the stage counts the reads it answered and those it sent the node, coalesced-only reads (LRANGE) too, for the verdict', async () => {
    const r = memoryCluster({ nodes: ['n0', 'n1'], shards: 4 });
    await send(r, 'set', 'k', 'v');
    await send(r, 'rpush', 'l', 'a', 'b');
    const { status } = await cached(r, ['k', 'l']);
    for (let i = 0; i < 5; i++) expect(plain(await send(r, 'get', 'k'))).toBe('v');
    for (let i = 0; i < 4; i++) expect(plain(await send(r, 'lrange', 'l', '0', '-1'))).toEqual(['a', 'b']);
    // One fill, four hits; four LRANGEs, each sent (an embedded node answers at once: nothing to join).
    expect(status('k')).toMatchObject({ reads: 5, backendReads: 1, hits: 4, misses: 1 });
    expect(status('l')).toMatchObject({ reads: 4, backendReads: 4, hits: 0, misses: 0 });
    const share = (key: string): number | null =>
      measureDefault('keyBackendReadShare', {
        action: {} as ActionRecord,
        hotspot: null,
        shard: null,
        node: null,
        snapshot: undefined,
        status: status(key),
      });
    expect(share('k')).toBeCloseTo(0.2, 9);
    expect(share('l')).toBe(1); // measured, not "unknown": a cache that only coalesces is judged too
  });
});

describe('request coalescing', () => {
  it('concurrent GETs of a cold key make one backend read; an error reaches every waiter and is not cached', async () => {
    const { r, gates } = gatedRouter();
    const { status } = await cached(r, ['k', 'h']);
    for (const [key, value, want] of [
      ['k', ['set', 'k', 'v'], 'v'],
      ['h', ['hset', 'h', 'f', 'v'], '!WRONGTYPE'],
    ] as const) {
      await send(r, ...value);
      const gate = gateOf(r, gates, key);
      gate.reads.clear();
      gate.holdReplies = true;
      const replies = Array.from({ length: 20 }, () => send(r, 'get', key));
      gate.holdReplies = false;
      gate.release();
      expect((await Promise.all(replies)).map(plain)).toEqual(Array(20).fill(want));
      expect(gate.reads.get('get')).toBe(1);
      expect(status(key)['coalesced']).toBe(19);
    }
    expect(status('h')).toMatchObject({ entries: 0, errors: 1 });
    await send(r, 'get', 'h');
    expect(gateOf(r, gates, 'h').reads.get('get')).toBe(2); // the error was not cached
  });

  it('a read sent after a write was acknowledged does not join a read sent before it', async () => {
    const { r, gates } = gatedRouter();
    await cached(r, ['k']);
    const gate = gateOf(r, gates, 'k');
    gate.holdInvalidations = true;
    await send(r, 'set', 'k', 'old');
    gate.holdReplies = true;
    const early = send(r, reader, 'get', 'k');
    gate.holdReplies = false;
    const write = send(r, 'set', 'k', 'new');
    expect(plain(await write)).toBe('OK');
    const late = send(r, 'get', 'k');
    gate.release();
    expect(plain(await early)).toBe('old');
    expect(plain(await late)).toBe('new');
  });

  it('coalesces other reads of the key too, without caching them', async () => {
    const { r, gates } = gatedRouter();
    const { status } = await cached(r, ['k']);
    await send(r, 'set', 'k', 'abc');
    const gate = gateOf(r, gates, 'k');
    gate.reads.clear();
    expect((await Promise.all([send(r, 'strlen', 'k'), send(r, 'strlen', 'k')])).map(plain)).toEqual([3, 3]);
    // Synchronous embedded nodes answer before the second is sent: nothing to join.
    expect(gate.reads.get('strlen')).toBe(2);
    expect(status('k')['entries']).toBe(0);
  });
});

describe('cache overlay: removal', () => {
  it('removing the policy drops its entries and, with no cached key left, closes the feeds', async () => {
    const r = memoryCluster({ nodes: NODES, shards: 4 });
    const { manager, remedy } = await cached(r, ['k', 'j']);
    await send(r, 'set', 'k', 'v');
    await send(r, 'get', 'k');
    await send(r, 'get', 'j');
    expect(remedy.storeStatus(r)).toMatchObject({ entries: 2 });
    await manager.delete(Buffer.from('k'));
    expect(remedy.storeStatus(r)).toMatchObject({ entries: 1 });
    await manager.delete(Buffer.from('j'));
    expect(remedy.storeStatus(r)).toMatchObject({ entries: 0, bytes: 0, feeds: {} });
    await direct(ownerOf(r, 'k'), 'set', 'k', 'w');
    expect(await text(r, 'get', 'k')).toBe('w');
  });
});

describe('cache overlay: bounds', () => {
  it('never outlives maxStaleMs (jittered) nor the key’s TTL; maxStaleMs 0 never caches', async () => {
    const clock = new ManualClock();
    const r = memoryCluster({ nodes: NODES, shards: 4 });
    const { status, manager } = await cached(r, ['k', 't'], policy({ maxStaleMs: 1_000 }), {
      clock,
      random: () => 0.999, // the shortest life: ×0.8
    });
    await send(r, 'set', 'k', 'v');
    await send(r, 'get', 'k');
    clock.advance(790);
    await send(r, 'get', 'k');
    expect(status('k')['hits']).toBe(1);
    clock.advance(20);
    await send(r, 'get', 'k');
    expect(status('k')['hits']).toBe(1);
    // The embedded node's own clock runs on: a TTL of 300 ms bounds the entry.
    await send(r, 'set', 't', 'v', 'px', '300');
    await send(r, 'get', 't');
    clock.advance(290);
    await send(r, 'get', 't');
    clock.advance(20);
    await send(r, 'get', 't');
    expect(status('t')['hits']).toBe(1);
    expect(status('t')['misses']).toBe(2);
    await manager.set(Buffer.from('k'), policy({ maxStaleMs: 0 }));
    for (let i = 0; i < 3; i++) await send(r, 'get', 'k');
    expect(status('k')['hits']).toBe(0);
    expect(status('k')['entries']).toBe(0);
  });

  it('does not cache a value over the size limit, and keeps to the entry bound', async () => {
    const r = memoryCluster({ nodes: NODES, shards: 4 });
    const { status, remedy } = await cached(r, ['big', 'h'], policy(), { maxValueBytes: 100, maxEntries: 2 });
    await send(r, 'set', 'big', 'x'.repeat(101));
    await send(r, 'get', 'big');
    await send(r, 'get', 'big');
    expect(status('big')).toMatchObject({ hits: 0, entries: 0, tooLarge: 2 });
    await send(r, 'hset', 'h', 'a', '1', 'b', '2', 'c', '3');
    for (const f of ['a', 'b', 'c']) await send(r, 'hget', 'h', f);
    expect(remedy.storeStatus(r)).toMatchObject({ entries: 2, evictions: 1 });
    expect(await text(r, 'hget', 'h', 'a')).toBe('1'); // evicted: read again
    expect(status('h')['hits']).toBe(0);
  });

  it('with stale-while-revalidate serves the entry while one refresh is in flight, within maxStaleMs', async () => {
    const clock = new ManualClock();
    const { r, gates } = gatedRouter();
    const { status } = await cached(r, ['k'], policy({ maxStaleMs: 1_000, staleWhileRevalidate: true }), {
      clock,
      random: () => 0,
    });
    const gate = gateOf(r, gates, 'k');
    await send(r, 'set', 'k', 'v');
    await send(r, 'get', 'k');
    gate.reads.clear();
    clock.advance(600); // past half its life
    gate.holdReplies = true;
    expect(await text(r, 'get', 'k')).toBe('v');
    expect(await text(r, 'get', 'k')).toBe('v');
    expect(gate.reads.get('get')).toBe(1); // one refresh
    gate.holdReplies = false;
    gate.release();
    clock.advance(450); // the old entry's life is over; the refreshed one is still fresh
    expect(await text(r, 'get', 'k')).toBe('v');
    expect(status('k')).toMatchObject({ hits: 3, refreshes: 1 });
  });
});
