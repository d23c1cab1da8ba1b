/** Every scenario by name. Each is one small file in this folder. */
import { celebrityRead } from './celebrity-read.js';
import { flashSale } from './flash-sale.js';
import { hotRange } from './hot-range.js';
import { nodeFailureDuringSplit } from './node-failure-during-split.js';
import { noisyTenant } from './noisy-tenant.js';
import { rebalanceUnderLoad } from './rebalance-under-load.js';
import type { ScenarioDefinition } from './scenario.js';
import { viralCounter } from './viral-counter.js';

export type { ScenarioDefinition, ScenarioTiming, TargetDecl } from './scenario.js';

/** Scenarios in the order an operator meets them. */
export const SCENARIOS: readonly ScenarioDefinition[] = [
  celebrityRead,
  viralCounter,
  hotRange,
  noisyTenant,
  flashSale,
  rebalanceUnderLoad,
  nodeFailureDuringSplit,
];

/** Looks a scenario up by name. */
export function scenarioByName(name: string): ScenarioDefinition | undefined {
  return SCENARIOS.find((s) => s.name === name);
}
