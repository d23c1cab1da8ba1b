/**
 * The executor: the one place mitigation changes are made, by the planner or
 * by an operator, and the log of every one of them.
 *
 * A request becomes an ActionRecord (`pending`), waits for any earlier action
 * on the same subject (`cancel` can still stop it then), runs its kind's
 * handler (`running`), and ends `done` or `failed`; each step is published on
 * the event bus as `action.<state>`. What the executor refuses never becomes a
 * record: the caller gets an {@link ActionRefused} saying why.
 *
 * The automation mode and the budgets are enforced here, not in the planner,
 * so that a planner bug cannot get around them:
 *   auto     planner and operators act (the default)
 *   dry-run  planner requests are logged as `recommended` and not applied
 *   manual   planner requests are refused; operators act
 *   frozen   nothing changes: operators are refused too
 * and, for the planner only: a do-not-touch list, at most
 * `maxPlannerActionsPerMinute` key-level actions (splits and moves have the
 * range planner's own budgets), and a cooldown per subject measured from the
 * last change to it by anyone (so the planner does not undo an operator's
 * change the moment it is made).
 */
import type { Clock } from '../clock.js';
import { systemClock } from '../clock.js';
import type { EventBus } from '../control/events.js';
import { ErrorCode, HotshardError } from '../errors.js';
import { ActionEnded } from './action.js';
import type {
  ActionKind,
  ActionKindHandler,
  ActionOutcome,
  ActionRecord,
  ActionState,
  ActionSubject,
  Measurement,
  Prediction,
} from './action.js';

/** Who may change what; see the file header. */
export const AUTOMATION_MODES = ['auto', 'dry-run', 'manual', 'frozen'] as const;
/** One of {@link AUTOMATION_MODES}. */
export type AutomationMode = (typeof AUTOMATION_MODES)[number];

/** What a caller asks the executor to do. */
export interface ActionRequest {
  readonly kind: ActionKind;
  readonly subject: ActionSubject;
  readonly settings: Readonly<Record<string, unknown>>;
  readonly by: 'planner' | 'operator';
  readonly reason: string;
  readonly hotspot?: ActionRecord['hotspot'] | undefined;
  readonly prediction?: Prediction | undefined;
  /**
   * The id of a done action on the same subject that this one completes (a
   * split's hotter half moved next): the same plan, so the subject's cooldown
   * does not hold it back.
   */
  readonly followUp?: string | undefined;
}

/** Why a request or a revert was refused (HTTP: 409 unless said otherwise). */
export type RefusalReason =
  | 'frozen'
  | 'manual'
  | 'dry-run'
  | 'do-not-touch'
  | 'cooldown'
  | 'rate-cap'
  | 'unknown-kind'
  | 'not-found'
  | 'not-revertible';

/** The executor would not do it; `reason` says which rule refused. */
export class ActionRefused extends HotshardError {
  override readonly name = 'ActionRefused';
  constructor(
    readonly reason: RefusalReason,
    message: string,
  ) {
    super(
      reason === 'not-found'
        ? ErrorCode.NotFound
        : reason === 'unknown-kind'
          ? ErrorCode.BadRequest
          : ErrorCode.NotAllowed,
      message,
    );
  }
}

/** A change of automation settings, as GET /automation lists them. */
export interface AutomationChange {
  readonly at: number;
  readonly mode: AutomationMode;
  readonly doNotTouch: readonly string[];
  readonly by: 'planner' | 'operator';
  readonly reason: string;
}

/** How the executor is set up. */
export interface ExecutorOptions {
  /** One handler per kind it can run. */
  readonly handlers: readonly ActionKindHandler[];
  readonly bus?: EventBus | undefined;
  readonly clock?: Clock | undefined;
  readonly mode?: AutomationMode | undefined;
  /** Subjects the planner must not act on: exact names, or a prefix ending in `*` (`likes:*`). */
  readonly doNotTouch?: readonly string[] | undefined;
  /** Planner actions (and recommendations) allowed in any 60 s. Default 10. */
  readonly maxPlannerActionsPerMinute?: number | undefined;
  /** After a change to a subject, how long the planner leaves it alone (ms). Default 30 s. */
  readonly cooldownMs?: number | undefined;
  /** Records kept (oldest dropped first; actions still in force stay revertible). Default 1,000. */
  readonly logSize?: number | undefined;
  /** Told of an action whose apply or revert failed (ControlErrors in a server). */
  readonly onError?: ((err: unknown, record: ActionRecord) => void) | undefined;
  /**
   * What action ids start with (default `a-`). Routers sharing one config
   * store each get their own, so their records never overwrite each other's.
   */
  readonly idPrefix?: string | undefined;
}

const MINUTE = 60_000;

const subjectId = (s: ActionSubject): string => `${s.type}:${s.name}`;

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Runs actions under the automation mode and the budgets, and keeps their log. */
export class Executor {
  readonly #handlers: ReadonlyMap<ActionKind, ActionKindHandler>;
  readonly #bus: EventBus | undefined;
  readonly #clock: Clock;
  readonly #cap: number;
  readonly #cooldownMs: number;
  readonly #logSize: number;
  readonly #onError: ExecutorOptions['onError'];
  #mode: AutomationMode;
  #doNotTouch: readonly string[];
  readonly #changes: AutomationChange[] = [];
  readonly #log: ActionRecord[] = [];
  /** Actions whose apply is under way, by id (a move runs for minutes). */
  readonly #running = new Map<string, ActionRecord>();
  /** Actions in force, by id: revertible even after the log has dropped them. */
  readonly #active = new Map<string, ActionRecord>();
  /** Last change per subject (the planner's cooldown). */
  readonly #lastChange = new Map<string, number>();
  /** When the planner's recent actions were taken (the per-minute cap). */
  readonly #plannerTimes: number[] = [];
  /** The action running or queued last per subject; the next one waits for it. */
  readonly #queues = new Map<string, Promise<void>>();
  #nextId = 1;
  readonly #idPrefix: string;

  constructor(options: ExecutorOptions) {
    this.#idPrefix = options.idPrefix ?? 'a-';
    this.#handlers = new Map(options.handlers.map((h) => [h.kind, h]));
    this.#bus = options.bus;
    this.#clock = options.clock ?? systemClock;
    this.#mode = options.mode ?? 'auto';
    this.#doNotTouch = [...(options.doNotTouch ?? [])];
    this.#cap = options.maxPlannerActionsPerMinute ?? 10;
    this.#cooldownMs = options.cooldownMs ?? 30_000;
    this.#logSize = options.logSize ?? 1000;
    this.#onError = options.onError;
  }

  /** The kinds this executor can run. */
  get kinds(): readonly ActionKind[] {
    return [...this.#handlers.keys()];
  }

  get mode(): AutomationMode {
    return this.#mode;
  }

  get doNotTouch(): readonly string[] {
    return this.#doNotTouch;
  }

  /** The automation settings' changes, oldest first (the last 100). */
  get changes(): readonly AutomationChange[] {
    return this.#changes;
  }

  /** Changes the mode and/or the do-not-touch list; published as `automation.changed`. */
  setAutomation(change: {
    mode?: AutomationMode | undefined;
    doNotTouch?: readonly string[] | undefined;
    by: 'planner' | 'operator';
    reason: string;
  }): AutomationChange {
    // Only an operator may thaw a frozen executor (or change anything while frozen).
    if (this.#mode === 'frozen' && change.by === 'planner')
      throw new ActionRefused('frozen', 'automation is frozen: only an operator can change it');
    if (change.mode !== undefined) this.#mode = change.mode;
    if (change.doNotTouch !== undefined) this.#doNotTouch = [...change.doNotTouch];
    const entry: AutomationChange = {
      at: this.#clock.now(),
      mode: this.#mode,
      doNotTouch: this.#doNotTouch,
      by: change.by,
      reason: change.reason,
    };
    this.#changes.push(entry);
    if (this.#changes.length > 100) this.#changes.shift();
    this.#bus?.publish('automation.changed', entry, entry.at);
    return entry;
  }

  /** Why `request` would be refused now, or null when it would be taken. */
  refusal(request: ActionRequest): ActionRefused | null {
    if (!this.#handlers.has(request.kind))
      return new ActionRefused(
        'unknown-kind',
        `no handler for action kind '${request.kind}' (available: ${this.kinds.join(', ') || 'none'})`,
      );
    const byMode = this.#modeRefusal(request.by);
    if (byMode !== null) return byMode;
    if (request.by === 'operator') return null;
    const name = request.subject.name;
    const listed = this.#doNotTouch.find((p) =>
      p.endsWith('*') ? name.startsWith(p.slice(0, -1)) : name === p,
    );
    if (listed !== undefined)
      return new ActionRefused(
        'do-not-touch',
        `${request.subject.type} '${name}' is on the do-not-touch list ('${listed}')`,
      );
    const now = this.#clock.now();
    const last = this.#lastChange.get(subjectId(request.subject));
    const before = request.followUp === undefined ? undefined : this.get(request.followUp);
    const followsUp =
      before !== undefined &&
      before.state === 'done' &&
      subjectId(before.subject) === subjectId(request.subject) &&
      last === before.createdAt;
    if (last !== undefined && now - last < this.#cooldownMs && !followsUp)
      return new ActionRefused(
        'cooldown',
        `${request.subject.type} '${name}' changed ${now - last} ms ago; the planner waits ${this.#cooldownMs} ms`,
      );
    this.#prunePlannerTimes(now);
    if (!this.#ownBudget(request.kind) && this.#plannerTimes.length >= this.#cap)
      return new ActionRefused(
        'rate-cap',
        `the planner has taken ${this.#plannerTimes.length} actions in the last minute (cap ${this.#cap})`,
      );
    return null;
  }

  /**
   * Takes an action: resolves with its record once it is done, failed or
   * cancelled (a failure is in the record, not a rejection); rejects with
   * ActionRefused when the mode or a budget forbids it.
   */
  async execute(request: ActionRequest): Promise<ActionRecord> {
    return this.start(request).settled;
  }

  /**
   * Takes an action and returns its record at once (`pending`), for long
   * actions an API answers 202 to; `settled` resolves as `execute` does.
   * Throws ActionRefused, synchronously, when the mode or a budget forbids it.
   */
  start(request: ActionRequest): { record: ActionRecord; settled: Promise<ActionRecord> } {
    const refused = this.refusal(request);
    if (refused !== null) throw refused;
    const handler = this.#handlers.get(request.kind)!;
    const now = this.#clock.now();
    const record: ActionRecord = {
      id: `${this.#idPrefix}${this.#nextId++}`,
      kind: request.kind,
      subject: { type: request.subject.type, name: request.subject.name },
      settings: request.settings,
      by: request.by,
      reason: request.reason,
      hotspot: request.hotspot ?? null,
      prediction: request.prediction ?? null,
      state: 'pending',
      outcome: 'pending',
      measurement: null,
      detail: null,
      createdAt: now,
      updatedAt: now,
      revertedAt: null,
      progress: null,
    };
    this.#append(record);
    const subject = subjectId(record.subject);
    const changedBefore = this.#lastChange.get(subject);
    this.#lastChange.set(subject, now);
    // An action that ends having changed nothing (cancelled, rolled back, failed) does not start the cooldown.
    const unchanged = (): void => {
      if (this.#lastChange.get(subject) !== now) return;
      if (changedBefore === undefined) this.#lastChange.delete(subject);
      else this.#lastChange.set(subject, changedBefore);
    };
    if (request.by === 'planner' && !this.#ownBudget(request.kind)) this.#plannerTimes.push(now);
    if (request.by === 'planner' && this.#mode === 'dry-run') {
      record.state = 'done';
      record.outcome = 'recommended';
      record.detail = 'dry-run: recommended, not applied';
      this.#publish('recommended', record);
      return { record, settled: Promise.resolve(record) };
    }
    this.#publish('pending', record);
    const settled = this.#serial(subject, async () => {
      if (record.state === 'cancelled') return unchanged();
      // The mode may have changed while this waited its turn.
      const late = this.#modeRefusal(record.by);
      if (late !== null) {
        unchanged();
        return this.#set(record, 'cancelled', `not applied: ${late.message}`);
      }
      this.#set(record, 'running', null);
      this.#running.set(record.id, record);
      try {
        const applied = await handler.apply(record.subject, record.settings, record);
        if (applied !== undefined) record.progress = applied.progress;
      } catch (err) {
        if (err instanceof ActionEnded) {
          if (err.progress !== null) record.progress = err.progress;
          unchanged();
          this.#set(record, err.state, err.message);
          return;
        }
        if (handler.oneShot === true) unchanged();
        this.#set(record, 'failed', message(err));
        this.#reportError(err, record);
        this.#dropGone(record.subject, record.id);
        return;
      } finally {
        this.#running.delete(record.id);
      }
      if (handler.oneShot !== true) {
        this.#supersede(record);
        this.#active.set(record.id, record);
      }
      this.#set(record, 'done', null);
    }).then(() => record);
    return { record, settled };
  }

  /** Takes an action in force away again; resolves with its record, now `rolled-back`. */
  async revert(id: string, reason: string, by: 'planner' | 'operator' = 'operator'): Promise<ActionRecord> {
    const record = this.get(id);
    if (record === undefined) throw new ActionRefused('not-found', `no action '${id}'`);
    const byMode = this.#modeRefusal(by);
    if (byMode !== null) throw byMode;
    if (by === 'planner' && this.#mode === 'dry-run')
      throw new ActionRefused('dry-run', 'dry-run: the planner recommends only, it reverts nothing');
    const subject = subjectId(record.subject);
    await this.#serial(subject, async () => {
      if (!this.#active.has(id))
        throw new ActionRefused(
          'not-revertible',
          `${id} is not in force (${record.state}, ${record.outcome}${record.detail === null ? '' : `: ${record.detail}`})`,
        );
      try {
        await this.#handlers.get(record.kind)!.revert(record.subject);
      } catch (err) {
        record.detail = `revert failed: ${message(err)}`;
        record.updatedAt = this.#clock.now();
        this.#publish('revert-failed', record);
        this.#reportError(err, record);
        throw err;
      }
      this.#active.delete(id);
      // A whole-policy action's revert leaves the subject plain: nothing else stays in force.
      if (record.kind === 'policy') this.#supersede(record, `removed with ${id}'s revert`);
      const now = this.#clock.now();
      this.#lastChange.set(subject, now);
      record.outcome = 'reverted';
      record.revertedAt = now;
      this.#set(record, 'rolled-back', `reverted by ${by}: ${reason}`);
    });
    return record;
  }

  /**
   * Stops an action waiting its turn, or asks a running one whose kind can
   * stop (a move) to stop: it then ends `cancelled` (or `rolled-back`) once
   * the subject is as it was. Anything else cannot be cancelled (revert it).
   */
  cancel(id: string, reason = 'cancelled by operator'): ActionRecord {
    const record = this.get(id);
    if (record === undefined) throw new ActionRefused('not-found', `no action '${id}'`);
    if (record.state === 'pending') {
      this.#set(record, 'cancelled', reason);
      return record;
    }
    const handler = this.#handlers.get(record.kind)!;
    if (record.state === 'running' && handler.cancel !== undefined) {
      if (handler.cancel(record.subject, reason)) {
        record.detail = `cancelling: ${reason}`;
        record.updatedAt = this.#clock.now();
        this.#publish('cancelling', record);
        return record;
      }
    }
    throw new ActionRefused(
      'not-revertible',
      `${id} is ${record.state}: only a pending action${handler.cancel === undefined ? '' : ' or a running ' + record.kind} can be cancelled`,
    );
  }

  /** What the planner measured after the action had time to work, and its verdict. */
  recordMeasurement(id: string, measurement: Measurement, outcome: ActionOutcome): ActionRecord {
    const record = this.get(id);
    if (record === undefined) throw new ActionRefused('not-found', `no action '${id}'`);
    record.measurement = measurement;
    record.outcome = outcome;
    record.updatedAt = this.#clock.now();
    this.#publish('measured', record);
    return record;
  }

  /**
   * Takes back the log a config store kept over a restart (any order). An
   * action done and not reverted is in force again if its remedy reports
   * itself (re-apply the key policies first), the newest per subject and
   * kind, as before the restart; one pending or running was cut short by the
   * restart and is marked failed, unless `interrupt` is false (a store shared
   * with other processes, whose running actions these may be). Returns the
   * records it changed, to be saved back. New ids continue after the restored ones.
   */
  restore(records: readonly ActionRecord[], { interrupt = true } = {}): ActionRecord[] {
    const changed: ActionRecord[] = [];
    const inForce = new Map<string, ActionRecord>();
    const sorted = [...records].sort(
      (a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id, 'en', { numeric: true }),
    );
    for (const original of sorted) {
      if (this.get(original.id) !== undefined) continue;
      const record: ActionRecord = { ...original };
      if (interrupt && (record.state === 'pending' || record.state === 'running')) {
        record.state = 'failed';
        record.detail = `interrupted: hotshard restarted while it was ${original.state}`;
        record.updatedAt = this.#clock.now();
        changed.push(record);
      }
      this.#append(record);
      const n = record.id.startsWith(this.#idPrefix) ? Number(record.id.slice(this.#idPrefix.length)) : NaN;
      if (Number.isSafeInteger(n) && n >= this.#nextId) this.#nextId = n + 1;
      if (record.state !== 'done' || record.outcome === 'recommended' || record.revertedAt !== null) continue;
      const subject = subjectId(record.subject);
      if (record.kind === 'policy')
        for (const key of [...inForce.keys()]) if (key.startsWith(`${subject}|`)) inForce.delete(key);
      inForce.set(`${subject}|${record.kind}`, record);
    }
    for (const record of inForce.values())
      if (this.#handlers.get(record.kind)?.status(record.subject) != null)
        this.#active.set(record.id, record);
    return changed;
  }

  /** One action, if still kept. */
  get(id: string): ActionRecord | undefined {
    return this.#active.get(id) ?? this.#running.get(id) ?? this.#log.find((r) => r.id === id);
  }

  /** The log, newest first, optionally filtered. */
  list(filter: { state?: ActionState; kind?: ActionKind; limit?: number } = {}): ActionRecord[] {
    const out: ActionRecord[] = [];
    const limit = filter.limit ?? this.#logSize;
    for (let i = this.#log.length - 1; i >= 0 && out.length < limit; i--) {
      const r = this.#log[i]!;
      if (filter.state !== undefined && r.state !== filter.state) continue;
      if (filter.kind !== undefined && r.kind !== filter.kind) continue;
      out.push(r);
    }
    return out;
  }

  /** The actions in force on `subject`, oldest first. */
  activeOn(subject: ActionSubject): ActionRecord[] {
    const id = subjectId(subject);
    return [...this.#active.values()].filter((r) => subjectId(r.subject) === id);
  }

  /** What the remedy of an action in force is doing now, or null. */
  status(id: string): Record<string, unknown> | null {
    const record = this.#active.get(id);
    return record === undefined ? null : this.#handlers.get(record.kind)!.status(record.subject);
  }

  /** A running action's progress as its handler reports it now; else what it reported last (or null). */
  progress(id: string): Readonly<Record<string, unknown>> | null {
    const running = this.#running.get(id);
    if (running !== undefined) {
      const now = this.#handlers.get(running.kind)!.progress?.(running.subject) ?? null;
      if (now !== null) running.progress = now;
      return running.progress;
    }
    return this.get(id)?.progress ?? null;
  }

  /** The actions running now, oldest first. */
  running(): ActionRecord[] {
    return [...this.#running.values()];
  }

  /**
   * One-shot kinds (split, move, merge, nodes) are budgeted by the range
   * planner (moves per hour, concurrent moves): a burst of cheap key actions
   * must not use up the per-minute cap and block the move that relieves a node.
   */
  #ownBudget(kind: ActionKind): boolean {
    return this.#handlers.get(kind)?.oneShot === true;
  }

  #modeRefusal(by: 'planner' | 'operator'): ActionRefused | null {
    if (this.#mode === 'frozen')
      return new ActionRefused(
        'frozen',
        'automation is frozen: nothing changes until an operator sets another mode (POST /automation)',
      );
    if (this.#mode === 'manual' && by === 'planner')
      return new ActionRefused('manual', 'automation is manual: the planner may not act');
    return null;
  }

  /**
   * A failed apply may have taken away what was in force (a policy change
   * closes the old chain before it builds the new one): actions on the
   * subject whose remedy no longer reports itself are no longer in force.
   */
  #dropGone(subject: ActionSubject, by: string): void {
    for (const r of this.activeOn(subject)) {
      if (this.#handlers.get(r.kind)!.status(r.subject) !== null) continue;
      this.#active.delete(r.id);
      r.detail = `no longer in force: ${by} failed after taking it away`;
      r.updatedAt = this.#clock.now();
    }
  }

  /** A newer action on the subject takes over from older ones: a whole policy from all, a part from the same part. */
  #supersede(newer: ActionRecord, detail = `superseded by ${newer.id}`): void {
    for (const r of this.activeOn(newer.subject)) {
      if (r === newer) continue;
      if (newer.kind !== 'policy' && r.kind !== newer.kind) continue;
      this.#active.delete(r.id);
      r.detail = detail;
      r.updatedAt = this.#clock.now();
    }
  }

  #serial(subject: string, work: () => Promise<void>): Promise<void> {
    const before = this.#queues.get(subject) ?? Promise.resolve();
    const run = before.then(work);
    const settled = run.catch(() => {});
    this.#queues.set(subject, settled);
    void settled.then(() => {
      if (this.#queues.get(subject) === settled) this.#queues.delete(subject);
    });
    return run;
  }

  #append(record: ActionRecord): void {
    this.#log.push(record);
    if (this.#log.length > this.#logSize) this.#log.shift();
  }

  #prunePlannerTimes(now: number): void {
    while (this.#plannerTimes.length > 0 && now - this.#plannerTimes[0]! >= MINUTE)
      this.#plannerTimes.shift();
  }

  #set(record: ActionRecord, state: ActionState, detail: string | null): void {
    record.state = state;
    if (detail !== null) record.detail = detail;
    record.updatedAt = this.#clock.now();
    this.#publish(state, record);
  }

  #publish(what: string, record: ActionRecord): void {
    this.#bus?.publish(`action.${what}`, { ...record }, record.updatedAt);
  }

  #reportError(err: unknown, record: ActionRecord): void {
    try {
      this.#onError?.(err, record);
    } catch {
      // the reporter failing must not turn a recorded failure into a crash
    }
  }
}
