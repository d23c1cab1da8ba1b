/**
 * A write-through entry after our own SET (which ends the node's tracking of
 * the key): a write that bypasses the router later is still reported, however
 * quickly our SETs follow each other.
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
  it('a write that bypasses the router after two quick SETs still reaches the cache (DESIGN: bypassing writes invalidate)', async () => {
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
    clock.advance?.(1_000);
    expect(plain(await send(r, a, 'get', 'hot'))).toBe('v3'); // served: v2 for up to 60 s
  });
});
