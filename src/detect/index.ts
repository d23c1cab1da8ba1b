/** Detection: skew measures, the hotspot detector and its rules (pure; time comes from the snapshots). */
export type { EntityLoad, KeyLoad, ShardLoad, TickSnapshot } from './snapshot.js';
export {
  coefficientOfVariation,
  gini,
  maxOverMean,
  maxOverMedian,
  median,
  normalizedEntropy,
  p95OverP50,
  percentile,
  skew,
  skewReport,
  type DimensionSkew,
  type LoadSkew,
  type SkewMeasures,
  type SkewReport,
} from './skew.js';
export {
  HotspotKind,
  ImpactSignal,
  SEVERITY_RANK,
  Severity,
  type DetectorEvent,
  type Evidence,
  type Heat,
  type Hotspot,
} from './hotspot.js';
export { DEFAULT_DETECTOR_RULES, resolveRules, type DetectorRules, type Threshold } from './rules.js';
export { estimateMedianKeyRate } from './classify.js';
export { Detector } from './detector.js';
