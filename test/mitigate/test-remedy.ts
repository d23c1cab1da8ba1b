/** Helpers for the executor and mitigation API tests: a router over embedded nodes, and a remedy whose effect shows in replies. */
import type { ShardBackend } from '../../src/backend/backend.js';
import { MemoryBackend } from '../../src/backend/memory.js';
import { nodeId, type NodeId } from '../../src/keyspace/ids.js';
import { hashPartitioner } from '../../src/keyspace/partitioner.js';
import { RoutingTable } from '../../src/keyspace/routing-table.js';
import type { Remedy, RemedyName } from '../../src/mitigate/policy.js';
import type { Reply } from '../../src/protocol/reply.js';
import { Router } from '../../src/router/router.js';
import { Session } from '../../src/router/session.js';

/** A router over two embedded nodes; the backends are pushed to `toClose`. */
export function testRouter(toClose: ShardBackend[]): Router {
  const nodes = ['n0', 'n1'].map(nodeId);
  const table = RoutingTable.create({ partitioner: hashPartitioner(), nodes, shards: 4 });
  const backends = new Map<NodeId, ShardBackend>(nodes.map((n) => [n, new MemoryBackend({ node: n })]));
  toClose.push(...backends.values());
  return new Router(table, backends);
}

const session = new Session(1, 'test', false, 0);

/** Sends one command through the router. */
export function send(r: Router, ...args: string[]): Promise<Reply> {
  return new Promise((resolve) =>
    r.dispatch(
      session,
      args.map((a) => Buffer.from(a)),
      undefined,
      resolve,
    ),
  );
}

/**
 * A remedy that answers every GET of its key itself, with `<name>:<its settings as JSON>`,
 * and passes everything else on: a policy's presence and settings show in GET's reply.
 * `closed` lists the keys whose stages were closed.
 */
export function answeringRemedy(name: RemedyName, closed: string[] = []): Remedy {
  return {
    name,
    build(policy, key, next) {
      return {
        run(req, done) {
          if (req.spec.name === 'get') return done(Buffer.from(`${name}:${JSON.stringify(policy[name])}`));
          next.run(req, done);
        },
        status: () => ({ serving: key.toString() }),
        close: () => {
          closed.push(key.toString());
          return Promise.resolve();
        },
      };
    },
  };
}

/** A reply as text (bulk strings and simple strings), for assertions. */
export function text(reply: Reply): string {
  return Buffer.isBuffer(reply) ? reply.toString() : JSON.stringify(reply);
}
