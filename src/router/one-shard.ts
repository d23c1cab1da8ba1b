/**
 * Commands whose keys the key specs find (RENAME, LMOVE, ZUNIONSTORE's
 * numkeys, SORT ... STORE, XREAD STREAMS, a container's subcommand such as
 * XINFO STREAM): every key on one shard → the client's frame goes through
 * unchanged; across shards a write is refused with the hash-tag fix, and the
 * reads with a well-defined answer (SUNION, ZINTER, PFCOUNT ...) are gathered
 * (gather.ts). Telemetry, admission and a live move's gate see every key.
 */
import type { ReplyCallback, ShardBackend } from '../backend/backend.js';
import { hashedSpan } from '../keyspace/hash-tag.js';
import type { NodeId } from '../keyspace/ids.js';
import { PartitionerKind } from '../keyspace/partitioner.js';
import type { RoutingTable } from '../keyspace/routing-table.js';
import type { Command } from '../protocol/command.js';
import { hsError } from '../protocol/reply.js';
import { ErrorCode } from '../errors.js';
import type { RangeGate } from '../rebalance/range-gate.js';
import type { Admission } from './admission.js';
import { Route, keysOf, type CommandSpec } from './command-table.js';
import { dispatchGather } from './gather.js';
import type { Instrumentation } from './instrumentation.js';
import type { KeyPolicyTable } from './key-policies.js';
import { sortPattern } from './key-specs.js';
import type { Session } from './session.js';

/** What routing by key specs reads of the Router (declared here: importing router.ts would be a cycle). */
export interface KeySpecsRouter {
  readonly table: RoutingTable;
  readonly backends: ReadonlyMap<NodeId, ShardBackend>;
  readonly policies: KeyPolicyTable;
  readonly admission: Admission;
  readonly instrumentation: Instrumentation | undefined;
  readonly stats: { rejected: number; commands: number };
  dispatch(session: Session, args: Buffer[], frame: Buffer | undefined, done: ReplyCallback): void;
}

/**
 * Whether every key a SORT pattern forms lives on the shard of `key`: under
 * the hash partitioner, a `{tag}` before the `*` gives every key formed the
 * same hash (Redis Cluster's patternHashSlot rule), so `{user1}:w_*` sorting
 * `{user1}:list` reads that node only. A live move carries the keys with the
 * sorted key, so the gate holding that shard holds them too.
 */
export function patternOnShard(table: RoutingTable, pattern: Buffer, key: Buffer): boolean {
  if (table.partitioner.kind !== PartitionerKind.Hash) return false;
  const star = pattern.indexOf(0x2a); // '*'
  const prefix = pattern.subarray(0, star);
  // The first '{' and the '}' after it both before the '*': the element cannot change the tag.
  if (hashedSpan(prefix, { start: 0, end: 0 }).start === 0) return false;
  return table.indexFor(prefix) === table.indexFor(key);
}

/** The error of a command whose keys live on different shards: names the command and the fix. */
export function crossShardError(name: string): ReturnType<typeof hsError> {
  return hsError(
    ErrorCode.CrossShard,
    `${name.toUpperCase()}'s keys live on different shards; keep them on one shard with a hash tag ` +
      `({user1}:a and {user1}:b hash alike) or, under the range partitioner, a common prefix`,
  );
}

function blockArg(args: readonly Buffer[]): boolean {
  for (let i = 1; i < args.length; i++) {
    const a = args[i]!;
    if (a.length === 5 && a.toString('latin1').toLowerCase() === 'block') return true;
  }
  return false;
}

/**
 * Routes a Route.OneShard or Route.Gather command. `reply` is `done` as the
 * session's protocol wants it (RESP3); `done` is what a held request is run
 * again with.
 */
export function dispatchByKeySpecs(
  router: KeySpecsRouter,
  gate: RangeGate | undefined,
  session: Session,
  spec: CommandSpec,
  cmd: Command,
  reply: ReplyCallback,
  done: ReplyCallback,
): void {
  const args = cmd.args;
  if (spec.blocking && blockArg(args)) {
    router.stats.rejected++;
    return done(
      hsError(
        ErrorCode.NotAllowed,
        `${spec.name.toUpperCase()} with BLOCK is not supported by hotshard: it would hold a shard connection other clients share`,
      ),
    );
  }
  if (spec.name === 'sort' || spec.name === 'sort_ro') {
    const pattern = sortPattern(args, (p) => patternOnShard(router.table, p, args[1]!));
    if (pattern !== undefined) {
      router.stats.rejected++;
      return done(
        hsError(
          ErrorCode.NotAllowed,
          `${spec.name.toUpperCase()} ... ${pattern} is not supported by hotshard: the pattern reads other keys, which may live on other shards`,
        ),
      );
    }
  }
  const table = router.table;
  const positions = keysOf(spec, args);
  if (positions.length === 0) {
    if (spec.subcommands !== undefined && spec.subcommands.has(args[1]!.toString('latin1').toLowerCase())) {
      const sub = spec.subcommands.get(args[1]!.toString('latin1').toLowerCase())!;
      if (sub.keySpecs.length === 0 && !sub.name.endsWith('|help')) {
        router.stats.rejected++;
        return done(
          hsError(
            ErrorCode.NotAllowed,
            `${sub.name.replace('|', ' ').toUpperCase()} is not supported by hotshard: ${'it names no key, so there is no one node to send it to'}`,
          ),
        );
      }
    }
    // No key to be found (numkeys not a count, no STREAMS, HELP): Redis
    // rejects or answers such arguments itself, with its own words.
    return router.backends.get(table.shards[0]!.node)!.send(cmd, reply);
  }
  const at = new Int32Array(positions.length);
  const keys: Buffer[] = [args[0]!];
  for (let k = 0; k < positions.length; k++) {
    const key = args[positions[k]!]!;
    at[k] = table.indexFor(key);
    keys.push(key);
  }
  if (gate !== undefined && gate.mustHoldAny(session, table, at))
    return gate.hold(session, () => {
      router.stats.commands--;
      router.dispatch(session, [...args], cmd.frame, done);
    });
  let oneShard = true;
  let oneNode = true;
  const node = table.shards[at[0]!]!.node;
  for (let k = 1; k < at.length; k++) {
    if (at[k] !== at[0]) oneShard = false;
    if (table.shards[at[k]!]!.node !== node) oneNode = false;
  }
  if (!oneShard && spec.route !== Route.Gather) {
    router.stats.rejected++;
    return done(crossShardError(spec.name));
  }
  if (router.policies.size !== 0) {
    for (let k = 1; k < keys.length; k++) {
      if (router.policies.get(keys[k]!) === undefined) continue;
      router.stats.rejected++;
      return done(
        hsError(
          ErrorCode.NotAllowed,
          `${spec.name.toUpperCase()} is not supported on a key under a mitigation policy (${keys[k]!.toString('utf8', 0, 128)}); ` +
            'use its single-key commands until the policy ends',
        ),
      );
    }
  }
  // Telemetry and the access log count each key on its shard, as for MGET.
  const ins = router.instrumentation;
  const measured =
    ins === undefined
      ? reply
      : ins.multiKey(session, spec, { name: cmd.name, args: keys, frame: cmd.frame }, at, reply);
  if (router.admission.engaged) {
    const refused = router.admission.admitShards(session, keys[1]!, table, at);
    if (refused !== undefined) return measured(refused);
  }
  if (oneNode) return router.backends.get(node)!.send(cmd, measured);
  return dispatchGather(router, spec, cmd, positions, table, at, measured);
}
