/**
 * Runs the range planner's proposals through the executor, so splits, moves
 * and merges the planner wants obey the automation mode and budgets exactly
 * as key-level actions do (dry-run records them as `recommended`, manual and
 * frozen refuse them), and judges each one once it had time to work.
 *
 * A plan is a short chain (split, then move its hotter half): each proposal
 * waits for the one its `after` names, and a chain stops at the first step
 * that does not end `done`. Only one chain runs at a time: the planner plans
 * again on its next tick from what the cluster has become.
 */
import type { Clock } from '../clock.js';
import type { Evidence } from '../detect/hotspot.js';
import type { TickSnapshot } from '../detect/snapshot.js';
import type { ActionRecord, Prediction } from '../mitigate/action.js';
import { ActionRefused, type ActionRequest, type Executor } from '../mitigate/executor.js';
import type { Proposal, ProposalPrediction, RangePlan } from './range-planner-io.js';

/** What the runner works with. */
export interface RangePlanRunnerDeps {
  readonly executor: Executor;
  readonly clock: Clock;
  /** The detector's latest readings, for judging what an action did. */
  readonly snapshot: () => TickSnapshot | undefined;
  /** How long after an action is done it is judged (the key planner's verifyDelayMs). */
  readonly verifyDelayMs: number;
  /** Told of a step that could not be submitted or failed unexpectedly. */
  readonly onError?: ((err: unknown) => void) | undefined;
}

/** A measure a proposal predicts, read off a snapshot: `nodeOps`, `nodeUtilization` or `shardOps` of one subject. */
export function measure(p: ProposalPrediction, snapshot: TickSnapshot): number | null {
  const of = p.metric.startsWith('node') ? snapshot.nodes : snapshot.shards;
  const e = of.find((x) => x.id === p.subject);
  if (e === undefined) return null;
  if (p.metric === 'nodeUtilization') return e.utilization;
  return e.reads + e.writes;
}

/** Submits range plans and judges their actions. */
export class RangePlanRunner {
  readonly #deps: RangePlanRunnerDeps;
  #chain: Promise<void> | null = null;
  /** Done actions waiting to be judged, with the prediction in the planner's own terms. */
  readonly #pending = new Map<string, { record: ActionRecord; predicted: ProposalPrediction }>();

  constructor(deps: RangePlanRunnerDeps) {
    this.#deps = deps;
  }

  /** True while a chain of the last plan is still running. */
  get busy(): boolean {
    return this.#chain !== null;
  }

  /** Starts the plan's proposals unless a chain still runs; returns at once. */
  submit(plan: RangePlan): void {
    if (this.#chain !== null || plan.proposals.length === 0) return;
    const chain = this.#run(plan.proposals).catch((err: unknown) => this.#deps.onError?.(err));
    this.#chain = chain.finally(() => {
      this.#chain = null;
    });
  }

  /** Waits for the running chain, if any (tests, shutdown). */
  async settled(): Promise<void> {
    await this.#chain;
  }

  /** Judges the done actions whose verification delay has passed. */
  tick(): void {
    const now = this.#deps.clock.now();
    const snapshot = this.#deps.snapshot();
    if (snapshot === undefined) return;
    for (const [id, { record, predicted }] of this.#pending) {
      if (now < record.updatedAt + this.#deps.verifyDelayMs) continue;
      this.#pending.delete(id);
      const value = measure(predicted, snapshot);
      // A tenth above the prediction still counts: the load it was made for moves on too.
      const outcome = value !== null && value <= predicted.expected * 1.1 ? 'effective' : 'ineffective';
      try {
        this.#deps.executor.recordMeasurement(id, { at: now, value, evidence: {} }, outcome);
      } catch (err) {
        this.#deps.onError?.(err);
      }
    }
  }

  async #run(proposals: readonly Proposal[]): Promise<void> {
    const ended: (ActionRecord | null)[] = [];
    for (const p of proposals) {
      if (p.after !== undefined && ended[p.after]?.state !== 'done') return;
      let record: ActionRecord;
      // The step before it on the same shard (a split, then its hotter half, which keeps the id, moved).
      const before = p.after === undefined ? undefined : ended[p.after];
      const followUp = before !== undefined && before?.subject.name === p.shard ? before.id : undefined;
      try {
        record = await this.#deps.executor.execute({ ...request(p), followUp });
      } catch (err) {
        // Refused (mode, cooldown, cap): the rest of the chain waits for a later plan.
        if (!(err instanceof ActionRefused)) this.#deps.onError?.(err);
        return;
      }
      ended.push(record);
      if (record.state !== 'done') return;
      if (record.outcome === 'pending') this.#pending.set(record.id, { record, predicted: p.predicted });
    }
  }
}

/** A proposal as the executor takes it. */
function request(p: Proposal): ActionRequest {
  const settings: Record<string, unknown> =
    p.kind === 'split'
      ? {
          ...(p.at === undefined ? {} : { at: p.at }),
          ...(p.newShard === undefined ? {} : { newShard: p.newShard }),
        }
      : p.kind === 'move'
        ? { node: p.target, ...(p.throttle === undefined ? {} : { limits: { ...p.throttle } }) }
        : { with: p.with };
  const prediction: Prediction = {
    metric: `${p.predicted.metric} ${p.predicted.subject}`,
    before: p.predicted.before,
    expected: p.predicted.expected,
    direction: 'below',
  };
  const evidence: Evidence = Object.fromEntries(
    Object.entries(p.evidence).filter((e): e is [string, number | null] => typeof e[1] !== 'string'),
  );
  return {
    kind: p.kind,
    subject: { type: 'shard', name: p.shard },
    settings,
    by: 'planner',
    reason: p.reason,
    hotspot: p.hotspot === null ? null : { id: p.hotspot, evidence },
    prediction,
  };
}
