/** Telemetry: counters, latency histograms, heavy-hitter sketches, and the detector's snapshot. */
export {
  HISTOGRAM_BUCKETS,
  HISTOGRAM_MAX_MICROS,
  HISTOGRAM_RELATIVE_ERROR,
  LatencyHistogram,
  bucketLowerBound,
  bucketOf,
  bucketValue,
  bucketWidth,
  percentileOf,
} from './histogram.js';
export {
  COARSE_BLOCK_SECONDS,
  EntityCounters,
  Field,
  type CountersOptions,
  type WindowTotals,
} from './counters.js';
export { CountMinSketch, type CountMinOptions } from './sketches/count-min.js';
export {
  SpaceSaving,
  entryIdentity,
  mergeSummaries,
  summaryBase,
  type SpaceSavingOptions,
  type Summary,
  type SummaryEntry,
} from './sketches/space-saving.js';
export { HyperLogLog } from './sketches/hyperloglog.js';
export { AdaptiveSampler } from './sketches/sampler.js';
export { SKETCH_SEED, keyHash, remix } from './sketches/key-hash.js';
export {
  decodeSketch,
  encodeSketch,
  type EpochState,
  type MetricState,
  type SketchShape,
  type SketchState,
} from './sketches/codec.js';
export {
  HeavyHitters,
  MAX_AHEAD_SECONDS,
  Metric,
  type HeavyHittersOptions,
  type KeyEstimate,
  type RankBy,
  type SketchTotals,
} from './sketches/heavy-hitters.js';
export {
  DEFAULT_SAMPLE_BUDGET,
  DEFAULT_SKETCH_BUDGET,
  Outcome,
  RouterTelemetry,
  type EntityKind,
  type EntityWindow,
  type RouterTelemetryOptions,
  type SecondStats,
  type TopKey,
} from './router-telemetry.js';
export {
  buildSnapshot,
  keyText,
  type NodePlacement,
  type ShardPlacement,
  type SnapshotOptions,
} from './snapshot.js';
