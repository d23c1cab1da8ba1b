/**
 * What a scripted incident declares: the cluster it runs on, the traffic
 * (a baseline, then a skew injected at a known second), what the detector is
 * expected to find, and the targets it is judged by.
 */
import type { ConfigInput } from '../../config.js';
import type { Hotshard } from '../../hotshard.js';
import type { RateStep, WorkloadSpec } from '../workload.js';

/** What the run must measure up to. */
export interface TargetDecl {
  readonly name: string;
  readonly limit: number;
  /** Which way is good. */
  readonly better: 'lower' | 'higher';
  /** What is measured (see the scenario runner for each). */
  readonly measure:
    | 'detection-ms'
    | 'p99-restore-s'
    /** The same, over every tenant but the expected subject (a noisy tenant, throttled on purpose). */
    | 'others-p99-restore-s'
    | 'failed-percent'
    /** Failed requests other than those refused with a retry-after (throttled, shed). */
    | 'failed-unshed-percent'
    | 'writes-lost'
    | 'node-imbalance-after';
}

/** Timing of one run, after any overrides. */
export interface ScenarioTiming {
  readonly durationSeconds: number;
  readonly onsetSecond: number;
  readonly endSecond: number | null;
  /**
   * Where inside its second the onset falls (ms). Real incidents do not start
   * on a second boundary; a detector that only looks at whole seconds would
   * look faster than it is if scenarios did.
   */
  readonly onsetOffsetMs?: number;
}

/** The default place of the onset inside its second. */
export const ONSET_OFFSET_MS = 437;

/** When the skew starts, in ms since the scenario started. */
export const onsetMs = (t: ScenarioTiming): number =>
  t.onsetSecond * 1000 + (t.onsetOffsetMs ?? ONSET_OFFSET_MS);

/** A scenario. */
export interface ScenarioDefinition {
  readonly name: string;
  readonly description: string;
  /** Cluster settings for the embedded default (and shard layout for Redis nodes). */
  readonly cluster: ConfigInput;
  readonly timing: ScenarioTiming;
  /** Total request rate (open loop); omitted when the workload's tenants carry their own rates. */
  readonly rate?: number | readonly RateStep[];
  readonly workload: (t: ScenarioTiming) => WorkloadSpec;
  /** What the detector should find; the subject may depend on the routing table. */
  readonly expected: (hs: Hotshard) => { kind: string; subject: string };
  readonly targets: readonly TargetDecl[];
  /** Something done to the cluster at the onset instead of (or besides) skewed traffic. */
  readonly atOnset?: (hs: Hotshard) => Promise<string> | string;
}

/**
 * Targets DESIGN.md sets for every incident: detection within `detectionMs`,
 * p99 back under the SLO within `restoreSeconds` of the onset, no failed
 * request (shed ones with a retry-after count as failed), nothing lost.
 */
export const commonTargets = (detectionMs: number, restoreSeconds = 10): TargetDecl[] => [
  {
    name: `detected ≤ ${detectionMs / 1000} s after onset (ms)`,
    limit: detectionMs,
    better: 'lower',
    measure: 'detection-ms',
  },
  {
    name: `p99 back under SLO ≤ ${restoreSeconds} s after onset (s)`,
    limit: restoreSeconds,
    better: 'lower',
    measure: 'p99-restore-s',
  },
  {
    name: 'failed requests (%)',
    limit: 1,
    better: 'lower',
    measure: 'failed-percent',
  },
  { name: 'acknowledged writes lost', limit: 0, better: 'lower', measure: 'writes-lost' },
];

/** Zero-padded key name as the load generator writes it. */
export const keyName = (prefix: string, index: number): string =>
  `${prefix}${String(index).padStart(12, '0')}`;
