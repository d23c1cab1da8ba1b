/**
 * The remedies a hotshard process can put on a key: what the policy manager
 * builds stages from, and so what PUT /policies and the planner may ask for.
 * Each remedy lives in `actions/<name>.ts`; add it to this list when it lands
 * (a policy naming a remedy that is not here is refused with a 400).
 */
import { aggregateRemedy } from './actions/aggregate.js';
import { cacheRemedy } from './actions/cache.js';
import { replicasRemedy } from './actions/replicas.js';
import { saltRemedy } from './actions/salt.js';
import { throttleRemedy } from './actions/throttle.js';
import type { Remedy } from './policy.js';

/** The remedies available to this process (built once per process; a remedy factory takes its options here). */
export function availableRemedies(): Remedy[] {
  return [throttleRemedy(), aggregateRemedy(), saltRemedy(), replicasRemedy(), cacheRemedy()];
}
