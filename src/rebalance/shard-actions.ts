/**
 * Split, move, merge, add-node and drain-node as action kinds of the
 * executor, so that the control API and the range planner go through the
 * same automation mode, budgets and actions log as the key-level remedies,
 * and `GET /actions/{id}` shows a move's phase and progress while it runs.
 *
 * All are one-shot: a done split or move is not "in force" and has no
 * revert; undoing one is another action (a merge, a move back). A move that
 * is cancelled or rolls itself back ends `cancelled` / `rolled-back` with
 * the old routing exactly (see move.ts).
 */
import type { ShardBackend } from '../backend/backend.js';
import type { EventBus } from '../control/events.js';
import { ErrorCode, HotshardError } from '../errors.js';
import { nodeId, shardId, type NodeId, type ShardId } from '../keyspace/ids.js';
import { ShardStatus, type RoutingTable } from '../keyspace/routing-table.js';
import { ActionEnded, type ActionKindHandler, type ActionSubject } from '../mitigate/action.js';
import type { Router } from '../router/router.js';
import type { MoveLimits } from './copier.js';
import type { CutoverCoordinator } from './cutover-hold.js';
import { ShardMove, type MoveJournal, type MoveResult, type ShardMoveOptions } from './move.js';

/** What the shard action kinds work on. */
export interface ShardActionsDeps {
  readonly router: Router;
  readonly bus?: EventBus | undefined;
  /**
   * Installs a split's, merge's or node add's table: the config store's
   * compare-and-set save, then `router.setTable` (StoreLink.commit), so two
   * routers cannot both make the next version. Unset: `router.setTable`.
   */
  readonly install?: ((table: RoutingTable, reason: string) => Promise<void>) | undefined;
  /** Where each move's state is kept so a restart can resume it (the config store). */
  readonly journal?: MoveJournal | undefined;
  /** Told of a node drained and removed, so a restart does not connect it again (the config store's nodes). */
  readonly forgetNode?: ((node: NodeId) => Promise<void>) | undefined;
  /** Copy limits a move starts with unless its request names its own. */
  readonly defaultLimits?: Partial<MoveLimits> | undefined;
  /** Opens a backend for a node an operator adds (a Redis `host:port`, or an embedded node's name). */
  readonly connectNode?: ((address: string) => Promise<ShardBackend>) | undefined;
  /** The node a drained shard goes to; default the node holding the fewest shards. */
  readonly pickTarget?: ((table: RoutingTable, exclude: NodeId) => NodeId | undefined) | undefined;
  /** The other routers on a shared config store, asked to hold each cutover too (StoreLink.cutover); unset: none. */
  readonly cutover?: (() => CutoverCoordinator | undefined) | undefined;
  /** Move tuning (hold bound, catch-up threshold), for tests and benches. */
  readonly moveOptions?: Partial<Omit<ShardMoveOptions, 'router' | 'shard' | 'target'>> | undefined;
}

/** A long action in progress on one subject: what cancel, setLimits and progress reach. */
interface Running {
  move: ShardMove | null;
  cancelled: string | null;
  limits: Partial<MoveLimits>;
  /** Drain and cross-node merge: which step of how many. */
  step: { done: number; total: number; shard: string | null } | null;
}

const routing = (message: string): HotshardError => new HotshardError(ErrorCode.Routing, message);

/** The node with the fewest shards other than `exclude` (ties: table order). */
export function fewestShards(table: RoutingTable, exclude: NodeId): NodeId | undefined {
  let best: NodeId | undefined;
  let bestCount = Infinity;
  for (const n of table.nodes()) {
    if (n === exclude) continue;
    const count = table.shardsOn(n).length;
    if (count < bestCount) [best, bestCount] = [n, count];
  }
  return best;
}

/**
 * The handlers for the executor, and the live view of what runs: `limits`
 * changes a running move's throttle (PATCH /actions/{id}).
 */
export class ShardActions {
  readonly #deps: ShardActionsDeps;
  readonly #running = new Map<string, Running>();
  readonly handlers: readonly ActionKindHandler[];

  constructor(deps: ShardActionsDeps) {
    this.#deps = deps;
    this.handlers = [this.#split(), this.#move(), this.#merge(), this.#addNode(), this.#drainNode()];
  }

  /** Changes the copy limits of what runs on `subject`; false when nothing runs there. */
  setLimits(subject: ActionSubject, limits: Partial<MoveLimits>): boolean {
    const run = this.#running.get(key(subject));
    if (run === undefined) return false;
    run.move?.setLimits(limits);
    run.limits = { ...run.limits, ...limits };
    return true;
  }

  /** The copy limits of what runs on `subject` now. */
  limits(subject: ActionSubject): MoveLimits | null {
    return this.#running.get(key(subject))?.move?.state.limits ?? null;
  }

  /** Moves run by this router that are still under way (a restart resumes them from the journal). */
  get moving(): number {
    return this.#running.size;
  }

  /** Resumes a journaled move after a restart (before its switch it copies again; after, it cleans up). */
  resume(state: Parameters<typeof ShardMove.resume>[1]): Promise<MoveResult> {
    const move = ShardMove.resume(
      {
        ...this.#deps.moveOptions,
        router: this.#deps.router,
        journal: this.#deps.journal,
        cutover: this.#deps.cutover?.(),
      },
      state,
    );
    return move.run();
  }

  #progress(subject: ActionSubject): Record<string, unknown> | null {
    const run = this.#running.get(key(subject));
    if (run === undefined) return null;
    const move = run.move?.progress() ?? null;
    return {
      ...(move ?? { phase: 'starting' }),
      ...(run.step === null ? {} : { step: { ...run.step } }),
      limits: run.move?.state.limits ?? run.limits,
    };
  }

  #cancel(subject: ActionSubject, reason: string): boolean {
    const run = this.#running.get(key(subject));
    if (run === undefined) return false;
    run.cancelled ??= reason;
    return run.move === null ? true : run.move.cancel(reason) || true;
  }

  /** Runs `work` registered under `subject`, so progress, cancel and limits reach it. */
  async #track<T>(
    subject: ActionSubject,
    limits: Partial<MoveLimits>,
    work: (run: Running) => Promise<T>,
  ): Promise<T> {
    const id = key(subject);
    if (this.#running.has(id))
      throw routing(`${subject.type} ${subject.name} already has a long action running`);
    const run: Running = { move: null, cancelled: null, limits, step: null };
    this.#running.set(id, run);
    try {
      return await work(run);
    } finally {
      this.#running.delete(id);
    }
  }

  /** One move, to its end; throws ActionEnded / Error as the executor expects. */
  async #runMove(run: Running, shard: ShardId, target: NodeId): Promise<MoveResult> {
    if (run.cancelled !== null) throw new ActionEnded('cancelled', run.cancelled);
    const move = new ShardMove({
      ...this.#deps.moveOptions,
      router: this.#deps.router,
      shard,
      target,
      journal: this.#deps.journal,
      limits: { ...this.#deps.defaultLimits, ...run.limits },
      cutover: this.#deps.cutover?.(),
    });
    run.move = move;
    const result = await move.run();
    const progress = { ...move.progress(), move: result.move.id };
    if (result.state === 'done') return result;
    const detail = result.detail ?? result.state;
    if (result.state === 'cancelled') throw new ActionEnded('cancelled', run.cancelled ?? detail, progress);
    if (result.state === 'rolled-back') throw new ActionEnded('rolled-back', detail, progress);
    throw routing(`move of shard ${shard} to ${target} failed: ${detail}`);
  }

  #install(table: RoutingTable, reason: string): Promise<void> {
    if (this.#deps.install !== undefined) return this.#deps.install(table, reason);
    this.#deps.router.setTable(table);
    return Promise.resolve();
  }

  #split(): ActionKindHandler {
    const { router, bus } = this.#deps;
    return {
      kind: 'split',
      oneShot: true,
      apply: async (subject, settings, record) => {
        const id = shardOf(subject);
        const table = router.table;
        const s = table.shard(id);
        if (s === undefined) throw routing(`no shard ${id}`);
        if (s.status !== ShardStatus.Active)
          throw routing(`shard ${id} is ${s.status}: only an active shard can be split`);
        const at = typeof settings['at'] === 'string' ? table.partitioner.parse(settings['at']) : undefined;
        const newId = typeof settings['newShard'] === 'string' ? shardId(settings['newShard']) : undefined;
        const next = table.split(id, at, newId);
        const right = next.shards[next.shards.findIndex((x) => x.id === id) + 1]!;
        const limit = router.admission.shardLimit(id);
        await this.#install(next, `split ${id}`);
        // Both halves keep a throttle the range had: the operator capped the range, not the id.
        if (limit !== undefined) router.admission.setShardLimit(right.id, limit);
        bus?.publish('shard.split', {
          shard: id,
          newShard: right.id,
          at: next.partitioner.format(right.start),
          version: next.version,
          by: record?.by ?? 'operator',
          reason: record === undefined || record.reason === '' ? null : record.reason,
          action: record?.id ?? null,
        });
        return {
          progress: {
            version: next.version,
            shards: [id, right.id],
            at: next.partitioner.format(right.start),
          },
        };
      },
      revert: () => Promise.reject(routing('a split is undone by a merge')),
      status: () => null,
    };
  }

  #move(): ActionKindHandler {
    return {
      kind: 'move',
      oneShot: true,
      apply: (subject, settings) =>
        this.#track(subject, limitsOf(settings), async (run) => {
          const result = await this.#runMove(run, shardOf(subject), nodeId(String(settings['node'])));
          return {
            progress: { ...run.move!.progress(), move: result.move.id, version: result.move.tableVersion },
          };
        }),
      revert: () => Promise.reject(routing('a move is undone by moving the shard back')),
      status: () => null,
      progress: (subject) => this.#progress(subject),
      cancel: (subject, reason) => this.#cancel(subject, reason),
    };
  }

  #merge(): ActionKindHandler {
    const { router } = this.#deps;
    return {
      kind: 'merge',
      oneShot: true,
      apply: (subject, settings) =>
        this.#track(subject, limitsOf(settings), async (run) => {
          const id = shardOf(subject);
          const table = router.table;
          const i = table.shards.findIndex((s) => s.id === id);
          const left = table.shards[i];
          const right = table.shards[i + 1];
          if (left === undefined) throw routing(`no shard ${id}`);
          if (right === undefined) throw routing(`shard ${id} is the last range: nothing to merge with`);
          if (right.node !== left.node) {
            // The right-hand range joins the left's node first; a cancel before its switch leaves both as they were.
            run.step = { done: 0, total: 2, shard: right.id };
            await this.#runMove(run, right.id, left.node);
            run.step = { done: 1, total: 2, shard: right.id };
          }
          if (run.cancelled !== null && right.node !== left.node)
            throw new ActionEnded(
              'cancelled',
              `${run.cancelled} (after ${right.id} moved to ${left.node}; not merged)`,
            );
          const next = router.table.merge(id);
          await this.#install(next, `merge ${id} with ${right.id}`);
          router.admission.setShardLimit(right.id, null);
          this.#deps.bus?.publish('shard.merged', { shard: id, absorbed: right.id, version: next.version });
          return { progress: { version: next.version, shard: id, absorbed: right.id } };
        }),
      revert: () => Promise.reject(routing('a merge is undone by a split')),
      status: () => null,
      progress: (subject) => this.#progress(subject),
      cancel: (subject, reason) => this.#cancel(subject, reason),
    };
  }

  #addNode(): ActionKindHandler {
    const { router, connectNode, bus } = this.#deps;
    return {
      kind: 'add-node',
      oneShot: true,
      apply: async (subject) => {
        if (connectNode === undefined) throw routing('this router cannot open backends for new nodes');
        const backend = await connectNode(subject.name);
        const node = backend.node;
        if (router.backends.has(node)) {
          await backend.close();
          throw routing(`node ${node} is already in the cluster`);
        }
        router.addBackend(node, backend);
        const next = router.table.withNode(node);
        await this.#install(next, `add node ${node}`);
        bus?.publish('node.added', { node, version: next.version });
        return { progress: { node, version: next.version } };
      },
      revert: () => Promise.reject(routing('a node is removed by draining it')),
      status: () => null,
    };
  }

  #drainNode(): ActionKindHandler {
    const { router, bus } = this.#deps;
    const pick = this.#deps.pickTarget ?? fewestShards;
    return {
      kind: 'drain-node',
      oneShot: true,
      apply: (subject, settings) =>
        this.#track(subject, limitsOf(settings), async (run) => {
          const node = nodeId(subject.name);
          if (!router.backends.has(node)) throw routing(`no node ${node}`);
          const total = router.table.shardsOn(node).length;
          if (router.table.nodes().length < 2) throw routing(`node ${node} is the only node`);
          let done = 0;
          for (;;) {
            const next = router.table.shardsOn(node)[0];
            if (next === undefined) break;
            const target = pick(router.table, node);
            if (target === undefined) throw routing(`no other node to move shard ${next.id} to`);
            run.step = { done, total, shard: next.id };
            await this.#runMove(run, next.id, target);
            done++;
          }
          run.step = { done, total, shard: null };
          await this.#install(router.table.withoutNode(node), `drain ${node}`);
          await this.#deps.forgetNode?.(node);
          const backend = router.removeBackend(node);
          await backend.close();
          bus?.publish('node.removed', { node, version: router.table.version, shardsMoved: done });
          return {
            progress: { phase: 'done', step: { done, total, shard: null }, version: router.table.version },
          };
        }),
      revert: () => Promise.reject(routing('a drained node is added back with POST /nodes')),
      status: () => null,
      progress: (subject) => this.#progress(subject),
      cancel: (subject, reason) => this.#cancel(subject, reason),
    };
  }
}

const key = (s: ActionSubject): string => `${s.type}:${s.name}`;

function shardOf(subject: ActionSubject): ShardId {
  if (subject.type !== 'shard') throw routing(`this action acts on a shard, not on a ${subject.type}`);
  return shardId(subject.name);
}

function limitsOf(settings: Readonly<Record<string, unknown>>): Partial<MoveLimits> {
  const limits = settings['limits'];
  return typeof limits === 'object' && limits !== null ? limits : {};
}
