/**
 * What the planner tests drive it with: hotspots as the detector hands them
 * out, and an action log that does what an executor in `auto` mode would
 * (records every request, applied at once) or refuses (`frozen`) or only
 * recommends (`dry-run`). The real executor (src/mitigate/executor.ts) adds
 * modes, cooldowns and caps of its own; the planner must behave without them.
 */
import { ManualClock } from '../../src/clock.js';
import type { Hotspot, ImpactSignal } from '../../src/detect/hotspot.js';
import type { ActionRecord } from '../../src/mitigate/action.js';
import {
  Planner,
  type PlannedAction,
  type PlannerInputs,
  type PlannerOutput,
  type PlannerSettings,
} from '../../src/mitigate/planner.js';

export const T0 = 1_700_000_000_000;

/** A hotspot, with the evidence the detector gives one of its kind. */
export function hotspot(
  o: Partial<Omit<Hotspot, 'evidence'>> & { readonly evidence?: Record<string, number | null> },
): Hotspot {
  const kind = o.kind ?? 'hot-key';
  const subject = o.subject ?? 'celeb';
  const impact: readonly ImpactSignal[] = o.impact ?? [];
  const severity = o.severity ?? (impact.length > 0 ? 'warning' : 'info');
  const onset = o.onset ?? T0;
  return Object.freeze({
    id: `${kind}:${subject}@${onset}`,
    kind,
    subject,
    shard: o.shard === undefined ? (kind === 'hot-key' ? 's3' : null) : o.shard,
    node: o.node === undefined ? (kind === 'hot-key' ? 'n0' : null) : o.node,
    heat: o.heat ?? 'read-hot',
    severity,
    impact,
    evidence: Object.freeze({
      rate: 8000,
      reads: o.heat === 'write-hot' ? 0 : 8000,
      writes: o.heat === 'write-hot' ? 8000 : 0,
      shareOfShard: 0.9,
      shardRate: 8900,
      sloP99Ms: 20,
      shardP99Ms: impact.includes('p99-over-slo') ? 60 : 5,
      nodeP99Ms: impact.includes('p99-over-slo') ? 60 : 5,
      utilization: null,
      ...o.evidence,
    }),
    summary: `${kind} ${subject}`,
    onset,
    detectedAt: onset,
    clearedAt: null,
  });
}

/** An action log that applies (or refuses, or recommends) what the planner asks, as the executor would. */
export class ActionLog {
  readonly records: ActionRecord[] = [];
  mode: 'auto' | 'dry-run' | 'frozen' = 'auto';
  #n = 0;

  constructor(readonly clock: ManualClock) {}

  /** Takes one tick's outputs. */
  submit(outs: readonly PlannerOutput[]): void {
    const now = this.clock.now();
    for (const o of outs) {
      if (o.type === 'apply') this.records.push(this.#record(o, now));
      else if (o.type === 'verdict') {
        const r = this.get(o.actionId);
        r.outcome = o.outcome;
        r.measurement = o.measurement;
        r.detail = o.detail;
        r.updatedAt = now;
      } else {
        const r = this.get(o.actionId);
        r.revertedAt = now;
        r.state = 'rolled-back';
        r.outcome = r.outcome === 'pending' ? 'reverted' : r.outcome;
        r.detail = o.reason;
        r.updatedAt = now;
      }
    }
  }

  /** Adds an operator's action. */
  operator(o: Omit<PlannedAction, 'type' | 'rung' | 'follows' | 'hotspot'>): ActionRecord {
    const r = this.#record(
      { ...o, type: 'apply', rung: 0, follows: null, hotspot: { id: 'x', evidence: {} } },
      this.clock.now(),
    );
    const op = { ...r, by: 'operator' as const, hotspot: null };
    this.records.push(op);
    return op;
  }

  get(id: string): ActionRecord {
    const r = this.records.find((x) => x.id === id);
    if (r === undefined) throw new Error(`no action ${id}`);
    return r;
  }

  /** Records neither reverted nor failed. */
  live(): ActionRecord[] {
    return this.records.filter((r) => r.revertedAt === null && r.state === 'done');
  }

  #record(o: PlannedAction, now: number): ActionRecord {
    return {
      id: `a-${++this.#n}`,
      kind: o.kind,
      subject: o.subject,
      settings: o.settings,
      by: 'planner',
      reason: o.reason,
      hotspot: o.hotspot,
      prediction: o.prediction ?? null,
      state: this.mode === 'frozen' ? 'cancelled' : 'done',
      outcome: this.mode === 'dry-run' ? 'recommended' : 'pending',
      measurement: null,
      detail: this.mode === 'frozen' ? 'automation is frozen' : null,
      createdAt: now,
      updatedAt: now,
      revertedAt: null,
      progress: null,
    };
  }
}

/** A planner on a manual clock over a scripted list of hotspots and an action log. */
export class Bench {
  readonly clock = new ManualClock(T0);
  readonly log = new ActionLog(this.clock);
  hot: Hotspot[] = [];
  readonly planner: Planner;
  /** Every tick's outputs, in order. */
  readonly history: PlannerOutput[][] = [];

  constructor(settings: Partial<PlannerSettings> = {}, inputs: Partial<PlannerInputs> = {}) {
    this.planner = new Planner(
      { clock: this.clock, hotspots: () => this.hot, actions: () => this.log.records, ...inputs },
      // The ladder's own tests take impact as lasting; the hold has tests of its own.
      { impactHoldMs: 0, ...settings },
    );
  }

  /** One planner tick, its outputs handed to the log. */
  tick(): PlannerOutput[] {
    const out = this.planner.tick();
    this.history.push(out);
    this.log.submit(out);
    return out;
  }

  /** Ticks every `step` ms for `ms` ms; returns every output. */
  run(ms: number, step = 250): PlannerOutput[] {
    const all: PlannerOutput[] = [];
    for (let t = 0; t < ms; t += step) {
      this.clock.advance(step);
      all.push(...this.tick());
    }
    return all;
  }
}

export const applies = (outs: readonly PlannerOutput[]): PlannedAction[] =>
  outs.filter((o): o is PlannedAction => o.type === 'apply');
export const kindsOf = (outs: readonly PlannerOutput[]): string[] =>
  outs.map((o) =>
    o.type === 'apply'
      ? `${o.kind} ${o.subject.name}`
      : o.type === 'revert'
        ? `revert ${o.kind} ${o.subject.name}`
        : `${o.outcome} ${o.kind} ${o.subject.name}`,
  );
