/**
 * What the differential test cannot compare for an embedded node's streams:
 * IDs from the clock (`XADD *`), XREAD BLOCK served by a later XADD, and a
 * stream carried whole through a dump (a live move) and COPY.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MemoryBackend } from '../../src/backend/memory.js';
import { ManualClock } from '../../src/clock.js';
import { nodeId } from '../../src/keyspace/ids.js';
import { makeCommand } from '../../src/protocol/command.js';
import { ReplyError, SimpleString, type Reply } from '../../src/protocol/reply.js';

const open: MemoryBackend[] = [];
afterEach(async () => {
  for (const b of open.splice(0)) await b.close();
  vi.useRealTimers();
});

function node(clock = new ManualClock(1_000)): MemoryBackend {
  const b = new MemoryBackend({ node: nodeId('streams'), clock });
  open.push(b);
  return b;
}

function call(b: MemoryBackend, ...args: string[]): Reply {
  let out: Reply | undefined;
  b.send(makeCommand(...args), (r) => (out = r));
  return out!;
}

/** Replies with bulk strings as text, for readable expectations. */
function text(r: Reply): unknown {
  if (r instanceof Buffer) return r.toString('latin1');
  if (Array.isArray(r)) return r.map(text);
  if (r instanceof ReplyError) return `ERR:${r.message}`;
  if (r instanceof SimpleString) return r.value;
  return r;
}

describe('embedded streams', () => {
  it('XADD * takes the clock, counts up within a millisecond and never goes back', () => {
    const clock = new ManualClock(5_000);
    const b = node(clock);
    expect(text(call(b, 'XADD', 's', '*', 'f', '1'))).toBe('5000-0');
    expect(text(call(b, 'XADD', 's', '*', 'f', '2'))).toBe('5000-1');
    clock.advance(1);
    expect(text(call(b, 'XADD', 's', '*', 'f', '3'))).toBe('5001-0');
    expect(text(call(b, 'XADD', 's', '9000-*', 'f', '4'))).toBe('9000-0');
    // the clock is behind the top ID: the sequence goes on from it
    expect(text(call(b, 'XADD', 's', '*', 'f', '5'))).toBe('9000-1');
    expect(text(call(b, 'XRANGE', 's', '-', '+', 'COUNT', '2'))).toEqual([
      ['5000-0', ['f', '1']],
      ['5000-1', ['f', '2']],
    ]);
  });

  it('XREAD BLOCK waits for an entry after $ and is served by the XADD that brings it', () => {
    const b = node();
    call(b, 'XADD', 's', '1-1', 'old', 'x');
    const got: Reply[] = [];
    b.sendBlocking(makeCommand('XREAD', 'BLOCK', '0', 'STREAMS', 's', '$'), (r) => got.push(r));
    expect(got).toEqual([]);
    expect(b.blockedClients).toBe(1);
    // another type at another key, and a read of the stream, leave it waiting
    call(b, 'LPUSH', 'l', 'x');
    expect(text(call(b, 'XLEN', 's'))).toBe(1);
    expect(got).toEqual([]);
    call(b, 'XADD', 's', '2-1', 'new', 'y');
    expect(got.map(text)).toEqual([[['s', [['2-1', ['new', 'y']]]]]]);
    expect(b.blockedClients).toBe(0);
  });

  it('XREAD BLOCK on a stream that does not exist yet is served once it is created; COUNT caps the entries', () => {
    const b = node();
    const got: Reply[] = [];
    b.sendBlocking(makeCommand('XREAD', 'COUNT', '1', 'BLOCK', '0', 'STREAMS', 'a', 'b', '$', '0'), (r) =>
      got.push(r),
    );
    call(b, 'SET', 'a2', 'x');
    expect(got).toEqual([]);
    call(b, 'XADD', 'b', '5-1', 'f', 'v');
    expect(got.map(text)).toEqual([[['b', [['5-1', ['f', 'v']]]]]]);
  });

  it('XREAD BLOCK times out with a null array, as Redis does', async () => {
    const b = node();
    const reply = await new Promise<Reply>((resolve) =>
      b.sendBlocking(makeCommand('XREAD', 'BLOCK', '5', 'STREAMS', 's', '$'), resolve),
    );
    expect((reply as { bytes?: Buffer }).bytes?.toString()).toBe('*-1\r\n');
  });

  it('a stream that expires unblocks its XREADGROUP readers by active expiry, untouched by any command, as Redis does', () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const clock = new ManualClock(1_000);
    const b = node(clock);
    call(b, 'XGROUP', 'CREATE', 's', 'g', '$', 'MKSTREAM');
    call(b, 'PEXPIRE', 's', '300');
    const got: Reply[] = [];
    b.sendBlocking(makeCommand('XREADGROUP', 'GROUP', 'g', 'c', 'BLOCK', '0', 'STREAMS', 's', '>'), (r) =>
      got.push(r),
    );
    clock.advance(200);
    vi.advanceTimersByTime(200);
    expect(got).toEqual([]);
    clock.advance(200);
    vi.advanceTimersByTime(1000);
    expect(got.map(text)).toEqual(['ERR:UNBLOCKED the stream key no longer exists']);
    expect(b.blockedClients).toBe(0);
  });

  it('a dump carries the whole stream: deleted entries, counters and node layout', async () => {
    const b = node();
    for (let i = 1; i <= 250; i++)
      call(b, 'XADD', 's', `${i}-1`, 'f', `v${i}`, ...(i % 7 === 0 ? ['g', 'w'] : []));
    for (let i = 5; i <= 150; i += 3) call(b, 'XDEL', 's', `${i}-1`);
    call(b, 'XDEL', 's', '250-1');
    const info = text(call(b, 'XINFO', 'STREAM', 's'));
    const all = text(call(b, 'XRANGE', 's', '-', '+'));
    expect(info).toEqual(
      expect.arrayContaining(['length', 200, 'radix-tree-keys', 3, 'last-generated-id', '250-1']),
    );
    const d = await b.dump(Buffer.from('s'));
    expect(await b.restoreIfAbsent(Buffer.from('t'), d!)).toBe(true);
    expect(text(call(b, 'XINFO', 'STREAM', 't'))).toEqual(info);
    expect(text(call(b, 'XRANGE', 't', '-', '+'))).toEqual(all);
    // the last ID (250-1, deleted) came along: a smaller ID is still refused
    expect(text(call(b, 'XADD', 't', '250-1', 'f', 'v'))).toMatch(
      /equal or smaller than the target stream top item/,
    );
    // an approximate trim sees the same nodes in both
    expect(call(b, 'XTRIM', 't', 'MAXLEN', '~', '60')).toBe(call(b, 'XTRIM', 's', 'MAXLEN', '~', '60'));
    expect(text(call(b, 'XRANGE', 't', '-', '+'))).toEqual(text(call(b, 'XRANGE', 's', '-', '+')));
  });

  it('COPY makes a stream that shares nothing with the original', () => {
    const b = node();
    call(b, 'XADD', 's', '1-1', 'f', 'v');
    expect(call(b, 'COPY', 's', 'c')).toBe(1);
    call(b, 'XADD', 'c', '2-1', 'f', 'w');
    call(b, 'XDEL', 's', '1-1');
    expect(text(call(b, 'XRANGE', 's', '-', '+'))).toEqual([]);
    expect(text(call(b, 'XRANGE', 'c', '-', '+'))).toEqual([
      ['1-1', ['f', 'v']],
      ['2-1', ['f', 'w']],
    ]);
    expect(text(call(b, 'TYPE', 'c'))).toBe('stream');
  });
});
