/**
 * FLUSHALL through the router passes no key's stages; the stages that keep a
 * counter's value (salting's running total, async aggregation's known value)
 * forget it at the acknowledgement, so the next INCR answers as Redis would.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryBackend } from '../../src/backend/memory.js';
import { nodeId } from '../../src/keyspace/ids.js';
import { client, ManualTimers, rig, send } from './counter-harness.js';

const open: MemoryBackend[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((b) => b.close()));
});
function nodes(n: number): MemoryBackend[] {
  const made = Array.from(
    { length: n },
    (_, i) => new MemoryBackend({ node: nodeId(`n${i + 1}`), capacity: null }),
  );
  open.push(...made);
  return made;
}

describe('FLUSHALL and counter stages', () => {
  it('salted counter: INCR after an acknowledged FLUSHALL answers 1, as Redis does', async () => {
    const r = rig(nodes(4));
    const s = client();
    const admin = client();
    admin.admin = true;
    expect(await send(r.router, s, 'incrby', 'c', '40')).toBe(40n);
    await r.manager.set(Buffer.from('c'), { consistency: 'bounded', salt: { buckets: 3 } });
    expect(await send(r.router, s, 'incr', 'c')).toBe(41n);
    expect(await send(r.router, admin, 'flushall')).toBe('OK');
    expect(await send(r.router, s, 'incr', 'c')).toBe(1n); // Redis: 1
    expect(await send(r.router, s, 'get', 'c')).toBe('1');
  });
});

describe('FLUSHALL and async aggregation', () => {
  it('async: after an acknowledged FLUSHALL the next INCR is answered from the flushed counter, not the value known before', async () => {
    const timers = new ManualTimers();
    const r = rig(nodes(2), { timers });
    const s = client();
    const admin = client();
    admin.admin = true;
    await r.manager.set(Buffer.from('c'), {
      consistency: 'bounded',
      aggregate: { flushMs: 2, mode: 'async' },
    });
    const first = send(r.router, s, 'incr', 'c');
    timers.fireAll();
    expect(await first).toBe(1n); // the value is known from here
    const second = send(r.router, s, 'incr', 'c');
    timers.fireAll();
    expect(await second).toBe(2n);
    expect(await send(r.router, admin, 'flushall')).toBe('OK');
    const next = send(r.router, s, 'incr', 'c');
    timers.fireAll();
    expect(await next).toBe(1n); // Redis: 1 (the key was flushed)
  });
});
