/**
 * The conformance suite of invalidation feeds (ShardBackend.trackInvalidations),
 * run by the memory backend and against real redis-server processes: a key read
 * through readTracked is reported when anyone changes it (another client, expiry,
 * FLUSHALL), a key not read so is not, and a lost link is reported down, then up
 * once tracking is set up again.
 *
 * "Not reported" is checked with a marker: a tracked key changed after the
 * writes that must stay silent. A node reports changes in the order it makes
 * them, so once the marker is heard anything earlier would have been.
 *
 * Each test opens feeds of its own and closes them; `make` is called once per
 * suite. The link tests restart a Redis node: they run last.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { InvalidationFeed, InvalidationListener, ShardBackend } from '../../src/backend/backend.js';
import { makeCommand } from '../../src/protocol/command.js';
import { decodeReply } from '../../src/protocol/reply-decoder.js';
import { MapReply, RawReply, ReplyError, SimpleString, type Reply } from '../../src/protocol/reply.js';

/** A backend whose invalidation feeds are under test, and the means to change its node behind its back. */
export interface TrackingHarness {
  readonly backend: ShardBackend;
  /** Runs a command as another client of the node would (not through `backend`'s data path). */
  external(...args: string[]): Promise<Reply>;
  /** Lets `ms` of the node's time pass: a manual clock moved, or real time waited. */
  elapse(ms: number): Promise<void>;
  /** Breaks the invalidation link as this backend can lose it; resolves once it is broken. */
  cutLink(): Promise<void>;
  /** Lets the link come back (the feed must then set tracking up again). */
  restoreLink(): Promise<void>;
  teardown(): Promise<void>;
}

/** What a listener heard, in order; keys as latin1 text, null for "every key". */
export type Heard =
  | { readonly kind: 'invalidate'; readonly keys: readonly string[] | null }
  | { readonly kind: 'down'; readonly reason: string }
  | { readonly kind: 'up' };

/** An InvalidationListener that writes down what it hears. */
export class Recorder implements InvalidationListener {
  readonly heard: Heard[] = [];
  invalidate(keys: readonly Buffer[] | null): void {
    this.heard.push({
      kind: 'invalidate',
      keys: keys === null ? null : keys.map((k) => k.toString('latin1')),
    });
  }
  linkDown(reason: string): void {
    this.heard.push({ kind: 'down', reason });
  }
  linkUp(): void {
    this.heard.push({ kind: 'up' });
  }
  /** Every key reported, in order, '*' for a report of every key. */
  get keys(): string[] {
    return this.heard.flatMap((h) => (h.kind !== 'invalidate' ? [] : h.keys === null ? ['*'] : h.keys));
  }
  /** How often `key` was reported by name. */
  count(key: string): number {
    return this.keys.filter((k) => k === key).length;
  }
  /** The kinds heard, in order, runs of invalidations as one 'invalidate'. */
  get links(): string[] {
    return this.heard.map((h) => h.kind).filter((k) => k !== 'invalidate');
  }
}

/** A reply in plain values: bulk strings as text, errors as `{ error }`. */
export function plain(reply: Reply): unknown {
  if (reply instanceof RawReply) return plain(decodeReply(reply.bytes));
  if (Buffer.isBuffer(reply)) return reply.toString('latin1');
  if (reply instanceof ReplyError) return { error: reply.message };
  if (reply instanceof SimpleString) return reply.value;
  if (reply instanceof MapReply) return reply.entries.map(plain);
  if (Array.isArray(reply)) return (reply as readonly Reply[]).map(plain);
  return reply;
}

/** Polls `cond` until it holds; the bound is generous, the usual wait is a few ms. */
export async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Reads through a feed; the reply in plain values and whether it was tracked. */
export function readTracked(
  feed: InvalidationFeed,
  ...args: string[]
): Promise<{ reply: unknown; tracked: boolean }> {
  return new Promise((resolve, reject) => {
    let calls = 0;
    const timer = setTimeout(() => reject(new Error(`no reply to tracked ${args[0]} within 10 s`)), 10_000);
    feed.readTracked(makeCommand(...args), (reply, tracked) => {
      clearTimeout(timer);
      if (++calls > 1) reject(new Error(`tracked ${args[0]} answered twice`));
      resolve({ reply: plain(reply), tracked });
    });
  });
}

/** Registers the invalidation feed conformance tests for one backend. */
export function runTrackingCases(label: string, make: () => Promise<TrackingHarness>): void {
  describe(`${label} backend - invalidation feed`, () => {
    let h: TrackingHarness;
    const feeds: InvalidationFeed[] = [];
    const run = { id: randomUUID().slice(0, 8), n: 0 };
    /** A key prefix no other test uses. */
    const prefix = (): string => `hs:track:${run.id}:${++run.n}:`;

    /** A feed that is live, with the recorder it reports to. */
    async function open(): Promise<{ feed: InvalidationFeed; rec: Recorder }> {
      const rec = new Recorder();
      const feed = h.backend.trackInvalidations(rec);
      feeds.push(feed);
      await until(() => feed.live, 'the feed is live');
      rec.heard.length = 0; // a Redis feed's first linkUp: the tests look at what comes after
      return { feed, rec };
    }

    /** Reads `key` tracked, changes it, and waits for its report: everything the node did before is heard. */
    async function marker(feed: InvalidationFeed, rec: Recorder, key: string): Promise<void> {
      expect((await readTracked(feed, 'GET', key)).tracked).toBe(true);
      const before = rec.count(key);
      await h.external('SET', key, 'm');
      await until(() => rec.count(key) > before, `the marker ${key} is reported`);
    }

    beforeAll(async () => {
      h = await make();
    });
    afterEach(() => {
      for (const feed of feeds.splice(0)) feed.close();
    });
    afterAll(async () => {
      await h.teardown();
    });

    it('tracking - a key read through the feed and changed by another client is reported, once per read', async () => {
      const { feed, rec } = await open();
      const k = `${prefix()}k`;
      expect(await readTracked(feed, 'GET', k)).toEqual({ reply: null, tracked: true });
      await h.external('SET', k, 'v1');
      await until(() => rec.count(k) === 1, `${k} reported`);
      // Not read again: the next change is nobody's news (Redis's semantics).
      await h.external('SET', k, 'v2');
      await marker(feed, rec, `${prefix()}marker`);
      expect(rec.count(k)).toBe(1);
      expect(await readTracked(feed, 'GET', k)).toEqual({ reply: 'v2', tracked: true });
      await h.external('SET', k, 'v3');
      await until(() => rec.count(k) === 2, `${k} reported again`);
      expect(rec.links).toEqual([]);
    });

    it('tracking - keys not read through the feed are not reported, however they are read or written', async () => {
      const { feed, rec } = await open();
      const p = prefix();
      await h.external('SET', `${p}plain`, 'v');
      // A plain read through the backend's data path does not track.
      const plainRead = await new Promise<Reply>((resolve) =>
        h.backend.send(makeCommand('GET', `${p}plain`), resolve),
      );
      expect(plain(plainRead)).toBe('v');
      await h.external('SET', `${p}plain`, 'w');
      await h.external('SET', `${p}never-read`, 'w');
      await h.external('DEL', `${p}never-read`);
      await marker(feed, rec, `${p}marker`);
      expect(rec.keys).toEqual([`${p}marker`]);
    });

    it('tracking - a feed hears only its own reads: another feed reading a key does not make it news here', async () => {
      const a = await open();
      const b = await open();
      const p = prefix();
      expect((await readTracked(b.feed, 'GET', `${p}b-only`)).tracked).toBe(true);
      await h.external('SET', `${p}b-only`, 'v');
      await until(() => b.rec.count(`${p}b-only`) === 1, 'b hears its key');
      await marker(a.feed, a.rec, `${p}marker`);
      expect(a.rec.keys).toEqual([`${p}marker`]);
    });

    it('tracking - every kind of change is reported: writes of each type, deletes, TTL changes, a type change', async () => {
      const { feed, rec } = await open();
      const p = prefix();
      // [setup, tracked read, change]; `K` stands for the key.
      const cases: Array<[string[][], string[], string[]]> = [
        [[['SET', 'K', 'v']], ['GET', 'K'], ['SET', 'K', 'w']],
        [[['SET', 'K', 'v']], ['GET', 'K'], ['DEL', 'K']],
        [[['SET', 'K', 'v']], ['GET', 'K'], ['UNLINK', 'K']],
        [[['SET', 'K', 'v']], ['GET', 'K'], ['GETDEL', 'K']],
        [[['SET', 'K', 'v']], ['GET', 'K'], ['GETSET', 'K', 'w']],
        [[['SET', 'K', 'v']], ['GET', 'K'], ['APPEND', 'K', 'w']],
        [[['SET', 'K', '1']], ['GET', 'K'], ['INCR', 'K']],
        [[['SET', 'K', '1']], ['GET', 'K'], ['DECRBY', 'K', '5']],
        [[['SET', 'K', '1']], ['GET', 'K'], ['INCRBYFLOAT', 'K', '0.5']],
        [[['SET', 'K', 'v']], ['GET', 'K'], ['MSET', 'K', 'w', 'K:other', 'x']],
        [[['SET', 'K', 'v']], ['GET', 'K'], ['EXPIRE', 'K', '100']],
        [[['SET', 'K', 'v']], ['GET', 'K'], ['PEXPIRE', 'K', '100000']],
        [[['SET', 'K', 'v', 'EX', '100']], ['GET', 'K'], ['PERSIST', 'K']],
        [[['SET', 'K', 'v']], ['GET', 'K'], ['SET', 'K', 'v', 'KEEPTTL']],
        [[], ['GET', 'K'], ['SETNX', 'K', 'v']],
        [[], ['GET', 'K'], ['PSETEX', 'K', '100000', 'v']],
        [[['HSET', 'K', 'f', 'v']], ['HGET', 'K', 'f'], ['HSET', 'K', 'f', 'w']],
        [[['HSET', 'K', 'f', 'v']], ['HGET', 'K', 'f'], ['HSET', 'K', 'other', 'w']],
        [[['HSET', 'K', 'f', 'v', 'g', 'w']], ['HGETALL', 'K'], ['HDEL', 'K', 'f']],
        [[['HSET', 'K', 'f', 'v']], ['HGETALL', 'K'], ['HDEL', 'K', 'f']],
        [[['HSET', 'K', 'n', '1']], ['HMGET', 'K', 'n', 'x'], ['HINCRBY', 'K', 'n', '2']],
        [[['HSET', 'K', 'f', 'v']], ['HGETALL', 'K'], ['DEL', 'K']],
        [[['HSET', 'K', 'f', 'v']], ['HGETALL', 'K'], ['SET', 'K', 'now a string']],
        [[['SET', 'K', 'v']], ['MGET', 'K:a', 'K', 'K:b'], ['SET', 'K', 'w']],
      ];
      const missed: string[] = [];
      for (const [i, [setup, read, change]] of cases.entries()) {
        const key = `${p}${i}`;
        const sub = (args: string[]): string[] =>
          args.map((a) => (a === 'K' ? key : a.startsWith('K:') ? key + a.slice(1) : a));
        for (const s of setup) await h.external(...sub(s));
        expect((await readTracked(feed, ...sub(read))).tracked).toBe(true);
        expect(plain(await h.external(...sub(change)))).not.toHaveProperty('error');
        await until(() => rec.count(key) === 1, `${change.join(' ')} reported`).catch(() =>
          missed.push(change.join(' ')),
        );
      }
      expect(missed).toEqual([]);
    });

    it('tracking - MGET tracks each of its keys, missing ones too', async () => {
      const { feed, rec } = await open();
      const p = prefix();
      await h.external('SET', `${p}a`, '1');
      expect(await readTracked(feed, 'MGET', `${p}a`, `${p}missing`)).toEqual({
        reply: ['1', null],
        tracked: true,
      });
      await h.external('SET', `${p}missing`, 'now here');
      await until(() => rec.count(`${p}missing`) === 1, 'the missing key reported');
      await h.external('DEL', `${p}a`);
      await until(() => rec.count(`${p}a`) === 1, 'the present key reported');
    });

    it('tracking - a key whose time to live runs out is reported without being read again', async () => {
      const { feed, rec } = await open();
      const k = `${prefix()}ttl`;
      await h.external('SET', k, 'v', 'PX', '300');
      expect(await readTracked(feed, 'GET', k)).toEqual({ reply: 'v', tracked: true });
      await h.elapse(400);
      await until(() => rec.count(k) === 1, 'the expired key reported');
      expect(plain(await h.external('EXISTS', k))).toBe(0);
    });

    it('tracking - FLUSHALL, by another client or by flushAll, reports every key (null)', async () => {
      const { feed, rec } = await open();
      const k = `${prefix()}k`;
      expect((await readTracked(feed, 'GET', k)).tracked).toBe(true);
      await h.external('FLUSHALL');
      await until(() => rec.keys.includes('*'), 'FLUSHALL reported');
      expect(rec.heard).toEqual([{ kind: 'invalidate', keys: null }]);
      await h.backend.flushAll();
      await until(() => rec.count('*') === 2, 'flushAll reported');
    });

    it('tracking - readTracked takes reads only: a write is refused and not run', async () => {
      const { feed } = await open();
      const k = `${prefix()}k`;
      const { reply, tracked } = await readTracked(feed, 'SET', k, 'v');
      expect(tracked).toBe(false);
      expect(reply).toEqual({
        error: "ERR HS_ERR_BAD_REQUEST readTracked takes GET, MGET, HGET, HMGET or HGETALL, not 'set'",
      });
      expect(plain(await h.external('EXISTS', k))).toBe(0);
    });

    it('tracking - a closed feed hears nothing more and serves reads untracked', async () => {
      const { feed, rec } = await open();
      const other = await open();
      const p = prefix();
      expect((await readTracked(feed, 'GET', `${p}k`)).tracked).toBe(true);
      feed.close();
      feed.close(); // idempotent
      expect(feed.live).toBe(false);
      await h.external('SET', `${p}k`, 'v');
      await marker(other.feed, other.rec, `${p}marker`);
      expect(rec.heard).toEqual([]);
      expect(await readTracked(feed, 'GET', `${p}k`)).toEqual({ reply: 'v', tracked: false });
    });

    it('tracking - a lost link is reported down, reads meanwhile are untracked, and tracking resumes once it is back', async () => {
      const { feed, rec } = await open();
      const p = prefix();
      expect((await readTracked(feed, 'GET', `${p}k`)).tracked).toBe(true);
      await h.cutLink();
      await until(() => rec.links.includes('down'), 'linkDown');
      expect(feed.live).toBe(false);
      const down = rec.heard.find((e) => e.kind === 'down');
      expect(down).toMatchObject({ reason: expect.any(String) as unknown });
      expect((await readTracked(feed, 'GET', `${p}k`)).tracked).toBe(false);
      await h.restoreLink();
      await until(() => feed.live, 'live again');
      expect(rec.links).toEqual(['down', 'up']);
      expect((await readTracked(feed, 'GET', `${p}k2`)).tracked).toBe(true);
      await h.external('SET', `${p}k2`, 'v');
      await until(() => rec.count(`${p}k2`) === 1, 'a key read after the link came back is reported');
    });
  });
}
