import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CapacityModel, type CapacityModelOptions } from '../../src/backend/capacity.js';
import { MemoryBackend } from '../../src/backend/memory.js';
import { ManualClock } from '../../src/clock.js';
import { ConfigError, ErrorCode } from '../../src/errors.js';
import { nodeId } from '../../src/keyspace/ids.js';
import { makeCommand } from '../../src/protocol/command.js';
import { hsError, ReplyError, type Reply } from '../../src/protocol/reply.js';

// Fake timers fake Date too, so the model's default clock (Date.now) and its
// timers move together and every latency below is exact.
beforeEach(() => {
  vi.useFakeTimers({ now: 1_700_000_000_000 });
});
afterEach(() => {
  vi.useRealTimers();
});

/** A model whose served items are recorded with the (fake) time they were served at. */
function recorder(options: Partial<CapacityModelOptions<number>> = {}) {
  const served: Array<{ item: number; at: number }> = [];
  const start = Date.now();
  const model = new CapacityModel<number>({
    node: nodeId('n1'),
    capacity: 1000,
    serve: (item) => served.push({ item, at: Date.now() - start }),
    ...options,
  });
  return { model, served };
}

describe('capacity model - admission', () => {
  it('serves within the burst synchronously, with no timer', () => {
    const { model, served } = recorder(); // burst = 1000 / 100 = 10
    for (let i = 0; i < 10; i++) expect(model.submit(i)).toBe(true);
    expect(served.map((s) => s.item)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(model.queueDepth).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('queues the excess and serves it in FIFO order at capacity', () => {
    const { model, served } = recorder();
    for (let i = 0; i < 110; i++) expect(model.submit(i)).toBe(true);
    expect(served).toHaveLength(10);
    expect(model.queueDepth).toBe(100);
    expect(vi.getTimerCount()).toBe(1); // one timer drains the whole backlog
    vi.advanceTimersByTime(50);
    expect(served).toHaveLength(60);
    vi.advanceTimersByTime(50);
    expect(served.map((s) => s.item)).toEqual(Array.from({ length: 110 }, (_, i) => i));
    expect(model.queueDepth).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('queueing latency is backlog / capacity', () => {
    const { model, served } = recorder({ capacity: 2000, burst: 1 });
    for (let i = 0; i < 1001; i++) model.submit(i);
    vi.advanceTimersByTime(1000);
    expect(served).toHaveLength(1001);
    for (const { item, at } of served) {
      // item i waits behind i others at 2 per ms (timers fire on whole ms)
      expect(Math.abs(at - item / 2)).toBeLessThanOrEqual(1);
    }
    expect(served.at(-1)!.at).toBe(500);
  });

  it('new arrivals wait behind the backlog even when a token is free', () => {
    // the bucket's clock runs ahead of the timers, as when a timer fires late
    const clock = new ManualClock();
    const { model, served } = recorder({ capacity: 100, burst: 1, clock });
    model.submit(0);
    model.submit(1);
    clock.advance(50); // tokens are free, but item 1 still waits for the timer
    model.submit(2);
    expect(served.map((s) => s.item)).toEqual([0]);
    expect(model.queueDepth).toBe(2);
    vi.advanceTimersByTime(10);
    expect(served.map((s) => s.item)).toEqual([0, 1, 2]);
  });

  it('a late timer catches up on the backlog instead of losing the time it overslept', () => {
    const clock = new ManualClock();
    const { model, served } = recorder({ capacity: 100, burst: 1, clock });
    for (let i = 0; i < 8; i++) model.submit(i);
    clock.advance(50); // 5 tokens earned while busy
    vi.advanceTimersByTime(10);
    expect(served.map((s) => s.item)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('sustained overload is served at capacity, not faster', () => {
    const { model, served } = recorder({ capacity: 1000, maxQueue: 100_000 });
    for (let ms = 0; ms < 1000; ms++) {
      for (let j = 0; j < 2; j++) model.submit(ms * 2 + j); // offered: 2000 ops/s
      vi.advanceTimersByTime(1);
    }
    // one second at 1000 ops/s plus the initial burst of 10
    expect(served.length).toBeGreaterThanOrEqual(1000);
    expect(served.length).toBeLessThanOrEqual(1011);
    expect(model.queueDepth).toBe(2000 - served.length);
  });

  it('an idle node banks at most one burst', () => {
    const { model, served } = recorder();
    vi.advanceTimersByTime(10_000);
    for (let i = 0; i < 20; i++) model.submit(i);
    expect(served).toHaveLength(10);
    expect(model.queueDepth).toBe(10);
  });

  it('rejects when the queue is full and admits again once it drains', () => {
    const { model, served } = recorder({ capacity: 100, maxQueue: 5 }); // burst 1
    expect(model.submit(0)).toBe(true);
    for (let i = 1; i <= 5; i++) expect(model.submit(i)).toBe(true);
    expect(model.queueDepth).toBe(5);
    expect(model.submit(6)).toBe(false);
    expect(model.overloaded).toBeInstanceOf(ReplyError);
    expect(model.overloaded.message).toBe(
      'BUSY HS_ERR_NODE_OVERLOADED node n1 is over capacity (100 ops/s, queue full); retry later',
    );
    vi.advanceTimersByTime(10);
    expect(model.submit(7)).toBe(true);
    vi.advanceTimersByTime(100);
    expect(served.map((s) => s.item)).toEqual([0, 1, 2, 3, 4, 5, 7]);
  });

  it('maxQueue 0 rejects everything beyond the burst', () => {
    const { model } = recorder({ capacity: 100, maxQueue: 0 });
    expect(model.submit(0)).toBe(true);
    expect(model.submit(1)).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('close() cancels the timer and hands back the waiting items in order', () => {
    const { model, served } = recorder({ capacity: 100 });
    for (let i = 0; i < 4; i++) model.submit(i);
    expect(vi.getTimerCount()).toBe(1);
    expect(model.close()).toEqual([1, 2, 3]);
    expect(vi.getTimerCount()).toBe(0);
    expect(model.submit(9)).toBe(false);
    vi.advanceTimersByTime(1000);
    expect(served.map((s) => s.item)).toEqual([0]);
  });

  it('refuses invalid settings naming the field', () => {
    const serve = (): void => {};
    const node = nodeId('n1');
    expect(() => new CapacityModel({ node, capacity: 0, serve })).toThrow(ConfigError);
    expect(() => new CapacityModel({ node, capacity: -5, serve })).toThrow(/capacity/);
    expect(() => new CapacityModel({ node, capacity: Infinity, serve })).toThrow(/capacity/);
    expect(() => new CapacityModel({ node, capacity: 10, maxQueue: 1.5, serve })).toThrow(/maxQueue/);
    expect(() => new CapacityModel({ node, capacity: 10, burst: 0.5, serve })).toThrow(/burst/);
    expect(new CapacityModel({ node, capacity: 50, serve }).capacity).toBe(50);
  });
});

describe('capacity model - in the memory backend', () => {
  it('queues commands, answers them in order later, and rejects with BUSY when full', async () => {
    const b = new MemoryBackend({ node: nodeId('m1'), capacity: 100, maxQueue: 2 });
    expect(b.capacity).toBe(100);
    const replies: Array<[number, Reply]> = [];
    const send = (i: number, ...args: string[]): void =>
      b.send(makeCommand(...args), (r) => replies.push([i, r]));
    send(0, 'SET', 'k', 'a');
    expect(replies).toEqual([[0, expect.anything()]]); // within the burst: synchronous
    send(1, 'APPEND', 'k', 'b');
    send(2, 'APPEND', 'k', 'c');
    expect(b.queueDepth).toBe(2);
    send(3, 'GET', 'k');
    expect(replies[1]).toEqual([
      3,
      hsError(ErrorCode.NodeOverloaded, 'node m1 is over capacity (100 ops/s, queue full); retry later'),
    ]);
    vi.advanceTimersByTime(10);
    expect(replies.map(([i]) => i)).toEqual([0, 3, 1]);
    vi.advanceTimersByTime(10);
    expect(replies.map(([i]) => i)).toEqual([0, 3, 1, 2]);
    expect(replies[3]).toEqual([2, 3]); // "abc" has length 3: served in order
    expect(b.queueDepth).toBe(0);
    await b.close();
  });

  it('close() fails queued commands with HS_ERR_SHUTTING_DOWN', async () => {
    const b = new MemoryBackend({ node: nodeId('m2'), capacity: 100 });
    const replies: Reply[] = [];
    for (let i = 0; i < 3; i++) b.send(makeCommand('PING'), (r) => replies.push(r));
    expect(replies).toHaveLength(1);
    await b.close();
    expect(replies.slice(1)).toEqual([
      hsError(ErrorCode.ShuttingDown, 'node m2 is shutting down'),
      hsError(ErrorCode.ShuttingDown, 'node m2 is shutting down'),
    ]);
    expect(vi.getTimerCount()).toBe(0);
  });
});
