/**
 * What the tenant mix (src/telemetry/tenant-mix.ts) costs per measured
 * request: `add` in a loop over 64 shards, 4 nodes and 34 tenants, a new
 * second every 5,000 requests (the default sample budget), three rounds.
 * Prints one JSON line per round and the cost a second at the budget.
 *
 *   node --import tsx bench/telemetry/tenant-mix.ts
 */
import { TenantMix } from '../../src/telemetry/tenant-mix.js';
import { DEFAULT_SAMPLE_BUDGET } from '../../src/telemetry/router-telemetry.js';

const N = 5_000_000;
const mix = new TenantMix();
let second = 1000;
mix.advanceTo(second);
for (let round = 0; round < 3; round++) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    if (i % DEFAULT_SAMPLE_BUDGET === 0) mix.advanceTo(++second);
    mix.add(i & 63, i & 3, i % 34, 1);
  }
  const ns = Number(process.hrtime.bigint() - t0) / N;
  console.log(
    JSON.stringify({
      round,
      nsPerMeasuredRequest: Number(ns.toFixed(1)),
      msCpuPerSecondAtBudget: Number(((ns * DEFAULT_SAMPLE_BUDGET) / 1e6).toFixed(3)),
    }),
  );
}
