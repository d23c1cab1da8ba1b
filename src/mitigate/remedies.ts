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
import type { Remedy, RemedyName } from './policy.js';

/** The remedies available to this process (built once per process; a remedy factory takes its options here). */
export function availableRemedies(): Remedy[] {
  return [throttleRemedy(), aggregateRemedy(), saltRemedy(), replicasRemedy(), cacheRemedy()];
}

const NOT_FOLLOWED =
  'on a shared store the other routers do not follow a key-policy change live (they load policies at start)';

/**
 * Remedies only the router holding the policy applies: its writes reach the
 * key's copies, its reads sum the key's sub-keys. Another router on the same
 * store would write past the copies (stale reads of a key declared strong) and
 * read the plain key without its sub-keys, so on a shared store they are
 * withheld, from the planner and from PUT /policies alike, with this reason.
 */
export const PER_ROUTER_REMEDIES: ReadonlyMap<RemedyName, string> = new Map<RemedyName, string>([
  [
    'replicas',
    `${NOT_FOLLOWED}: their writes would go past the copies, and reads from the copies would be stale`,
  ],
  ['salt', `${NOT_FOLLOWED}: their reads would miss the increments in the sub-keys`],
]);
