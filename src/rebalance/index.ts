/** Live rebalancing: moving a shard's key range between nodes while it serves. */
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
export { diffKeys, diffRange, sameKey, type RangeDiff } from './verify.js';
export { bypassingPolicy } from './policy-check.js';
