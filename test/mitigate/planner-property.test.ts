/**
 * The planner's promises under any sequence of hotspots, executor answers
 * (applied, refused without a record, failed) and measurements: what it must
 * never do, whatever it decides to do.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import type { Hotspot, ImpactSignal } from '../../src/detect/hotspot.js';
import type { ActionRecord } from '../../src/mitigate/action.js';
import { Planner, type PlannerOutput } from '../../src/mitigate/planner.js';
import { snapshot } from '../detect/world.js';
import { hotspot, T0 } from './planner-harness.js';

const SUBJECTS = ['likes:1', 'doc:1', 'celeb', 'balance:1', 'config:x', 'tenant:t1', 'tenant:t2'] as const;
/** The heat each one-sided remedy answers (a restatement of the planner's rule, not an import of it). */
const SERVES: Readonly<Record<string, 'read-hot' | 'write-hot'>> = {
  cache: 'read-hot',
  replicate: 'read-hot',
  aggregate: 'write-hot',
  salt: 'write-hot',
};

const SETTINGS = {
  counters: ['likes:*'],
  strong: ['balance:*'],
  doNotTouch: ['config:*'],
  hysteresisMs: 5_000,
  verifyDelayMs: 1_000,
  cooldownMs: 2_000,
  maxActionsPerMinute: 6,
};
const TICK = 250;

interface HotSpec {
  readonly subject: (typeof SUBJECTS)[number];
  readonly write: boolean;
  readonly impact: readonly ImpactSignal[];
}
interface Segment {
  readonly ticks: number;
  readonly hot: readonly HotSpec[];
}

const impactArb = fc.subarray(['p99-over-slo', 'near-capacity', 'shedding'] as ImpactSignal[]);
const segmentArb = fc.record({
  ticks: fc.integer({ min: 1, max: 40 }),
  hot: fc.uniqueArray(
    fc.record({ subject: fc.constantFrom(...SUBJECTS), write: fc.boolean(), impact: impactArb }),
    { selector: (h) => h.subject, maxLength: 4 },
  ),
});

/** A small deterministic generator for the executor's answers and the measurements. */
function lcg(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function simulate(segments: readonly Segment[], seed: number) {
  const clock = new ManualClock(T0);
  const random = lcg(seed);
  const records: ActionRecord[] = [];
  let hot: Hotspot[] = [];
  const onsets = new Map<string, number>();
  const planner = new Planner(
    {
      clock,
      hotspots: () => hot,
      actions: () => [...records].reverse(),
      // Four tenants in three priority tiers, so shedding has tiers to climb.
      snapshot: () => snapshot({ now: clock.now(), p99Ms: 30, sloP99Ms: 20 }),
      tenantPriority: (t) => ({ t0: 0, t1: 1, t2: 1, t3: 5 })[t] ?? 1,
      measure: () => (random() < 0.2 ? null : random() * 40),
      status: (a) =>
        a.kind === 'aggregate' ? { increments: random() < 0.3 ? 0 : 1000, backendWrites: 5 } : null,
    },
    SETTINGS,
  );
  const trace: { now: number; hot: Hotspot[]; out: PlannerOutput[]; live: ActionRecord[] }[] = [];
  let n = 0;
  for (const seg of segments) {
    const now0 = clock.now();
    const present = new Set(seg.hot.map((h) => h.subject));
    for (const s of onsets.keys()) if (!present.has(s as HotSpec['subject'])) onsets.delete(s);
    for (const h of seg.hot) if (!onsets.has(h.subject)) onsets.set(h.subject, now0);
    hot = seg.hot.map((h) =>
      h.subject.startsWith('tenant:')
        ? hotspot({
            kind: 'noisy-tenant',
            subject: h.subject.slice(7),
            heat: h.write ? 'write-hot' : 'read-hot',
            impact: h.impact,
            onset: onsets.get(h.subject)!,
            evidence: { totalRate: 20_000, tenants: 4 },
          })
        : hotspot({
            subject: h.subject,
            heat: h.write ? 'write-hot' : 'read-hot',
            impact: h.impact,
            onset: onsets.get(h.subject)!,
          }),
    );
    for (let t = 0; t < seg.ticks; t++) {
      clock.advance(TICK);
      const now = clock.now();
      const live = records.filter((r) => r.revertedAt === null && r.state === 'done');
      const out = planner.tick();
      trace.push({ now, hot, out, live });
      for (const o of out) {
        if (o.type === 'apply') {
          const roll = random();
          if (roll < 0.1) continue; // refused: no record, as the executor's ActionRefused
          records.push({
            id: `a-${++n}`,
            kind: o.kind,
            subject: o.subject,
            settings: o.settings,
            by: 'planner',
            reason: o.reason,
            hotspot: o.hotspot,
            prediction: o.prediction ?? null,
            state: roll < 0.2 ? 'failed' : 'done',
            outcome: 'pending',
            measurement: null,
            detail: null,
            createdAt: now,
            updatedAt: now,
            revertedAt: null,
            progress: null,
          });
        } else if (o.type === 'verdict') {
          const r = records.find((x) => x.id === o.actionId)!;
          r.outcome = o.outcome;
          r.measurement = o.measurement;
        } else {
          const r = records.find((x) => x.id === o.actionId)!;
          r.revertedAt = now;
          r.state = 'rolled-back';
        }
      }
    }
  }
  return { trace, records };
}

const subjectOf = (h: Hotspot): string =>
  h.kind === 'noisy-tenant' ? `tenant:${h.subject}` : `key:${h.subject}`;

describe('planner - properties', () => {
  it('planner - under any hotspots, executor answers and measurements, it keeps its promises (property)', () => {
    fc.assert(
      fc.property(fc.array(segmentArb, { minLength: 1, maxLength: 12 }), fc.integer(), (segments, seed) => {
        const { trace, records } = simulate(segments, seed);
        const lastHot = new Map<string, number>();
        // A read remedy (cache, replicas) stands while its key is read-hot, a write remedy (aggregate, salt) while it is write-hot.
        const lastHeat = new Map<string, number>();
        const appliedAt: number[] = [];
        const verdicts = new Set<string>();
        for (const { now, hot, out, live } of trace) {
          for (const h of hot) lastHot.set(subjectOf(h), now);
          for (const h of hot) lastHeat.set(`${h.heat} ${subjectOf(h)}`, now);
          // A shedding node is hot while any hotspot on it is.
          for (const h of hot) if (h.node !== null) lastHot.set(`node:${h.node}`, now);
          for (const o of out) {
            if (o.type === 'apply') {
              const subject = `${o.subject.type}:${o.subject.name}`;
              appliedAt.push(now);
              // Never asked again while in place (shedding alone goes up a priority tier, replacing the level before).
              const placed = live.filter(
                (r) => r.kind === o.kind && `${r.subject.type}:${r.subject.name}` === subject,
              );
              if (o.kind !== 'shed') expect(placed).toEqual([]);
              else
                for (const r of placed)
                  expect(o.settings.belowPriority).toBeGreaterThan(r.settings.belowPriority as number);
              // Never on a do-not-touch subject; never salted outside the counter patterns.
              expect(o.subject.name.startsWith('config:')).toBe(false);
              if (o.kind === 'salt') expect(o.subject.name).toMatch(/^likes:/);
              if (o.kind === 'replicate') expect(o.subject.name).toMatch(/^balance:/);
              if (o.kind === 'cache') expect(o.subject.name).not.toMatch(/^balance:/);
              // Throttling only with impact; shedding only with p99 over the SLO.
              const h = hot.find((x) => x.id === o.hotspot.id)!;
              expect(h).toBeDefined();
              if (o.kind === 'throttle-key' || o.kind === 'quota-tenant')
                expect(h.impact.length).toBeGreaterThan(0);
              if (o.kind === 'shed') expect(h.impact).toContain('p99-over-slo');
            } else if (o.type === 'revert') {
              // Only what is in place, and only once the subject has been cold for the hysteresis (or a probe that found no counter).
              const r = live.find((x) => x.id === o.actionId);
              expect(r).toBeDefined();
              const subject = `${o.subject.type}:${o.subject.name}`;
              const serves = SERVES[o.kind];
              const cold =
                now -
                ((serves === undefined ? lastHot.get(subject) : lastHeat.get(`${serves} ${subject}`)) ??
                  -Infinity);
              if (!o.reason.includes('no counter'))
                expect(cold).toBeGreaterThanOrEqual(SETTINGS.hysteresisMs);
            } else {
              // One verdict per action, no sooner than the verify delay.
              expect(verdicts.has(o.actionId)).toBe(false);
              verdicts.add(o.actionId);
              const r = records.find((x) => x.id === o.actionId)!;
              expect(now - r.createdAt).toBeGreaterThanOrEqual(SETTINGS.verifyDelayMs);
            }
          }
          // The per-minute cap.
          expect(appliedAt.filter((t) => t > now - 60_000).length).toBeLessThanOrEqual(
            SETTINGS.maxActionsPerMinute,
          );
        }
      }),
      { numRuns: 200 },
    );
  });
});
