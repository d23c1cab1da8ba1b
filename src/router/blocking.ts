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
 *
 * CLIENT UNBLOCK is never answered in the router: the node may be handing
 * the client an element at that moment, which a reply made here would lose.
 * The node ends the wait itself (`DedicatedConnection.unblock`, or the
 * embedded node's park), so the element either reaches the client (UNBLOCK
 * answers 0) or stays where it was pushed (1).
 */
import type { CancelBlocking, DedicatedConnection, ReplyCallback, UnblockHow } from '../backend/backend.js';
import { ErrorCode } from '../errors.js';
import type { Command } from '../protocol/command.js';
import type { NodeId } from '../keyspace/ids.js';
import type { RoutingTable } from '../keyspace/routing-table.js';
import { RawReply, ReplyError, hsError, type Reply } from '../protocol/reply.js';
import type { CommandSpec } from './command-table.js';
import type { Blocked, Session } from './session.js';
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
  let conn: DedicatedConnection | undefined;
  /** CLIENT UNBLOCKs that came before the command was on its connection: run once it is (or has been answered). */
  const early: (() => void)[] = [];
  const finish = (reply: Reply): void => {
    if (finished) return;
    finished = true;
    if (session.blocked === blocked) session.blocked = null;
    host.blockedSessions.delete(session);
    done(reply);
    resume(session);
    runEarly();
  };
  const runEarly = (): void => {
    for (const unblock of early.splice(0)) unblock();
  };
  // A CLIENT UNBLOCK sent while the connection is being found waits for the
  // command to be on it, so it ends the wait rather than answer 0 (Redis would
  // have blocked the client already).
  const blocked: Blocked = {
    node,
    keys: keys.map((k) => Buffer.from(k)),
    interrupt: (reply: ReplyError): void => {
      if (finished) return;
      finish(reply);
      // The node is still blocked on it: only closing ends that (its callback then finds it finished).
      if (conn !== undefined) host.dedicated.release(node, conn, false);
    },
    unblock: (how, answer) => {
      if (finished) return answer(0);
      if (conn === undefined) return void early.push(() => blocked.unblock(how, answer));
      unblockOnNode(conn, how, () => finished, answer, Date.now() + UNBLOCK_PATIENCE_MS, 1);
    },
  };
  session.blocked = blocked;
  Promise.all([host.dedicated.acquire(backend, 'blocking'), backend.barrier()]).then(
    ([acquired]) => {
      if (finished || session.gone) {
        host.dedicated.release(node, acquired, true);
        return finish(null);
      }
      // The range may have been switched while the connection was found: as
      // for a client already blocked there (interruptMoved), not on the old node.
      const moved = movedAway(host.table, keys, node);
      if (moved !== undefined) {
        host.dedicated.release(node, acquired, true);
        return finish(moved);
      }
      conn = acquired;
      // Counted blocked (INFO blocked_clients, moves) once it is on its way to
      // the node, as close as hotshard can see to when Redis blocks it: a
      // client that waits for the count before pushing must find it there.
      host.blockedSessions.add(session);
      acquired.send(cmd, (reply) => {
        if (finished) return;
        host.dedicated.release(node, acquired, !(reply instanceof ReplyError && reply.code !== undefined));
        finish(reply);
      });
      runEarly();
    },
    (err: unknown) => finish(errorReply(err)),
  );
}

/**
 * How long CLIENT UNBLOCK keeps asking a node that answers 0 while the command
 * is still unanswered: the command may not have reached the node yet (it was
 * just written), or its reply is on the way. Either settles within a round trip.
 */
const UNBLOCK_PATIENCE_MS = 1_000;

/**
 * Sends CLIENT UNBLOCK for `conn`'s node-side client, again while the node
 * answers 0 and the command is unanswered, `delayMs` later, doubling: ten
 * tries at most. Never once the command is answered: its connection
 * then goes back to the pool, and the next wait on it is another client's
 * (sent only after a barrier on the data connection, so after any UNBLOCK
 * already sent there).
 */
function unblockOnNode(
  conn: DedicatedConnection,
  how: UnblockHow,
  finished: () => boolean,
  answer: ReplyCallback,
  until: number,
  delayMs: number,
): void {
  // Answered meanwhile: the connection may already serve another client's wait.
  if (finished()) return answer(0);
  if (conn.unblock === undefined)
    return answer(
      hsError(
        ErrorCode.NotAllowed,
        "CLIENT UNBLOCK: the node would not tell hotshard the client id of the blocked command's connection (CLIENT ID refused); CLIENT KILL ends the wait",
      ),
    );
  conn.unblock(how, (reply) => {
    const n = intReply(reply);
    if (n === 0 && !finished() && Date.now() < until)
      return void setTimeout(() => unblockOnNode(conn, how, finished, answer, until, delayMs * 2), delayMs);
    answer(n ?? reply);
  });
}

/** 0 or 1 from a node's integer reply; undefined for anything else (an error, passed on as it is). */
function intReply(reply: Reply): number | undefined {
  if (!(reply instanceof RawReply)) return undefined;
  const text = reply.bytes.toString('latin1');
  return text === ':1\r\n' ? 1 : text === ':0\r\n' ? 0 : undefined;
}

/** A blocking command an embedded node parks (backend.sendBlocking): cancelled if the client leaves or its keys move. */
function parkOnNode(
  host: BlockingHost,
  session: Session,
  sendBlocking: (cmd: Command, done: ReplyCallback) => CancelBlocking,
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
  const blocked: Blocked = {
    node,
    keys: keys.map((k) => Buffer.from(k)),
    interrupt: (reply: ReplyError): void => {
      cancel();
      finish(reply);
    },
    // The node answers the command itself, before this returns.
    unblock: (how, answer) => answer(cancel(how) ? 1 : 0),
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
