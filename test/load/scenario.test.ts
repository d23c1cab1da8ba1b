/**
 * A scenario end to end on the embedded cluster: real RESP load through a real
 * router, the skew injected at the onset, the detector following, every
 * acknowledged write read back.
 */
import { describe, expect, it } from 'vitest';
import { runScenario } from '../../src/load/scenario-runner.js';
import { SCENARIOS, scenarioByName } from '../../src/load/scenarios/index.js';

describe('scenario', () => {
  it('scenario - every scenario has a unique name, a description and a target on lost writes', () => {
    expect(new Set(SCENARIOS.map((s) => s.name)).size).toBe(SCENARIOS.length);
    expect(SCENARIOS.map((s) => s.name)).toEqual([
      'celebrity-read',
      'viral-counter',
      'hot-range',
      'noisy-tenant',
      'flash-sale',
      'rebalance-under-load',
      'node-failure-during-split',
    ]);
    for (const s of SCENARIOS) {
      expect(s.description.length).toBeGreaterThan(40);
      expect(s.targets.some((t) => t.measure === 'writes-lost')).toBe(true);
    }
  });

  it('scenario - celebrity-read shows the hot shard share and p99 rising at the onset, detects the key, loses nothing', async () => {
    const lines: string[] = [];
    const r = await runScenario(scenarioByName('celebrity-read')!, {
      timing: { durationSeconds: 9, onsetSecond: 4 },
      onLine: (l) => lines.push(l),
    });
    expect(r.series).toHaveLength(9);
    const share = (t: number): number => {
      const s = r.series[t]!;
      const total = Object.values(s.shardOps).reduce((a, b) => a + b, 0);
      return Math.max(...Object.values(s.shardOps)) / total;
    };
    // Before the onset no shard stands out (16 shards: ~6 %); after it one carries ~40 %.
    expect(share(2)).toBeLessThan(0.12);
    expect(share(7)).toBeGreaterThan(0.3);
    expect(r.before.hottestShardShare).toBeLessThan(0.12);
    expect(r.after.hottestShardShare).toBeGreaterThan(0.3);
    expect(r.after.nodeMaxOverMean).toBeGreaterThan(1.5);
    // The hot node is over capacity: p99 climbs well above the baseline.
    expect(r.series[7]!.p99).toBeGreaterThan(5 * Math.max(1, r.series[2]!.p99));
    // Detection exists now: the celebrity key, read-hot, within the target.
    expect(r.detection).not.toBeNull();
    expect(r.detection!.correct).toBe(true);
    expect(r.classification).toBe('hot-key key:000000000042');
    expect(r.detectionLatencyMs).toBeLessThanOrEqual(1500);
    // Mitigation does not exist: its fields stay null rather than invented.
    expect(r.actions).toBeNull();
    expect(r.p99RestoreSeconds).toBeNull();
    expect(r.targets.find((t) => t.name.startsWith('p99 back under SLO'))!.met).toBeNull();
    expect(r.targets.find((t) => t.name === 'acknowledged writes lost')!.met).toBe(true);
    expect(r.writes.acknowledged).toBeGreaterThan(1000);
    expect(r.writes.lost).toBe(0);
    expect(lines.some((l) => l.includes('◀ onset'))).toBe(true);
    expect(lines.some((l) => l.includes('▲ hot-key key:000000000042'))).toBe(true);
  }, 40_000);
});
