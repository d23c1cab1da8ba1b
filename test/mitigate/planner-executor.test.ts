/**
 * The planner wired to the real executor, policy manager and remedies over a
 * router on embedded nodes, the way the monitor wires it: its requests pass
 * the action kinds' settings checks, its measurements come from the remedies'
 * own status, and its reverts leave the key plain.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ShardBackend } from '../../src/backend/backend.js';
import { ManualClock } from '../../src/clock.js';
import type { Hotspot } from '../../src/detect/hotspot.js';
import { Executor } from '../../src/mitigate/executor.js';
import { keyPolicyActions } from '../../src/mitigate/key-actions.js';
import { submitPlan } from '../../src/mitigate/plan-runner.js';
import { Planner } from '../../src/mitigate/planner.js';
import { PolicyManager } from '../../src/mitigate/policies.js';
import { PER_ROUTER_REMEDIES, availableRemedies } from '../../src/mitigate/remedies.js';
import { hotspot, T0 } from './planner-harness.js';
import { send, testRouter, text } from './test-remedy.js';

const toClose: ShardBackend[] = [];
afterEach(async () => {
  await Promise.all(toClose.splice(0).map((b) => b.close()));
});

describe('planner - with the executor', () => {
  it('planner - cache from the planner serves the key, is judged effective from its hit count, then throttled under impact, and both revert once cold', async () => {
    const router = testRouter(toClose);
    const clock = new ManualClock(T0);
    const policies = new PolicyManager({ router, clock }, availableRemedies());
    const executor = new Executor({ handlers: keyPolicyActions(policies), clock, cooldownMs: 1_000 });
    let hot: Hotspot[] = [];
    const planner = new Planner(
      {
        clock,
        hotspots: () => hot,
        actions: () => executor.list(),
        kinds: () => executor.kinds,
        inForce: (a) => executor.activeOn(a.subject).some((r) => r.id === a.id),
        status: (a) => executor.status(a.id),
        consistencyOf: (k) => policies.get(Buffer.from(k, 'latin1'))?.policy.consistency,
      },
      { cooldownMs: 1_000, hysteresisMs: 10_000, impactHoldMs: 0 },
    );
    const log: string[] = [];
    const step = async (ms: number): Promise<void> => {
      clock.advance(ms);
      for (const { output: o, result, detail } of await submitPlan(planner.tick(), executor)) {
        if (o.type === 'apply') log.push(`${o.kind} ${result}${detail === null ? '' : `: ${detail}`}`);
        else if (o.type === 'revert') log.push(`revert ${o.kind} ${result}`);
        else log.push(`${o.outcome} ${o.kind}: ${o.detail}`);
      }
    };

    await send(router, 'set', 'celeb', 'v1');
    hot = [hotspot({ subject: 'celeb' })];
    await step(250);
    expect(log).toEqual(['cache done']);
    for (let i = 0; i < 20; i++) expect(text(await send(router, 'get', 'celeb'))).toBe('v1');
    // 5 s on: one miss (the fill) in 20 reads.
    await step(5_000);
    expect(log.at(-1)).toBe('effective cache: keyBackendReadShare 0.05 ≤ 0.2 predicted');
    expect(executor.list().find((r) => r.kind === 'cache')).toMatchObject({
      outcome: 'effective',
      measurement: { value: 0.05 },
    });
    // p99 over the SLO: the next rung, a throttle the throttle action kind accepts.
    hot = [hotspot({ subject: 'celeb', impact: ['p99-over-slo'], severity: 'critical' })];
    await step(250);
    expect(log.at(-1)).toBe('throttle-key done');
    expect(policies.get(Buffer.from('celeb'))?.policy).toMatchObject({
      cache: { maxStaleMs: 1000, staleWhileRevalidate: false },
      coalesce: true,
      throttle: { opsPerSec: expect.any(Number) as unknown, burst: expect.any(Number) as unknown },
    });
    // Cold: after the hysteresis both are reverted and the key is plain again.
    hot = [];
    for (let i = 0; i < 44; i++) await step(250);
    expect(log.filter((l) => l.startsWith('revert')).sort()).toEqual([
      'revert cache done',
      'revert throttle-key done',
    ]);
    expect(policies.get(Buffer.from('celeb'))).toBeUndefined();
    expect(text(await send(router, 'get', 'celeb'))).toBe('v1');
  });
});

describe('planner - with the executor refusing', () => {
  it('planner - a request the executor refuses (manual mode) leaves no record; the planner asks again after its cooldown, and not for the next rung', async () => {
    const router = testRouter(toClose);
    const clock = new ManualClock(T0);
    const policies = new PolicyManager({ router, clock }, availableRemedies());
    const executor = new Executor({ handlers: keyPolicyActions(policies), clock, mode: 'manual' });
    const planner = new Planner(
      { clock, hotspots: () => [hotspot({ impact: ['p99-over-slo'] })], actions: () => executor.list() },
      { cooldownMs: 2_000 },
    );
    const asked: string[] = [];
    for (let i = 0; i < 24; i++) {
      clock.advance(250);
      for (const r of await submitPlan(planner.tick(), executor))
        asked.push(
          `${clock.now() - T0} ${r.output.type === 'apply' ? r.output.kind : r.output.type} ${r.result}`,
        );
    }
    expect(asked).toEqual(['250 cache refused', '2250 cache refused', '4250 cache refused']);
    expect(executor.list()).toEqual([]);
    expect(policies.get(Buffer.from('celeb'))).toBeUndefined();
  });

  it('planner - on a shared store a strong read-hot key is not replicated (another router would write past the copies): the ladder goes to the throttle', async () => {
    const first = async (shared: boolean): Promise<string[]> => {
      const router = testRouter(toClose);
      const clock = new ManualClock(T0);
      const withheld = shared ? PER_ROUTER_REMEDIES : undefined;
      const policies = new PolicyManager({ router, clock }, availableRemedies(), withheld);
      const executor = new Executor({ handlers: keyPolicyActions(policies), clock });
      if (shared) {
        expect(policies.remedies).toEqual(['throttle', 'aggregate', 'cache']);
        // An operator asking for it is told why.
        await expect(
          policies.set(Buffer.from('acct:2'), { consistency: 'strong', replicas: { count: 2 } }),
        ).rejects.toThrow(/remedy 'replicas' is not available: on a shared store .* stale/);
      }
      const planner = new Planner(
        {
          clock,
          hotspots: () => [hotspot({ subject: 'acct:1', impact: ['p99-over-slo'] })],
          actions: () => executor.list(),
          kinds: () => executor.kinds,
        },
        { strong: ['acct:*'], impactHoldMs: 0 },
      );
      await send(router, 'set', 'acct:1', '100');
      clock.advance(250);
      return (await submitPlan(planner.tick(), executor)).map(
        (r) => `${r.output.type === 'apply' ? r.output.kind : r.output.type} ${r.result}`,
      );
    };
    expect(await first(false)).toEqual(['replicate done']);
    expect(await first(true)).toEqual(['throttle-key done']);
  });
});

describe('planner - counters with the executor', () => {
  it('planner - a counter is aggregated and judged from the aggregation’s own writes per increment; a write-hot key that gets no INCR is found no counter and its probe reverted', async () => {
    const router = testRouter(toClose);
    const clock = new ManualClock(T0);
    const policies = new PolicyManager({ router, clock }, availableRemedies());
    const executor = new Executor({ handlers: keyPolicyActions(policies), clock, cooldownMs: 1_000 });
    const planner = new Planner(
      {
        clock,
        hotspots: () => [
          hotspot({ subject: 'likes:1', heat: 'write-hot', evidence: { writes: 20_000, rate: 20_000 } }),
          hotspot({ subject: 'doc:1', heat: 'write-hot' }),
        ],
        actions: () => executor.list(),
        kinds: () => executor.kinds,
        inForce: (a) => executor.activeOn(a.subject).some((r) => r.id === a.id),
        status: (a) => executor.status(a.id),
      },
      { counters: ['likes:*'] },
    );
    const log: string[] = [];
    const step = async (ms: number): Promise<void> => {
      clock.advance(ms);
      for (const { output: o, result } of await submitPlan(planner.tick(), executor)) {
        if (o.type === 'apply') log.push(`${o.kind} ${o.subject.name} ${result}`);
        else if (o.type === 'revert') log.push(`revert ${o.kind} ${o.subject.name} ${result}`);
        else log.push(`${o.outcome} ${o.kind} ${o.subject.name}: ${o.detail}`);
      }
    };
    await step(250);
    expect(log.sort()).toEqual(['aggregate doc:1 done', 'aggregate likes:1 done']);
    // 400 increments at once on the counter, plain writes on the other key.
    const replies = await Promise.all(Array.from({ length: 400 }, () => send(router, 'incr', 'likes:1')));
    expect(new Set(replies.map(text)).size).toBe(400);
    for (let i = 0; i < 10; i++) await send(router, 'set', 'doc:1', String(i));
    log.length = 0;
    await step(5_000);
    const writes = executor.status(
      executor.list().find((r) => r.subject.name === 'likes:1')!.id,
    )?.writesPerIncrement;
    expect(writes).toBeLessThanOrEqual(0.05);
    expect(log.sort()).toEqual(
      [
        `effective aggregate likes:1: backendWritesPerIncrement ${String(Number((writes as number).toPrecision(3)))} ≤ 0.02 predicted`,
        'ineffective aggregate doc:1: no INCR-family command reached the aggregation: the key is no counter',
        'revert aggregate doc:1 done',
      ].sort(),
    );
    expect(policies.get(Buffer.from('doc:1'))).toBeUndefined();
    expect(policies.get(Buffer.from('likes:1'))?.policy.aggregate).toEqual({ flushMs: 5, mode: 'sync' });
    expect(text(await send(router, 'get', 'likes:1'))).toBe('400');
  });
});
