/**
 * A blocking pop on a Redis node waits for a dedicated connection (and for
 * the client's earlier commands to land) before it is sent. A range switched
 * in that gap must not see the pop go to the old node, where nothing pushed
 * to the new owner would ever wake it: it is ended with UNBLOCKED, as a pop
 * already blocked there is.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { RedisBackend } from '../../src/backend/redis.js';
import { nodeId } from '../../src/keyspace/ids.js';
import { hashPartitioner } from '../../src/keyspace/partitioner.js';
import { RoutingTable } from '../../src/keyspace/routing-table.js';
import { decodeReply } from '../../src/protocol/reply-decoder.js';
import { RawReply, ReplyError, type Reply } from '../../src/protocol/reply.js';
import { Router } from '../../src/router/router.js';
import { Session } from '../../src/router/session.js';
import { requireBinary, startRedisCluster, type RedisProcess } from '../../src/testkit/index.js';

const hasRedis = requireBinary('redis-server', 'blocking pops across a range switch on Redis nodes');

const shown = (r: Reply): unknown => {
  const v = r instanceof RawReply ? decodeReply(r.bytes) : r;
  if (v instanceof ReplyError) return `error: ${v.message}`;
  if (Buffer.isBuffer(v)) return v.toString();
  if (Array.isArray(v)) return v.map((x) => shown(x as Reply));
  return v;
};

describe.skipIf(!hasRedis)('blocking pops on Redis nodes across a range switch', () => {
  let servers: RedisProcess[] = [];
  const backends: RedisBackend[] = [];
  afterEach(async () => {
    await Promise.all(backends.splice(0).map((b) => b.close()));
    await Promise.all(servers.map((s) => s.stop()));
    servers = [];
  });

  it('a BLPOP whose range is switched before it reaches the node is ended with UNBLOCKED, not parked on the old node', async () => {
    servers = await startRedisCluster(2);
    for (const [i, s] of servers.entries()) {
      const b = new RedisBackend({ node: nodeId(`n${i}`), host: s.host, port: s.port });
      await b.connect();
      backends.push(b);
    }
    const table = RoutingTable.create({
      partitioner: hashPartitioner(),
      nodes: backends.map((b) => b.node),
      shards: 4,
    });
    const router = new Router(table, new Map(backends.map((b) => [b.node, b])));
    const key = Buffer.from('queue');
    const shard = table.shards[table.indexFor(key)]!;
    const other = backends.find((b) => b.node !== shard.node)!.node;
    const session = new Session(1, 'c', false, 0);
    const log: unknown[] = [];
    router.dispatch(session, [Buffer.from('BLPOP'), key, Buffer.from('0')], undefined, (r) =>
      log.push(shown(r)),
    );
    // Switched in the same turn: the pop is still waiting for its connection.
    router.setTable(table.move(shard.id, other));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(log).toHaveLength(1);
    expect(log[0]).toMatch(
      /^error: ERR HS_ERR_ROUTING UNBLOCKED: the range of key 'queue' moved from node n\d to node n\d/,
    );
    expect(router.dedicated.inUse(shard.node)).toBe(0);
  });
});
