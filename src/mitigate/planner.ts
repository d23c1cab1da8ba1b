/**
 * The planner for key-level hotspots: each tick it reads the detector's
 * active hotspots and the actions in place, and decides what to ask the
 * executor for. It walks a ladder per subject, seed 001's decision tree
 * (§10) with DESIGN.md's additions:
 *
 *   read-hot key      cache + coalescing (replicas when the key is `strong`) → throttle-key → shed
 *   write-hot counter aggregate → salt (counter patterns only) → throttle-key → shed
 *   other write-hot   throttle-key → shed
 *   noisy tenant      quota-tenant → shed
 *   read-hot range    cache on its warm keys, then the skew's head anywhere (no further rung)
 *   read-hot node     cache on its warm keys, then the skew's head anywhere (no further rung)
 *
 * Warm keys. A read-hot range or node is many keys, none hot on its own
 * (Zipf's shoulder: the keys after the top one or two). Its heaviest read
 * keys (WARM_KEYS: reads ≥ 5 % of the mean shard's rate, 16 per hotspot),
 * then such keys anywhere (the skew's head: cached only where the detector
 * points, the max backend just moves to the next node), 64 in place at
 * most, get the hot key's cache on the signal alone; strong and do-not-touch
 * keys are left out, and they come after the ladders under the per-minute
 * cap. A cached key counts as hot while the range or node
 * hotspot that led to it is active, or while it is still among the heaviest
 * keys (by the same rule, anywhere), and is reverted after `hysteresisMs`
 * once neither holds. Telemetry counts a key before its cache serves it, so
 * caching does not cool what led to it.
 *
 * A rung is taken when the one before it has been verified (`verifyDelayMs`
 * after it was applied) and was either ineffective against its prediction or
 * left the subject's impact in place. Cheap reversible rungs (cache,
 * replicate, aggregate) need the hot-key signal alone; throttling and
 * shedding need impact (severity warning or worse); shedding needs the SLO
 * itself breached (p99 over it). Cache → replicas is no rung: a key is one or
 * the other by its consistency.
 *
 * Counters. The `commandMix` input (telemetry's per-key increments among
 * writes) decides first: a write-hot key whose increments are under
 * COUNTER_SHARE of its writes is no counter, and its ladder skips
 * aggregation. Otherwise a key matching a `counters` pattern is a counter;
 * another write-hot key is given aggregation, as a probe where the mix is
 * unknown (aggregation is exact and passes other commands through, so
 * trying it costs nothing a client can see) and its status then says whether
 * increments arrived: none ⇒ not a counter, the probe is reverted and the
 * ladder goes on to throttling. Salting is never tried outside the patterns:
 * an INCR reply may be an id the application hands out.
 *
 * Stability, on top of the executor's modes, cooldowns and caps: an action
 * in place (or just asked for) is not asked for again; a rung refused or
 * failed waits `cooldownMs` before it is asked again, and the ladder does not
 * climb past it (a frozen executor must not walk the planner to shedding);
 * an action whose subject has stayed cold for `hysteresisMs` is reverted
 * (a one-sided remedy, once its key has not been hot its way: SERVES);
 * at most `maxActionsPerMinute` actions are asked for, the worst hotspots
 * first. Actions an operator made are the operator's: the planner leaves
 * their subject alone.
 *
 * Pure: time is the injected clock, inputs are functions, the output is a
 * list of requests. A throw (a bad input) reaches the caller, which logs and
 * counts it (ControlErrors 'planner'). What a tick asked for is remembered
 * only once it has decided everything, so a failed tick asks for nothing
 * and the next one decides afresh.
 *
 * Files: the inputs, outputs and settings are in planner-io.ts, a rung's
 * settings, reason and prediction in plan-request.ts (with the rates from
 * fair-share.ts), measuring and judging in verify.ts; this file is the
 * ladder and what the planner remembers between ticks.
 */
import { type Heat, type Hotspot, type ImpactSignal, SEVERITY_RANK } from '../detect/hotspot.js';
import type { TickSnapshot } from '../detect/snapshot.js';
import type { ActionKind, ActionRecord, ActionSubject } from './action.js';
import { KeyPatterns } from './key-patterns.js';
import { planRequest, shedTier, warmKeyRequest } from './plan-request.js';
import {
  DEFAULT_PLANNER_SETTINGS,
  WARM_KEYS,
  type HeavyKey,
  type PlannedAction,
  type PlannedRevert,
  type PlannerInputs,
  type PlannerOutput,
  type PlannerSettings,
  type Verdict,
} from './planner-io.js';
import { incrementsSeen, measureDefault, meets, type MeasureContext } from './verify.js';

export { DEFAULT_PLANNER_SETTINGS, flushMsFor, PLANNED_REMEDIES, WARM_KEYS } from './planner-io.js';
export type {
  CommandMix,
  HeavyKey,
  PlannedAction,
  PlannedRevert,
  PlannerInputs,
  PlannerOutput,
  PlannerSettings,
  Verdict,
} from './planner-io.js';

const subjectKey = (s: ActionSubject): string => `${s.type}:${s.name}`;
const slotKey = (kind: ActionKind, s: ActionSubject): string => `${kind}|${subjectKey(s)}`;
const LIVE_STATES = new Set(['pending', 'running', 'done']);
const live = (r: ActionRecord): boolean => r.revertedAt === null && LIVE_STATES.has(r.state);
const THROTTLING: ReadonlySet<ActionKind> = new Set(['throttle-key', 'quota-tenant', 'shed']);
const SHEDDING: ImpactSignal = 'shedding';
const P99: ImpactSignal = 'p99-over-slo';
/**
 * Rungs that serve the key's demand without its node (the cache, copies,
 * batches). Utilization and queue depth are read from the demand the router
 * saw and the requests it holds (a batch waiting for its flush is in flight),
 * so after one of them works 'near-capacity' and 'queue-rising' can stay
 * though the node is relieved: only p99 over the SLO, what clients feel, is
 * reason to climb past it.
 */
const RELIEVES_NODE: ReadonlySet<ActionKind> = new Set(['cache', 'replicate', 'aggregate', 'salt']);
/** Below this share of its node's requests, the rest of a hot key's node is no one a throttle could protect. */
const ALONE_OTHERS_SHARE = 0.05;
/** Rungs that refuse requests: taken only on impact that lasted `impactHoldMs`. */
const REFUSES: ReadonlySet<ActionKind> = new Set(['throttle-key', 'quota-tenant', 'shed']);
/** Share of a key's writes that must be increments for it to count as a counter. */
const COUNTER_SHARE = 0.5;
const MINUTE = 60_000;
const NOT_COUNTER = 'no INCR-family command reached the aggregation: the key is no counter';

/** What the planner remembers of a subject between ticks. */
interface SubjectMemory {
  lastHotAt: number;
  /** When it was last read-hot (or a warm key kept warm): what keeps a read remedy in place. */
  lastReadHotAt: number | null;
  /** When it was last write-hot: what keeps a write remedy in place. */
  lastWriteHotAt: number | null;
  shard: string | null;
  node: string | null;
}

/**
 * Remedies that only serve one kind of request, and the heat they answer. A
 * cache or replicas on a key that turned write-hot serve no read worth the
 * name and cost every write (an invalidation, or a write to each copy); salt
 * on a key that turned read-hot makes every read gather its sub-keys. Such a
 * remedy is reverted once its key has not had that heat for the hysteresis,
 * even while the key stays hot the other way.
 */
const SERVES: Partial<Record<ActionKind, Heat>> = {
  cache: 'read-hot',
  replicate: 'read-hot',
  aggregate: 'write-hot',
  salt: 'write-hot',
};

/** A warm key of a read-hot range or node: a candidate for the cache. */
interface WarmKey {
  readonly key: string;
  readonly reads: number;
  /** The reads that qualified it (WARM_KEYS.shareOfMeanShard of the mean shard). */
  readonly minReads: number;
  readonly h: Hotspot;
}

/** One tick's view of the world, built once. */
interface View {
  readonly now: number;
  readonly active: readonly Hotspot[];
  readonly activeIds: ReadonlySet<string>;
  readonly hotBySubject: ReadonlyMap<string, Hotspot>;
  /** Live records by slot (kind|subject), newest last. */
  readonly liveBySlot: ReadonlyMap<string, ActionRecord>;
  readonly records: readonly ActionRecord[];
  readonly snapshot: TickSnapshot | undefined;
  /** Warm keys of this tick's read-hot ranges and nodes, heaviest first. */
  readonly warm: readonly WarmKey[];
}

/** The rung a request climbs from, and how it was judged. */
interface Follows {
  readonly record: ActionRecord;
  readonly outcome: 'effective' | 'ineffective';
}

/** Where a rung of a subject's ladder stands. */
type RungState =
  | { readonly at: 'absent' }
  | { readonly at: 'waiting'; readonly why: string }
  | { readonly at: 'judged'; readonly record: ActionRecord; readonly outcome: 'effective' | 'ineffective' };

/**
 * Decides mitigation actions for key-level hotspots.
 *
 * @example
 * const planner = new Planner(
 *   { clock, hotspots: () => detector.active(), actions: () => executor.list(), snapshot: () => monitor.snapshot },
 *   config.mitigation,
 * );
 * // each monitor tick, after the detector's (a throw: controlErrors.record('planner', err)):
 * for (const o of planner.tick()) {
 *   if (o.type === 'apply') executor.execute({ ...o, by: 'planner' }).catch(noteRefusal);
 *   else if (o.type === 'revert') executor.revert(o.actionId, o.reason, 'planner').catch(noteRefusal);
 *   else executor.recordMeasurement(o.actionId, o.measurement, o.outcome);
 * }
 */
export class Planner {
  readonly settings: PlannerSettings;
  readonly #in: PlannerInputs;
  readonly #counters: KeyPatterns;
  readonly #strong: KeyPatterns;
  readonly #doNotTouch: KeyPatterns;
  readonly #subjects = new Map<string, SubjectMemory>();
  /** Requests asked for and not yet in the log, by slot. */
  readonly #requested = new Map<string, number>();
  readonly #reverting = new Map<string, number>();
  readonly #verdicts = new Map<string, 'effective' | 'ineffective'>();
  readonly #appliedAt = new Map<string, number>();
  /** Keys whose aggregation probe saw no increments this episode. */
  readonly #notCounters = new Set<string>();
  /** Per node, the subjects whose ladders led to shedding it (they keep it hot). */
  readonly #shedCauses = new Map<string, Set<string>>();
  /** This tick's shed requests and the subject whose ladder led to each (committed with the tick). */
  readonly #causes = new Map<PlannedAction, string>();
  /** When each active hotspot's impact began (seen at every tick since), by hotspot id. */
  readonly #impactSince = new Map<string, number>();
  /** When each apply was asked for, for maxActionsPerMinute. */
  #issued: number[] = [];

  /** Throws a RangeError for a bad pattern or setting. */
  constructor(inputs: PlannerInputs, settings: Partial<PlannerSettings> = {}) {
    this.settings = Object.freeze({ ...DEFAULT_PLANNER_SETTINGS, ...settings });
    this.#in = inputs;
    this.#counters = new KeyPatterns(this.settings.counters);
    this.#strong = new KeyPatterns(this.settings.strong);
    this.#doNotTouch = new KeyPatterns(this.settings.doNotTouch);
  }

  /** One round: verdicts on actions due for measuring, reverts of cold subjects, then new actions, worst hotspot first. */
  tick(): PlannerOutput[] {
    const view = this.#view();
    const verdicts = this.#verify(view);
    const judged = new Map(verdicts.map((v) => [v.actionId, v]));
    const reverts = this.#reverts(view, judged);
    const applies = this.#plan(view, judged, new Set(reverts.map((r) => r.actionId)));
    const room = Math.max(
      0,
      this.settings.maxActionsPerMinute - this.#issued.filter((t) => t > view.now - MINUTE).length,
    );
    const out: PlannerOutput[] = [...verdicts, ...reverts, ...applies.slice(0, room)];
    this.#commit(view, out);
    return out;
  }

  #view(): View {
    const now = this.#in.clock.now();
    const active = this.#in.hotspots().filter((h) => h.clearedAt === null);
    const records = this.#in.actions();
    const hotBySubject = new Map<string, Hotspot>();
    for (const h of active) {
      const s = subjectOf(h);
      if (s !== null) hotBySubject.set(subjectKey(s), h);
    }
    const activeIds = new Set(active.map((h) => h.id));
    for (const h of active)
      if (h.impact.length === 0) this.#impactSince.delete(h.id);
      else if (!this.#impactSince.has(h.id)) this.#impactSince.set(h.id, now);
    for (const id of this.#impactSince.keys()) if (!activeIds.has(id)) this.#impactSince.delete(id);
    const liveBySlot = new Map<string, ActionRecord>();
    for (const r of records) {
      // A dry-run recommendation stands for its hotspot's episode, so it is not repeated every tick.
      if (r.outcome === 'recommended' && !(r.hotspot !== null && activeIds.has(r.hotspot.id))) continue;
      if (!live(r) || this.#in.inForce?.(r) === false) continue;
      // The newest per slot: the log may list newest first, and an older record superseded by it stays `done`.
      const slot = slotKey(r.kind, r.subject);
      const had = liveBySlot.get(slot);
      if (had === undefined || r.createdAt >= had.createdAt) liveBySlot.set(slot, r);
    }
    const snapshot = this.#in.snapshot?.();
    // Subjects are hot while their hotspot is active; a shed node while anything on it, or what led to it, is.
    for (const [sk, h] of hotBySubject) this.#remember(sk, now, h.shard, h.node, h.heat);
    for (const h of active) if (h.node !== null) this.#remember(`node:${h.node}`, now, null, h.node);
    for (const [node, causes] of this.#shedCauses)
      if ([...causes].some((c) => hotBySubject.has(c))) this.#remember(`node:${node}`, now, null, node);
    const warm = this.#warmKeys(active, hotBySubject, snapshot);
    this.#keepWarm(now, liveBySlot, new Map(active.map((h) => [h.id, h])), hotBySubject, warm, snapshot);
    return { now, active, activeIds, hotBySubject, liveBySlot, records, snapshot, warm };
  }

  /** The warm keys of the active read-hot ranges and nodes (WARM_KEYS), heaviest first, each once. */
  #warmKeys(
    active: readonly Hotspot[],
    hotBySubject: ReadonlyMap<string, Hotspot>,
    snapshot: TickSnapshot | undefined,
  ): WarmKey[] {
    const heavyKeys = this.#in.heavyKeys;
    if (heavyKeys === undefined) return [];
    const own = new Map<string, WarmKey>();
    const head = new Map<string, WarmKey>();
    const hotspots = active
      .filter((h) => (h.kind === 'hot-range' || h.kind === 'hot-node') && h.heat === 'read-hot')
      .filter((h) => !this.#untouchable(h.subject))
      .sort(
        (a, b) =>
          SEVERITY_RANK[b.severity] - SEVERITY_RANK[a.severity] ||
          (b.evidence.rate ?? 0) - (a.evidence.rate ?? 0),
      );
    const take = (
      into: Map<string, WarmKey>,
      keys: readonly HeavyKey[],
      h: Hotspot,
      minReads: number,
      most: number,
    ): void => {
      let n = 0;
      for (const k of [...keys].sort((a, b) => b.reads - a.reads)) {
        if (n >= most || !(k.reads >= minReads)) break;
        // A hot key has its own ladder; a strong key would need replicas.
        if (hotBySubject.has(`key:${k.key}`) || this.#isStrong(k.key) || this.#untouchable(k.key)) continue;
        n++;
        if (!into.has(k.key)) into.set(k.key, { key: k.key, reads: k.reads, minReads, h });
      }
    };
    for (const h of hotspots) {
      const minReads =
        WARM_KEYS.shareOfMeanShard * (meanShardRate(snapshot) ?? h.evidence.meanShardRate ?? 0);
      if (!(minReads > 0)) continue;
      take(
        own,
        heavyKeys(h.kind === 'hot-range' ? { shard: h.subject } : { node: h.subject }),
        h,
        minReads,
        WARM_KEYS.perHotspot,
      );
    }
    // Then the read skew's head anywhere: caching only where the detector points leaves the warm
    // keys of other nodes uncached, and those become the most loaded backends (bench:hotkey c).
    const worst = hotspots[0];
    const minReads =
      WARM_KEYS.shareOfMeanShard * (meanShardRate(snapshot) ?? worst?.evidence.meanShardRate ?? 0);
    if (worst !== undefined && minReads > 0) take(head, heavyKeys({}), worst, minReads, WARM_KEYS.max);
    // The hotspots' own keys first (what was raised), then the rest of the head, each heaviest first.
    const byReads = (a: WarmKey, b: WarmKey): number => b.reads - a.reads;
    return [
      ...[...own.values()].sort(byReads),
      ...[...head.values()].filter((w) => !own.has(w.key)).sort(byReads),
    ];
  }

  /**
   * Warm caches stay hot: a cached key counts as hot while the range or node
   * hotspot that led to its cache is active, or while it is still among the
   * heaviest keys (a warm key of an active hotspot, or anywhere by the same
   * rule). A hot key's cache stays so too once its hot-key hotspot is gone.
   */
  #keepWarm(
    now: number,
    liveBySlot: ReadonlyMap<string, ActionRecord>,
    activeById: ReadonlyMap<string, Hotspot>,
    hotBySubject: ReadonlyMap<string, Hotspot>,
    warm: readonly WarmKey[],
    snapshot: TickSnapshot | undefined,
  ): void {
    const heavyKeys = this.#in.heavyKeys;
    if (heavyKeys === undefined) return;
    const cached = [...liveBySlot.values()].filter(
      (r) =>
        r.kind === 'cache' &&
        r.subject.type === 'key' &&
        hotBySubject.get(subjectKey(r.subject))?.heat !== 'read-hot',
    );
    if (cached.length === 0) return;
    const found = new Map(warm.map((w) => [w.key, w]));
    let anywhere: ReadonlySet<string> | null = null;
    for (const r of cached) {
      const w = found.get(r.subject.name);
      const sk = subjectKey(r.subject);
      if (w !== undefined) {
        this.#remember(sk, now, w.h.shard, w.h.node, 'read-hot');
        continue;
      }
      // The hotspot the cache was taken on, while it is still read-hot (a hot key's may have turned write-hot).
      const taken = r.hotspot === null ? undefined : activeById.get(r.hotspot.id);
      if (taken !== undefined && taken.heat === 'read-hot') {
        this.#remember(sk, now, null, null, 'read-hot');
        continue;
      }
      if (anywhere === null) {
        const minReads = WARM_KEYS.shareOfMeanShard * (meanShardRate(snapshot) ?? 0);
        anywhere = new Set(
          minReads > 0
            ? heavyKeys({})
                .filter((k) => k.reads >= minReads)
                .map((k) => k.key)
            : [],
        );
      }
      if (anywhere.has(r.subject.name)) this.#remember(sk, now, null, null, 'read-hot');
    }
  }

  /** The subject is hot at `now`, with `heat` when known (a node or tenant hot through something on it has none). */
  #remember(sk: string, now: number, shard: string | null, node: string | null, heat?: Heat): void {
    let m = this.#subjects.get(sk);
    if (m === undefined) {
      m = { lastHotAt: now, lastReadHotAt: null, lastWriteHotAt: null, shard, node };
      this.#subjects.set(sk, m);
    } else {
      m.lastHotAt = now;
      m.shard = shard ?? m.shard;
      m.node = node ?? m.node;
    }
    if (heat === 'read-hot') m.lastReadHotAt = now;
    else if (heat === 'write-hot') m.lastWriteHotAt = now;
  }

  // ---- verification -------------------------------------------------------

  #verify(view: View): Verdict[] {
    const out: Verdict[] = [];
    const { verifyDelayMs } = this.settings;
    for (const r of view.liveBySlot.values()) {
      if (r.by !== 'planner' || r.state !== 'done' || r.outcome !== 'pending' || this.#verdicts.has(r.id))
        continue;
      const appliedAt = this.#appliedAt.get(r.id) ?? r.updatedAt;
      this.#appliedAt.set(r.id, appliedAt);
      if (view.now < appliedAt + verifyDelayMs) continue;
      const sk = subjectKey(r.subject);
      const mem = this.#subjects.get(sk);
      // A warm key's cache was taken on its range's or node's hotspot: while
      // that one is active the key is not "no longer hot".
      const hotspot = view.hotBySubject.get(sk) ?? view.active.find((h) => h.id === r.hotspot?.id) ?? null;
      const context: MeasureContext = {
        action: r,
        hotspot,
        shard: mem?.shard ?? null,
        node: r.subject.type === 'node' ? r.subject.name : (mem?.node ?? null),
        snapshot: view.snapshot,
        status: this.#in.status?.(r) ?? null,
      };
      const v = this.#judge(r, context, view.now, appliedAt);
      if (v !== null) out.push(v);
    }
    return out;
  }

  #judge(r: ActionRecord, c: MeasureContext, now: number, appliedAt: number): Verdict | null {
    const p = r.prediction;
    const evidence = c.hotspot?.evidence ?? {};
    const verdict = (
      outcome: 'effective' | 'ineffective',
      value: number | null,
      detail: string,
    ): Verdict => ({
      type: 'verdict',
      actionId: r.id,
      kind: r.kind,
      subject: r.subject,
      outcome,
      measurement: { at: now, value, evidence },
      detail,
    });
    if (r.kind === 'aggregate' && incrementsSeen(c.status) === 0)
      return verdict('ineffective', null, NOT_COUNTER);
    const value = p === null ? null : (this.#in.measure?.(p.metric, c) ?? measureDefault(p.metric, c));
    if (p !== null && value !== null) {
      const ok = meets(p, value);
      const rel = p.direction === 'below' ? (ok ? '≤' : '>') : ok ? '≥' : '<';
      return verdict(
        ok ? 'effective' : 'ineffective',
        value,
        `${p.metric} ${fmt(value)} ${rel} ${fmt(p.expected)} predicted`,
      );
    }
    if (c.hotspot === null) return verdict('effective', null, 'the subject is no longer hot');
    // Unmeasured yet (no snapshot or status so far): give it two more delays before calling it.
    if (now < appliedAt + 3 * this.settings.verifyDelayMs) return null;
    return verdict(
      'ineffective',
      null,
      `${p?.metric ?? 'its effect'} could not be measured and the subject is still hot`,
    );
  }

  // ---- reverting ----------------------------------------------------------

  #reverts(view: View, judged: ReadonlyMap<string, Verdict>): PlannedRevert[] {
    const out: PlannedRevert[] = [];
    for (const r of view.liveBySlot.values()) {
      if (r.by !== 'planner' || r.state !== 'done' || r.outcome === 'recommended') continue;
      const asked = this.#reverting.get(r.id);
      if (asked !== undefined && view.now < asked + this.settings.cooldownMs) continue;
      const sk = subjectKey(r.subject);
      const notCounter =
        r.kind === 'aggregate' &&
        (judged.get(r.id)?.detail === NOT_COUNTER || this.#notCounters.has(r.subject.name));
      if (notCounter) {
        out.push(
          revert(
            r,
            'the aggregation probe saw no increments: the key is no counter, so aggregating it does nothing',
          ),
        );
        continue;
      }
      const mem = this.#subjects.get(sk);
      const serves = r.subject.type === 'key' ? SERVES[r.kind] : undefined;
      const lastHot =
        (serves === 'read-hot'
          ? mem?.lastReadHotAt
          : serves === 'write-hot'
            ? mem?.lastWriteHotAt
            : mem?.lastHotAt) ?? r.createdAt;
      const cold = view.now - Math.max(lastHot, r.createdAt);
      // Still hot the other way (not merely cold since): the reason says so.
      const otherWay =
        serves !== undefined &&
        mem !== undefined &&
        mem.lastHotAt > lastHot &&
        view.now - mem.lastHotAt < this.settings.hysteresisMs;
      const what = otherWay
        ? `has been hot only as ${serves === 'read-hot' ? 'write-hot' : 'read-hot'}, which ${r.kind} does not relieve,`
        : r.kind === 'cache' && this.#in.heavyKeys !== undefined
          ? 'has been neither hot nor among the heaviest keys'
          : 'has had no hotspot';
      if (cold >= this.settings.hysteresisMs)
        out.push(
          revert(
            r,
            `${r.subject.type} ${JSON.stringify(r.subject.name)} ${what} for ${Math.round(cold / 1000)} s (hysteresis ${this.settings.hysteresisMs / 1000} s)`,
          ),
        );
    }
    return out;
  }

  // ---- the ladder ---------------------------------------------------------

  #plan(view: View, judged: ReadonlyMap<string, Verdict>, reverting: ReadonlySet<string>): PlannedAction[] {
    const out: PlannedAction[] = [];
    const asked = new Set<string>();
    const order = [...view.hotBySubject.values()].sort(
      (a, b) =>
        SEVERITY_RANK[b.severity] - SEVERITY_RANK[a.severity] ||
        (b.evidence.rate ?? 0) - (a.evidence.rate ?? 0),
    );
    for (const h of order) {
      const subject = subjectOf(h)!;
      const sk = subjectKey(subject);
      if (this.#untouchable(subject.name)) continue;
      if (this.#operatorOn(view, sk)) continue;
      const req = this.#climb(view, h, subject, judged, reverting);
      if (req === null) continue;
      const slot = slotKey(req.kind, req.subject);
      if (asked.has(slot) || this.#untouchable(req.subject.name)) continue;
      asked.add(slot);
      if (req.kind === 'shed') this.#causes.set(req, sk);
      out.push(req);
    }
    out.push(...this.#warmRequests(view, judged, reverting, asked));
    return out;
  }

  /** Caches for warm keys with nothing in place, heaviest first, up to WARM_KEYS.max warm caches. */
  #warmRequests(
    view: View,
    judged: ReadonlyMap<string, Verdict>,
    reverting: ReadonlySet<string>,
    asked: Set<string>,
  ): PlannedAction[] {
    if (view.warm.length === 0) return [];
    const can = this.#in.kinds?.();
    if (can !== undefined && !can.includes('cache')) return [];
    const occupied = new Set<string>();
    let placed = 0;
    for (const r of view.liveBySlot.values()) {
      occupied.add(subjectKey(r.subject));
      if (r.by === 'planner' && r.kind === 'cache' && isWarmCause(r.hotspot?.id)) placed++;
    }
    // Asked for and not yet in the log (a hot key's cache too: a bound, not a count).
    for (const [slot, at] of this.#requested)
      if (
        slot.startsWith('cache|key:') &&
        view.now < at + this.settings.cooldownMs &&
        !view.liveBySlot.has(slot)
      )
        placed++;
    const out: PlannedAction[] = [];
    for (const w of view.warm) {
      if (placed >= WARM_KEYS.max) break;
      const subject: ActionSubject = { type: 'key', name: w.key };
      const slot = slotKey('cache', subject);
      // Anything in place on the key (an operator's, a hot-key rung) is left as it is.
      if (asked.has(slot) || occupied.has(subjectKey(subject))) continue;
      if (this.#rung(view, 'cache', subject, judged, reverting).at !== 'absent') continue;
      asked.add(slot);
      out.push(warmKeyRequest(w.h, w.key, w.reads, w.minReads));
      placed++;
    }
    return out;
  }

  /** The next request on `h`'s ladder, or null when the ladder waits or is done. */
  #climb(
    view: View,
    h: Hotspot,
    subject: ActionSubject,
    judged: ReadonlyMap<string, Verdict>,
    reverting: ReadonlySet<string>,
  ): PlannedAction | null {
    const can = this.#in.kinds?.();
    const rungs = this.#ladder(h, subject).filter((k) => can === undefined || can.includes(k));
    const ours = this.#throttling(view);
    const pressure = h.impact.filter((s) => !(s === SHEDDING && ours));
    let follows: Follows | null = null;
    for (let i = 0; i < rungs.length; i++) {
      const kind = rungs[i]!;
      const target = kind === 'shed' ? this.#shedNode(view, h) : subject;
      if (target === null) return null;
      const state = this.#rung(view, kind, target, judged, reverting);
      if (state.at === 'waiting') return null;
      if (state.at === 'judged') {
        // Climb when the rung fell short of its prediction, or met it while the impact stayed.
        const stayed = RELIEVES_NODE.has(kind) ? pressure.filter((s) => s === P99) : pressure;
        if (state.outcome === 'effective' && stayed.length === 0) return null;
        follows = { record: state.record, outcome: state.outcome };
        // Past the last rung, shedding goes one priority tier up while the SLO stays breached.
        if (kind === 'shed' && pressure.includes(P99)) {
          const from = state.record.settings.belowPriority;
          const next = shedTier(
            view.snapshot,
            typeof from === 'number' ? from : null,
            this.#in.tenantPriority,
          );
          if (next !== null && typeof from === 'number' && next.level > from)
            return this.#request(view, h, kind, target, i, follows, from);
          return null;
        }
        continue;
      }
      if ((kind === 'throttle-key' || kind === 'quota-tenant') && pressure.length === 0) return null;
      // A refusal on impact that may be one stall's: wait until it has lasted.
      if (REFUSES.has(kind) && !this.#impactHeld(h, view.now)) return null;
      // A key that is all its node's load: a throttle would refuse its own clients to protect no one.
      if (kind === 'throttle-key' && this.#aloneOnNode(view, h)) return null;
      if (kind === 'shed' && (!pressure.includes(P99) || this.#awaitingOn(view, target.name, judged)))
        return null;
      // With every tenant in one priority tier, shedding would refuse them all: the ladder ends short of it.
      if (kind === 'shed' && shedTier(view.snapshot, null, this.#in.tenantPriority) === null) return null;
      return this.#request(view, h, kind, target, i, follows);
    }
    return null;
  }

  #ladder(h: Hotspot, subject: ActionSubject): ActionKind[] {
    if (h.kind === 'noisy-tenant') return ['quota-tenant', 'shed'];
    const key = subject.name;
    if (h.heat === 'read-hot') return [this.#isStrong(key) ? 'replicate' : 'cache', 'throttle-key', 'shed'];
    const mix = this.#in.commandMix?.(key) ?? null;
    const byMix = mix !== null && mix.writes > 0 ? mix.increments / mix.writes >= COUNTER_SHARE : null;
    if (byMix === false || this.#notCounters.has(key)) return ['throttle-key', 'shed'];
    return this.#counters.matches(key)
      ? ['aggregate', 'salt', 'throttle-key', 'shed']
      : ['aggregate', 'throttle-key', 'shed'];
  }

  #rung(
    view: View,
    kind: ActionKind,
    target: ActionSubject,
    judged: ReadonlyMap<string, Verdict>,
    reverting: ReadonlySet<string>,
  ): RungState {
    const slot = slotKey(kind, target);
    const r = view.liveBySlot.get(slot);
    if (r !== undefined) {
      if (r.outcome === 'recommended') return { at: 'waiting', why: 'recommended (dry run)' };
      // A probe being reverted as no counter is a rung skipped, not one standing.
      if (reverting.has(r.id) && kind === 'aggregate')
        return { at: 'judged', record: r, outcome: 'ineffective' };
      const outcome = judged.get(r.id)?.outcome ?? this.#verdicts.get(r.id) ?? r.outcome;
      if (outcome === 'effective' || outcome === 'ineffective') return { at: 'judged', record: r, outcome };
      return { at: 'waiting', why: 'awaiting its verdict' };
    }
    const askedAt = this.#requested.get(slot);
    if (askedAt !== undefined && view.now < askedAt + this.settings.cooldownMs)
      return { at: 'waiting', why: 'asked for' };
    // Refused or failed lately (cooldown, cap, mode): wait, and do not climb past it.
    const last = latest(view.records, slot);
    if (
      last !== undefined &&
      (last.state === 'failed' || last.state === 'cancelled') &&
      view.now < last.updatedAt + this.settings.cooldownMs
    )
      return { at: 'waiting', why: `${last.state} lately` };
    return { at: 'absent' };
  }

  #request(
    view: View,
    h: Hotspot,
    kind: ActionKind,
    subject: ActionSubject,
    rung: number,
    follows: Follows | null,
    shedFrom: number | null = null,
  ): PlannedAction {
    return planRequest({
      h,
      kind,
      subject,
      rung,
      follows,
      shedFrom,
      snapshot: view.snapshot,
      settings: this.settings,
      counters: this.#counters,
      strong: this.#strong,
      tenantPriority: this.#in.tenantPriority,
    });
  }

  // ---- helpers ------------------------------------------------------------

  /**
   * Whether a hot key carries (nearly) all of its node's requests: the queue
   * it builds is its own clients'. Throttling it then only turns their slow
   * replies into refusals (redis-benchmark's LRANGE key at -P 16, 800 in
   * flight on one node, was throttled to 70 % of its rate). Unknown without
   * a snapshot of the node: not alone.
   */
  #aloneOnNode(view: View, h: Hotspot): boolean {
    const node = view.snapshot?.nodes.find((n) => n.id === h.node);
    const rate = h.evidence.rate;
    if (node === undefined || typeof rate !== 'number') return false;
    const nodeOps = node.reads + node.writes;
    return nodeOps > 0 && nodeOps - rate < ALONE_OTHERS_SHARE * nodeOps;
  }

  #impactHeld(h: Hotspot, now: number): boolean {
    const since = this.#impactSince.get(h.id);
    return since !== undefined && now - since >= this.settings.impactHoldMs;
  }

  #isStrong(key: string): boolean {
    return this.#strong.matches(key) || this.#in.consistencyOf?.(key) === 'strong';
  }

  #untouchable(name: string): boolean {
    return this.#doNotTouch.matches(name);
  }

  #operatorOn(view: View, sk: string): boolean {
    for (const r of view.liveBySlot.values())
      if (r.by === 'operator' && subjectKey(r.subject) === sk) return true;
    return false;
  }

  /**
   * Whether throttling is in place anywhere: its refusals count as shed
   * requests (BUSY), which the detector reads as the 'shedding' impact, and
   * a key's shard or a tenant mixes refusals of several scopes, so while any
   * throttle, quota or shedding is on, 'shedding' is no evidence of impact.
   */
  #throttling(view: View): boolean {
    for (const r of view.liveBySlot.values())
      if (THROTTLING.has(r.kind) && r.outcome !== 'recommended') return true;
    return false;
  }

  /** The node a subject's shedding rung acts on: a key's own node; for a tenant, the node furthest over the SLO. */
  #shedNode(view: View, h: Hotspot): ActionSubject | null {
    if (h.node !== null) return { type: 'node', name: h.node };
    const slo = view.snapshot?.sloP99Ms ?? h.evidence.sloP99Ms ?? 0;
    const worst = [...(view.snapshot?.nodes ?? [])]
      .filter((n) => slo > 0 && n.p99Ms > slo)
      .sort((a, b) => b.p99Ms - a.p99Ms)[0];
    return worst === undefined ? null : { type: 'node', name: worst.id };
  }

  /** Whether a planner action on a subject living on `node` still awaits its verdict: something cheaper may yet work. */
  #awaitingOn(view: View, node: string, judged: ReadonlyMap<string, Verdict>): boolean {
    for (const r of view.liveBySlot.values()) {
      if (r.by !== 'planner' || r.outcome !== 'pending' || this.#verdicts.has(r.id) || judged.has(r.id))
        continue;
      if (r.subject.type === 'key' && this.#subjects.get(subjectKey(r.subject))?.node === node) return true;
    }
    return false;
  }

  /** Remembers what this tick asked for, and forgets what is over. */
  #commit(view: View, out: readonly PlannerOutput[]): void {
    for (const o of out) {
      if (o.type === 'verdict') {
        this.#verdicts.set(o.actionId, o.outcome);
        if (o.kind === 'aggregate' && o.detail === NOT_COUNTER) this.#notCounters.add(o.subject.name);
      } else if (o.type === 'revert') {
        this.#reverting.set(o.actionId, view.now);
      } else {
        this.#requested.set(slotKey(o.kind, o.subject), view.now);
        this.#issued.push(view.now);
        if (o.kind === 'shed') {
          const causes = this.#shedCauses.get(o.subject.name) ?? new Set<string>();
          const cause = this.#causes.get(o);
          if (cause !== undefined) causes.add(cause);
          this.#shedCauses.set(o.subject.name, causes);
        }
      }
    }
    this.#causes.clear();
    this.#issued = this.#issued.filter((t) => t > view.now - MINUTE);
    // A request is in the log once a record for its slot was created at or after it.
    for (const [slot, at] of this.#requested) {
      const r = latest(view.records, slot);
      if (
        (r !== undefined &&
          r.createdAt >= at &&
          !out.some((o) => o.type === 'apply' && slotKey(o.kind, o.subject) === slot)) ||
        view.now >= at + this.settings.cooldownMs
      )
        this.#requested.delete(slot);
    }
    const liveIds = new Set([...view.liveBySlot.values()].map((r) => r.id));
    for (const m of [this.#verdicts, this.#appliedAt, this.#reverting])
      for (const id of m.keys()) if (!liveIds.has(id)) m.delete(id);
    // A subject long cold with nothing in place starts its next episode from the first rung.
    const liveSubjects = new Set([...view.liveBySlot.values()].map((r) => subjectKey(r.subject)));
    for (const [sk, m] of this.#subjects) {
      if (liveSubjects.has(sk) || view.now - m.lastHotAt < this.settings.hysteresisMs) continue;
      this.#subjects.delete(sk);
      if (sk.startsWith('key:')) this.#notCounters.delete(sk.slice(4));
      if (sk.startsWith('node:')) this.#shedCauses.delete(sk.slice(5));
    }
  }
}

/** The subject a hotspot's ladder acts on; null for ranges, nodes (their warm keys are cached instead: #warmKeys) and skew. */
function subjectOf(h: Hotspot): ActionSubject | null {
  if (h.kind === 'hot-key') return { type: 'key', name: h.subject };
  if (h.kind === 'noisy-tenant') return { type: 'tenant', name: h.subject };
  return null;
}

/** Whether a hotspot id (`<kind>:<subject>@<onset>`) is a range's or a node's: the cause of a warm cache. */
function isWarmCause(id: string | undefined): boolean {
  return id !== undefined && (id.startsWith('hot-range:') || id.startsWith('hot-node:'));
}

/** The mean shard's rate (reads + writes per second) in the snapshot, or null without one. */
function meanShardRate(snapshot: TickSnapshot | undefined): number | null {
  const shards = snapshot?.shards ?? [];
  if (shards.length === 0) return null;
  return shards.reduce((a, sh) => a + sh.reads + sh.writes, 0) / shards.length;
}

function revert(r: ActionRecord, reason: string): PlannedRevert {
  return { type: 'revert', actionId: r.id, kind: r.kind, subject: r.subject, reason };
}

function latest(records: readonly ActionRecord[], slot: string): ActionRecord | undefined {
  let found: ActionRecord | undefined;
  for (const r of records)
    if (slotKey(r.kind, r.subject) === slot && (found === undefined || r.createdAt >= found.createdAt))
      found = r;
  return found;
}

const fmt = (x: number): string => String(Number(x.toPrecision(3)));
