import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import type { WriteListener } from '../../src/backend/backend.js';
import type { BlockTimers } from '../../src/backend/memory-blocking.js';
import { SortedSet } from '../../src/backend/memory-sorted-set.js';
import { MemoryBackend, type MemoryBackendOptions } from '../../src/backend/memory.js';
import { ManualClock } from '../../src/clock.js';
import { HotshardError } from '../../src/errors.js';
import { nodeId } from '../../src/keyspace/ids.js';
import { makeCommand } from '../../src/protocol/command.js';
import { encodeReply } from '../../src/protocol/reply-encoder.js';
import { SimpleString, type Reply } from '../../src/protocol/reply.js';

const open: MemoryBackend[] = [];
function backend(options: Partial<MemoryBackendOptions> = {}): MemoryBackend {
  const b = new MemoryBackend({ node: nodeId('mem-types'), ...options });
  open.push(b);
  return b;
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((b) => b.close()));
});

function call(b: MemoryBackend, ...args: string[]): Reply {
  let out: Reply | undefined;
  b.send(makeCommand(...args), (r) => (out = r));
  return out!;
}
/** A reply as RESP2 text, so nested arrays and null kinds compare plainly. */
const resp = (r: Reply | undefined): string =>
  r === undefined ? 'pending' : encodeReply(r, 2).toString('latin1');
const bulk = (s: string): string => `$${s.length}\r\n${s}\r\n`;

/** Timers that fire only when the test says so. */
class ManualTimers implements BlockTimers {
  readonly pending = new Map<number, () => void>();
  #next = 1;
  setTimeout(fn: () => void): unknown {
    const id = this.#next++;
    this.pending.set(id, fn);
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.pending.delete(handle as number);
  }
  fireAll(): void {
    const fns = [...this.pending.values()];
    this.pending.clear();
    for (const fn of fns) fn();
  }
}

function blockingCall(
  b: MemoryBackend,
  ...args: string[]
): { reply: () => Reply | undefined; cancel: () => void } {
  let out: Reply | undefined;
  let calls = 0;
  const cancel = b.sendBlocking(makeCommand(...args), (r) => {
    out = r;
    calls++;
  });
  return {
    reply: () => {
      expect(calls).toBeLessThanOrEqual(1);
      return out;
    },
    cancel,
  };
}

describe('memory backend - blocking pops', () => {
  it('waiters on a key are served in the order they came, one element each', () => {
    const b = backend();
    const first = blockingCall(b, 'BLPOP', 'q', '0');
    const second = blockingCall(b, 'BLPOP', 'other', 'q', '0');
    const third = blockingCall(b, 'BRPOP', 'q', '0');
    expect(first.reply()).toBeUndefined();
    expect(b.blockedClients).toBe(3);
    expect(call(b, 'RPUSH', 'q', 'a', 'b')).toBe(2);
    expect(resp(first.reply())).toBe(`*2\r\n${bulk('q')}${bulk('a')}`);
    expect(resp(second.reply())).toBe(`*2\r\n${bulk('q')}${bulk('b')}`);
    expect(third.reply()).toBeUndefined();
    // the key ran dry and is gone, as Redis deletes an empty list
    expect(call(b, 'EXISTS', 'q')).toBe(0);
    call(b, 'LPUSH', 'q', 'c');
    expect(resp(third.reply())).toBe(`*2\r\n${bulk('q')}${bulk('c')}`);
    expect(b.blockedClients).toBe(0);
  });

  it('a blocked client holds up no other command', () => {
    const b = backend();
    const waiting = blockingCall(b, 'BZPOPMIN', 'z', '0');
    expect(call(b, 'SET', 'k', 'v')).toEqual(new SimpleString('OK'));
    expect(call(b, 'GET', 'k')).toEqual(Buffer.from('v'));
    expect(waiting.reply()).toBeUndefined();
    call(b, 'ZADD', 'z', '2', 'b', '1', 'a');
    expect(resp(waiting.reply())).toBe(`*3\r\n${bulk('z')}${bulk('a')}${bulk('1')}`);
  });

  it('times out with a null array; timeout 0 waits until served', () => {
    const timers = new ManualTimers();
    const b = backend({ timers });
    const timed = blockingCall(b, 'BLPOP', 'q', '0.5');
    const forever = blockingCall(b, 'BLMOVE', 'src', 'dst', 'LEFT', 'RIGHT', '0');
    expect(timers.pending.size).toBe(1);
    timers.fireAll();
    expect(resp(timed.reply())).toBe('*-1\r\n');
    expect(forever.reply()).toBeUndefined();
    call(b, 'RPUSH', 'src', 'x');
    expect(forever.reply()).toEqual(Buffer.from('x'));
    expect(call(b, 'LRANGE', 'dst', '0', '-1')).toEqual([Buffer.from('x')]);
  });

  it('a cancelled waiter is never answered and takes nothing', () => {
    const b = backend();
    const gone = blockingCall(b, 'BLPOP', 'q', '0');
    const next = blockingCall(b, 'BLPOP', 'q', '0');
    gone.cancel();
    gone.cancel();
    call(b, 'RPUSH', 'q', 'only');
    expect(gone.reply()).toBeUndefined();
    expect(resp(next.reply())).toBe(`*2\r\n${bulk('q')}${bulk('only')}`);
  });

  it('BLMOVE that serves pushes on, waking a waiter on its destination in the same pass', () => {
    const b = backend();
    const mover = blockingCall(b, 'BLMOVE', 'a', 'b', 'RIGHT', 'LEFT', '0');
    const onB = blockingCall(b, 'BLPOP', 'b', '0');
    call(b, 'LPUSH', 'a', 'v');
    expect(mover.reply()).toEqual(Buffer.from('v'));
    expect(resp(onB.reply())).toBe(`*2\r\n${bulk('b')}${bulk('v')}`);
    expect(call(b, 'DBSIZE')).toBe(0);
  });

  it('a key of another type does not wake a waiter; bad arguments answer at once', () => {
    const b = backend();
    const w = blockingCall(b, 'BLPOP', 'k', '0');
    call(b, 'SET', 'k', 'str');
    expect(w.reply()).toBeUndefined();
    expect(resp(blockingCall(b, 'BLPOP', 'k', '0').reply())).toMatch(/^-WRONGTYPE/);
    expect(resp(blockingCall(b, 'BLPOP', 'k', '-1').reply())).toBe('-ERR timeout is negative\r\n');
    expect(resp(blockingCall(b, 'BLPOP', 'k', 'x').reply())).toBe(
      '-ERR timeout is not a float or out of range\r\n',
    );
    expect(resp(blockingCall(b, 'BLPOP', 'k').reply())).toBe(
      "-ERR wrong number of arguments for 'blpop' command\r\n",
    );
  });

  it('BZMPOP and BLMPOP pop up to COUNT from the first key that has elements', () => {
    const b = backend();
    const z = blockingCall(b, 'BZMPOP', '0', '2', 'z1', 'z2', 'MAX', 'COUNT', '2');
    const l = blockingCall(b, 'BLMPOP', '0', '1', 'l', 'LEFT', 'COUNT', '5');
    call(b, 'ZADD', 'z2', '1', 'a', '2', 'b', '3', 'c');
    call(b, 'RPUSH', 'l', 'x', 'y');
    expect(resp(z.reply())).toBe(
      `*2\r\n${bulk('z2')}*2\r\n*2\r\n${bulk('c')}${bulk('3')}*2\r\n${bulk('b')}${bulk('2')}`,
    );
    expect(resp(l.reply())).toBe(`*2\r\n${bulk('l')}*2\r\n${bulk('x')}${bulk('y')}`);
  });

  it('through send, a blocking pop answers at once as inside MULTI', () => {
    const b = backend();
    expect(resp(call(b, 'BLPOP', 'q', '0'))).toBe('*-1\r\n');
    expect(resp(call(b, 'BLMOVE', 'q', 'd', 'LEFT', 'LEFT', '0'))).toBe('$-1\r\n');
    expect(b.blockedClients).toBe(0);
  });

  it('closing the node answers every waiter', async () => {
    const b = backend();
    const w = blockingCall(b, 'BRPOP', 'q', '0');
    await b.close();
    expect(resp(w.reply())).toMatch(/HS_ERR_SHUTTING_DOWN/);
  });
});

describe('memory backend - random choices come from the seed', () => {
  const run = (seed: number): Reply[] => {
    const b = backend({ seed });
    call(b, 'SADD', 's', ...'abcdefghijklmnop'.split(''));
    call(b, 'ZADD', 'z', '1', 'a', '2', 'b', '3', 'c', '4', 'd');
    return [
      call(b, 'SPOP', 's'),
      call(b, 'SPOP', 's', '3'),
      call(b, 'SRANDMEMBER', 's', '4'),
      call(b, 'SRANDMEMBER', 's', '-6'),
      call(b, 'ZRANDMEMBER', 'z', '2'),
    ];
  };

  it('the same seed draws the same members; the draws are valid ones', () => {
    const a = run(7);
    expect(run(7)).toEqual(a);
    const popped = [a[0] as Buffer, ...(a[1] as Buffer[])].map(String);
    expect(new Set(popped).size).toBe(4);
    const distinct = (a[2] as Buffer[]).map(String);
    expect(new Set(distinct).size).toBe(4);
    for (const m of distinct) expect(popped).not.toContain(m);
    expect((a[3] as Buffer[]).length).toBe(6);
    expect(new Set((a[4] as Buffer[]).map(String)).size).toBe(2);
  });

  it('different seeds draw differently', () => {
    const draws = new Set([1, 2, 3, 4, 5].map((s) => JSON.stringify(run(s).map((r) => resp(r)))));
    expect(draws.size).toBeGreaterThan(1);
  });
});

describe('memory backend - every type is a value like any other', () => {
  it('TYPE, WRONGTYPE, DEL, DBSIZE and expiry see lists, sets and sorted sets', () => {
    const clock = new ManualClock();
    const b = backend({ clock });
    call(b, 'RPUSH', 'l', 'a');
    call(b, 'SADD', 's', 'a');
    call(b, 'ZADD', 'z', '1', 'a');
    expect([call(b, 'TYPE', 'l'), call(b, 'TYPE', 's'), call(b, 'TYPE', 'z')]).toEqual([
      new SimpleString('list'),
      new SimpleString('set'),
      new SimpleString('zset'),
    ]);
    expect(resp(call(b, 'GET', 'l'))).toMatch(/^-WRONGTYPE/);
    expect(resp(call(b, 'SADD', 'z', 'x'))).toMatch(/^-WRONGTYPE/);
    expect(call(b, 'DBSIZE')).toBe(3);
    expect(call(b, 'PEXPIRE', 'z', '10')).toBe(1);
    clock.advance(11);
    expect(call(b, 'ZCARD', 'z')).toBe(0);
    expect(call(b, 'DEL', 'l', 's')).toBe(2);
    expect(call(b, 'DBSIZE')).toBe(0);
  });

  it('a write watch hears pushes, adds, pops and the key going when emptied', async () => {
    const b = backend();
    const heard: string[] = [];
    const listener: WriteListener = {
      changed: (keys) => heard.push(...(keys ?? []).map(String)),
      lost: () => undefined,
    };
    const watch = await b.watchWrites(listener);
    const step = (...args: string[]): string[] => {
      heard.length = 0;
      call(b, ...args);
      return [...new Set(heard)];
    };
    expect(step('LPUSH', 'l', 'a')).toEqual(['l']);
    expect(step('SADD', 's', 'a')).toEqual(['s']);
    expect(step('SADD', 's', 'a')).toEqual([]); // no change: nothing to hear
    expect(step('ZADD', 'z', '1', 'a')).toEqual(['z']);
    expect(step('ZPOPMIN', 'z')).toEqual(['z']);
    expect(step('LMOVE', 'l', 'm', 'LEFT', 'LEFT')).toEqual(['m', 'l']);
    expect(step('SINTERSTORE', 'd', 's')).toEqual(['d']);
    watch.close();
  });

  it('dumps of every type restore on another node with their TTL', async () => {
    const clock = new ManualClock();
    const from = backend({ clock });
    const to = backend({ clock });
    call(from, 'RPUSH', 'l', 'a', 'b', '\x00c');
    call(from, 'SADD', 's', 'x', 'y');
    call(from, 'ZADD', 'z', '1.5', 'a', '-inf', 'b', '2', 'c');
    call(from, 'HSET', 'h', 'f', 'v');
    call(from, 'SET', 'k', 'v');
    call(from, 'PEXPIRE', 'z', '5000');
    const names = ['l', 's', 'z', 'h', 'k'];
    const dumps = await from.dumpKeys(names.map((n) => Buffer.from(n)));
    await to.restoreKeys(names.map((n, i) => ({ key: Buffer.from(n), dump: dumps[i]! })));
    expect(call(to, 'LRANGE', 'l', '0', '-1')).toEqual(call(from, 'LRANGE', 'l', '0', '-1'));
    expect(resp(call(to, 'SMEMBERS', 's'))).toBe(resp(call(from, 'SMEMBERS', 's')));
    expect(resp(call(to, 'ZRANGE', 'z', '0', '-1', 'WITHSCORES'))).toBe(
      `*6\r\n${bulk('b')}${bulk('-inf')}${bulk('a')}${bulk('1.5')}${bulk('c')}${bulk('2')}`,
    );
    expect(call(to, 'PTTL', 'z')).toBe(5000);
    expect(call(to, 'PTTL', 'l')).toBe(-1);
    expect(await to.restoreIfAbsent(Buffer.from('l'), dumps[0]!)).toBe(false);
    const bad = { payload: Buffer.from('HS\x02\x02\x00\x00\x00\x05', 'latin1'), pttl: -1 };
    await expect(to.restoreIfAbsent(Buffer.from('n'), bad)).rejects.toThrow(HotshardError);
  });
});

describe('memory backend - sorted set structure', () => {
  it('rank, position and order match a sorted array under random inserts, moves and removals', () => {
    const op = fc.oneof(
      fc.tuple(fc.constant('set' as const), fc.integer({ min: 0, max: 40 }), fc.integer({ min: -5, max: 5 })),
      fc.tuple(fc.constant('del' as const), fc.integer({ min: 0, max: 40 }), fc.constant(0)),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
        const z = new SortedSet();
        const model = new Map<string, number>();
        for (const [kind, m, s] of ops) {
          const member = `m${m}`;
          if (kind === 'set') {
            z.set(member, s);
            model.set(member, s);
          } else {
            expect(z.remove(member)).toBe(model.delete(member));
          }
        }
        const sorted = [...model].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
        expect(Array.from(z.entries(), (n) => [n.member, n.score])).toEqual(sorted);
        sorted.forEach(([member], i) => {
          expect(z.rank(member)).toBe(i);
          expect(z.at(i)?.member).toBe(member);
        });
        expect(z.tail?.member).toBe(sorted.at(-1)?.[0]);
      }),
      { seed: 16, numRuns: 200 },
    );
  });
});

describe('memory backend - scans of large collections', () => {
  it('SSCAN returns every member present throughout, however the set changes between pages', () => {
    const b = backend();
    const members = Array.from({ length: 600 }, (_, i) => `m${i}`);
    call(b, 'SADD', 's', ...members);
    const seen = new Set<string>();
    let cursor = '0';
    let pages = 0;
    do {
      const [next, items] = call(b, 'SSCAN', 's', cursor, 'COUNT', '50') as [Buffer, Buffer[]];
      for (const m of items) seen.add(String(m));
      cursor = String(next);
      pages++;
      // churn: new members and removals of ones not in the "throughout" half
      call(b, 'SADD', 's', `new${pages}`);
      call(b, 'SREM', 's', `m${599 - pages}`);
    } while (cursor !== '0');
    expect(pages).toBeGreaterThan(5);
    for (let i = 0; i < 300; i++) expect(seen.has(`m${i}`)).toBe(true);
  });
});
