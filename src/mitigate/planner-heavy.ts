/**
 * The planner's inputs from router telemetry (planner-io.ts): heavyKeys, the
 * top keys of the detector's window, placed by the routing table of the
 * moment, as /hotkeys shows them (src/control/control-api.ts); commandMix, a
 * key's increments among its writes.
 */
import type { Router } from '../router/router.js';
import type { RouterTelemetry } from '../telemetry/router-telemetry.js';
import { keyText } from '../telemetry/snapshot.js';
import { keyFromText } from './key-actions.js';
import type { CommandMix, HeavyKey } from './planner-io.js';

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

/**
 * commandMix over all of `telemetry`'s key sketches (10 s by default): the
 * share of increments is what the planner reads, not the rate, and a hotspot
 * outlives a burst shorter than the detector's window (its hysteresis), after
 * which that window would hold none of the key's writes.
 */
export function commandMixFrom(telemetry: RouterTelemetry): (key: string) => CommandMix | null {
  return (key) => telemetry.commandMix(keyFromText(key), telemetry.keys.seconds);
}
