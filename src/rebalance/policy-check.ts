/**
 * Which key policies a live move cannot carry across its cutover, because
 * they write to a node without going through `router.forward`, the path the
 * cutover holds:
 *
 * - replicas: copies live under names placed on other shards, and are written
 *   and swept straight to their nodes; the router hides their names.
 *
 * A cached key moves safely: its writes go through `forward` (held at the
 * cutover), its fills read the node the table in force names, and an entry
 * is served only under the routing version it was filled in, so nothing
 * read from the source is served once the target owns the range
 * (test/rebalance/move-cache.test.ts). Throttle, aggregate and salt send
 * everything through `forward` too. A move of a range with a replica policy
 * on one of its keys (or a hidden copy name in it) is refused, with the key
 * named: take the policy away first, move, then let it come back.
 */
import type { Router } from '../router/router.js';

/** The reason a move of the range must not go ahead, or null. */
export function bypassingPolicy(router: Router, inRange: (key: Buffer) => boolean): string | null {
  for (const entry of router.policies.entries()) {
    if (!inRange(entry.key)) continue;
    const policy = entry.policy as { replicas?: unknown } | null;
    if (policy?.replicas != null)
      return `key ${JSON.stringify(entry.key.toString('latin1'))} has a replicas policy, which writes its copies without the router's forward path; remove it before moving the range`;
  }
  for (const names of router.hiddenKeys) {
    for (const name of names()) {
      if (inRange(name))
        return `the range holds replica copy ${JSON.stringify(name.toString('latin1'))}; remove the replicas policy before moving the range`;
    }
  }
  return null;
}
