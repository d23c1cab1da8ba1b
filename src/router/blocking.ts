/**
 * Blocking commands (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN,
 * BZPOPMAX, BZMPOP, XREAD / XREADGROUP with BLOCK): each runs on a dedicated
 * connection of its keys' node, from the bounded pool, so a client waiting
 * for an element never holds up the pipelined data connection other clients
 * share. The pool exhausted answers at once (BUSY HS_ERR_NODE_OVERLOADED).
 *
 * As on Redis, a blocked client runs nothing else until it is served: its
 * later requests wait behind it in order. The command is sent after a barrier
 * on the data connection, so the client's earlier writes (an LPUSH before a
 * BLPOP) land first. A client that disconnects has its connection closed:
 * the node is still blocked on it and would otherwise pop an element for
 * nobody. A connection given back after its reply is reused.
 *
 * A routing table that moves a blocked key's range to another node
 * interrupts the wait with an error naming the move (as Redis Cluster's
 * UNBLOCKED): an element pushed to the new owner would never reach it.
 */
import type { ReplyCallback } from '../backend/backend.js';
import { ErrorCode } from '../errors.js';
import type { Command } from '../protocol/command.js';
import type { NodeId } from '../keyspace/ids.js';
import type { RoutingTable } from '../keyspace/routing-table.js';
import { ReplyError, hsError, type Reply } from '../protocol/reply.js';
import type { CommandSpec } from './command-table.js';
import type { Session } from './session.js';
import {
  errorReply,
  holdSession,
  keysOf,
  packedKeys,
  place,
  printable,
  resume,
  type SingleNodeHost,
} from './single-node.js';

/** What blocking commands read of the router besides SingleNodeHost. */
export interface BlockingHost extends SingleNodeHost {
  /** Sessions blocked now (interrupted when their keys move). */
  readonly blockedSessions: Set<Session>;
}

/** True when this XREAD / XREADGROUP has a BLOCK option (otherwise it answers at once). */
function hasBlockOption(args: readonly Buffer[]): boolean {
  for (let i = 1; i < args.length; i++) {
    const word = args[i]!;
    if (word.length === 7 && word.toString('latin1').toLowerCase() === 'streams') return false;
    if (word.length === 5 && word.toString('latin1').toLowerCase() === 'block') return true;
  }
  return false;
}

/** Runs one blocking command for `session`. */
export function runBlocking(
  host: BlockingHost,
  session: Session,
  spec: CommandSpec,
  cmd: Command,
  done: ReplyCallback,
): void {
  const args = cmd.args as Buffer[];
  const keys = keysOf(spec, args);
  if (keys instanceof ReplyError) return done(keys);
  const what = spec.name.toUpperCase();
  const placed = place(host, session, what, keys);
  if (placed.kind === 'hold')
    return host.gate!.hold(session, () => host.again(session, args, cmd.frame, done));
  if (placed.kind === 'refused') {
    host.stats.rejected++;
    return done(placed.reply);
  }
  const node = placed.node;
  const backend = host.backends.get(node)!;
  // XREAD without BLOCK answers at once: an ordinary read on the data connection.
  const waits = !((spec.name === 'xread' || spec.name === 'xreadgroup') && !hasBlockOption(args));
  // Telemetry counts each key on its shard and in the key sketches, as for
  // MGET: a queue its consumers pop hard is a hot key. One that may wait is
  // measured untimed, its wait for an element being the application's.
  const ins = host.instrumentation;
  if (ins !== undefined)
    done = ins.multiKey(session, spec, packedKeys(cmd, keys), placed.at, done, spec.write, 1, !waits);
  if (!waits) return backend.send(cmd, done);
  // An embedded node parks the command itself: no connection to hold.
  if (backend.sendBlocking !== undefined)
    return parkOnNode(host, session, backend.sendBlocking.bind(backend), node, keys, cmd, done);
  holdSession(session);
  let finished = false;
  const finish = (reply: Reply): void => {
    if (finished) return;
    finished = true;
    done(reply);
    resume(session);
  };
  Promise.all([host.dedicated.acquire(backend, 'blocking'), backend.barrier()]).then(
    ([conn]) => {
      if (session.gone) {
        host.dedicated.release(node, conn, true);
        return finish(null);
      }
      // The range may have been switched while the connection was found: as
      // for a client already blocked there (interruptMoved), not on the old node.
      const moved = movedAway(host.table, keys, node);
      if (moved !== undefined) {
        host.dedicated.release(node, conn, true);
        return finish(moved);
      }
      const blocked = {
        node,
        conn,
        keys: keys.map((k) => Buffer.from(k)),
        interrupt: (reply: ReplyError): void => {
          if (finished) return;
          session.blocked = null;
          host.blockedSessions.delete(session);
          finish(reply);
          // The node is still blocked on it: only closing ends that (its callback then finds it finished).
          host.dedicated.release(node, conn, false);
        },
      };
      session.blocked = blocked;
      host.blockedSessions.add(session);
      conn.send(cmd, (reply) => {
        if (finished) return;
        session.blocked = null;
        host.blockedSessions.delete(session);
        host.dedicated.release(node, conn, !(reply instanceof ReplyError && reply.code !== undefined));
        finish(reply);
      });
    },
    (err: unknown) => finish(errorReply(err)),
  );
}

/** A blocking command an embedded node parks (backend.sendBlocking): cancelled if the client leaves or its keys move. */
function parkOnNode(
  host: BlockingHost,
  session: Session,
  sendBlocking: (cmd: Command, done: ReplyCallback) => () => void,
  node: NodeId,
  keys: readonly Buffer[],
  cmd: Command,
  done: ReplyCallback,
): void {
  holdSession(session);
  let finished = false;
  const finish = (reply: Reply): void => {
    if (finished) return;
    finished = true;
    if (session.blocked === blocked) session.blocked = null;
    host.blockedSessions.delete(session);
    done(reply);
    resume(session);
  };
  const blocked = {
    node,
    conn: undefined,
    keys: keys.map((k) => Buffer.from(k)),
    interrupt: (reply: ReplyError): void => {
      cancel();
      finish(reply);
    },
  };
  session.blocked = blocked;
  host.blockedSessions.add(session);
  const cancel = sendBlocking(cmd, finish);
}

/** The UNBLOCKED error when `table` places one of `keys` on another node than `node`; else undefined. */
function movedAway(table: RoutingTable, keys: readonly Buffer[], node: NodeId): ReplyError | undefined {
  for (const key of keys) {
    const owner = table.shards[table.indexFor(key)]!.node;
    if (owner === node) continue;
    return hsError(
      ErrorCode.Routing,
      `UNBLOCKED: the range of key ${printable(key)} moved from node ${node} to node ${owner} while the client was blocked; send the command again`,
    );
  }
  return undefined;
}

/** Interrupts the blocked sessions whose keys `table` places on another node than the one they wait on. */
export function interruptMoved(host: BlockingHost, table: RoutingTable): void {
  for (const session of [...host.blockedSessions]) {
    const blocked = session.blocked;
    if (blocked === null) continue;
    const moved = movedAway(table, blocked.keys, blocked.node);
    if (moved !== undefined) blocked.interrupt(moved);
  }
}

/** The client has gone: its blocked command's connection is closed (the node is still blocked on it). */
export function releaseBlocked(session: Session): void {
  const blocked = session.blocked;
  if (blocked === null) return;
  blocked.interrupt(hsError(ErrorCode.ShuttingDown, 'client disconnected'));
}
