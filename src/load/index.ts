/**
 * The traffic lab's load generator: seeded key distributions, workloads, RESP
 * and HTTP targets, open- and closed-loop runs, and the write ledger that
 * proves no acknowledged write was lost.
 */
export { createRng, Xoshiro128, type Rng } from './random.js';
export {
  celebrity,
  compileDistribution,
  hotspot,
  parseDistribution,
  phased,
  scrambleIndex,
  sequential,
  uniform,
  zipf,
  type DistributionSpec,
  type KeyDistribution,
} from './distributions.js';
export {
  compileWorkload,
  OPS,
  parseOps,
  parseTenants,
  parseValueSize,
  rateAt,
  type CompiledWorkload,
  type LoadRequest,
  type OpName,
  type RateSegment,
  type RateStep,
  type TenantSpec,
  type ValueSizeSpec,
  type WorkloadSpec,
} from './workload.js';
export {
  encodeRequest,
  errorKind,
  openTarget,
  parseRespAddress,
  type HttpTargetSpec,
  type ReplyValue,
  type RequestError,
  type RespTargetSpec,
  type Target,
  type TargetCallback,
  type TargetCommand,
  type TargetSpec,
} from './targets.js';
export { EMPTY_LATENCY, LatencyHistogram, type LatencySummary } from './latency.js';
export { runLoad, type LoadOptions, type LoadReport, type SecondStats } from './generator.js';
export {
  valueToken,
  verifyWrites,
  WriteLedger,
  type LedgerSummary,
  type LostWrite,
  type WriteCheck,
} from './write-ledger.js';
export { formatProgress, formatReport, ProgressLine } from './progress.js';
export {
  loadTrace,
  parseTraceLine,
  readTrace,
  replayCommand,
  scanTrace,
  setValueSize,
  TraceError,
  type ReplayCommand,
  type TraceEntry,
  type TraceRecord,
  type TraceSummary,
} from './trace.js';
export {
  Injector,
  parseInjection,
  replayTrace,
  validateInjections,
  type Injection,
  type ReplayOptions,
  type ReplayReport,
} from './replay.js';
