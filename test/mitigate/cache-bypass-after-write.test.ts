/**
 * A write-through entry after our own SET (which ends the node's tracking of
 * the key until a tracked read follows): a write that bypasses the router is
 * seen within maxStaleMs/20, however quickly our SETs follow each other, and
 * at once after a SET that a tracked read followed.
 */
import { describe, expect, it } from 'vitest';
import type { MemoryBackend } from '../../src/backend/memory.js';
import { ManualClock } from '../../src/clock.js';
import { cacheRemedy } from '../../src/mitigate/actions/cache.js';
import { PolicyManager } from '../../src/mitigate/policies.js';
import { makeCommand } from '../../src/protocol/command.js';
import type { Reply } from '../../src/protocol/reply.js';
import type { Router } from '../../src/router/router.js';
import { Session } from '../../src/router/session.js';
import { plain } from './cache-model.js';
import { memoryCluster, send } from './cluster.js';

const settle = async (): Promise<void> => {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
};
function nodeOf(r: Router, key: string): MemoryBackend {
  const t = r.table;
  return r.backends.get(t.shards[t.indexFor(Buffer.from(key))]!.node) as MemoryBackend;
}

describe('cache write-through and bypassing writes', () => {
  it('a write that bypasses the router after two quick SETs is seen once maxStaleMs/20 has passed, not maxStaleMs', async () => {
    const r = memoryCluster({ nodes: ['n0', 'n1'], shards: 4 });
    const clock = new ManualClock();
    const m = new PolicyManager({ router: r, clock }, [cacheRemedy()]);
    await m.set(Buffer.from('hot'), {
      consistency: 'bounded',
      cache: { maxStaleMs: 60_000, staleWhileRevalidate: false, writeThrough: true },
    });
    const a = new Session(1, 'a', false, 0);
    expect(plain(await send(r, a, 'set', 'hot', 'v1'))).toBe('OK');
    await settle(); // the background tracked read re-arms tracking
    expect(plain(await send(r, a, 'set', 'hot', 'v2'))).toBe('OK'); // within maxStaleMs/20: no re-arm
    await settle();
    expect(plain(await send(r, a, 'get', 'hot'))).toBe('v2');
    // Another client (or another hotshard router) writes the node directly.
    const node = nodeOf(r, 'hot');
    const direct = await new Promise<Reply>((res) =>
      node.send(makeCommand('set', Buffer.from('hot'), 'v3'), res),
    );
    expect(plain(direct)).toBe('OK');
    await settle();
    // v2 was kept without a tracked read behind it: it lives maxStaleMs/20 (3 s here), not 60 s.
    clock.advance(3_000);
    expect(plain(await send(r, a, 'get', 'hot'))).toBe('v3');
  });

  it('after a SET that a tracked read followed, a write that bypasses the router is seen at once', async () => {
    const r = memoryCluster({ nodes: ['n0', 'n1'], shards: 4 });
    const m = new PolicyManager({ router: r, clock: new ManualClock() }, [cacheRemedy()]);
    await m.set(Buffer.from('hot'), {
      consistency: 'bounded',
      cache: { maxStaleMs: 60_000, staleWhileRevalidate: false, writeThrough: true },
    });
    const a = new Session(1, 'a', false, 0);
    expect(plain(await send(r, a, 'set', 'hot', 'v1'))).toBe('OK');
    await settle(); // the tracked read behind it has tracked the key again
    expect(plain(await send(r, a, 'get', 'hot'))).toBe('v1');
    const node = nodeOf(r, 'hot');
    await new Promise<Reply>((res) => node.send(makeCommand('set', Buffer.from('hot'), 'v3'), res));
    await settle();
    expect(plain(await send(r, a, 'get', 'hot'))).toBe('v3');
  });
});
