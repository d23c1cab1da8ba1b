/**
 * The rates the detector is given, against a known injected load: what a key,
 * shard or tenant carries is what the snapshot says it carries, whether its
 * node keeps up or not and at any point of a second.
 */
import { describe, expect, it } from 'vitest';
import { Detector } from '../../src/detect/detector.js';
import type { Hotspot } from '../../src/detect/hotspot.js';
import { Traffic, keyRate, tenantRate } from './traffic.js';

const pad = (i: number): string => String(i).padStart(12, '0');

describe('rates', () => {
  it('rates - a key sent 6,000 times a second to a node that answers 5,000 reads at 6,000 ops/s, as its shard does', () => {
    const traffic = new Traffic(5000);
    traffic.add({ tenant: 'app', rate: 4000, keyOf: (i) => `key:${pad(i % 100_000)}` });
    traffic.add({ tenant: 'app', rate: 6000, keyOf: () => 'celebrity' });
    traffic.run(3000);
    for (let tick = 0; tick < 8; tick++) {
      traffic.run(250);
      const s = traffic.snapshot();
      const rate = keyRate(s, 'celebrity');
      const shard = s.shards.find((sh) => sh.id === traffic.table.shardFor(Buffer.from('celebrity')).id)!;
      // Sampled: ±10 % is many standard errors at this rate.
      expect(rate).toBeGreaterThan(6000 * 0.9);
      expect(rate).toBeLessThan(6000 * 1.1);
      expect(rate).toBeLessThanOrEqual((shard.reads + shard.writes) * 1.02);
    }
  });

  it('rates - a key that starts 437 ms into a second reads its rate over the last second, at every point after', () => {
    const traffic = new Traffic();
    traffic.add({ tenant: 'app', rate: 4000, keyOf: (i) => `key:${pad(i % 100_000)}` });
    traffic.run(2000);
    const start = traffic.clock.now();
    traffic.add({ tenant: 'app', rate: 6000, keyOf: () => 'celebrity' });
    // Exact while the onset is in the current second (250, 500 ms after it)
    // and once the second it began in has left the window (from 1,563 ms);
    // in between, that second's requests are taken as spread evenly over it,
    // which reads a step low, never high.
    let last = 0;
    for (const after of [250, 500, 750, 1000, 1250, 1563, 1800, 2500]) {
      traffic.run(start + after - traffic.clock.now());
      const rate = keyRate(traffic.snapshot(), 'celebrity');
      const truth = 6000 * Math.min(1, after / 1000);
      const why = `${after} ms after onset: ${Math.round(rate)} ops/s`;
      expect(rate, why).toBeLessThan(1.1 * truth);
      expect(rate, why).toBeGreaterThan(0.9 * (after < 563 || after >= 1563 ? truth : last));
      last = rate;
    }
  });

  it('rates - viral counter: a steady tenant is not a noisy tenant when another tenant’s counter goes hot', () => {
    // viral-counter's load: tenant app at 8,000 req/s over 100 k keys, then
    // tenant likes at 5,000 INCR/s on one counter, on nodes of 5,000 ops/s.
    // Several sampling seeds: the counter's estimate is sampled, and what
    // it leaves of its tenant is noise either way.
    for (const seed of [1, 3, 4, 7]) {
      const traffic = new Traffic(5000, seed);
      traffic.add({ tenant: 'app', rate: 8000, keyOf: (i) => `app:key:${pad((i * 7919) % 100_000)}` });
      const detector = new Detector();
      const raised: Hotspot[] = [];
      const ticks = (n: number): void => {
        for (let i = 0; i < n; i++) {
          traffic.run(250);
          for (const e of detector.tick(traffic.snapshot())) if (e.type === 'raised') raised.push(e.hotspot);
        }
      };
      ticks(12);
      traffic.add({ tenant: 'likes', rate: 5000, keyOf: () => 'likes:counter:0', write: true });
      ticks(40);
      const kinds = raised.map((h) => `${h.kind} ${h.subject}`);
      expect(kinds, `seed ${seed}`).toEqual(['hot-key likes:counter:0']);
      expect(tenantRate(traffic.snapshot(), 'app')).toBeGreaterThan(7500);
    }
  }, 60_000);
});
