/**
 * Actions: every change a remedy makes, by hand (HTTP, CLI) or by the
 * planner, recorded with why it was taken, what it was expected to do, what
 * it measurably did, and how it ended. `GET /actions` lists them; each state
 * change is published on `/events` as `action.<state>`.
 *
 * An action kind knows how to apply, revert and report one remedy on one
 * subject (a key, a tenant, a node). The executor (`executor.ts`) runs them
 * under the automation mode and the budgets, and keeps the log.
 */
import type { Evidence } from '../detect/hotspot.js';

/** What an action acts on. */
export type ActionKind =
  /** Read-hot key: coherent cache + coalescing. */
  | 'cache'
  /** Read-hot key whose policy is `strong`: copies on other nodes. */
  | 'replicate'
  /** Write-hot counter: group commit of increments. */
  | 'aggregate'
  /** Counter still too hot after aggregation: sub-keys on several nodes. */
  | 'salt'
  /** Other write-hot key: a per-key token bucket. */
  | 'throttle-key'
  /** Noisy tenant: a quota at its fair share. */
  | 'quota-tenant'
  /** SLO breach with nothing cheaper left: shed the lowest-priority tenants on a node. */
  | 'shed'
  /** An operator's whole key policy (PUT /policies/{key}): replaces every part; one with no remedy removes it. */
  | 'policy'
  /** Hot range: cut a shard in two (metadata only; both halves stay on the node). */
  | 'split'
  /** Hot range or hot node: copy a shard live to another node and switch its route. */
  | 'move'
  /** Cold neighbours: join a shard with its right-hand neighbour. */
  | 'merge'
  /** A per-shard ops/s limit (POST /shards/{id}:throttle). */
  | 'throttle-shard'
  /** A node joins the cluster (POST /nodes). */
  | 'add-node'
  /** A node leaves: its shards are moved away, then it is removed (DELETE /nodes/{id}). */
  | 'drain-node';

/** Who or what an action acts on: a key (printable form), a tenant name or a node id. */
export interface ActionSubject {
  readonly type: 'key' | 'tenant' | 'node' | 'shard';
  /** For keys, the key as `keyText` prints it (binary bytes escaped). */
  readonly name: string;
}

/** Where an action is in its life. */
export type ActionState = 'pending' | 'running' | 'done' | 'failed' | 'cancelled' | 'rolled-back';

/** How an action turned out once measured. */
export type ActionOutcome = 'pending' | 'effective' | 'ineffective' | 'reverted' | 'recommended';

/** What the planner (or an operator) expects an action to change. */
export interface Prediction {
  /** The measure judged, e.g. `nodeShare`, `p99Ms`, `backendWritesPerIncrement`, `tenantRate`. */
  readonly metric: string;
  /** Its value when the action was taken. */
  readonly before: number | null;
  /** The value expected once the action works. */
  readonly expected: number;
  /** `below`: effective when the measured value is at most `expected`; `above`: at least. */
  readonly direction: 'below' | 'above';
}

/** What was measured after the action had time to work. */
export interface Measurement {
  readonly at: number;
  readonly value: number | null;
  /** Other numbers read at the same time (the hotspot's evidence then). */
  readonly evidence: Evidence;
}

/** One action, as the log keeps it. */
export interface ActionRecord {
  /** `a-<n>`, unique per process. */
  readonly id: string;
  readonly kind: ActionKind;
  readonly subject: ActionSubject;
  /** The settings applied (the key policy part, the quota, ...). */
  readonly settings: Readonly<Record<string, unknown>>;
  /** `planner` or `operator` (who changed it: the admin token's holder). */
  readonly by: 'planner' | 'operator';
  /** Why: the operator's reason, or the planner's reading of the hotspot. */
  readonly reason: string;
  /** The hotspot that prompted it, with its evidence then. */
  readonly hotspot: { readonly id: string; readonly evidence: Evidence } | null;
  readonly prediction: Prediction | null;
  state: ActionState;
  outcome: ActionOutcome;
  measurement: Measurement | null;
  /** Why it failed, was cancelled or reverted. */
  detail: string | null;
  readonly createdAt: number;
  updatedAt: number;
  revertedAt: number | null;
  /** A long action's progress while it runs and as it ended (a move's phase, keys copied, ETA); null for others. */
  progress: Readonly<Record<string, unknown>> | null;
}

/** Applies, reverts and reports one kind of action. */
export interface ActionKindHandler {
  readonly kind: ActionKind;
  /**
   * Puts the remedy in place; rejects with a message an operator can act on.
   * A long action may resolve with its final progress (kept on the record).
   */
  apply(
    subject: ActionSubject,
    settings: Readonly<Record<string, unknown>>,
  ): Promise<void | { readonly progress: Readonly<Record<string, unknown>> }>;
  /** Takes it away again, leaving the subject as it was (a counter folded back, copies removed). */
  revert(subject: ActionSubject): Promise<void>;
  /** What the remedy is doing now, or null when it is not in place. */
  status(subject: ActionSubject): Record<string, unknown> | null;
  /**
   * Actions that are done once applied (a split, a move): never kept in
   * force, never reverted — undoing one is a new action (a move back).
   */
  readonly oneShot?: boolean;
  /** A running apply's progress (a move's phase and counters), or null when none runs on the subject. */
  progress?(subject: ActionSubject): Record<string, unknown> | null;
  /**
   * Asks a running apply to stop; true when one was running. Its apply then
   * ends by throwing {@link ActionEnded} (`cancelled`, or `rolled-back`).
   */
  cancel?(subject: ActionSubject, reason: string): boolean;
}

/**
 * Thrown by an apply that stopped without failing: cancelled by an operator,
 * or rolled back on its own (a move whose target died) — the subject is
 * exactly as it was before. The record takes `state` instead of `failed`.
 */
export class ActionEnded extends Error {
  override readonly name = 'ActionEnded';
  constructor(
    readonly state: 'cancelled' | 'rolled-back',
    message: string,
    /** The action's progress when it stopped. */
    readonly progress: Readonly<Record<string, unknown>> | null = null,
  ) {
    super(message);
  }
}
