/** Rebalancing: live moves of a shard's key range, load-based split points, the range/node planner and its proposals. */
export {
  ShardMove,
  MovePhase,
  MoveOutcome,
  beforeSwitch,
  type MoveCounters,
  type MoveJournal,
  type MoveProgress,
  type MoveResult,
  type MoveState,
  type ShardMoveOptions,
} from './move.js';
export { CopyThrottle, RangeCopier, checkLimits, NO_LIMITS, type MoveLimits } from './copier.js';
export { RangeGate } from './range-gate.js';
export { SwitchUnknown, type CutoverCoordinator, type HoldGrant, type HoldRequest } from './cutover-hold.js';
export { diffKeys, diffRange, sameKey, type RangeDiff } from './verify.js';
export { bypassingPolicy } from './policy-check.js';
export {
  DEFAULT_CANDIDATES,
  DEFAULT_SPLIT_CRITERIA,
  SplitFinder,
  SplitRefusal,
  type SplitCriteria,
  type SplitDecision,
} from './split-finder.js';
export { DEFAULT_SPLIT_SAMPLE_BUDGET, SplitSampler, type SplitSamplerOptions } from './split-sampler.js';
export {
  DEFAULT_RANGE_PLANNER_SETTINGS,
  type Deferral,
  type NodeLoadForecast,
  type Proposal,
  type ProposalPrediction,
  type RangePlan,
  type RangePlannerInputs,
  type RangePlannerSettings,
  type RebalanceEvent,
} from './range-planner-io.js';
export { RangePlanner } from './range-planner.js';
export { RangePlanning, type RangePlanningDeps, type SamplingView } from './range-planning.js';
export { rebalanceSchema } from './rebalance-config.js';
