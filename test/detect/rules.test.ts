import { describe, expect, it } from 'vitest';
import { Detector } from '../../src/detect/detector.js';
import {
  DEFAULT_DETECTOR_RULES,
  resolveRules,
  type DetectorRules,
  type Threshold,
} from '../../src/detect/rules.js';
import { ConfigError } from '../../src/errors.js';

describe('detector rules', () => {
  it('detector rules - defaults carry the seeds numbers', () => {
    const r = DEFAULT_DETECTOR_RULES;
    expect(r.keyRateOverMedian.raise).toBe(10); // seed 001
    expect(r.keyRateFloor.raise).toBe(1000); // seed 002
    expect(r.shardLoadOverMean.raise).toBe(2); // seed 002
    expect(r.shardLoadOverMedian.raise).toBe(10); // seed 003
    expect(r.giniWarning.raise).toBe(0.8); // seed 001
    expect(r.nearCapacity).toBe(0.8); // seed 001, seed 000
    expect(r.criticalShedRatio).toBe(0.01); // seed 001
  });

  it('detector rules - every default clear threshold is below its raise threshold', () => {
    for (const [name, v] of Object.entries(DEFAULT_DETECTOR_RULES) as Array<[string, unknown]>) {
      if (typeof v === 'object' && v !== null && 'raise' in v) {
        const th = v as Threshold;
        expect(th.clear, name).toBeLessThan(th.raise);
      }
    }
  });

  it('detector rules - hot-key hysteresis fits the 1 s target at 250 ms ticks, the rest the 5 s one', () => {
    const r = DEFAULT_DETECTOR_RULES;
    expect(r.hotKeyRaiseTicks).toBeGreaterThanOrEqual(2); // a one-tick blip never raises
    // Worst case: one tick for the window to show the key, then the raise ticks.
    expect((1 + r.hotKeyRaiseTicks) * 250).toBeLessThanOrEqual(1000);
    // A 1 s window fills in 4 ticks; the condition can need most of it.
    expect((4 + r.raiseTicks) * 250).toBeLessThanOrEqual(5000);
  });

  it('detector rules - overrides replace defaults and the result is frozen', () => {
    const r = resolveRules({ raiseTicks: 3, keyRateFloor: { raise: 10, clear: 5 } });
    expect(r.raiseTicks).toBe(3);
    expect(r.keyRateFloor).toEqual({ raise: 10, clear: 5 });
    expect(r.clearTicks).toBe(DEFAULT_DETECTOR_RULES.clearTicks);
    expect(Object.isFrozen(r)).toBe(true);
  });

  it.each<[string, Partial<DetectorRules>]>([
    ['raiseTicks', { raiseTicks: 0 }],
    ['hotKeyRaiseTicks', { hotKeyRaiseTicks: 1.5 }],
    ['clearTicks', { clearTicks: -1 }],
    ['nearCapacity', { nearCapacity: 0 }],
    ['criticalP99OverSlo', { p99OverSlo: 2, criticalP99OverSlo: 1 }],
    ['shardLoadOverMean', { shardLoadOverMean: { raise: 1.5, clear: 2 } }],
    ['keyShareOfShard', { keyShareOfShard: { raise: 1.5, clear: 0.5 } }],
    ['minRate', { minRate: { raise: 10, clear: -1 } }],
    ['giniWarning', { giniWarning: { raise: NaN, clear: 0.5 } }],
    [
      'impactSignals',
      { impactSignals: ['p99-over-slo', 'cpu'] as unknown as DetectorRules['impactSignals'] },
    ],
  ])('detector rules - an invalid %s fails fast, naming the field', (field, overrides) => {
    expect(() => resolveRules(overrides)).toThrow(ConfigError);
    expect(() => new Detector(overrides)).toThrow(new RegExp(`detector rule ${field} must be`));
  });
});
