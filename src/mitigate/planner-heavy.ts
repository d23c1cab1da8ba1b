/**
 * The planner's heavyKeys input (planner-io.ts) from router telemetry: the
 * top keys of the detector's window, placed by the routing table of the
 * moment, as /hotkeys shows them (src/control/control-api.ts).
 */
import type { Router } from '../router/router.js';
import type { RouterTelemetry } from '../telemetry/router-telemetry.js';
import { keyText } from '../telemetry/snapshot.js';
import type { HeavyKey } from './planner-io.js';

/** heavyKeys over `telemetry`'s top keys (its top-K size) in the last `windowSeconds`. */
export function heavyKeysFrom(
  telemetry: RouterTelemetry,
  router: Router,
  windowSeconds: number,
): (scope: { readonly shard?: string; readonly node?: string }) => HeavyKey[] {
  return (scope) => {
    const out: HeavyKey[] = [];
    for (const k of telemetry.topKeys(windowSeconds, undefined, 'reads')) {
      // A truncated key is a prefix: no policy can be set on it.
      if (k.truncated || !(k.reads > 0)) continue;
      if (scope.shard !== undefined || scope.node !== undefined) {
        const at = router.table.shardFor(k.key);
        if (scope.shard !== undefined && at.id !== scope.shard) continue;
        if (scope.node !== undefined && at.node !== scope.node) continue;
      }
      out.push({ key: keyText(k.key), reads: k.reads });
    }
    return out.sort((a, b) => b.reads - a.reads);
  };
}
