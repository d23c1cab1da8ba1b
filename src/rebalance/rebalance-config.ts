/**
 * Config section `rebalance`: the range planner's budgets and thresholds
 * (range-planner-io.ts, RangePlannerSettings, says what each means;
 * docs/planner.md, "Ranges and nodes", lists them). Kept beside the planner
 * so config.ts gains one import and one field.
 */
import { z } from 'zod';
import { DEFAULT_RANGE_PLANNER_SETTINGS as D } from './range-planner-io.js';

const ms = z.coerce
  .number()
  .int()
  .min(0)
  .max(2 ** 31 - 1);
const share = z.coerce.number().min(0).max(1);
const utilization = z.coerce.number().gt(0).max(1);

const splitSchema = z
  .object({
    maxHotterShare: z.coerce.number().gt(0.5).max(1).default(D.split.maxHotterShare),
    maxSpanningShare: share.default(D.split.maxSpanningShare),
    minSamples: z.coerce.number().int().min(1).default(D.split.minSamples),
  })
  .strict();

/** The `rebalance` section, with defaults and cross-field checks. */
export const rebalanceSchema = z
  .object({
    maxConcurrentMoves: z.coerce.number().int().min(0).max(64).default(D.maxConcurrentMoves),
    maxMovesPerHour: z.coerce.number().int().min(0).default(D.maxMovesPerHour),
    copyBytesPerSec: z.coerce.number().int().positive().default(D.copyBytesPerSec),
    targetUtilization: utilization.default(D.targetUtilization),
    maxUtilization: utilization.default(D.maxUtilization),
    saturatedUtilization: z.coerce.number().gt(0).default(D.saturatedUtilization),
    settleMs: ms.default(D.settleMs),
    splitHysteresisMs: ms.default(D.splitHysteresisMs),
    moveHysteresisMs: ms.default(D.moveHysteresisMs),
    mergeBelowShareOfMean: share.default(D.mergeBelowShareOfMean),
    minShardsPerNode: z.coerce.number().int().min(1).default(D.minShardsPerNode),
    minTotalOps: z.coerce.number().min(0).default(D.minTotalOps),
    split: splitSchema.default(splitSchema.parse({})),
    // Above 1: max/mean is never below it, so 1 or less would move shards for ever.
    balanceMaxOverMean: z.coerce.number().gt(1).default(D.balanceMaxOverMean),
    balanceSustainMs: ms.default(D.balanceSustainMs),
  })
  .strict()
  .superRefine((r, ctx) => {
    if (r.targetUtilization > r.maxUtilization)
      ctx.addIssue({
        code: 'custom',
        path: ['targetUtilization'],
        message: `must be at most maxUtilization (${r.maxUtilization}): a node is planned down to the target, and no move may take one above the maximum`,
      });
  });
