/**
 * A cached key that is also written often: a plain SET's value is kept at its
 * acknowledgement (write-through), and a session's reads wait for that
 * session's earlier writes, so a pipelined SET then GET reads its own write
 * without the read going to the node.
 */
import { describe, expect, it } from 'vitest';
import type { MemoryBackend } from '../../src/backend/memory.js';
import { ManualClock } from '../../src/clock.js';
import { cacheRemedy } from '../../src/mitigate/actions/cache.js';
import { PolicyManager } from '../../src/mitigate/policies.js';
import type { KeyPolicy } from '../../src/mitigate/policy.js';
import type { Reply } from '../../src/protocol/reply.js';
import type { Router } from '../../src/router/router.js';
import { Session } from '../../src/router/session.js';
import { plain } from './cache-model.js';
import { memoryCluster, send } from './cluster.js';

// A capacity model: replies come later, from a queue, as from a busy node.
const router = (): Router => memoryCluster({ nodes: ['n0', 'n1'], shards: 4, capacity: 200_000 });

const policy = (writeThrough: boolean): KeyPolicy => ({
  consistency: 'bounded',
  cache: { maxStaleMs: 60_000, staleWhileRevalidate: false, writeThrough },
});

function nodeOf(r: Router, key: string): MemoryBackend {
  const t = r.table;
  return r.backends.get(t.shards[t.indexFor(Buffer.from(key))]!.node) as MemoryBackend;
}

describe('cache write-through', () => {
  it('a session pipelining SET, GET, SET, GET reads each of its own writes, served from the cache', async () => {
    const r = router();
    const m = new PolicyManager({ router: r, clock: new ManualClock() }, [cacheRemedy()]);
    await m.set(Buffer.from('hot'), policy(true));
    const a = new Session(1, 'a', false, 0);
    const node = nodeOf(r, 'hot');
    const before = node.commandsProcessed;
    const replies: Promise<Reply>[] = [];
    for (let i = 0; i < 50; i++) {
      replies.push(send(r, a, 'set', 'hot', `v${i}`), send(r, a, 'get', 'hot'));
    }
    const got = (await Promise.all(replies)).map(plain);
    for (let i = 0; i < 50; i++) expect(got.slice(2 * i, 2 * i + 2)).toEqual(['OK', `v${i}`]);
    const status = m.get(Buffer.from('hot'))!.status['cache'] as Record<string, number>;
    expect(status['writeThroughs']).toBe(50);
    expect(status['hits']).toBeGreaterThanOrEqual(45);
    // The client's GETs did not go to the node: per SET, the SET itself and at most the
    // background tracked read that re-arms the node's tracking (a GET and its PTTL).
    expect(node.commandsProcessed - before).toBeLessThanOrEqual(3 * 50 + 2);
  });

  it('another session is not held by a write in flight, and never reads a value older than an acknowledged write', async () => {
    const r = router();
    const m = new PolicyManager({ router: r, clock: new ManualClock() }, [cacheRemedy()]);
    await m.set(Buffer.from('hot'), policy(true));
    const a = new Session(1, 'a', false, 0);
    const b = new Session(2, 'b', false, 0);
    let acked = -1;
    const writes: Promise<void>[] = [];
    const reads: Promise<void>[] = [];
    for (let i = 0; i < 200; i++) {
      writes.push(send(r, a, 'set', 'hot', String(i)).then(() => void (acked = Math.max(acked, i))));
      const floor = acked;
      reads.push(
        send(r, b, 'get', 'hot').then((v) => {
          const seen = v === null ? -1 : Number(plain(v));
          expect(seen).toBeGreaterThanOrEqual(floor);
        }),
      );
      if (i % 10 === 0) await Promise.all(writes);
    }
    await Promise.all([...writes, ...reads]);
    expect(plain(await send(r, b, 'get', 'hot'))).toBe('199');
  });

  it('without write-through a SET only invalidates', async () => {
    const r = router();
    const m = new PolicyManager({ router: r, clock: new ManualClock() }, [cacheRemedy()]);
    await m.set(Buffer.from('hot'), policy(false));
    const a = new Session(1, 'a', false, 0);
    await send(r, a, 'set', 'hot', 'x');
    expect(plain(await send(r, a, 'get', 'hot'))).toBe('x');
    const status = m.get(Buffer.from('hot'))!.status['cache'] as Record<string, number>;
    expect(status['writeThroughs']).toBe(0);
    expect(status['misses']).toBe(1);
  });
});
