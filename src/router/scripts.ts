/**
 * Lua scripts and functions on Redis nodes.
 *
 * EVAL / EVALSHA / EVAL_RO / EVALSHA_RO / FCALL / FCALL_RO run on the node of
 * their declared keys, which must all live on one node (else refused with the
 * hash-tag fix, nothing run). A script with no key runs on the node of the
 * first shard, always the same one. A script that touches keys it did not
 * declare reaches only what that node holds, as on Redis Cluster.
 *
 * SCRIPT LOAD / EXISTS / FLUSH / KILL and FUNCTION LOAD / DELETE / FLUSH /
 * RESTORE / KILL go to every node, so EVALSHA and FCALL find their script
 * wherever their keys live: LOAD answers the first node's reply unless one
 * failed, EXISTS is the AND of the nodes (a script missing anywhere is
 * missing), KILL succeeds when any node had a script to kill. FUNCTION LIST,
 * DUMP and STATS read the first shard's node (every node holds the same
 * libraries). NOSCRIPT passes through as Redis sends it: clients load the
 * script and retry, as they do against Redis.
 *
 * Embedded nodes have no Lua: these are refused there with a clear error.
 */
import type { ReplyCallback, ShardBackend } from '../backend/backend.js';
import { ErrorCode } from '../errors.js';
import type { Command } from '../protocol/command.js';
import { decodeReply } from '../protocol/reply-decoder.js';
import { OK, RawReply, ReplyError, hsError, isErrorReply, type Reply } from '../protocol/reply.js';
import type { CommandSpec } from './command-table.js';
import type { Session } from './session.js';
import {
  afterBlockWrites,
  afterReadsOf,
  holdSession,
  keysOf,
  packedKeys,
  place,
  resume,
  type SingleNodeHost,
} from './single-node.js';

/** How each SCRIPT / FUNCTION subcommand is served. */
type Fanout = 'all-first' | 'all-ok' | 'all-and' | 'any-ok' | 'first-node';

const SUBCOMMANDS: Readonly<Record<string, Readonly<Record<string, Fanout>>>> = {
  script: { load: 'all-first', exists: 'all-and', flush: 'all-ok', kill: 'any-ok', help: 'first-node' },
  function: {
    load: 'all-first',
    delete: 'all-ok',
    flush: 'all-ok',
    restore: 'all-ok',
    kill: 'any-ok',
    list: 'first-node',
    dump: 'first-node',
    stats: 'first-node',
    help: 'first-node',
  },
};

function noLua(node: string, what: string): ReplyError {
  return hsError(
    ErrorCode.NotAllowed,
    `${what} is not served by embedded node ${node}: it has no Lua interpreter; use Redis nodes (backend: redis)`,
  );
}

/** EVAL and friends, FCALL and FCALL_RO. */
export function runScript(
  host: SingleNodeHost,
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
  const backend = host.backends.get(placed.node)!;
  if (backend.kind === 'memory') {
    host.stats.rejected++;
    return done(noLua(backend.node, what));
  }
  // A read-only script writes nothing; any other may write each declared key
  // (EVAL has no `write` flag in Redis's table: its writes are the script's).
  const readOnly = spec.flags.includes('readonly');
  // Telemetry counts each declared key on its shard, as for MGET: a key a
  // rate-limiting script hammers is a hot key like any other.
  const ins = host.instrumentation;
  const measured =
    ins === undefined
      ? done
      : ins.multiKey(session, spec, packedKeys(cmd, keys), placed.at, done, !readOnly, 1);
  if (host.admission.engaged && keys.length > 0) {
    const refused = host.admission.admitShards(session, keys[0]!, host.table, placed.at);
    if (refused !== undefined) return measured(refused);
  }
  const after = readOnly ? measured : afterBlockWrites(host.policies, keys, measured);
  if (after === measured) return backend.send(cmd, measured);
  // A cached key: the session's reads of it out on the node's feed connection
  // are answered first (the script could overtake them), and its next requests
  // wait for the script's reply, which drops the cached value.
  holdSession(session);
  afterReadsOf(host.policies, keys, session, () =>
    backend.send(cmd, (reply) => {
      after(reply);
      resume(session);
    }),
  );
}

/** SCRIPT and FUNCTION: to every node, or the first shard's node, as SUBCOMMANDS says. */
export function runScriptAdmin(
  host: SingleNodeHost,
  session: Session,
  spec: CommandSpec,
  cmd: Command,
  done: ReplyCallback,
): void {
  const sub = cmd.args[1]!.toString('latin1').toLowerCase();
  const fanout = SUBCOMMANDS[spec.name]?.[sub];
  const what = `${spec.name.toUpperCase()} ${sub.toUpperCase()}`;
  if (fanout === undefined) {
    host.stats.rejected++;
    return done(
      new ReplyError(
        `ERR unknown subcommand or wrong number of arguments for '${sub}'. Try ${spec.name.toUpperCase()} HELP.`,
      ),
    );
  }
  if (host.gate !== undefined && fanout !== 'first-node')
    return host.gate.hold(session, () => host.again(session, cmd.args as Buffer[], cmd.frame, done));
  const backends = [...host.backends.values()];
  const embedded = backends.find((b) => b.kind === 'memory');
  if (embedded !== undefined) {
    host.stats.rejected++;
    return done(noLua(embedded.node, what));
  }
  if (fanout === 'first-node') return host.backends.get(host.table.shards[0]!.node)!.send(cmd, done);
  gatherAll(backends, cmd, (values) => done(combine(fanout, values)));
}

function gatherAll(backends: readonly ShardBackend[], cmd: Command, done: (values: Reply[]) => void): void {
  const values = new Array<Reply>(backends.length);
  let left = backends.length;
  backends.forEach((backend, i) => {
    backend.send(cmd, (reply) => {
      values[i] = reply instanceof RawReply ? decodeReply(reply.bytes) : reply;
      if (--left === 0) done(values);
    });
  });
}

function combine(fanout: Fanout, values: readonly Reply[]): Reply {
  const failed = values.find((v) => isErrorReply(v));
  switch (fanout) {
    case 'all-first':
      return failed ?? values[0] ?? null;
    case 'all-ok':
      return failed ?? OK;
    case 'any-ok':
      return values.some((v) => !isErrorReply(v)) ? OK : (failed ?? OK);
    case 'all-and': {
      if (failed !== undefined) return failed;
      const lists = values as readonly (readonly Reply[])[];
      return lists[0]!.map((_, i) => (lists.every((l) => Number(l[i]) === 1) ? 1 : 0));
    }
    default:
      return new ReplyError('ERR internal: no rule to combine the nodes');
  }
}
