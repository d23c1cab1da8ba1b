/**
 * A router over embedded nodes for the mitigation tests, and a way to send it
 * one command. Nodes made here are closed after each test of the file that
 * imports this module, so a test only says which nodes it wants.
 */
import { afterEach } from 'vitest';
import type { ShardBackend } from '../../src/backend/backend.js';
import { MemoryBackend } from '../../src/backend/memory.js';
import { nodeId } from '../../src/keyspace/ids.js';
import { hashPartitioner } from '../../src/keyspace/partitioner.js';
import { RoutingTable } from '../../src/keyspace/routing-table.js';
import type { Reply } from '../../src/protocol/reply.js';
import { Router } from '../../src/router/router.js';
import { Session } from '../../src/router/session.js';

const open: MemoryBackend[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((b) => b.close()));
});

/**
 * Embedded nodes named `names`, closed after the test. `capacity` (one for
 * all, or one per node) puts a node behind a capacity model, so its replies
 * come later, from a queue; without it a node answers at once.
 */
export function memoryNodes(
  names: readonly string[],
  capacity?: number | readonly (number | undefined)[],
): MemoryBackend[] {
  const made = names.map(
    (name, i) =>
      new MemoryBackend({
        node: nodeId(name),
        capacity: (typeof capacity === 'number' ? capacity : capacity?.[i]) ?? null,
      }),
  );
  open.push(...made);
  return made;
}

/** A router whose table spreads `shards` shards over `backends`, in their order. */
export function routerOver(backends: readonly ShardBackend[], shards: number): Router {
  const table = RoutingTable.create({
    partitioner: hashPartitioner(),
    nodes: backends.map((b) => b.node),
    shards,
  });
  return new Router(table, new Map(backends.map((b) => [b.node, b])));
}

export interface ClusterOptions {
  /** The nodes' names, in the order the routing table is built from. */
  readonly nodes: readonly string[];
  readonly shards: number;
  /** See `memoryNodes`. */
  readonly capacity?: number | readonly (number | undefined)[];
}

/** A router over embedded nodes; the nodes close after the test. */
export function memoryCluster({ nodes, shards, capacity }: ClusterOptions): Router {
  return routerOver(memoryNodes(nodes, capacity), shards);
}

/** The session `send` uses when a test does not give one. */
export const testSession = new Session(1, 'test', false, 0);

/** Sends one command through the router, as `session` (default `testSession`); its reply. */
export function send(r: Router, ...args: string[]): Promise<Reply>;
export function send(r: Router, session: Session, ...args: string[]): Promise<Reply>;
export function send(r: Router, ...rest: (Session | string)[]): Promise<Reply> {
  const session = rest[0] instanceof Session ? rest.shift() : testSession;
  const args = rest as string[];
  return new Promise((resolve) =>
    r.dispatch(
      session as Session,
      args.map((a) => Buffer.from(a)),
      undefined,
      resolve,
    ),
  );
}
