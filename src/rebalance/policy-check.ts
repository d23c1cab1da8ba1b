/**
 * Which key policies a live move cannot carry across its cutover, because
 * they reach a node without going through `router.forward`, the path the
 * cutover holds:
 *
 * - cache: fills are read over the node's invalidation feed (its own
 *   connection) and entries are tied to the node they came from;
 * - replicas: copies live under names placed on other shards, and are written
 *   and swept straight to their nodes; the router hides their names.
 *
 * Throttle, aggregate and salt send everything through `forward`, so the
 * cutover holds them like any request. A move of a range with a cache or
 * replica policy on one of its keys (or a hidden copy name in it) is refused,
 * with the key named: take the policy away first (the planner does), move,
 * then let it come back.
 */
import type { Router } from '../router/router.js';

/** The reason a move of the range must not go ahead, or null. */
export function bypassingPolicy(router: Router, inRange: (key: Buffer) => boolean): string | null {
  for (const entry of router.policies.entries()) {
    if (!inRange(entry.key)) continue;
    const policy = entry.policy as { cache?: unknown; replicas?: unknown } | null;
    const which = policy?.cache != null ? 'cache' : policy?.replicas != null ? 'replicas' : null;
    if (which !== null)
      return `key ${JSON.stringify(entry.key.toString('latin1'))} has a ${which} policy, which reaches its node without the router's forward path; remove it before moving the range`;
  }
  for (const names of router.hiddenKeys) {
    for (const name of names()) {
      if (inRange(name))
        return `the range holds replica copy ${JSON.stringify(name.toString('latin1'))}; remove the replicas policy before moving the range`;
    }
  }
  return null;
}
