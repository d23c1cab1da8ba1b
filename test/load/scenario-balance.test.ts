/**
 * rebalance-under-load end to end on the embedded cluster, at a quarter of its
 * rate: the series records what each node executed (cache hits routed but not
 * served), the balance goal moves shards off the busiest node, and node load
 * max/mean after rebalancing is judged on served load, with nothing lost.
 */
import { describe, expect, it } from 'vitest';
import { runScenario } from '../../src/load/scenario-runner.js';
import { scenarioByName } from '../../src/load/scenarios/index.js';

describe('scenario balance', () => {
  it('scenario balance - rebalance-under-load records served ops per node and balances them to max/mean ≤ 1.2, losing nothing', async () => {
    const def = scenarioByName('rebalance-under-load')!;
    expect(def).toMatchObject({ rate: 10_000, cluster: { nodes: 4, shards: 16, capacity: 6000 } });
    // A quarter of the rate (and of the capacity) so a loaded 2-core machine sends on time.
    const r = await runScenario(
      { ...def, rate: 2500, cluster: { ...def.cluster, capacity: 1500 } },
      { timing: { durationSeconds: 16, onsetSecond: 6 } },
    );
    const steady = r.series.slice(2, 15);
    for (const s of steady) {
      expect(Object.keys(s.nodeServedOps ?? {}).sort()).toEqual(['n0', 'n1', 'n2', 'n3']);
      const served = Object.values(s.nodeServedOps!).reduce((a, b) => a + b, 0);
      const routed = Object.values(s.nodeOps).reduce((a, b) => a + b, 0);
      // Every served command was routed; cache hits were routed and not served.
      expect(served).toBeGreaterThan(0);
      expect(served).toBeLessThanOrEqual(routed * 1.05);
    }
    const moves = (r.actions ?? []).filter((a) => a.kind === 'move' && a.detail.startsWith('done'));
    expect(moves.length).toBeGreaterThan(0);
    expect(
      moves.every((m) =>
        /node load max\/mean .* \(balancing, from above 1\.2, down to 1\.1\)/.test(m.detail),
      ),
    ).toBe(true);
    const target = r.targets.find((t) => t.name === 'node load max/mean after rebalancing')!;
    expect(target.actual).toBeLessThanOrEqual(1.2);
    expect(target.actual).toBe(r.after.nodeMaxOverMean);
    expect(r.writes.lost).toBe(0);
    expect(r.totals.errors).toBe(0);
  }, 60_000);
});
