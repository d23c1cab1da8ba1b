/**
 * The incident manager: turns hotspots and actions into incidents that say
 * who is hurt, what is being done and when it should be over, and resolves
 * them once the metrics are back (incident.ts has the record and its texts).
 *
 * Life of an incident:
 *   opened     an active hotspot hurts clients (p99 over the SLO, a rising
 *              queue, requests shed), or an action was taken on it (a
 *              mitigation underway). A hotspot related to an open incident
 *              (same key, shard or node; a noisy tenant that is the
 *              incident's heaviest tenant) joins it instead: a hot key and
 *              its hot node are one cause, one incident.
 *   updated    a hotspot joins or clears, an action changes state or phase
 *              or gets its verdict: one `incident.updated` per evaluation,
 *              with a timeline entry per change. An SLO's status, the state
 *              or a new tenant alone are published at most every
 *              `minorUpdateMs`; evidence alone changes nothing (it moves
 *              every tick; webhooks would drown).
 *   resolved   nothing of it hurts clients any more, no action is pending or
 *              running, and its nodes' p99 is under the SLO with nothing shed,
 *              continuously for `resolveAfterMs` (hysteresis, default 10 s):
 *              then the summary (detection latency, actions, time to
 *              restore, failed requests) is written and the record is final.
 *
 * Evaluated on every monitor firing (`tick`) and at once on hotspot and
 * action events. Time comes from the injected clock; what is measured comes
 * from `IncidentInputs` (incident-inputs.ts reads them from a running
 * hotshard), so tests drive it exactly.
 */
import type { Clock } from '../clock.js';
import { systemClock } from '../clock.js';
import { SEVERITY_RANK, type Hotspot } from '../detect/hotspot.js';
import type { ActionRecord } from '../mitigate/action.js';
import type { ControlEvent, EventBus } from './events.js';
import {
  assess,
  hotspotOf,
  mergeTenants,
  newIncident,
  relatedTo,
  UNDERWAY,
  widen,
} from './incident-rules.js';
import {
  hurtsClients,
  type Incident,
  type IncidentAction,
  type IncidentEvent,
  type IncidentNotice,
  type IncidentScope,
  type TenantImpact,
} from './incident.js';

/** What the scope's nodes (or, for a tenant-only incident, all nodes) look like now. */
export interface ScopeHealth {
  /** Highest p99 (ms) over the scope's nodes and shards; null without traffic. */
  readonly p99Ms: number | null;
  /** Requests shed per second there. */
  readonly shedPerSec: number;
}

/** What the manager reads; incident-inputs.ts builds these from a running hotshard. */
export interface IncidentInputs {
  /** The detector's active hotspots. */
  hotspots(): readonly Hotspot[];
  health(scope: IncidentScope): ScopeHealth;
  /** The tenants whose requests go to the scope now, with their share; [] when unknown. */
  tenants?(scope: IncidentScope): TenantImpact[];
  /** Failed plus shed requests of the scope over whole seconds `from`..`to` (epoch seconds). */
  failures?(scope: IncidentScope, fromSecond: number, toSecond: number): number;
  /** A running action's progress now (Executor.progress): its `phase` and `etaSeconds` are read. */
  progress?(actionId: string): Readonly<Record<string, unknown>> | null;
}

/** How the manager is set up. */
export interface IncidentManagerOptions {
  readonly bus: EventBus;
  readonly inputs: IncidentInputs;
  readonly sloP99Ms: number;
  readonly clock?: Clock | undefined;
  /** How long the metrics must stay clean before an incident resolves (ms). Default 10 s. */
  readonly resolveAfterMs?: number | undefined;
  /** How long after an action starts its effect should show (the planner's verifyDelayMs). Default 5 s. */
  readonly expectedRecoveryMs?: number | undefined;
  /**
   * Changes of SLO status, tenants and state (investigating, mitigating,
   * monitoring) are published at most this often (ms) unless something
   * else changes with them: a p99 flapping around the SLO would otherwise
   * send an update every tick. Default 5 s. The record itself, and so
   * /status, is always current.
   */
  readonly minorUpdateMs?: number | undefined;
  /** Resolved incidents kept (oldest dropped first). Default 200. */
  readonly keep?: number | undefined;
  /** Called with a copy of an incident whenever it is opened, updated or resolved (the config store, later). */
  readonly persist?: ((incident: Incident) => void | Promise<void>) | undefined;
  /** Told of a failing persist or evaluation. */
  readonly onError?: ((err: unknown) => void) | undefined;
}

const MAX_TIMELINE = 500;

/**
 * An action event's record with what a long operation's record may lack
 * (src/control/operations.ts, OperationAction: no outcome, hotspot or
 * prediction) filled in: not judged, no hotspot, nothing predicted.
 */
function asAction(a: Partial<ActionRecord> & Pick<ActionRecord, 'id'>): ActionRecord {
  return {
    ...(a as ActionRecord),
    outcome: a.outcome ?? 'pending',
    hotspot: a.hotspot ?? null,
    prediction: a.prediction ?? null,
    detail: a.detail ?? null,
    progress: a.progress ?? null,
    reason: a.reason ?? '',
  };
}

/** A change waiting for the incident's next event. */
interface Change {
  readonly at: number;
  readonly text: string;
  readonly minor: boolean;
}
/** Timeline entries an event carries (GET /incidents/{id} has them all). */
export const EVENT_TIMELINE = 20;

const copy = (i: Incident): Incident => structuredClone(i);

/** Opens, updates and resolves incidents; see the file header. */
export class IncidentManager {
  readonly #o: IncidentManagerOptions;
  readonly #clock: Clock;
  readonly #resolveAfterMs: number;
  readonly #recoveryMs: number;
  readonly #minorEveryMs: number;
  readonly #incidents = new Map<string, Incident>();
  /** Last second whose failures were counted, per open incident. */
  readonly #countedTo = new Map<string, number>();
  /** Hotspot ids with an action pending or running (a mitigation underway). */
  readonly #underway = new Map<string, ActionRecord>();
  /** When each action started running (its expected effect counts from there). */
  readonly #started = new Map<string, number>();
  /** Changes noted per incident since its last event: its next timeline entries. */
  readonly #changes = new Map<string, Change[]>();
  readonly #unsubscribe: () => void;
  #persist: IncidentManagerOptions['persist'];
  #nextId = 1;
  #evaluating = false;
  #again = false;
  #scheduled = false;

  constructor(options: IncidentManagerOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.#resolveAfterMs = options.resolveAfterMs ?? 10_000;
    this.#recoveryMs = options.expectedRecoveryMs ?? 5_000;
    this.#minorEveryMs = options.minorUpdateMs ?? 5_000;
    this.#persist = options.persist;
    this.#unsubscribe = options.bus.subscribe((e) => this.#onEvent(e));
  }

  /**
   * Where every change goes (a copy of the incident): set after start-up by
   * whatever keeps them (the config store), which then calls `restore`.
   */
  set persist(hook: IncidentManagerOptions['persist']) {
    this.#persist = hook;
  }

  /** Stops listening to the bus. */
  close(): void {
    this.#unsubscribe();
  }

  /** Open incidents, oldest first. */
  open(): Incident[] {
    return [...this.#incidents.values()].filter((i) => i.state !== 'resolved');
  }

  /** Open incidents and the resolved ones kept, newest first. */
  list(): Incident[] {
    return [...this.#incidents.values()].reverse();
  }

  /** One incident, if kept. */
  get(id: string): Incident | undefined {
    return this.#incidents.get(id);
  }

  /**
   * What customers may see (GET /status): the open incidents that affect
   * `tenant` (all open ones without it; one whose tenants are unknown
   * affects everyone), with the notice text only.
   */
  notices(tenant?: string): IncidentNotice[] {
    return this.open()
      .filter(
        (i) => tenant === undefined || i.tenants.length === 0 || i.tenants.some((t) => t.tenant === tenant),
      )
      .map((i) => ({
        id: i.id,
        state: i.state,
        startedAt: i.openedAt,
        updatedAt: i.updatedAt,
        text: i.customerText,
      }));
  }

  /**
   * Takes back incidents a store kept (after a restart): open ones go on
   * being evaluated and resolve once their metrics are clean; ids go on
   * after the highest restored.
   */
  restore(incidents: readonly Incident[]): void {
    for (const i of incidents) {
      this.#incidents.set(i.id, copy(i));
      const n = Number(/^inc-(\d+)$/.exec(i.id)?.[1]);
      if (Number.isSafeInteger(n) && n >= this.#nextId) this.#nextId = n + 1;
      if (i.state !== 'resolved') this.#countedTo.set(i.id, Math.floor(i.updatedAt / 1000) - 1);
    }
    this.#trim();
  }

  /** Evaluates every incident against the hotspots and metrics now (each monitor firing). */
  tick(): void {
    if (this.#evaluating) {
      // An event published by this evaluation (or a listener of ours) asked again.
      this.#again = true;
      return;
    }
    this.#evaluating = true;
    try {
      do {
        this.#again = false;
        this.#evaluate();
      } while (this.#again);
    } catch (err) {
      this.#o.onError?.(err);
    } finally {
      this.#evaluating = false;
    }
  }

  #onEvent(e: ControlEvent): void {
    if (e.type.startsWith('action.')) {
      this.#noteAction(asAction(e.data as Partial<ActionRecord> & Pick<ActionRecord, 'id'>));
      this.#soon();
    } else if (e.type === 'hotspot.raised' || e.type === 'hotspot.updated' || e.type === 'hotspot.cleared') {
      this.#soon();
    }
  }

  /**
   * Evaluates once the publisher is done: evaluating inside its publish would
   * put our incident events before its own on every listener subscribed after
   * us (an SSE client would see ids out of order).
   */
  #soon(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      this.tick();
    });
  }

  #noteAction(a: ActionRecord): void {
    if (a.state === 'running' && !this.#started.has(a.id)) this.#started.set(a.id, a.updatedAt);
    const started = this.#started.get(a.id) ?? a.createdAt;
    // Bounded: once judged or ended, when it started no longer matters.
    if (a.outcome !== 'pending' || ['failed', 'cancelled', 'rolled-back'].includes(a.state))
      this.#started.delete(a.id);
    const hotspot = a.hotspot?.id;
    if (hotspot !== undefined) {
      // Applied and not yet judged is still underway: a cache is done within
      // a millisecond of being asked for, before any tick could see it pending.
      if (UNDERWAY.has(a.state) || (a.state === 'done' && a.outcome === 'pending'))
        this.#underway.set(hotspot, a);
      else if (this.#underway.get(hotspot)?.id === a.id) this.#underway.delete(hotspot);
    }
    const inc = this.#incidentForAction(a);
    if (inc === undefined) return this.#noteLateVerdict(a);
    const i = inc.actions.findIndex((x) => x.id === a.id);
    const before = i < 0 ? undefined : inc.actions[i];
    const now = this.#clock.now();
    const expectedBy = Math.max(started + this.#recoveryMs, UNDERWAY.has(a.state) ? now : 0);
    const entry: IncidentAction = {
      id: a.id,
      kind: a.kind,
      subject: `${a.subject.type} ${a.subject.name}`,
      state: a.state,
      outcome: a.outcome,
      by: a.by,
      reason: a.reason,
      prediction: a.prediction,
      createdAt: a.createdAt,
      updatedAt: a.updatedAt,
      expectedBy,
      // Events carry the progress of the apply's start and end; #readProgress the rest.
      progress: a.progress ?? before?.progress ?? null,
    };
    if (before === undefined) inc.actions.push(entry);
    else inc.actions[i] = entry;
    if (before?.state !== entry.state || before.outcome !== entry.outcome)
      this.#note(
        inc,
        `action ${a.id} ${a.kind} on ${entry.subject}: ${a.state}${a.outcome === 'pending' ? '' : `, ${a.outcome}`}${a.detail === null ? '' : ` (${a.detail})`}`,
      );
  }

  /**
   * A verdict (or revert) that comes after its incident resolved: the
   * record and its summary say how the action turned out, silently (a
   * resolved incident publishes nothing more), and the store is told.
   */
  #noteLateVerdict(a: ActionRecord): void {
    for (const inc of this.#incidents.values()) {
      if (inc.state !== 'resolved') continue;
      const i = inc.actions.findIndex((x) => x.id === a.id);
      if (i < 0) continue;
      inc.actions[i] = { ...inc.actions[i]!, state: a.state, outcome: a.outcome, updatedAt: a.updatedAt };
      if (inc.summary !== null)
        inc.summary = {
          ...inc.summary,
          actions: inc.summary.actions.map((x) =>
            x.id === a.id ? { ...x, state: a.state, outcome: a.outcome } : x,
          ),
        };
      this.#store(inc);
      return;
    }
  }

  #incidentForAction(a: ActionRecord): Incident | undefined {
    const open = this.open();
    const hotspot = a.hotspot?.id;
    if (hotspot !== undefined) {
      const byHotspot = open.find((i) => i.hotspots.some((h) => h.id === hotspot));
      if (byHotspot !== undefined) return byHotspot;
    }
    const known = open.find((i) => i.actions.some((x) => x.id === a.id));
    if (known !== undefined) return known;
    const { type, name } = a.subject;
    const scope = (i: Incident): readonly string[] =>
      type === 'key'
        ? i.scope.keys
        : type === 'node'
          ? i.scope.nodes
          : type === 'shard'
            ? i.scope.shards
            : i.scope.tenants;
    return open.find((i) => scope(i).includes(name));
  }

  /** Notes a change for the incident's next event; `minor` ones (SLO status, tenants, state) may wait for company. */
  #note(inc: Incident, text: string, minor = false): void {
    let list = this.#changes.get(inc.id);
    if (list === undefined) this.#changes.set(inc.id, (list = []));
    list.push({ at: this.#clock.now(), text, minor });
  }

  #evaluate(): void {
    const now = this.#clock.now();
    const active = this.#o.inputs.hotspots().filter((h) => h.kind !== 'skew-warning');
    const opened = new Set<string>();
    for (const h of active) {
      const mine = this.open().find((i) => i.hotspots.some((x) => x.id === h.id));
      if (mine !== undefined) {
        this.#refreshHotspot(mine, h);
        continue;
      }
      // An action already told of in an incident (one since resolved) opens no new one.
      const act = this.#underway.get(h.id);
      const fresh =
        act !== undefined &&
        ![...this.#incidents.values()].some((i) => i.actions.some((x) => x.id === act.id));
      if (!hurtsClients(h.impact) && !fresh) continue;
      const related = this.open().find((i) => relatedTo(i, h));
      if (related !== undefined) {
        related.hotspots.push(hotspotOf(h));
        widen(related, h);
        this.#note(related, `joined by ${h.kind} ${h.subject}: ${h.summary}`);
      } else opened.add(this.#openFor(h, now).id);
    }
    // An action taken before its incident opened (a mitigation underway is what opened it).
    for (const [hotspot, action] of this.#underway)
      if (this.open().some((i) => i.hotspots.some((h) => h.id === hotspot))) this.#noteAction(action);
    const activeIds = new Set(active.map((h) => h.id));
    for (const hotspot of this.#underway.keys()) if (!activeIds.has(hotspot)) this.#underway.delete(hotspot);
    for (const inc of this.open()) {
      this.#assess(inc, activeIds, now);
      const changes = this.#changes.get(inc.id) ?? [];
      const type: IncidentEvent | null =
        inc.state === 'resolved'
          ? 'incident.resolved'
          : opened.has(inc.id)
            ? 'incident.opened'
            : changes.some((c) => !c.minor) ||
                (changes.length > 0 && now - inc.updatedAt >= this.#minorEveryMs)
              ? 'incident.updated'
              : null;
      if (type === null) continue;
      this.#changes.delete(inc.id);
      this.#publish(type, inc, now, changes);
    }
    this.#trim();
  }

  #openFor(h: Hotspot, now: number): Incident {
    const inc = newIncident(`inc-${this.#nextId++}`, h, now);
    this.#incidents.set(inc.id, inc);
    this.#countedTo.set(inc.id, Math.floor(h.onset / 1000) - 1);
    this.#note(
      inc,
      `opened: ${h.kind} ${h.subject}${hurtsClients(h.impact) ? ` hurts clients (${h.impact.join(', ')})` : ': mitigation underway'}; ${h.summary}`,
    );
    return inc;
  }

  #refreshHotspot(inc: Incident, h: Hotspot): void {
    const i = inc.hotspots.findIndex((x) => x.id === h.id);
    const before = inc.hotspots[i]!;
    inc.hotspots[i] = hotspotOf(h);
    if (before.severity !== h.severity) this.#note(inc, `${h.kind} ${h.subject} now ${h.severity}`);
    if (SEVERITY_RANK[h.severity] > SEVERITY_RANK[inc.severity]) inc.severity = h.severity;
  }

  /** Re-reads the metrics of an open incident: hotspots cleared, failures, tenants, then the rules' assessment. */
  #assess(inc: Incident, activeIds: ReadonlySet<string>, now: number): void {
    const { inputs, sloP99Ms } = this.#o;
    this.#readProgress(inc, now);
    inc.hotspots = inc.hotspots.map((h) => {
      if (h.clearedAt !== null || activeIds.has(h.id)) return h;
      this.#note(inc, `${h.kind} ${h.subject} cleared`);
      return { ...h, clearedAt: now };
    });
    this.#countFailures(inc, Math.floor(now / 1000) - 1);
    for (const text of mergeTenants(inc, inputs.tenants?.(inc.scope) ?? [])) this.#note(inc, text, true);
    const health = inputs.health(inc.scope);
    for (const text of assess(inc, { now, ...health, sloP99Ms, resolveAfterMs: this.#resolveAfterMs }))
      this.#note(inc, text, true);
    if (inc.state === 'resolved') this.#countedTo.delete(inc.id);
  }

  /**
   * A running long action (a move) says how far it is: a new phase is a
   * timeline entry, and its ETA is when its effect should show.
   */
  #readProgress(inc: Incident, now: number): void {
    const { inputs } = this.#o;
    if (inputs.progress === undefined) return;
    inc.actions = inc.actions.map((a) => {
      if (a.state !== 'running') return a;
      const progress = inputs.progress?.(a.id) ?? null;
      if (progress === null) return a;
      const phase = progress.phase;
      if (typeof phase === 'string' && phase !== a.progress?.phase)
        this.#note(inc, `action ${a.id} ${a.kind} on ${a.subject}: ${phase}`);
      const eta = progress.etaSeconds;
      const expectedBy =
        typeof eta === 'number' && Number.isFinite(eta) && eta >= 0 ? now + eta * 1000 : a.expectedBy;
      return { ...a, progress, expectedBy };
    });
  }

  #countFailures(inc: Incident, through: number): void {
    const from = (this.#countedTo.get(inc.id) ?? through) + 1;
    if (through < from || this.#o.inputs.failures === undefined) return;
    inc.failedRequests += this.#o.inputs.failures(inc.scope, from, through);
    this.#countedTo.set(inc.id, through);
  }

  #publish(type: IncidentEvent, inc: Incident, now: number, changes: readonly Change[]): void {
    inc.updatedAt = now;
    for (const { at, text } of changes) inc.timeline.push({ at, text });
    // The first entry (what opened it) stays; the oldest updates after it go.
    if (inc.timeline.length > MAX_TIMELINE) inc.timeline.splice(1, inc.timeline.length - MAX_TIMELINE);
    // Events carry the latest entries only: every update of a long incident
    // would otherwise resend its whole history to /events and every webhook.
    const event = copy(inc);
    event.timeline = event.timeline.slice(-EVENT_TIMELINE);
    this.#o.bus.publish(type, event, now);
    this.#store(inc);
  }

  #store(inc: Incident): void {
    const persist = this.#persist;
    const onError = this.#o.onError;
    if (persist === undefined) return;
    try {
      const done = persist(copy(inc));
      if (done instanceof Promise) done.catch((err: unknown) => onError?.(err));
    } catch (err) {
      onError?.(err);
    }
  }

  #trim(): void {
    const keep = this.#o.keep ?? 200;
    let resolved = [...this.#incidents.values()].filter((i) => i.state === 'resolved').length;
    for (const [id, i] of this.#incidents) {
      if (resolved <= keep) break;
      if (i.state !== 'resolved') continue;
      this.#incidents.delete(id);
      resolved--;
    }
  }
}
