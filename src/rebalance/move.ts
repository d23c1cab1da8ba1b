/**
 * A live shard move: one key range from its node to another, while clients
 * keep reading and writing it, failing no request and losing no
 * acknowledged write. The state machine:
 *
 *   preparing → copying → catching-up → verifying → cutover → cleanup → done
 *
 * - preparing: the source's write watch goes live (every key changed on the
 *   node, by anyone, lands in the dirty set if it is in the range), the shard
 *   is marked `moving`.
 * - copying: whatever the target holds in the range is deleted (leftovers of
 *   an earlier attempt), then every key of the range is copied with its TTL.
 * - catching-up: the dirty set is taken and re-copied, round after round,
 *   until it is small.
 * - verifying: both sides compared key by key; a difference the dirty set
 *   does not explain is repaired and checked again, or the move rolls back.
 * - cutover: the router holds new requests to the range; once every request
 *   sent to the source before has been answered (barrier) and every change it
 *   made has been heard (watch barrier), the last dirty keys are copied, the
 *   table switches to the target, and the held requests go there in order.
 *   A cutover that takes longer than `holdMs` gives up: the requests go to
 *   the source and catch-up resumes.
 * - cleanup: the range is deleted from the source.
 *
 * Why this is enough: a key's copy is made from a DUMP taken after the watch
 * went live, so any later change to it is reported and copied again; at the
 * switch no request of this router is on its way to the source and every
 * change the source made has been reported and copied. Writes that bypass
 * the router are covered up to the watch barrier; after the switch the
 * source is no longer the range's owner.
 *
 * Anything that goes wrong before the switch rolls back to exactly the old
 * state: the target's copies are deleted, the shard is `active` on the source
 * again. The state is plain JSON handed to a journal at every phase change,
 * so a restarted control plane can resume (see {@link ShardMove.resume}).
 */
import { randomUUID } from 'node:crypto';
import type { ShardBackend, WriteWatch } from '../backend/backend.js';
import { systemClock, type Clock } from '../clock.js';
import { nodeId, shardId, type NodeId, type ShardId } from '../keyspace/ids.js';
import type { Position } from '../keyspace/partitioner.js';
import { RoutingTable, ShardStatus, type RoutingTableJSON } from '../keyspace/routing-table.js';
import type { Router } from '../router/router.js';
import { CopyThrottle, RangeCopier, checkLimits, type MoveLimits } from './copier.js';
import { SwitchUnknown, type CutoverCoordinator, type HoldGrant } from './cutover-hold.js';
import { RangeGate } from './range-gate.js';
import { bypassingPolicy } from './policy-check.js';
import { diffKeys, diffRange } from './verify.js';

/** Where a move is. */
export const MovePhase = {
  Pending: 'pending',
  Preparing: 'preparing',
  Copying: 'copying',
  CatchingUp: 'catching-up',
  Verifying: 'verifying',
  Cutover: 'cutover',
  Cleanup: 'cleanup',
  RollingBack: 'rolling-back',
  Finished: 'finished',
} as const;
/** One of the move phases. */
export type MovePhase = (typeof MovePhase)[keyof typeof MovePhase];

/** How a move ended (the action states of GET /actions/{id}), or `running`. */
export const MoveOutcome = {
  Running: 'running',
  Done: 'done',
  Failed: 'failed',
  Cancelled: 'cancelled',
  RolledBack: 'rolled-back',
} as const;
/** One of the move outcomes. */
export type MoveOutcome = (typeof MoveOutcome)[keyof typeof MoveOutcome];

/** What a move counts. */
export interface MoveCounters {
  keysCopied: number;
  bytesCopied: number;
  keysResynced: number;
  catchUpRounds: number;
  copyRestarts: number;
  verifySourceKeys: number;
  verifyTargetKeys: number;
  /** Differences the dirty set did not explain (each was repaired and checked again). */
  verifyMismatches: number;
  cutoverAttempts: number;
  /** Cutovers given up after holdMs (their requests went to the source). */
  cutoverAborts: number;
  /** Of those, attempts another live router did not hold in time (several routers on one store). */
  cutoverUnacked?: number;
  /** Requests held at cutover, and how long they waited. */
  held: number;
  holdP99Ms: number;
  holdMaxMs: number;
  /** Dirty keys copied while requests were held. */
  finalSyncKeys: number;
  keysCleaned: number;
}

/** A move as plain JSON: what a journal stores and {@link ShardMove.resume} takes back. */
export interface MoveState {
  id: string;
  shard: string;
  /** The range as the partitioner writes positions. */
  range: { start: string; end: string | null };
  source: string;
  target: string;
  phase: MovePhase;
  state: MoveOutcome;
  /** Why it failed, was cancelled or rolled back; what is left over. */
  detail: string | null;
  /** True once the routing table places the shard on the target. */
  switched: boolean;
  /** The table version that made the switch. */
  tableVersion: number | null;
  counters: MoveCounters;
  limits: MoveLimits;
  /** When each phase began (ms since the epoch), by phase name, plus `created` and `ended`. */
  timestamps: Record<string, number>;
  /** The router running it, on a shared store (its journal stamps it): another takes it over once that one's lease runs out. */
  owner?: string | undefined;
}

/** Where a move's state is kept (the config store); called at every phase change and awaited. */
export interface MoveJournal {
  save(state: MoveState): void | Promise<void>;
}

/** The outcome of {@link ShardMove.run}. */
export interface MoveResult {
  readonly state: Exclude<MoveOutcome, 'running'>;
  readonly detail: string | null;
  readonly move: MoveState;
}

/** What progress() reports (GET /actions/{id}). */
export interface MoveProgress {
  readonly phase: MovePhase;
  readonly state: MoveOutcome;
  readonly keysCopied: number;
  readonly bytesCopied: number;
  /** Keys of the range: estimated while the copy scans, exact after; null before the copy. */
  readonly keysTotal: number | null;
  readonly keysPerSec: number;
  readonly bytesPerSec: number;
  /** null while unknown. */
  readonly etaSeconds: number | null;
  readonly dirtyKeys: number;
  readonly held: number;
  readonly holdP99Ms: number;
}

/** Options of a move. */
export interface ShardMoveOptions {
  readonly router: Router;
  readonly shard: ShardId;
  readonly target: NodeId;
  /** Timestamps of the state; default the wall clock. */
  readonly clock?: Clock;
  readonly limits?: Partial<MoveLimits>;
  readonly journal?: MoveJournal;
  readonly id?: string;
  /** Longest requests are held at cutover before it gives up and tries again (default 1000 ms). */
  readonly holdMs?: number;
  /** Catch-up stops when this few keys are dirty (default 1000). */
  readonly catchUpKeys?: number;
  /** Catch-up rounds before a cutover is tried anyway (default 20). */
  readonly maxCatchUpRounds?: number;
  /** Cutovers given up before the move rolls back (default 5). */
  readonly maxCutoverAttempts?: number;
  /** Copies started over (watch lost, FLUSHALL) before the move rolls back (default 3). */
  readonly maxCopyRestarts?: number;
  /** Compare both sides before cutover (default true). */
  readonly verify?: boolean;
  /** Keys per copy batch (default 500). */
  readonly batchKeys?: number;
  /**
   * The other routers sharing the config store: each cutover attempt asks
   * them to hold the range too and switches only once every live one has
   * (src/store/cutover.ts). Unset: this router is the only one serving.
   */
  readonly cutover?: CutoverCoordinator | undefined;
  /** How long an attempt waits for the other routers' acks before it gives up and tries again (default 2000 ms). */
  readonly ackWaitMs?: number;
}

/** What a router's hold adds to holdMs + ackWaitMs before it ends the hold itself: the switch's save. */
const SWITCH_MARGIN_MS = 3_000;

/** Ends the current step: cancel, or a copy that must start over. */
class Interrupt extends Error {
  constructor(
    readonly kind: 'cancel' | 'restart',
    message: string,
  ) {
    super(message);
  }
}

/** Nothing was changed: the move was refused before it began. */
class Refused extends Error {}

const PRE_SWITCH: readonly MovePhase[] = [
  MovePhase.Pending,
  MovePhase.Preparing,
  MovePhase.Copying,
  MovePhase.CatchingUp,
  MovePhase.Verifying,
  MovePhase.Cutover,
];

/**
 * One live move of one shard.
 *
 * @example
 * const move = new ShardMove({ router, shard: shardId('s3'), target: nodeId('n2'), limits: { maxKeysPerSec: 50_000 } });
 * const result = await move.run(); // never rejects
 * if (result.state !== 'done') console.log(result.detail);
 */
export class ShardMove {
  readonly #router: Router;
  readonly #clock: Clock;
  readonly #journal: MoveJournal | undefined;
  readonly #state: MoveState;
  readonly #throttle: CopyThrottle;
  readonly #opts: Required<
    Pick<
      ShardMoveOptions,
      'holdMs' | 'catchUpKeys' | 'maxCatchUpRounds' | 'maxCutoverAttempts' | 'maxCopyRestarts' | 'verify'
    >
  > & { batchKeys: number; ackWaitMs: number };
  readonly #cutoverWith: CutoverCoordinator | undefined;
  readonly #resuming: boolean;
  #running: Promise<MoveResult> | null = null;
  #cancelReason: string | null = null;

  // Set by prepare.
  #source: ShardBackend | undefined;
  #target: ShardBackend | undefined;
  #inRange: (key: Buffer) => boolean = () => false;
  /** Whether a position is in the moving range. */
  #rangeHolds: (pos: Position) => boolean = () => false;
  #copier: RangeCopier | undefined;
  #watch: WriteWatch | null = null;
  /** Bumped per watch: a lost watch's late events are ignored. */
  #watchEpoch = 0;
  #restartReason: string | null = null;
  readonly #dirty = new Map<string, Buffer>();
  readonly #holds: number[] = [];
  #copyStartedAt = 0;
  /** When the bulk copy ended (0 while it runs): its rate is frozen there. */
  #copyEndedAt = 0;
  #sourceKeysAtStart = 0;
  #copyDone = false;

  constructor(options: ShardMoveOptions, resumed?: MoveState) {
    this.#router = options.router;
    this.#clock = options.clock ?? systemClock;
    this.#journal = options.journal;
    this.#opts = {
      holdMs: options.holdMs ?? 1_000,
      catchUpKeys: options.catchUpKeys ?? 1_000,
      maxCatchUpRounds: options.maxCatchUpRounds ?? 20,
      maxCutoverAttempts: options.maxCutoverAttempts ?? 5,
      maxCopyRestarts: options.maxCopyRestarts ?? 3,
      verify: options.verify ?? true,
      batchKeys: options.batchKeys ?? 500,
      ackWaitMs: options.ackWaitMs ?? 2_000,
    };
    this.#cutoverWith = options.cutover;
    const limits = checkLimits({ ...resumed?.limits, ...options.limits });
    this.#throttle = new CopyThrottle(limits);
    this.#resuming = resumed !== undefined;
    if (resumed !== undefined) {
      this.#state = structuredClone(resumed);
      this.#state.limits = limits;
      return;
    }
    const table = this.#router.table;
    const s = table.shard(options.shard);
    const p = table.partitioner;
    this.#state = {
      id: options.id ?? randomUUID(),
      shard: options.shard,
      range:
        s === undefined
          ? { start: '', end: null }
          : { start: p.format(s.start), end: s.end === null ? null : p.format(s.end) },
      source: s?.node ?? '',
      target: options.target,
      phase: MovePhase.Pending,
      state: MoveOutcome.Running,
      detail: null,
      switched: false,
      tableVersion: null,
      counters: {
        keysCopied: 0,
        bytesCopied: 0,
        keysResynced: 0,
        catchUpRounds: 0,
        copyRestarts: 0,
        verifySourceKeys: 0,
        verifyTargetKeys: 0,
        verifyMismatches: 0,
        cutoverAttempts: 0,
        cutoverAborts: 0,
        held: 0,
        holdP99Ms: 0,
        holdMaxMs: 0,
        finalSyncKeys: 0,
        keysCleaned: 0,
      },
      limits,
      timestamps: { created: this.#clock.now() },
    };
  }

  /**
   * Takes a move back from its journaled state after a restart: before the
   * switch it clears the target and copies again; after it, it finishes the
   * cleanup. A move that had ended just reports how.
   */
  static resume(options: Omit<ShardMoveOptions, 'shard' | 'target'>, state: MoveState): ShardMove {
    return new ShardMove({ ...options, shard: shardId(state.shard), target: nodeId(state.target) }, state);
  }

  /** The state as JSON (a copy). */
  get state(): MoveState {
    return structuredClone(this.#state);
  }

  /** Runs the move to its end; never rejects. Calling it again returns the same run. */
  run(): Promise<MoveResult> {
    this.#running ??= this.#run();
    return this.#running;
  }

  /** Stops a move before its switch and rolls it back; false once switched (the cleanup finishes) or ended. */
  cancel(reason = 'cancelled'): boolean {
    if (this.#state.switched || this.#state.state !== MoveOutcome.Running) return false;
    this.#cancelReason ??= reason;
    return true;
  }

  /** Changes the copy throttle while it runs; throws a ConfigError naming a bad field. */
  setLimits(limits: Partial<MoveLimits>): void {
    this.#throttle.setLimits(limits);
    this.#state.limits = this.#throttle.limits;
  }

  progress(): MoveProgress {
    const c = this.#copier?.counters;
    const copied = c?.keysCopied ?? this.#state.counters.keysCopied;
    const elapsed = ((this.#copyEndedAt || performance.now()) - this.#copyStartedAt) / 1000;
    const rate = this.#copyStartedAt > 0 && elapsed > 0 ? copied / elapsed : 0;
    let total: number | null = null;
    if (c !== undefined && this.#copyDone) total = c.keysInRange;
    else if (c !== undefined && c.keysScanned > 0)
      total = Math.round((this.#sourceKeysAtStart * c.keysInRange) / c.keysScanned);
    const eta = total !== null && rate > 0 ? Math.max(0, (total - copied) / rate) : null;
    const bytes = c?.bytesCopied ?? this.#state.counters.bytesCopied;
    return {
      phase: this.#state.phase,
      state: this.#state.state,
      keysCopied: copied,
      bytesCopied: bytes,
      keysTotal: total,
      keysPerSec: Math.round(rate),
      bytesPerSec: this.#copyStartedAt > 0 && elapsed > 0 ? Math.round(bytes / elapsed) : 0,
      etaSeconds: eta === null ? null : Math.round(eta * 10) / 10,
      dirtyKeys: this.#dirty.size,
      held: this.#state.counters.held,
      holdP99Ms: this.#state.counters.holdP99Ms,
    };
  }

  async #run(): Promise<MoveResult> {
    const st = this.#state;
    if (st.state !== MoveOutcome.Running) return this.#result();
    try {
      this.#bind();
      if (
        this.#resuming &&
        (st.switched || this.#router.table.shard(shardId(st.shard))?.node === st.target)
      ) {
        if (!st.switched) st.switched = true;
        await this.#cleanup();
        return await this.#finish(MoveOutcome.Done, st.detail);
      }
      await this.#prepare();
      for (;;) {
        try {
          await this.#copy();
          await this.#catchUp(true);
          if (this.#opts.verify) await this.#verify();
          await this.#cutover();
          break;
        } catch (err) {
          if (!(err instanceof Interrupt) || err.kind !== 'restart') throw err;
          if (++st.counters.copyRestarts > this.#opts.maxCopyRestarts)
            throw new Error(`copy restarted ${st.counters.copyRestarts - 1} times: ${err.message}`);
          await this.#startWatch();
        }
      }
    } catch (err) {
      if (st.switched) {
        // The range is served by the target; only the source's cleanup is incomplete.
        return this.#finish(MoveOutcome.Done, `switched; source cleanup incomplete: ${message(err)}`);
      }
      if (err instanceof Refused) return this.#finish(MoveOutcome.Failed, `refused: ${err.message}`);
      return this.#rollback(err);
    }
    try {
      await this.#cleanup();
      return await this.#finish(MoveOutcome.Done, null);
    } catch (err) {
      return this.#finish(MoveOutcome.Done, `switched; source cleanup incomplete: ${message(err)}`);
    }
  }

  /** Finds the shard, its nodes and range in the table in force. */
  #bind(): void {
    const st = this.#state;
    const table = this.#router.table;
    const id = shardId(st.shard);
    const s = table.shard(id);
    if (s === undefined) throw new Refused(`unknown shard ${JSON.stringify(st.shard)}`);
    const p = table.partitioner;
    const start = p.parse(st.range.start);
    const end = st.range.end === null ? null : p.parse(st.range.end);
    if (p.compare(start, s.start) !== 0 || !samePosition((a, b) => p.compare(a, b), end, s.end))
      throw new Refused(`shard ${id}'s range changed since the move was planned`);
    this.#rangeHolds = (pos) => p.compare(pos, start) >= 0 && (end === null || p.compare(pos, end) < 0);
    this.#inRange = (key) => this.#rangeHolds(p.position(key));
    this.#source = this.#router.backends.get(nodeId(st.source));
    this.#target = this.#router.backends.get(nodeId(st.target));
    if (this.#source === undefined) throw new Refused(`source node ${st.source} has no backend`);
    if (this.#target === undefined)
      throw new Refused(`target node ${st.target} has no backend on this router`);
    this.#copier = new RangeCopier({
      source: this.#source,
      target: this.#target,
      inRange: this.#inRange,
      throttle: this.#throttle,
      batchKeys: this.#opts.batchKeys,
    });
  }

  async #prepare(): Promise<void> {
    const st = this.#state;
    const table = this.#router.table;
    const id = shardId(st.shard);
    const s = table.shard(id)!;
    if (st.source === st.target) throw new Refused(`shard ${id} is already on node ${st.target}`);
    if (s.node !== st.source) throw new Refused(`shard ${id} is on node ${s.node}, not ${st.source}`);
    const resumable = this.#resuming && s.status === ShardStatus.Moving;
    if (s.status !== ShardStatus.Active && !resumable)
      throw new Refused(`shard ${id} is ${s.status}; only an active shard can move`);
    if (!table.nodes().includes(nodeId(st.target)))
      throw new Refused(`node ${st.target} is not in the routing table; add it first`);
    const bypass = bypassingPolicy(this.#router, this.#inRange);
    if (bypass !== null) throw new Refused(bypass);
    await this.#phase(MovePhase.Preparing);
    await this.#startWatch();
    this.#router.setTable(table.withStatus(id, ShardStatus.Moving));
  }

  /** A new write watch on the source; events of any earlier one are ignored from now on. */
  async #startWatch(): Promise<void> {
    this.#watch?.close();
    this.#watch = null;
    const epoch = ++this.#watchEpoch;
    this.#restartReason = null;
    this.#watch = await this.#source!.watchWrites({
      changed: (keys) => {
        if (epoch !== this.#watchEpoch) return;
        if (keys === null) {
          this.#restartReason ??= 'the source was flushed';
          return;
        }
        for (const k of keys) if (this.#inRange(k)) this.#dirty.set(k.toString('latin1'), k);
      },
      lost: (reason) => {
        if (epoch === this.#watchEpoch) this.#restartReason ??= reason;
      },
    });
  }

  /** Throws when the move must stop (cancel) or its copy start over (watch lost, flush). */
  readonly #check = (): void => {
    if (this.#cancelReason !== null) throw new Interrupt('cancel', this.#cancelReason);
    if (this.#restartReason !== null) throw new Interrupt('restart', this.#restartReason);
  };

  async #copy(): Promise<void> {
    await this.#phase(MovePhase.Copying);
    const copier = this.#copier!;
    await copier.clear(this.#target!, this.#check);
    this.#sourceKeysAtStart = await this.#source!.keyCount();
    this.#copyDone = false;
    this.#copyEndedAt = 0;
    this.#copyStartedAt = performance.now();
    // Anything changed from here on is reported; what changed before is what the copy reads.
    this.#dirty.clear();
    await copier.copyAll(this.#check);
    this.#copyEndedAt = performance.now();
    this.#copyDone = true;
    this.#syncCounters();
  }

  /** Re-copies dirty keys until few are left or the rounds run out. */
  async #catchUp(announce: boolean): Promise<void> {
    if (announce) await this.#phase(MovePhase.CatchingUp);
    for (let round = 0; round < this.#opts.maxCatchUpRounds; round++) {
      this.#check();
      if (this.#dirty.size <= this.#opts.catchUpKeys) break;
      const keys = this.#takeDirty();
      this.#state.counters.catchUpRounds++;
      await this.#copier!.sync(keys, this.#check);
    }
    this.#syncCounters();
  }

  async #verify(): Promise<void> {
    await this.#phase(MovePhase.Verifying);
    const source = this.#source!;
    const target = this.#target!;
    const diff = await diffRange(source, target, this.#inRange, this.#check);
    const c = this.#state.counters;
    c.verifySourceKeys = diff.sourceKeys;
    c.verifyTargetKeys = diff.targetKeys;
    let wrong = await this.#unexplained(diff.mismatched);
    for (let round = 0; wrong.length > 0; round++) {
      if (round === 3)
        throw new Error(
          `verify: ${wrong.length} keys still differ after 3 repairs (e.g. ${show(wrong[0]!)})`,
        );
      c.verifyMismatches += wrong.length;
      await this.#copier!.sync(wrong, this.#check);
      wrong = await this.#unexplained(await diffKeys(source, target, wrong));
    }
  }

  /** The differences no write since explains: not dirty once every change made so far has been heard. */
  async #unexplained(mismatched: readonly Buffer[]): Promise<Buffer[]> {
    if (mismatched.length === 0) return [];
    await this.#watch!.barrier();
    this.#check();
    return mismatched.filter((k) => !this.#dirty.has(k.toString('latin1')));
  }

  async #cutover(): Promise<void> {
    await this.#phase(MovePhase.Cutover);
    const st = this.#state;
    const c = st.counters;
    const id = shardId(st.shard);
    const giveUp = (why: string): void => {
      c.cutoverAborts++;
      if (c.cutoverAborts >= this.#opts.maxCutoverAttempts)
        throw new Error(`cutover: ${why}, ${c.cutoverAborts} times`);
    };
    for (;;) {
      await this.#catchUp(false);
      this.#check();
      c.cutoverAttempts++;
      const gate = new RangeGate(id);
      // Another move's cutover holds the router's one gate for at most its hold bound: wait it out.
      while (!this.#tryCloseGate(gate)) {
        await new Promise((r) => setTimeout(r, 10));
        this.#check();
      }
      const hold = await this.#holdEverywhere(gate);
      if (hold === false) {
        giveUp(`another router did not hold the range within ${this.#opts.ackWaitMs} ms`);
        // A dead router stops counting once its lease runs out: give it that time.
        await new Promise((r) => setTimeout(r, this.#opts.ackWaitMs));
        continue;
      }
      let keys: Buffer[] = [];
      const final = (async () => {
        await this.#source!.barrier();
        await this.#watch!.barrier();
        this.#check();
        keys = this.#takeDirty();
        await this.#copier!.sync(keys, this.#check, false);
      })();
      let outcome: 'synced' | 'late';
      try {
        outcome = await within(final, this.#opts.holdMs);
      } catch (err) {
        await this.#release(gate, hold, keys);
        throw err;
      }
      if (outcome === 'late') {
        await this.#release(gate, hold, keys);
        await final.catch(() => undefined);
        giveUp(`the last keys were not copied within ${this.#opts.holdMs} ms`);
        continue;
      }
      try {
        c.finalSyncKeys += keys.length;
        await this.#switchTable(hold);
      } catch (err) {
        if (err instanceof SwitchUnknown) {
          // The coordinator asked the store for as long as it could; the requests cannot wait forever.
          this.#recordHold(this.#router.openGate(gate));
          throw err;
        }
        await this.#release(gate, hold, keys);
        // A router waited the hold out before the switch was saved: the range stayed the source's; try again.
        if ((err as { name?: string }).name === 'HoldLost') {
          giveUp(`the switch came after a router's hold timed out`);
          continue;
        }
        throw err;
      }
      this.#recordHold(this.#router.openGate(gate));
      break;
    }
    this.#watch?.close();
    this.#watch = null;
    this.#syncCounters();
  }

  /**
   * With other routers on the store: asks each live one to hold the range
   * too; the hold's id once all have, false (the local gate opened again)
   * when one did not in time. Null when this router is the only one.
   */
  async #holdEverywhere(gate: RangeGate): Promise<string | null | false> {
    const coordinator = this.#cutoverWith;
    if (coordinator === undefined) return null;
    const st = this.#state;
    const hold = `${st.id}#${st.counters.cutoverAttempts}`;
    let grant: HoldGrant;
    try {
      grant = await coordinator.hold({
        id: hold,
        moveId: st.id,
        shard: st.shard,
        source: st.source,
        target: st.target,
        fromVersion: this.#router.table.version,
        timeoutMs: this.#opts.ackWaitMs + this.#opts.holdMs + SWITCH_MARGIN_MS,
        ackWaitMs: this.#opts.ackWaitMs,
      });
    } catch (err) {
      grant = { acked: [], missing: [`the config store: ${message(err)}`] };
      await coordinator.abort(hold);
    }
    if (grant.missing.length === 0) return hold;
    st.counters.cutoverUnacked = (st.counters.cutoverUnacked ?? 0) + 1;
    this.#recordHold(this.#router.openGate(gate));
    return false;
  }

  /** Gives up an attempt: its keys dirty again, the other routers' holds ended, this router's requests let go (to the source). */
  async #release(gate: RangeGate, hold: string | null, keys: readonly Buffer[]): Promise<void> {
    this.#redirty(keys);
    if (hold !== null) await this.#cutoverWith!.abort(hold);
    this.#recordHold(this.#router.openGate(gate));
  }

  #tryCloseGate(gate: RangeGate): boolean {
    try {
      this.#router.closeGate(gate);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Places the shard on the target, active, in one new table version;
   * requests are held meanwhile. With other routers, the version is saved
   * (with the hold switched) before it is installed here.
   */
  async #switchTable(hold: string | null): Promise<void> {
    const st = this.#state;
    const table = this.#router.table;
    const s = table.shard(shardId(st.shard));
    const p = table.partitioner;
    const range =
      s === undefined ? null : { start: p.format(s.start), end: s.end === null ? null : p.format(s.end) };
    if (
      s === undefined ||
      s.node !== st.source ||
      range?.start !== st.range.start ||
      range.end !== st.range.end
    )
      throw new Error(
        `shard ${st.shard} changed under the move (now ${s === undefined ? 'gone' : `[${range?.start}, ${range?.end ?? 'end'}) on ${s.node}`})`,
      );
    const bypass = bypassingPolicy(this.#router, this.#inRange);
    if (bypass !== null) throw new Error(bypass);
    const json: RoutingTableJSON = table.toJSON();
    json.version = table.version + 1;
    for (const row of json.shards) {
      if (row.id !== st.shard) continue;
      row.node = st.target;
      row.status = ShardStatus.Active;
    }
    const next = RoutingTable.fromJSON(json, table.partitioner);
    if (hold === null) this.#router.setTable(next);
    else await this.#cutoverWith!.switchTo(hold, next, `move ${st.shard} to ${st.target} (move ${st.id})`);
    st.switched = true;
    st.tableVersion = next.version;
  }

  async #cleanup(): Promise<void> {
    this.#watch?.close();
    this.#watch = null;
    await this.#phase(MovePhase.Cleanup);
    // Cancel no longer applies: the range is the target's; only a throttle slows this.
    this.#state.counters.keysCleaned += await this.#copier!.clear(this.#source!, () => undefined);
  }

  /**
   * Whether the source is down. A copy's error can come from a side
   * connection a moment before the data connection hears the node go (a
   * killed redis-server closes both at once), so a source still up is asked
   * once, for at most a second, before the answer.
   */
  async #sourceIsDown(): Promise<boolean> {
    const source = this.#source;
    if (source === undefined) return false;
    if (source.status !== 'down') await within(source.barrier(), SOURCE_PROBE_MS);
    return source.status === 'down';
  }

  async #rollback(err: unknown): Promise<MoveResult> {
    const st = this.#state;
    if (err instanceof SwitchUnknown) {
      // The switch may be in force on every router: clearing the target or restoring the status could lose writes.
      this.#watch?.close();
      this.#watch = null;
      this.#syncCounters();
      return this.#finish(
        MoveOutcome.Failed,
        `${err.message}; nothing rolled back, check the routing version`,
      );
    }
    const cancelled = err instanceof Interrupt && err.kind === 'cancel';
    // A cancel is not the source's doing: no need to ask it.
    const sourceDown = cancelled ? this.#source?.status === 'down' : await this.#sourceIsDown();
    this.#watch?.close();
    this.#watch = null;
    this.#watchEpoch++;
    await this.#phase(MovePhase.RollingBack).catch(() => undefined);
    const notes: string[] = [message(err)];
    try {
      // The shard, and any part of it split off meanwhile (a split keeps the status), active again.
      let table = this.#router.table;
      for (const s of table.shards)
        if (s.status === ShardStatus.Moving && s.node === st.source && this.#rangeHolds(s.start))
          table = table.withStatus(s.id, ShardStatus.Active);
      if (table !== this.#router.table) this.#router.setTable(table);
    } catch (e) {
      notes.push(`status not restored: ${message(e)}`);
    }
    if (this.#copier !== undefined && this.#target !== undefined) {
      try {
        await this.#copier.clear(this.#target, () => undefined);
      } catch (e) {
        notes.push(
          `target ${st.target} unreachable, copies of the range may be left on it (a later move there clears them first): ${message(e)}`,
        );
      }
    }
    this.#syncCounters();
    const outcome = cancelled
      ? MoveOutcome.Cancelled
      : sourceDown
        ? MoveOutcome.Failed
        : MoveOutcome.RolledBack;
    if (sourceDown) notes.unshift(`source ${st.source} is down; routing unchanged`);
    return this.#finish(outcome, notes.join('; '));
  }

  #takeDirty(): Buffer[] {
    const keys = [...this.#dirty.values()];
    this.#dirty.clear();
    return keys;
  }

  #redirty(keys: readonly Buffer[]): void {
    for (const k of keys) this.#dirty.set(k.toString('latin1'), k);
  }

  #recordHold(waited: number[]): void {
    const c = this.#state.counters;
    for (const w of waited) this.#holds.push(w);
    c.held = this.#holds.length;
    if (this.#holds.length === 0) return;
    const sorted = [...this.#holds].sort((a, b) => a - b);
    c.holdP99Ms = round3(sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)]!);
    c.holdMaxMs = round3(sorted[sorted.length - 1]!);
  }

  #syncCounters(): void {
    const from = this.#copier?.counters;
    if (from === undefined) return;
    const c = this.#state.counters;
    c.keysCopied = from.keysCopied;
    c.bytesCopied = from.bytesCopied;
    c.keysResynced = from.keysResynced;
  }

  async #phase(phase: MovePhase): Promise<void> {
    const st = this.#state;
    st.phase = phase;
    st.timestamps[phase] = this.#clock.now();
    this.#syncCounters();
    await this.#journal?.save(this.state);
  }

  async #finish(outcome: Exclude<MoveOutcome, 'running'>, detail: string | null): Promise<MoveResult> {
    const st = this.#state;
    st.state = outcome;
    st.detail = detail;
    st.timestamps.ended = this.#clock.now();
    try {
      await this.#phase(MovePhase.Finished);
    } catch (err) {
      st.detail = `${detail ?? ''}${detail === null ? '' : '; '}journal: ${message(err)}`;
    }
    return this.#result();
  }

  #result(): MoveResult {
    const st = this.state;
    return { state: st.state as MoveResult['state'], detail: st.detail, move: st };
  }
}

/** Whether the pre-switch phases include `phase` (a resumed move there starts its copy over). */
export function beforeSwitch(phase: MovePhase): boolean {
  return PRE_SWITCH.includes(phase);
}

/** How long a rollback waits for the source's answer to tell a node that is down from one that is up. */
const SOURCE_PROBE_MS = 1_000;

/** `op`'s outcome, or 'late' when it takes longer than `ms` (it keeps running). */
async function within(op: Promise<void>, ms: number): Promise<'synced' | 'late'> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), ms);
  });
  try {
    return await Promise.race([op.then(() => 'synced' as const), late]);
  } finally {
    clearTimeout(timer);
  }
}

function samePosition(
  compare: (a: Position, b: Position) => number,
  a: Position | null,
  b: Position | null,
): boolean {
  return a === null || b === null ? a === b : compare(a, b) === 0;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function show(key: Buffer): string {
  return JSON.stringify(key.toString('latin1').slice(0, 64));
}

const round3 = (ms: number): number => Math.round(ms * 1000) / 1000;
