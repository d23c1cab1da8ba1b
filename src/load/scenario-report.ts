/**
 * The JSON a scenario run writes with `--report FILE`. Fields for capabilities
 * that do not exist yet (detection, mitigation) are null, never invented.
 */
import type { IncidentSummary } from '../control/incident.js';

/** One second of a scenario, as measured by the load generator and the router. */
export interface ScenarioSecond {
  /** Seconds since the scenario started (0, 1, 2, ...). */
  readonly t: number;
  /** Requests completed in this second (successes and failures). */
  readonly ops: number;
  /** Failed requests, shed ones included. */
  readonly errors: number;
  /** Of the errors, those refused with an explicit retry-after (BUSY / 503). */
  readonly shed: number;
  /** Latency percentiles in ms, from the intended send time (open loop). */
  readonly p50: number;
  readonly p99: number;
  /** Requests the router served per shard in this second, keyed by shard id. */
  readonly shardOps: Readonly<Record<string, number>>;
  /** Requests per node in this second, keyed by node id. */
  readonly nodeOps: Readonly<Record<string, number>>;
  /**
   * Commands each node executed in this second (its backend's counter: cache hits never
   * reach it), keyed by node id; absent when the backends keep no counter.
   */
  readonly nodeServedOps?: Readonly<Record<string, number>>;
}

/** Load imbalance over a window: max over mean of per-node (and per-shard) ops. */
export interface Imbalance {
  readonly nodeMaxOverMean: number;
  readonly shardMaxOverMean: number;
  /** Share of all requests taken by the busiest shard (0..1). */
  readonly hottestShardShare: number;
  readonly hottestShard: string;
}

/** A detection, as the detector raised it (null fields until detection exists). */
export interface ReportDetection {
  readonly kind: string;
  readonly subject: string;
  /** Seconds since scenario start. */
  readonly at: number;
  readonly latencyFromOnsetMs: number;
  readonly correct: boolean;
}

/** A mitigation action the executor took. */
export interface ReportAction {
  readonly at: number;
  readonly kind: string;
  readonly subject: string;
  readonly detail: string;
}

/** A target the scenario declares; a missed one makes the exit code non-zero. */
export interface ReportTarget {
  readonly name: string;
  readonly limit: number;
  /** What the run measured; null when it cannot be measured yet. */
  readonly actual: number | null;
  /** null: not judged, for want of a measurement or because the target needs mitigation, which does not exist yet. */
  readonly met: boolean | null;
}

/** Everything one scenario run measured. */
export interface ScenarioReport {
  readonly scenario: string;
  readonly description: string;
  readonly startedAt: string;
  readonly backend: 'memory' | 'redis';
  readonly seed: number;
  readonly durationSeconds: number;
  /** Seconds since start when the skew was injected. */
  readonly onsetSecond: number;
  /** Seconds since start when the skew stopped, if it does. */
  readonly endSecond: number | null;
  /** What the injected skew was expected to look like (the answer key). */
  readonly expected: { readonly kind: string; readonly subject: string };
  readonly series: readonly ScenarioSecond[];
  readonly before: Imbalance;
  readonly after: Imbalance;
  readonly totals: {
    readonly ops: number;
    /** Failed requests, shed ones included. */
    readonly errors: number;
    readonly errorRate: number;
    /** Of the errors, refused with a retry-after. */
    readonly shed: number;
    readonly p50: number;
    readonly p99: number;
    readonly errorsByKind: Readonly<Record<string, number>>;
  };
  /** Every acknowledged write read back at the end; lost = not found as acknowledged. */
  readonly writes: { readonly acknowledged: number; readonly checked: number; readonly lost: number };
  /** Filled when detection exists (issue 4); null until then. */
  readonly detection: ReportDetection | null;
  readonly detectionLatencyMs: number | null;
  readonly classification: string | null;
  /** Filled when mitigation exists; null until then. */
  readonly actions: readonly ReportAction[] | null;
  readonly p99RestoreSeconds: number | null;
  readonly targets: readonly ReportTarget[];
  /** The p99 objective (ms) impact was judged against. */
  readonly sloP99Ms: number;
  /** Every hotspot the detector raised during the run (seconds since start). */
  readonly hotspots: readonly { kind: string; subject: string; heat: string; severity: string; at: number }[];
  /** What was done to the cluster (e.g. a node failed at the onset). */
  readonly events: readonly string[];
  /** The incidents of the run as they stood at its end (seconds since start; docs/incidents.md). */
  readonly incidents?: readonly {
    id: string;
    state: string;
    severity: string;
    openedAt: number;
    resolvedAt: number | null;
    title: string;
    customerText: string;
    summary: IncidentSummary | null;
  }[];
}
