/**
 * MULTI / EXEC / DISCARD / WATCH / UNWATCH when every key lives on one node.
 *
 * The router queues the block itself (answering QUEUED, with Redis's error
 * rules: a command that fails to queue makes EXEC answer EXECABORT) and
 * knows at EXEC where it must run. Then:
 * - Redis node, no WATCH: MULTI, the commands and EXEC go onto the node's
 *   pipelined data connection in one synchronous run, so no other client's
 *   command can land inside, and they stay ordered behind this client's
 *   earlier commands.
 * - WATCH: the session is pinned to a dedicated connection of the node (from
 *   the bounded pool) from WATCH until EXEC / DISCARD / UNWATCH / disconnect;
 *   the block runs there, after a barrier on the data connection so the
 *   client's earlier writes land first.
 * - Embedded node: on a dedicated connection of the node, which runs the
 *   block as one step (memory-dedicated.ts).
 *
 * Refused at EXEC, with nothing run: keys on several nodes (naming them and
 * the hash-tag fix), keys under a policy that reshapes them. A block whose
 * keys are in a range being cut over waits at the gate like any request.
 * A watched key whose range moved to another node since WATCH cannot be
 * watched any more: EXEC answers nil, as if it had changed (which the move's
 * delete on the old node did), and the client retries, now on the new owner.
 */
import type { DedicatedConnection, ReplyCallback } from '../backend/backend.js';
import { memoryCommandNames, notServedError } from '../backend/memory-commands.js';
import type { NodeId } from '../keyspace/ids.js';
import type { Command } from '../protocol/command.js';
import { decodeReply } from '../protocol/reply-decoder.js';
import { OK, QUEUED, RawReply, ReplyError, hsError, isErrorReply, type Reply } from '../protocol/reply.js';
import { ErrorCode } from '../errors.js';
import { Route, type CommandSpec } from './command-table.js';
import { toResp3 } from './resp3.js';
import type { Session } from './session.js';
import {
  crossShard,
  errorReply,
  afterBlockWrites,
  afterReadsOf,
  holdSession,
  keysOf,
  packedKeys,
  place,
  resume,
  type SingleNodeHost,
} from './single-node.js';

/** Commands that act on the transaction itself instead of being queued (QUIT closes at once and RESET discards it, as in Redis). */
export const TRANSACTION_CONTROL: ReadonlySet<string> = new Set([
  'multi',
  'exec',
  'discard',
  'watch',
  'unwatch',
  'quit',
  'reset',
]);

/** Router-local commands that mean the same on a node, so may be queued. */
const QUEUEABLE_LOCAL = new Set(['ping', 'echo']);
/** Special-route commands that may be queued: scripts, and blocking commands (which do not block inside MULTI). */
const QUEUEABLE_SPECIAL = new Set([
  'eval',
  'evalsha',
  'eval_ro',
  'evalsha_ro',
  'fcall',
  'fcall_ro',
  'blpop',
  'brpop',
  'blmove',
  'brpoplpush',
  'blmpop',
  'bzpopmin',
  'bzpopmax',
  'bzmpop',
  'xread',
  'xreadgroup',
]);

const cmd = (...words: string[]): Command => {
  const args = words.map((w) => Buffer.from(w));
  return { name: words[0]!.toLowerCase(), args, frame: undefined };
};
const MULTI = cmd('MULTI');
const EXEC = cmd('EXEC');
const UNWATCH = cmd('UNWATCH');
const EXECABORT = new ReplyError('EXECABORT Transaction discarded because of previous errors.');

/** MULTI, EXEC, DISCARD, WATCH, UNWATCH. */
export function runTransactionCommand(
  host: SingleNodeHost,
  session: Session,
  spec: CommandSpec,
  args: Buffer[],
  frame: Buffer | undefined,
  done: ReplyCallback,
): void {
  switch (spec.name) {
    case 'multi':
      if (session.multi !== null) return done(new ReplyError('ERR MULTI calls can not be nested'));
      session.multi = [];
      session.multiFailed = false;
      return done(OK);
    case 'discard':
      if (session.multi === null) return done(new ReplyError('ERR DISCARD without MULTI'));
      endTransaction(host, session);
      return done(OK);
    case 'exec':
      return exec(host, session, spec, args, frame, done);
    case 'watch':
      if (session.multi !== null) return done(new ReplyError('ERR WATCH inside MULTI is not allowed'));
      return watch(host, session, args, frame, done);
    case 'unwatch':
      unwatch(host, session);
      return done(OK);
    default:
      return done(new ReplyError(`ERR internal: '${spec.name}' is not a transaction command`));
  }
}

/**
 * A command embedded nodes do not run, when every node is embedded: refused
 * as it is queued, as Redis refuses a command it cannot run, so the client
 * sees why EXEC aborts.
 */
function unservedOnEmbedded(host: SingleNodeHost, spec: CommandSpec): ReplyError | undefined {
  if (spec.route === Route.Local || memoryCommandNames.has(spec.name)) return undefined;
  for (const backend of host.backends.values()) if (backend.kind !== 'memory') return undefined;
  return notServedError(spec.name, []);
}

/** A command sent inside MULTI: queued (QUEUED), or refused, which makes EXEC abort. */
export function queueCommand(
  host: SingleNodeHost,
  session: Session,
  spec: CommandSpec,
  args: Buffer[],
  frame: Buffer | undefined,
  done: ReplyCallback,
): void {
  const queueable =
    spec.route === Route.Key ||
    spec.route === Route.MultiKey ||
    spec.route === Route.OneShard ||
    spec.route === Route.Gather ||
    (spec.route === Route.Local && QUEUEABLE_LOCAL.has(spec.name)) ||
    (spec.route === Route.Special && QUEUEABLE_SPECIAL.has(spec.name));
  if (!queueable) {
    session.multiFailed = true;
    return done(
      hsError(
        ErrorCode.NotAllowed,
        `${spec.name.toUpperCase()} cannot run inside MULTI on hotshard (only commands with keys, scripts, PING and ECHO); the transaction will be discarded at EXEC`,
      ),
    );
  }
  const unserved = unservedOnEmbedded(host, spec);
  if (unserved !== undefined) {
    session.multiFailed = true;
    return done(unserved);
  }
  if (spec.route === Route.MultiKey && spec.step === 2 && (args.length - 1) % 2 !== 0) {
    session.multiFailed = true;
    return done(new ReplyError(`ERR wrong number of arguments for '${spec.name}' command`));
  }
  const keys = spec.route === Route.Local ? [] : keysOf(spec, args);
  if (keys instanceof ReplyError) {
    session.multiFailed = true;
    return done(keys);
  }
  // Copies: the block outlives the socket chunks its commands arrived in.
  session.multi!.push({
    name: spec.name,
    args: args.map((a) => Buffer.from(a)),
    frame: frame === undefined ? undefined : Buffer.from(frame),
    keys: keys.map((k) => Buffer.from(k)),
    write: spec.write || (spec.route === Route.Special && !spec.flags.includes('readonly')),
  });
  return done(QUEUED);
}

/** Drops the queued block and any WATCH (DISCARD, an aborted EXEC). */
function endTransaction(host: SingleNodeHost, session: Session): void {
  session.multi = null;
  session.multiFailed = false;
  unwatch(host, session);
}

/** Forgets the watched keys; the connection goes back to the pool once UNWATCH cleared it. */
export function unwatch(host: SingleNodeHost, session: Session): void {
  const watching = session.watching;
  if (watching === null) return;
  session.watching = null;
  const { node, conn } = watching;
  conn.send(UNWATCH, (reply) => host.dedicated.release(node, conn, !isErrorReply(reply)));
}

function exec(
  host: SingleNodeHost,
  session: Session,
  spec: CommandSpec,
  args: Buffer[],
  frame: Buffer | undefined,
  done: ReplyCallback,
): void {
  const queued = session.multi;
  if (queued === null) return done(new ReplyError('ERR EXEC without MULTI'));
  if (session.multiFailed) {
    endTransaction(host, session);
    return done(EXECABORT);
  }
  const keys: Buffer[] = [];
  for (const q of queued) keys.push(...q.keys);
  const watching = session.watching;
  const table = host.table;
  if (watching !== null) {
    const all = [...watching.keys, ...keys];
    const at = new Int32Array(all.length);
    for (let k = 0; k < all.length; k++) at[k] = table.indexFor(all[k]!);
    if (host.gate !== undefined && host.gate.mustHoldAny(session, table, at))
      return host.gate.hold(session, () => host.again(session, args, frame, done));
    for (let k = 0; k < watching.keys.length; k++) {
      if (table.shards[at[k]!]!.node !== watching.node) {
        endTransaction(host, session);
        return done(null);
      }
    }
    for (let k = watching.keys.length; k < all.length; k++) {
      if (table.shards[at[k]!]!.node !== watching.node) {
        endTransaction(host, session);
        host.stats.rejected++;
        return done(crossShard('MULTI (with its WATCH)', table, all, at));
      }
    }
  }
  const placed = place(host, session, 'MULTI', keys);
  if (placed.kind === 'hold') return host.gate!.hold(session, () => host.again(session, args, frame, done));
  if (placed.kind === 'refused') {
    endTransaction(host, session);
    host.stats.rejected++;
    return done(placed.reply);
  }
  const node = keys.length === 0 && watching !== null ? watching.node : placed.node;
  // Telemetry counts the block's keys on their shards as one multi-key
  // request, timed by EXEC's reply, a write when any command in it writes:
  // a counter bumped in MULTI / EXEC is a hot key like any other.
  const ins = host.instrumentation;
  if (ins !== undefined) {
    const write = queued.some((q) => q.write);
    done = ins.multiKey(
      session,
      spec,
      packedKeys({ name: spec.name, args, frame }, keys),
      placed.at,
      done,
      write,
      1,
    );
  }
  if (host.admission.engaged && keys.length > 0) {
    const refused = host.admission.admitShards(session, keys[0]!, table, placed.at);
    if (refused !== undefined) {
      endTransaction(host, session);
      return done(refused);
    }
  }
  session.multi = null;
  session.multiFailed = false;
  if (session.proto === 3) done = execResp3(queued, done);
  const cachedDone = afterBlockWrites(host.policies, keys, done);
  if (cachedDone === done) return runBlock(host, session, node, watching, queued, done, false);
  // A cached key in the block: the session's reads of it still out on the
  // node's feed connection are answered first (the block could overtake them),
  // and its next requests wait for EXEC's reply, which drops the cached value.
  holdSession(session);
  afterReadsOf(host.policies, keys, session, () =>
    runBlock(host, session, node, watching, queued, cachedDone, true),
  );
}

/** Sends a checked block to `node`: on the WATCH connection, the node's data connection, or an embedded node's. */
function runBlock(
  host: SingleNodeHost,
  session: Session,
  node: NodeId,
  watching: Session['watching'],
  queued: NonNullable<Session['multi']>,
  done: ReplyCallback,
  cached: boolean,
): void {
  const backend = host.backends.get(node)!;
  if (watching !== null) {
    session.watching = null;
    holdSession(session);
    // The client's earlier commands went on the data connection: they land before the block.
    void backend.barrier().then(() =>
      sendBlock(watching.conn.send.bind(watching.conn), queued, (reply) => {
        // EXEC ends every WATCH: the connection is clean unless it failed.
        host.dedicated.release(watching.node, watching.conn, !isErrorReply(reply));
        done(reply);
        resume(session);
      }),
    );
    return;
  }
  if (backend.kind === 'redis') {
    if (!cached) return sendBlock(backend.send.bind(backend), queued, done);
    holdSession(session);
    return sendBlock(backend.send.bind(backend), queued, (reply) => {
      done(reply);
      resume(session);
    });
  }
  holdSession(session);
  host.dedicated.acquire(backend, 'watch').then(
    (conn) =>
      sendBlock(conn.send.bind(conn), queued, (reply) => {
        host.dedicated.release(node, conn, !isErrorReply(reply));
        done(reply);
        resume(session);
      }),
    (err: unknown) => {
      done(errorReply(err));
      resume(session);
    },
  );
}

/** EXEC's replies for a RESP3 client: each in the shape its command has alone (resp3.ts). */
function execResp3(queued: NonNullable<Session['multi']>, done: ReplyCallback): ReplyCallback {
  return (reply) => {
    const value = reply instanceof RawReply ? decodeReply(reply.bytes) : reply;
    if (!Array.isArray(value) || value.length !== queued.length) return done(value);
    done((value as readonly Reply[]).map((r, i) => toResp3(queued[i]!.name, queued[i]!.args, r)));
  };
}

/** MULTI, the block, EXEC, in one synchronous run; `done` gets EXEC's reply. */
function sendBlock(
  send: (cmd: Command, done: ReplyCallback) => void,
  queued: readonly { name: string; args: Buffer[]; frame: Buffer | undefined }[],
  done: ReplyCallback,
): void {
  const ignore = (_reply: Reply): void => undefined;
  send(MULTI, ignore);
  for (const q of queued) send({ name: q.name, args: q.args, frame: q.frame }, ignore);
  send(EXEC, done);
}

function watch(
  host: SingleNodeHost,
  session: Session,
  args: Buffer[],
  frame: Buffer | undefined,
  done: ReplyCallback,
): void {
  const keys = args.slice(1);
  const watching = session.watching;
  const placed = place(host, session, 'WATCH', watching === null ? keys : [...watching.keys, ...keys]);
  if (placed.kind === 'hold') return host.gate!.hold(session, () => host.again(session, args, frame, done));
  if (placed.kind === 'refused') {
    host.stats.rejected++;
    return done(placed.reply);
  }
  const copies = keys.map((k) => Buffer.from(k));
  const watchCmd: Command = { name: 'watch', args: [args[0]!, ...copies], frame: undefined };
  if (watching !== null) {
    watching.keys.push(...copies);
    return watching.conn.send(watchCmd, done);
  }
  const node = placed.node;
  const backend = host.backends.get(node)!;
  holdSession(session);
  const fail = (reply: Reply): void => {
    done(reply);
    resume(session);
  };
  host.dedicated.acquire(backend, 'watch').then(
    (conn: DedicatedConnection) => {
      if (session.gone) {
        host.dedicated.release(node, conn, true);
        return fail(null);
      }
      conn.send(watchCmd, (reply) => {
        if (isErrorReply(reply)) {
          host.dedicated.release(node, conn, false);
          return fail(reply);
        }
        if (session.gone) host.dedicated.release(node, conn, false);
        else session.watching = { node, conn, keys: copies };
        fail(reply);
      });
    },
    (err: unknown) => fail(errorReply(err)),
  );
}
