/**
 * What the shard and node routes of the control API do, behind one seam:
 * `ShardOperations`. The routes (shards-api.ts, nodes.ts, mitigation-api.ts)
 * validate and answer; an implementation changes the routing table, the
 * admission limits, or starts a long operation; `auditedOperations` records
 * every change it makes in the audit log, whichever implementation is in.
 *
 * Split (metadata only: both halves stay on the node) and throttle complete
 * at once. Move, a merge of ranges on two nodes, and a drain are long: they
 * answer an {@link OperationAction} at once (HTTP 202) and run on; `cancel`
 * and `setLimits` steer them. `LocalShardOperations` runs split, move, merge,
 * add-node and drain-node as executor actions (src/rebalance/shard-actions.ts),
 * so the automation mode, the budgets and the actions log apply to them as to
 * every other change; without those action kinds (a router built without
 * them) the long ones answer 501 naming what is missing.
 */
import type { ActionKind, ActionRecord, ActionState, ActionSubject } from '../mitigate/action.js';
import { ActionRefused, type ActionRequest, type Executor } from '../mitigate/executor.js';
import { checkLimits, type MoveLimits } from '../rebalance/copier.js';
import type { ShardActions } from '../rebalance/shard-actions.js';
import { ErrorCode, HotshardError } from '../errors.js';
import type { NodeId, ShardId } from '../keyspace/ids.js';
import { ShardStatus, type ShardInfo } from '../keyspace/routing-table.js';
import type { Router } from '../router/router.js';
import type { AuditActor } from './audit.js';
import type { EventBus } from './events.js';

/** Who asks, and why (the request body's `reason`; null when none was given). */
export interface OperationContext {
  readonly who: AuditActor;
  readonly reason: string | null;
}

/** HTTP statuses an operation refuses with. */
export type RefusalStatus = 400 | 404 | 409 | 501;

/** An operation refused: the HTTP status and code to answer with, and why. */
export class OperationRefused extends HotshardError {
  override readonly name = 'OperationRefused';
  constructor(
    readonly status: RefusalStatus,
    code: ErrorCode,
    message: string,
  ) {
    super(code, message);
  }
}

/** Copy throttle of a running move (null: unlimited). */
export interface CopyLimits {
  readonly maxKeysPerSec?: number | null | undefined;
  readonly maxBytesPerSec?: number | null | undefined;
}

/** How far a long operation is: what the move engine's `progress()` reports. */
export interface OperationProgress {
  /** e.g. `copy`, `catch-up`, `verify`, `cutover`, `cleanup`. */
  readonly phase: string;
  readonly keysCopied: number;
  readonly bytesCopied: number;
  /** Keys in the range when known. */
  readonly keysTotal?: number | null | undefined;
  readonly keysPerSec: number;
  readonly bytesPerSec?: number | undefined;
  /** null while unknown. */
  readonly etaSeconds: number | null;
  /** Requests held at cutover so far, and their p99 wait. */
  readonly held?: number | undefined;
  readonly holdP99Ms?: number | undefined;
}

/** A long operation as GET /actions/{id} shows it; `state` as every action's. */
export interface OperationAction {
  readonly id: string;
  readonly kind: 'move' | 'merge' | 'drain';
  readonly subject: { readonly type: 'shard' | 'node'; readonly name: string };
  readonly state: ActionState;
  readonly progress: OperationProgress | null;
  readonly settings: Readonly<Record<string, unknown>>;
  readonly limits: CopyLimits;
  readonly by: AuditActor;
  readonly reason: string | null;
  readonly detail: string | null;
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** A long operation accepted: HTTP 202 `{action}`. */
export interface Accepted {
  readonly action: OperationAction;
}

/** A split done: the routing version it made and the two halves. */
export interface SplitDone {
  readonly version: number;
  readonly shards: readonly [ShardInfo, ShardInfo];
}

/** A merge done at once (both ranges on one node): the version and the joined shard. */
export interface MergeDone {
  readonly version: number;
  readonly shard: ShardInfo;
}

/** A shard's throttle now (null: none). */
export interface ThrottleDone {
  readonly shard: ShardId;
  readonly limit: { readonly opsPerSec: number; readonly burst: number } | null;
}

/** A node added: its id (Redis: `host:port`) and the routing version that lists it. */
export interface NodeAdded {
  readonly node: NodeId;
  readonly version: number;
}

/** Cancel or setLimits done: the action as it is now (a long operation's, or the executor's). */
export interface ActionChanged {
  readonly action: OperationAction | ActionRecord;
}

/** What the control API's shard and node routes call. */
export interface ShardOperations {
  /** Splits `id` at `at` (the partitioner's text), or at the midpoint of its range. */
  split(id: ShardId, at: string | undefined, ctx: OperationContext): Promise<SplitDone>;
  /** Moves `id` to `node` live. */
  move(id: ShardId, node: NodeId, ctx: OperationContext): Promise<Accepted>;
  /** Joins `id` with its right-hand neighbour (a move first when they are on two nodes). */
  merge(id: ShardId, ctx: OperationContext): Promise<MergeDone | Accepted>;
  /** Limits `id` to `opsPerSec` (null: removes the limit). */
  throttle(id: ShardId, opsPerSec: number | null, ctx: OperationContext): Promise<ThrottleDone>;
  /** Adds a Redis node (`host:port`) that shards can be moved onto. */
  addNode(address: string, ctx: OperationContext): Promise<NodeAdded>;
  /** Moves every shard off `id`, then removes it. */
  drainNode(id: NodeId, ctx: OperationContext): Promise<Accepted>;
  /** Stops an action before it takes effect (a move before its cutover, an action still pending). */
  cancel(actionId: string, ctx: OperationContext): Promise<ActionChanged>;
  /** Changes a running move's copy throttle. */
  setLimits(actionId: string, limits: CopyLimits, ctx: OperationContext): Promise<ActionChanged>;
  /** A long operation by id. */
  action(id: string): OperationAction | undefined;
  /** Long operations, newest first. */
  actions(): readonly OperationAction[];
}

const notFound = (what: string): OperationRefused => new OperationRefused(404, ErrorCode.NotFound, what);
const conflict = (what: string): OperationRefused => new OperationRefused(409, ErrorCode.NotAllowed, what);
const missing = (what: string): OperationRefused => new OperationRefused(501, ErrorCode.NotAllowed, what);

/** Runs `work` as a promise: a refusal it throws becomes a rejection, as callers of an async API expect. */
function settle<T>(work: () => T | Promise<T>): Promise<T> {
  try {
    return Promise.resolve(work());
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}

const MOVE_ENGINE = 'the live move engine (src/rebalance/move.ts), which this build does not include yet';

/** What LocalShardOperations works on. */
export interface LocalOperationsDeps {
  readonly router: Router;
  /** Actions of the mitigation executor: `cancel` stops one still pending. */
  readonly executor?: Executor | undefined;
  /** `shard.split` and `shard.throttled` are published here. */
  readonly bus?: EventBus | undefined;
  /** The executor's split, move, merge, add-node and drain-node kinds: without them those answer 501. */
  readonly shardActions?: ShardActions | undefined;
}

/**
 * The shard and node operations of this router, through its executor (see
 * the file header).
 */
export class LocalShardOperations implements ShardOperations {
  readonly #router: Router;
  readonly #executor: Executor | undefined;
  readonly #bus: EventBus | undefined;
  readonly #shardActions: ShardActions | undefined;

  constructor(deps: LocalOperationsDeps) {
    this.#router = deps.router;
    this.#executor = deps.executor;
    this.#bus = deps.bus;
    this.#shardActions = deps.shardActions;
    deps.router.admission.followTable(() => deps.router.table);
  }

  /** The shard `id`, or 404. */
  #shard(id: ShardId): ShardInfo {
    const s = this.#router.table.shard(id);
    if (s === undefined)
      throw notFound(`no shard '${id}' (shards: ${this.#router.table.shards.map((x) => x.id).join(', ')})`);
    return s;
  }

  /** The shard `id` when it is active, else 409 naming what it is doing. */
  #active(id: ShardId, verb: string): ShardInfo {
    const s = this.#shard(id);
    if (s.status !== ShardStatus.Active)
      throw conflict(`shard ${id} is ${s.status}: only an active shard can be ${verb}`);
    return s;
  }

  split(id: ShardId, at: string | undefined, ctx: OperationContext): Promise<SplitDone> {
    return settle((): SplitDone | Promise<SplitDone> => {
      const router = this.#router;
      this.#active(id, 'split');
      const table = router.table;
      const p = table.partitioner;
      let point;
      if (at !== undefined) {
        try {
          point = p.parse(at);
        } catch (err) {
          throw new OperationRefused(400, ErrorCode.BadRequest, `at: ${(err as Error).message}`);
        }
      }
      let next;
      try {
        next = table.split(id, point);
      } catch (err) {
        if (!(err instanceof HotshardError)) throw err;
        // A point outside the range is the caller's mistake; a range too small to split is the shard's state.
        const status = at === undefined ? 409 : 400;
        throw new OperationRefused(
          status,
          status === 409 ? ErrorCode.NotAllowed : ErrorCode.BadRequest,
          err.message,
        );
      }
      const i = next.shards.findIndex((s) => s.id === id);
      const left = next.shards[i]!;
      const right = next.shards[i + 1]!;
      if (this.#shardActions !== undefined) {
        // Through the executor, so the split is in the actions log beside the planner's.
        const settings = { at: p.format(right.start) };
        return this.#now('split', { type: 'shard', name: id }, settings, ctx).then((record): SplitDone => {
          const [l, r] = (record.progress?.['shards'] as [ShardId, ShardId] | undefined) ?? [id, right.id];
          const now = router.table;
          return { version: now.version, shards: [now.shard(l) ?? left, now.shard(r) ?? right] };
        });
      }
      // Both halves carry a throttle the range had: the operator capped the range, not the id.
      const limit = router.admission.shardLimit(id);
      router.setTable(next);
      if (limit !== undefined) router.admission.setShardLimit(right.id, limit);
      this.#bus?.publish('shard.split', {
        shard: id,
        newShard: right.id,
        at: p.format(right.start),
        version: next.version,
        by: ctx.who,
        reason: ctx.reason,
      });
      return { version: next.version, shards: [left, right] };
    });
  }

  throttle(id: ShardId, opsPerSec: number | null, ctx: OperationContext): Promise<ThrottleDone> {
    return settle((): ThrottleDone => {
      this.#shard(id);
      const admission = this.#router.admission;
      try {
        admission.setShardLimit(id, opsPerSec === null ? null : { opsPerSec });
      } catch (err) {
        if (!(err instanceof RangeError)) throw err;
        throw new OperationRefused(400, ErrorCode.BadRequest, `opsPerSec: ${err.message}`);
      }
      const limit = admission.shardLimit(id) ?? null;
      this.#bus?.publish('shard.throttled', { shard: id, limit, by: ctx.who, reason: ctx.reason });
      return { shard: id, limit };
    });
  }

  move(id: ShardId, node: NodeId, ctx: OperationContext): Promise<Accepted> {
    return settle((): Accepted => {
      const s = this.#active(id, 'moved');
      if (!this.#router.backends.has(node))
        throw notFound(
          `no node '${node}' (nodes: ${[...this.#router.backends.keys()].join(', ')}); add it first (POST /nodes)`,
        );
      if (s.node === node) throw conflict(`shard ${id} is already on node ${node}`);
      return { action: this.#start('move', { type: 'shard', name: id }, { node }, ctx) };
    });
  }

  merge(id: ShardId, ctx: OperationContext): Promise<MergeDone | Accepted> {
    return settle((): MergeDone | Accepted | Promise<MergeDone> => {
      const left = this.#active(id, 'merged');
      const shards = this.#router.table.shards;
      const right = shards[shards.findIndex((s) => s.id === id) + 1];
      if (right === undefined)
        throw conflict(`shard ${id} is the last range: it has no right-hand neighbour to merge with`);
      if (right.status !== ShardStatus.Active)
        throw conflict(
          `shard ${id}'s right-hand neighbour ${right.id} is ${right.status}: only active shards merge`,
        );
      const subject = { type: 'shard', name: id } as const;
      // On two nodes the right-hand range moves first: a long operation.
      if (right.node !== left.node) return { action: this.#start('merge', subject, {}, ctx) };
      return this.#now('merge', subject, {}, ctx).then((): MergeDone => {
        const shard = this.#router.table.shard(id)!;
        return { version: this.#router.table.version, shard };
      });
    });
  }

  addNode(address: string, ctx: OperationContext): Promise<NodeAdded> {
    return settle((): Promise<NodeAdded> => {
      if (this.#router.backends.has(address as NodeId))
        throw conflict(`node ${address} is already in the cluster`);
      return this.#now('add-node', { type: 'node', name: address }, {}, ctx).then((record) => ({
        node: (typeof record.progress?.['node'] === 'string' ? record.progress['node'] : address) as NodeId,
        version: this.#router.table.version,
      }));
    });
  }

  drainNode(id: NodeId, ctx: OperationContext): Promise<Accepted> {
    return settle((): Accepted => {
      if (!this.#router.backends.has(id))
        throw notFound(`no node '${id}' (nodes: ${[...this.#router.backends.keys()].join(', ')})`);
      if (this.#router.table.nodes().length < 2) throw conflict(`node ${id} is the only node`);
      return { action: this.#start('drain-node', { type: 'node', name: id }, {}, ctx) };
    });
  }

  cancel(actionId: string, ctx: OperationContext): Promise<ActionChanged> {
    return settle((): ActionChanged => {
      const executor = this.#needExecutor();
      const record = executor.get(actionId);
      if (record === undefined) throw notFound(`no action '${actionId}'`);
      const changed = executor.cancel(actionId, ctx.reason ?? `cancelled by ${ctx.who}`);
      return { action: LONG_KINDS.has(changed.kind) ? this.#view(changed) : changed };
    }).catch((err: unknown) => {
      throw refusal(err);
    });
  }

  setLimits(actionId: string, limits: CopyLimits): Promise<ActionChanged> {
    return settle((): ActionChanged => {
      const record = this.#needExecutor().get(actionId);
      if (record === undefined) throw notFound(`no action '${actionId}'`);
      if (!LONG_KINDS.has(record.kind))
        throw conflict(`${actionId} is a ${record.kind} action: only a running move has copy limits`);
      if (record.state !== 'running' && record.state !== 'pending')
        throw conflict(`${actionId} is ${record.state}: only a running move's limits can change`);
      const wanted: Partial<MoveLimits> = {
        ...(limits.maxKeysPerSec === undefined ? {} : { maxKeysPerSec: limits.maxKeysPerSec }),
        ...(limits.maxBytesPerSec === undefined ? {} : { maxBytesPerSec: limits.maxBytesPerSec }),
      };
      try {
        checkLimits(wanted);
      } catch (err) {
        throw new OperationRefused(400, ErrorCode.BadRequest, (err as Error).message);
      }
      if (!this.#needShardActions().setLimits(record.subject, wanted))
        throw conflict(`${actionId} has no copy running yet; try again once it is running`);
      return { action: this.#view(record) };
    });
  }

  action(id: string): OperationAction | undefined {
    const record = this.#executor?.get(id);
    return record === undefined || !LONG_KINDS.has(record.kind) ? undefined : this.#view(record);
  }

  actions(): readonly OperationAction[] {
    return (this.#executor?.list() ?? []).filter((r) => LONG_KINDS.has(r.kind)).map((r) => this.#view(r));
  }

  #needExecutor(): Executor {
    if (this.#executor === undefined) throw missing('this router has no executor for long operations');
    return this.#executor;
  }

  #needShardActions(): ShardActions {
    if (this.#shardActions === undefined) throw missing(`long operations need ${MOVE_ENGINE}`);
    return this.#shardActions;
  }

  /** Starts a long action and returns its view at once (HTTP 202). */
  #start(
    kind: ActionKind,
    subject: ActionSubject,
    settings: Record<string, unknown>,
    ctx: OperationContext,
  ): OperationAction {
    this.#needShardActions();
    let started;
    try {
      started = this.#needExecutor().start(request(kind, subject, settings, ctx));
    } catch (err) {
      throw refusal(err);
    }
    void started.settled.catch(() => {});
    return this.#view(started.record);
  }

  /** Runs a short action to its end; a failure becomes a 409 naming why. */
  async #now(
    kind: ActionKind,
    subject: ActionSubject,
    settings: Record<string, unknown>,
    ctx: OperationContext,
  ): Promise<ActionRecord> {
    this.#needShardActions();
    let record: ActionRecord;
    try {
      record = await this.#needExecutor().execute(request(kind, subject, settings, ctx));
    } catch (err) {
      throw refusal(err);
    }
    if (record.state !== 'done') throw conflict(`${kind} ${subject.name}: ${record.detail ?? record.state}`);
    return record;
  }

  #view(record: ActionRecord): OperationAction {
    const progress = this.#executor?.progress(record.id) ?? record.progress;
    const limits =
      this.#shardActions?.limits(record.subject) ?? (progress?.['limits'] as CopyLimits | undefined);
    return {
      id: record.id,
      kind: record.kind === 'drain-node' ? 'drain' : (record.kind as 'move' | 'merge'),
      subject: { type: record.subject.type === 'node' ? 'node' : 'shard', name: record.subject.name },
      state: record.state,
      progress: progress === null ? null : (progress as unknown as OperationProgress),
      settings: record.settings,
      limits: limits ?? {},
      by: record.by,
      reason: record.reason === '' ? null : record.reason,
      detail: record.detail,
      createdAt: record.createdAt,
      updatedAt: record.updatedAt,
    };
  }
}

/** Action kinds that run long and show as OperationAction. */
const LONG_KINDS: ReadonlySet<ActionKind> = new Set<ActionKind>(['move', 'merge', 'drain-node']);

function request(
  kind: ActionKind,
  subject: ActionSubject,
  settings: Record<string, unknown>,
  ctx: OperationContext,
): ActionRequest {
  return { kind, subject, settings, by: ctx.who, reason: ctx.reason ?? '' };
}

/** The executor's refusals (frozen, cooldown, not cancellable) as the HTTP answers operations give. */
function refusal(err: unknown): unknown {
  if (!(err instanceof ActionRefused)) return err;
  const status = err.reason === 'not-found' ? 404 : err.reason === 'unknown-kind' ? 400 : 409;
  return new OperationRefused(status, err.code, err.message);
}
