/**
 * The shard scope of admission (`POST /shards/{id}:throttle`), through a
 * router over embedded nodes on a manual clock: a throttled shard answers
 * `scope=shard` with an exact retry-after, its node's other shards and other
 * tenants are untouched, a multi-key command touching it takes its token, a
 * refused request takes nothing, and the limit follows the routing table the
 * router installs.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ShardBackend } from '../../src/backend/backend.js';
import { MemoryBackend } from '../../src/backend/memory.js';
import { ManualClock } from '../../src/clock.js';
import { ErrorCode } from '../../src/errors.js';
import { nodeId, shardId, type NodeId, type ShardId } from '../../src/keyspace/ids.js';
import { hashPartitioner } from '../../src/keyspace/partitioner.js';
import { RoutingTable } from '../../src/keyspace/routing-table.js';
import { OK, ReplyError, type Reply } from '../../src/protocol/reply.js';
import { Router } from '../../src/router/router.js';
import { Session } from '../../src/router/session.js';

const toClose: ShardBackend[] = [];
afterEach(async () => {
  await Promise.all(toClose.splice(0).map((b) => b.close()));
});

const N0 = nodeId('n0');
const N1 = nodeId('n1');

function setup(): { router: Router; clock: ManualClock } {
  const clock = new ManualClock(1_700_000_000_000);
  const nodes = [N0, N1];
  // 4 shards round-robin: s0 and s2 on n0, s1 and s3 on n1.
  const table = RoutingTable.create({ partitioner: hashPartitioner(), nodes, shards: 4 });
  const backends = new Map<NodeId, ShardBackend>(nodes.map((n) => [n, new MemoryBackend({ node: n })]));
  toClose.push(...backends.values());
  const router = new Router(table, backends, { clock });
  router.admission.followTable(() => router.table);
  return { router, clock };
}

function session(tenant = 'default'): Session {
  const s = new Session(1, 'test', false, 0);
  s.tenant = tenant;
  return s;
}

function send(r: Router, s: Session, ...args: string[]): Reply {
  let out: Reply | undefined;
  r.dispatch(
    s,
    args.map((a) => Buffer.from(a)),
    undefined,
    (reply) => (out = reply),
  );
  if (out === undefined) throw new Error('no synchronous reply');
  return out;
}

function shown(reply: Reply): unknown {
  if (reply instanceof ReplyError)
    return reply.code === ErrorCode.Throttled
      ? { throttled: reply.scope, retryAfterMs: reply.retryAfterMs }
      : reply.message;
  return Buffer.isBuffer(reply) ? reply.toString() : reply;
}

/** The `n`-th key (from 0) that lives on shard `id`. */
function keyIn(router: Router, id: ShardId, n = 0, prefix = 'k'): string {
  for (let i = 0, found = 0; ; i++) {
    const key = `${prefix}${i}`;
    if (router.table.shardFor(Buffer.from(key)).id !== id) continue;
    if (found++ === n) return key;
  }
}

describe('admission - shard scope', () => {
  it('admission - a throttled shard answers scope=shard with the exact retry-after; the same node’s other shard and other tenants pass', () => {
    const { router, clock } = setup();
    const S0 = shardId('s0');
    router.admission.setShardLimit(S0, { opsPerSec: 10, burst: 2 });
    expect(router.admission.engaged).toBe(true);
    const a = session('a');
    const b = session('b');
    const hot = keyIn(router, S0);
    const got = [0, 1, 2].map(() => shown(send(router, a, 'SET', hot, 'v')));
    expect(got).toEqual([OK, OK, { throttled: 'shard', retryAfterMs: 100 }]);
    // The limit is the shard's, whoever asks.
    const refused = send(router, b, 'GET', keyIn(router, S0, 1)) as ReplyError;
    expect(refused.message).toBe(
      'BUSY HS_ERR_THROTTLED retry-after-ms=100 scope=shard shard s0 is over its limit of 10 ops/s (burst 2)',
    );
    // s2 shares n0 with s0 and is not limited.
    for (let i = 0; i < 20; i++)
      expect(send(router, a, 'SET', keyIn(router, shardId('s2'), i), 'v')).toBe(OK);
    clock.advance(100);
    expect(send(router, a, 'GET', hot)).toEqual(Buffer.from('v'));
    expect(router.admission.status().shards).toEqual([
      { shard: S0, opsPerSec: 10, burst: 2, tokens: 0, admitted: 3, throttled: 2 },
    ]);
    router.admission.setShardLimit(S0, null);
    expect(router.admission.engaged).toBe(false);
    expect(router.admission.shardLimit(S0)).toBeUndefined();
  });

  it('admission - a multi-key command touching a throttled shard takes its token; refused, it takes none from any limit and writes nothing', () => {
    const { router } = setup();
    const S1 = shardId('s1');
    router.admission.setShardLimit(S1, { opsPerSec: 1, burst: 1 });
    router.admission.setNodeLimit(N0, { opsPerSec: 100, burst: 5 });
    const s = session();
    const onS1 = keyIn(router, S1);
    const onS0 = keyIn(router, shardId('s0'));
    expect(send(router, s, 'MSET', onS0, 'a', onS1, 'b')).toBe(OK);
    expect(shown(send(router, s, 'MSET', onS0, 'c', onS1, 'd'))).toEqual({
      throttled: 'shard',
      retryAfterMs: 1000,
    });
    expect(send(router, s, 'GET', onS0)).toEqual(Buffer.from('a'));
    const status = router.admission.status();
    // One MSET and one GET admitted on n0; the refused MSET took no token there.
    expect(status.nodes[0]).toMatchObject({ node: N0, admitted: 2, tokens: 3 });
    expect(status.shards[0]).toMatchObject({ shard: S1, admitted: 1, throttled: 1 });
  });

  it('admission - the shard of a request is read from the table the router installs (a split moves keys out of the limit)', () => {
    const { router } = setup();
    const S0 = shardId('s0');
    router.admission.setShardLimit(S0, { opsPerSec: 1, burst: 1 });
    const next = router.table.split(S0);
    const moved = Array.from({ length: 200 }, (_, i) => `m${i}`).find(
      (k) => router.table.shardFor(Buffer.from(k)).id === S0 && next.shardFor(Buffer.from(k)).id !== S0,
    )!;
    const s = session();
    expect(send(router, s, 'SET', moved, 'v')).toBe(OK);
    expect(shown(send(router, s, 'SET', moved, 'v'))).toMatchObject({ throttled: 'shard' });
    router.setTable(next);
    for (let i = 0; i < 5; i++) expect(send(router, s, 'SET', moved, 'v')).toBe(OK);
  });

  it('admission - a shard limit without a followed table is refused, not silently ignored; bad rates are RangeErrors', () => {
    const table = RoutingTable.create({ partitioner: hashPartitioner(), nodes: [N0], shards: 2 });
    const backend = new MemoryBackend({ node: N0 });
    toClose.push(backend);
    const router = new Router(table, new Map([[N0, backend]]));
    expect(() => router.admission.setShardLimit(shardId('s0'), { opsPerSec: 5 })).toThrow(/followTable/);
    router.admission.followTable(() => router.table);
    expect(() => router.admission.setShardLimit(shardId('s0'), { opsPerSec: 0 })).toThrow(RangeError);
    expect(router.admission.engaged).toBe(false);
  });
});
