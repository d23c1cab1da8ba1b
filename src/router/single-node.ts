/**
 * What transactions, scripts and blocking commands share: they run whole on
 * one node, so their keys must all live on one node. Here: which keys a
 * command declares, where they live now, and the refusals (keys on several
 * nodes, keys a mitigation policy reshapes), plus the slice of the Router
 * these modules see.
 *
 * One node, not one shard, is what atomicity needs (a node runs MULTI, EVAL
 * and BLMOVE whole). A move can later put two shards of one node on two
 * nodes: the refusal then names the hash-tag fix, which keeps keys in one
 * shard for good.
 */
import type { ReplyCallback, ShardBackend } from '../backend/backend.js';
import { ErrorCode } from '../errors.js';
import type { NodeId } from '../keyspace/ids.js';
import type { RoutingTable } from '../keyspace/routing-table.js';
import type { Command } from '../protocol/command.js';
import { ReplyError, hsError, type Reply } from '../protocol/reply.js';
import type { RangeGate } from '../rebalance/range-gate.js';
import type { Admission } from './admission.js';
import { keysOf as keyPositions, type CommandSpec } from './command-table.js';
import type { DedicatedPool } from './dedicated-pool.js';
import type { KeyHandler, KeyPolicyTable } from './key-policies.js';
import type { Instrumentation } from './instrumentation.js';
import type { HiddenKeys } from './multi-key.js';
import type { Session } from './session.js';

/** What these modules read of the Router (declared here: importing router.ts would be a cycle). */
export interface SingleNodeHost {
  readonly table: RoutingTable;
  readonly backends: ReadonlyMap<NodeId, ShardBackend>;
  /** A live move's cutover in progress, if any. */
  readonly gate: RangeGate | undefined;
  readonly policies: KeyPolicyTable;
  readonly admission: Admission;
  readonly dedicated: DedicatedPool;
  readonly hiddenKeys: ReadonlySet<HiddenKeys>;
  readonly stats: { rejected: number };
  /** Telemetry and the access log, when on. */
  readonly instrumentation: Instrumentation | undefined;
  /** Runs a request again through the router (after a hold), counted once. */
  again(session: Session, args: Buffer[], frame: Buffer | undefined, done: ReplyCallback): void;
}

/**
 * What telemetry is told of a command whose keys are not where its spec puts
 * them (a script's declared keys, a transaction's block): the keys packed
 * after the name, step 1 (see Instrumentation.multiKey). The frame stays the
 * request's own, for its size.
 */
export function packedKeys(cmd: Command, keys: readonly Buffer[]): Command {
  return { name: cmd.name, args: [cmd.args[0]!, ...keys], frame: cmd.frame };
}

/** Where a set of keys must run. */
export type Placement =
  | { readonly kind: 'hold' }
  | { readonly kind: 'node'; readonly node: NodeId; readonly at: Int32Array }
  | { readonly kind: 'refused'; readonly reply: Reply };

const NOT_INTEGER = new ReplyError('ERR value is not an integer or out of range');

/** Commands whose key count is an argument: its position, and where the keys start. */
const NUMKEYS: Readonly<Record<string, readonly [number, number]>> = {
  eval: [2, 3],
  evalsha: [2, 3],
  eval_ro: [2, 3],
  evalsha_ro: [2, 3],
  fcall: [2, 3],
  fcall_ro: [2, 3],
  blmpop: [2, 3],
  bzmpop: [2, 3],
};

/**
 * The keys `args` names, by the command's key positions (numkeys and STREAMS
 * forms included), or the error Redis answers for a bad key count.
 */
export function keysOf(spec: CommandSpec, args: readonly Buffer[]): Buffer[] | ReplyError {
  const numkeys = NUMKEYS[spec.name];
  if (numkeys !== undefined) {
    const [at, first] = numkeys;
    const text = args[at]?.toString('latin1') ?? '';
    if (!/^-?\d{1,18}$/.test(text)) return NOT_INTEGER;
    const n = Number(text);
    const scripted = first === 3 && !spec.name.startsWith('b');
    if (n < 0 || (!scripted && n === 0))
      return new ReplyError(
        scripted ? "ERR Number of keys can't be negative" : 'ERR numkeys should be greater than 0',
      );
    if (first + n > args.length)
      return new ReplyError(
        scripted ? "ERR Number of keys can't be greater than number of args" : 'ERR syntax error',
      );
    return args.slice(first, first + n);
  }
  if (spec.name === 'xread' || spec.name === 'xreadgroup') {
    let streams = -1;
    for (let i = 1; i < args.length; i++) {
      if (args[i]!.length === 7 && args[i]!.toString('latin1').toLowerCase() === 'streams') {
        streams = i;
        break;
      }
    }
    if (streams < 0) return new ReplyError('ERR syntax error');
    const rest = args.length - streams - 1;
    if (rest === 0 || rest % 2 !== 0)
      return new ReplyError(
        `ERR Unbalanced '${spec.name}' list of streams: for each stream key an ID or '$' must be specified.`,
      );
    return args.slice(streams + 1, streams + 1 + rest / 2);
  }
  return keyPositions(spec, args).map((i) => args[i]!);
}

/**
 * Where `keys` run: held while a cutover moves one of them, refused when they
 * span nodes or one has a policy that reshapes it, else their node.
 * `what` names the request in refusals ("MULTI", "EVAL").
 */
export function place(
  host: SingleNodeHost,
  session: Session,
  what: string,
  keys: readonly Buffer[],
): Placement {
  const table = host.table;
  const at = new Int32Array(keys.length);
  for (let k = 0; k < keys.length; k++) at[k] = table.indexFor(keys[k]!);
  const gate = host.gate;
  if (gate !== undefined && gate.mustHoldAny(session, table, at)) return { kind: 'hold' };
  let node: NodeId | undefined;
  for (let k = 0; k < at.length; k++) {
    const owner = table.shards[at[k]!]!.node;
    if (node === undefined) node = owner;
    else if (owner !== node) return { kind: 'refused', reply: crossShard(what, table, keys, at) };
  }
  if (host.policies.size !== 0) {
    for (const key of keys) {
      const reply = policyRefusal(host.policies, what, key);
      if (reply !== undefined) return { kind: 'refused', reply };
    }
    // Every key may go: a throttled one is charged its token, as its own commands are.
    for (const key of keys) host.policies.get(key)?.handler.charge?.();
  }
  // No key: any node serves it; the first shard's, so it is always the same one.
  return { kind: 'node', node: node ?? table.shards[0]!.node, at };
}

/** Refuses keys on several nodes, naming each key's shard and node and the hash-tag fix. */
export function crossShard(
  what: string,
  table: RoutingTable,
  keys: readonly Buffer[],
  at: Int32Array,
): ReplyError {
  const shown = new Set<string>();
  const where: string[] = [];
  for (let k = 0; k < keys.length && where.length < 6; k++) {
    const s = table.shards[at[k]!]!;
    const line = `${printable(keys[k]!)} on shard ${s.id} at node ${s.node}`;
    if (!shown.has(line)) {
      shown.add(line);
      where.push(line);
    }
  }
  return hsError(
    ErrorCode.CrossShard,
    `${what} refused, nothing ran: its keys live on different nodes (${where.join(', ')}). ` +
      'Give them one hash tag so they share a shard, e.g. {user:42}:cart and {user:42}:total',
  );
}

/**
 * A key whose policy changes where or how it is stored (replicas, salted
 * sub-keys, batched counters) cannot take part in a block the node runs
 * whole. A cache alone leaves the key plain on its node, and the node's
 * invalidations keep the cache coherent with writes made inside; a throttle
 * answers its refusal when the key is out of tokens.
 */
function policyRefusal(policies: KeyPolicyTable, what: string, key: Buffer): Reply | undefined {
  const entry = policies.get(key);
  if (entry === undefined) return undefined;
  const policy = entry.policy as Readonly<Record<string, unknown>> | null;
  const has = (name: string): boolean =>
    policy !== null && typeof policy === 'object' && policy[name] !== undefined;
  const reshaping = ['replicas', 'salt', 'aggregate'].filter(has);
  // A throttle changes how often, not how the key is stored: a block on the
  // key is held to its limit as the key's own commands are (BUSY with a
  // retry-after when it is out of tokens), not refused.
  if (reshaping.length === 0 && policy !== null && typeof policy === 'object')
    return has('throttle') ? entry.handler.refusal?.() : undefined;
  return hsError(
    ErrorCode.NotAllowed,
    `${what} refused, nothing ran: key ${printable(key)} has a hot-key policy (${reshaping.join(', ') || 'unknown'}) ` +
      'that changes how it is stored; remove the policy (DELETE /policies/{key}) to use it here',
  );
}

/**
 * `done`, after telling the policies of `keys` that a block the node ran
 * whole may have written them: a cached value must not outlive the
 * acknowledgement (read after it, it would be stale), and the node's
 * invalidation may arrive later than the client's next read.
 */
export function afterBlockWrites(
  policies: KeyPolicyTable,
  keys: readonly Buffer[],
  done: ReplyCallback,
): ReplyCallback {
  const handlers: KeyHandler[] = [];
  for (const key of keys) {
    const handler = policies.get(key)?.handler;
    if (handler?.wrote !== undefined) handlers.push(handler);
  }
  if (handlers.length === 0) return done;
  return (reply) => {
    for (const h of handlers) h.wrote!();
    done(reply);
  };
}

/**
 * Calls `go` once every read of `keys` by `session` that a block sent now
 * could overtake is answered (see KeyHandler.afterReads); at once when none.
 */
export function afterReadsOf(
  policies: KeyPolicyTable,
  keys: readonly Buffer[],
  session: Session,
  go: () => void,
): void {
  const handlers: KeyHandler[] = [];
  for (const key of keys) {
    const handler = policies.get(key)?.handler;
    if (handler?.afterReads !== undefined) handlers.push(handler);
  }
  const next = (i: number): void => {
    if (i === handlers.length) return go();
    handlers[i]!.afterReads!(session, () => next(i + 1));
  };
  next(0);
}

/** A key as error messages show it: text when printable, else hex. */
export function printable(key: Buffer): string {
  const text = key.toString('latin1', 0, Math.min(key.length, 64));
  const more = key.length > 64 ? '...' : '';
  return /^[\x20-\x7e]*$/.test(text) ? `'${text}${more}'` : `0x${key.toString('hex', 0, 64)}${more}`;
}

/**
 * Makes the session's next requests wait until {@link resume}: one of its
 * requests must finish first (a WATCH being set up, a blocked command, an
 * EXEC waiting for the session's earlier commands).
 */
export function holdSession(session: Session): void {
  session.held ??= [];
}

/** Runs what waited behind {@link holdSession}, in order, until one of them holds the session again. */
export function resume(session: Session): void {
  const held = session.held;
  session.held = null;
  if (held === null) return;
  for (let i = 0; i < held.length; i++) {
    if (session.held !== null) {
      // One of them holds the session again: the rest wait behind it, in order.
      (session.held as (() => void)[]).push(...held.slice(i));
      return;
    }
    held[i]!();
  }
}

/** A failure to get a node connection as the reply it means. */
export function errorReply(err: unknown): ReplyError {
  if (err instanceof Error && 'code' in err && typeof err.code === 'string' && err.code.startsWith('HS_ERR_'))
    return hsError(err.code as ErrorCode, err.message);
  return hsError(ErrorCode.Internal, err instanceof Error ? err.message : String(err));
}
