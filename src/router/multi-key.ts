/**
 * Multi-key commands (MGET, MSET, DEL, UNLINK, EXISTS, TOUCH) whose keys may live on
 * several nodes: split by node, send one sub-command per node, reassemble the
 * replies in the client's key order. When every key is on one node the
 * original frame goes through unchanged.
 *
 * Not atomic across nodes, as in twemproxy and Redis Cluster clients: an MSET
 * that fails on one node may have applied on another; the client gets the error.
 */
import type { ReplyCallback, ShardBackend } from '../backend/backend.js';
import type { NodeId } from '../keyspace/ids.js';
import type { RoutingTable } from '../keyspace/routing-table.js';
import type { Command } from '../protocol/command.js';
import { decodeReply } from '../protocol/reply-decoder.js';
import { OK, RawReply, ReplyError, isErrorReply, type Reply } from '../protocol/reply.js';
import { commandSpec, type CommandSpec } from './command-table.js';
import { runPolicy, type KeyPolicyTable, type PolicyHost } from './key-policies.js';
import type { Session } from './session.js';

/** One node's part of a split command. */
interface Part {
  readonly backend: ShardBackend;
  readonly args: Buffer[];
  /** Index in the client's key list of each key in this part. */
  readonly positions: number[];
}

/** What dispatch reads of the Router (declared here: importing router.ts would be an import cycle). */
interface RouterNodes {
  readonly backends: ReadonlyMap<NodeId, ShardBackend>;
}

/**
 * Names of keys the router keeps on the nodes for itself (a replicated key's
 * copies, src/mitigate/actions/replicas.ts): DBSIZE does not count them, so
 * clients see the keyspace they wrote.
 */
export type HiddenKeys = () => readonly Buffer[];

/** What a command sent to every node reads of the Router. */
interface AllNodesRouter extends RouterNodes {
  readonly table: RoutingTable;
  readonly hiddenKeys: ReadonlySet<HiddenKeys>;
}

/** What a multi-key command with policy keys reads of the Router. */
interface PolicyRouter extends RouterNodes, PolicyHost {
  readonly table: RoutingTable;
  readonly policies: KeyPolicyTable;
}

/** The single-key command each key of a multi-key command becomes when that key has a policy. */
const SINGLE: Readonly<Record<string, string>> = {
  mget: 'get',
  mset: 'set',
  del: 'del',
  unlink: 'unlink',
  exists: 'exists',
  touch: 'touch',
};

/**
 * Where each key of a multi-key command lives: its shard's place in `table`,
 * in key order. Found once per request, for the split and the telemetry alike.
 */
export function shardsOfKeys(table: RoutingTable, spec: CommandSpec, cmd: Command): Int32Array {
  const args = cmd.args;
  const at = new Int32Array(Math.ceil((args.length - 1) / spec.step));
  for (let i = 1, k = 0; i < args.length; i += spec.step, k++) at[k] = table.indexFor(args[i]!);
  return at;
}

/** Splits a multi-key command by node and merges the replies; `at` is shardsOfKeys over `table`. */
export function dispatchMultiKey(
  router: RouterNodes,
  spec: CommandSpec,
  cmd: Command,
  table: RoutingTable,
  at: Int32Array,
  done: ReplyCallback,
): void {
  const args = cmd.args;
  const step = spec.step;
  if (step === 2 && (args.length - 1) % 2 !== 0) {
    return done(new ReplyError(`ERR wrong number of arguments for '${spec.name}' command`));
  }
  const name = args[0]!;
  const parts = new Map<ShardBackend, Part>();
  for (let i = 1, k = 0; i < args.length; i += step, k++) {
    const backend = router.backends.get(table.shards[at[k]!]!.node)!;
    let part = parts.get(backend);
    if (part === undefined) {
      part = { backend, args: [name], positions: [] };
      parts.set(backend, part);
    }
    for (let j = 0; j < step; j++) part.args.push(args[i + j]!);
    part.positions.push(k);
  }
  if (parts.size === 1) {
    const only = parts.values().next().value!;
    return only.backend.send(cmd, done);
  }
  const keyCount = (args.length - 1) / step;
  gather(
    [...parts.values()].map((p) => ({
      backend: p.backend,
      cmd: { name: cmd.name, args: p.args, frame: undefined },
    })),
    (replies) => done(merge(spec, replies, [...parts.values()], keyCount)),
  );
}

/** Sends a command to every node and combines the replies. */
export function dispatchAllNodes(
  router: AllNodesRouter,
  spec: CommandSpec,
  cmd: Command,
  done: ReplyCallback,
): void {
  if (spec.name === 'dbsize' && router.hiddenKeys.size !== 0) return dbsizeWithoutHidden(router, cmd, done);
  const backends = [...router.backends.values()];
  const forward: Command = { name: cmd.name, args: cmd.args, frame: cmd.frame };
  gather(
    backends.map((backend) => ({ backend, cmd: forward })),
    (replies) => done(merge(spec, replies, undefined, 0)),
  );
}

/**
 * DBSIZE less the hidden keys that exist: each node gets its DBSIZE and an
 * EXISTS over the hidden names it holds in the same turn, one after the
 * other on its connection, so both count the same keys.
 */
function dbsizeWithoutHidden(router: AllNodesRouter, cmd: Command, done: ReplyCallback): void {
  const table = router.table;
  const hiddenOn = new Map<ShardBackend, Buffer[]>();
  for (const names of router.hiddenKeys) {
    for (const name of names()) {
      const backend = router.backends.get(table.shards[table.indexFor(name)]!.node)!;
      const list = hiddenOn.get(backend);
      if (list === undefined) hiddenOn.set(backend, [name]);
      else list.push(name);
    }
  }
  const sends: { backend: ShardBackend; cmd: Command }[] = [];
  for (const backend of router.backends.values()) {
    sends.push({ backend, cmd: { name: cmd.name, args: cmd.args, frame: cmd.frame } });
    const names = hiddenOn.get(backend);
    if (names !== undefined)
      sends.push({
        backend,
        cmd: { name: 'exists', args: [Buffer.from('exists'), ...names], frame: undefined },
      });
  }
  gather(sends, (replies) => {
    const values = replies.map((r) => (r instanceof RawReply ? decodeReply(r.bytes) : r));
    const failed = values.find((v) => isErrorReply(v));
    if (failed !== undefined) return done(failed);
    let total = 0;
    values.forEach((v, i) => (total += (sends[i]!.cmd.name === 'exists' ? -1 : 1) * Number(v)));
    done(total);
  });
}

function gather(sends: { backend: ShardBackend; cmd: Command }[], done: (replies: Reply[]) => void): void {
  const replies: Reply[] = new Array<Reply>(sends.length);
  let left = sends.length;
  sends.forEach(({ backend, cmd }, i) => {
    backend.send(cmd, (reply) => {
      replies[i] = reply;
      if (--left === 0) done(replies);
    });
  });
}

function merge(spec: CommandSpec, replies: Reply[], parts: Part[] | undefined, keyCount: number): Reply {
  const values = replies.map((r) => (r instanceof RawReply ? decodeReply(r.bytes) : r));
  const failed = values.find((v) => isErrorReply(v));
  if (failed !== undefined) return failed;
  switch (spec.merge) {
    case 'sum': {
      let total = 0;
      for (const v of values) total += typeof v === 'number' ? v : Number(v);
      return total;
    }
    case 'all-ok':
      return OK;
    case 'mget': {
      const out = new Array<Reply>(keyCount).fill(null);
      values.forEach((v, i) => {
        const positions = parts![i]!.positions;
        const items = v as readonly Reply[];
        for (let j = 0; j < positions.length; j++) out[positions[j]!] = items[j] ?? null;
      });
      return out;
    }
    default:
      return new ReplyError(`ERR internal: no merge rule for '${spec.name}'`);
  }
}

/**
 * A multi-key command some of whose keys have a policy: each of those keys
 * goes to its policy as the single-key command (MGET's key as a GET), the
 * rest as one multi-key command on the plain route, and the replies are
 * combined as the command's merge rule says. Not atomic, like any multi-key
 * command spanning nodes.
 */
export function dispatchWithPolicies(
  router: PolicyRouter,
  session: Session,
  spec: CommandSpec,
  cmd: Command,
  done: ReplyCallback,
): void {
  const single = commandSpec(SINGLE[spec.name] ?? '');
  if (single === undefined) return done(new ReplyError(`ERR internal: no single-key form of '${spec.name}'`));
  const args = cmd.args;
  const step = spec.step;
  const keyCount = (args.length - 1) / step;
  const perKey = new Array<Reply | undefined>(keyCount);
  const restArgs: Buffer[] = [args[0]!];
  const restPositions: number[] = [];
  let restReply: Reply = null;
  let left = 1;
  const finish = (): void => {
    if (--left === 0) done(combine(spec, perKey, restPositions, restReply));
  };
  // Refused whole or not at all: a key whose policy would refuse at once (a
  // throttle) refuses the command before any part of it runs.
  for (let i = 1; i < args.length; i += step) {
    const refused = router.policies.get(args[i]!)?.handler.refusal?.();
    if (refused !== undefined) return done(refused);
  }
  const name = Buffer.from(single.name);
  for (let k = 0, i = 1; k < keyCount; k++, i += step) {
    const entry = router.policies.get(args[i]!);
    if (entry === undefined) {
      for (let j = 0; j < step; j++) restArgs.push(args[i + j]!);
      restPositions.push(k);
      continue;
    }
    left++;
    const sub: Command = { name: single.name, args: [name, ...args.slice(i, i + step)], frame: undefined };
    runPolicy(router, entry, session, single, sub, (reply) => {
      perKey[k] = reply;
      finish();
    });
  }
  if (restPositions.length > 0) {
    left++;
    const rest: Command = { name: cmd.name, args: restArgs, frame: undefined };
    const table = router.table;
    dispatchMultiKey(router, spec, rest, table, shardsOfKeys(table, spec, rest), (reply) => {
      restReply = reply;
      finish();
    });
  }
  finish();
}

function combine(
  spec: CommandSpec,
  perKey: readonly (Reply | undefined)[],
  restPositions: readonly number[],
  restReply: Reply,
): Reply {
  const decode = (r: Reply): Reply => (r instanceof RawReply ? decodeReply(r.bytes) : r);
  const rest = restPositions.length > 0 ? decode(restReply) : null;
  if (rest !== null && isErrorReply(rest)) return rest;
  const values = perKey.map((r) => (r === undefined ? undefined : decode(r)));
  for (const v of values) {
    // MGET answers nil for a key of another type, where GET says WRONGTYPE.
    if (v === undefined || !isErrorReply(v)) continue;
    if (spec.merge === 'mget' && (v as ReplyError).message.startsWith('WRONGTYPE')) continue;
    return v;
  }
  switch (spec.merge) {
    case 'mget': {
      const out = values.map((v) => (v === undefined || isErrorReply(v) ? null : v));
      const items = (rest ?? []) as readonly Reply[];
      restPositions.forEach((k, j) => (out[k] = items[j] ?? null));
      return out;
    }
    case 'sum': {
      let total = rest === null ? 0 : Number(rest);
      for (const v of values) if (v !== undefined) total += Number(v);
      return total;
    }
    case 'all-ok':
      return OK;
    default:
      return new ReplyError(`ERR internal: no merge rule for '${spec.name}'`);
  }
}
