/**
 * Detection latency on a manual clock: celebrity-read's and viral-counter's load through the real
 * telemetry, snapshots and detector, ticked as the monitor's timer decides
 * (tickDue, keyTripwire), at every phase of the timer against the onset.
 */
import { describe, expect, it } from 'vitest';
import { keyTripwire, tickDue } from '../../src/control/monitor.js';
import { Detector } from '../../src/detect/detector.js';
import { Traffic, type Source } from './traffic.js';

const pad = (i: number): string => String(i).padStart(12, '0');
/** The server's defaults (config.detector). */
const TICK_MS = 250;
const QUIET_TICK_MS = 500;

/** A scenario's load: its steady sources, the source that starts at the onset, and the hotspot expected. */
interface Incident {
  readonly steady: readonly Source[];
  readonly onset: Source;
  readonly expected: { kind: string; subject: string; heat: string };
}

/** celebrity-read: 40 % of 10 k req/s read one key from the onset. */
const celebrity: Incident = {
  steady: [{ tenant: 'app', rate: 6000, keyOf: (i) => `key:${pad((i * 7919) % 100_000)}` }],
  onset: { tenant: 'app', rate: 4000, keyOf: () => 'celebrity' },
  expected: { kind: 'hot-key', subject: 'celebrity', heat: 'read-hot' },
};

/** viral-counter: tenant app at 8,000 req/s, then tenant likes at 5,000 INCR/s on one counter. */
const viral: Incident = {
  steady: [{ tenant: 'app', rate: 8000, keyOf: (i) => `app:key:${pad((i * 7919) % 100_000)}` }],
  onset: { tenant: 'likes', rate: 5000, keyOf: () => 'likes:counter:0', write: true },
  expected: { kind: 'hot-key', subject: 'likes:counter:0', heat: 'write-hot' },
};

/**
 * ms from an incident's onset (2 s into the run, 437 ms into a second) until
 * its hotspot is raised, on nodes of 5,000 ops/s, the timer firing every half
 * tick from `phase` ms into the run.
 */
function latency(incident: Incident, phase: number): number | null {
  const traffic = new Traffic(5000, phase + 1);
  for (const src of incident.steady) traffic.add(src);
  const detector = new Detector();
  const half = TICK_MS / 2;
  const quietHalves = 2 * Math.ceil(QUIET_TICK_MS / TICK_MS);
  const onset = traffic.clock.now() + 2000;
  let started = false;
  let halves = 0;
  traffic.run(phase);
  for (let firing = 0; firing < 64; firing++) {
    const next = traffic.clock.now() + half;
    if (!started && onset < next) {
      traffic.run(onset - traffic.clock.now());
      traffic.add(incident.onset);
      started = true;
    }
    traffic.run(next - traffic.clock.now());
    halves++;
    const due = tickDue({
      halves,
      quietHalves,
      watching: detector.watching,
      provingHotKey: detector.provingHotKey,
      tripped: () => keyTripwire(traffic.telemetry, detector.rules),
    });
    if (!due) continue;
    halves = 0;
    const raised = detector.tick(traffic.snapshot()).find((e) => e.type === 'raised');
    if (raised !== undefined) {
      expect(started).toBe(true);
      expect(raised.hotspot).toMatchObject(incident.expected);
      return traffic.clock.now() - onset;
    }
  }
  return null;
}

describe('detection latency', () => {
  const phases = [0, 25, 50, 75, 100, 124];
  for (const [name, incident] of [
    ['celebrity-read', celebrity],
    ['viral-counter', viral],
  ] as const) {
    it(`detection latency - ${name}'s key is raised within 500 ms of its onset, whatever the timer's phase`, () => {
      for (const phase of phases) {
        const ms = latency(incident, phase);
        expect(ms, `timer phase ${phase} ms`).not.toBeNull();
        expect(ms!, `timer phase ${phase} ms`).toBeLessThanOrEqual(500);
      }
    }, 60_000);
  }
});
