/**
 * The executor: actions change what the router does for a key and are logged
 * with their states in order; the automation mode and the planner's budgets
 * (do-not-touch, cooldown, per-minute cap) are enforced on a manual clock.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { EventBus } from '../../src/control/events.js';
import type { ActionKindHandler, ActionSubject } from '../../src/mitigate/action.js';
import { ActionRefused, Executor, type ActionRequest } from '../../src/mitigate/executor.js';
import { admissionActions } from '../../src/mitigate/admission-actions.js';
import { keyFromText, keyPolicyActions } from '../../src/mitigate/key-actions.js';
import { PolicyManager } from '../../src/mitigate/policies.js';
import { answeringRemedy, send, testRouter, text } from './test-remedy.js';

function setup(options: Partial<ConstructorParameters<typeof Executor>[0]> = {}) {
  const router = testRouter();
  const clock = new ManualClock();
  const policies = new PolicyManager({ router, clock }, [
    answeringRemedy('cache'),
    answeringRemedy('throttle'),
  ]);
  const bus = new EventBus();
  const events: string[] = [];
  bus.subscribe((e) => events.push(`${e.type} ${(e.data as { id?: string }).id ?? ''}`.trim()));
  const executor = new Executor({
    handlers: keyPolicyActions(policies),
    bus,
    clock,
    cooldownMs: 10_000,
    maxPlannerActionsPerMinute: 3,
    ...options,
  });
  return { router, clock, policies, executor, events };
}

const key = (name: string): ActionSubject => ({ type: 'key', name });
const cacheBy = (by: 'planner' | 'operator', name = 'hot', reason = 'read-hot'): ActionRequest => ({
  kind: 'cache',
  subject: key(name),
  settings: { maxStaleMs: 50 },
  by,
  reason,
});

describe('executor', () => {
  it('executor - an action merges its part into the key policy, is logged pending → running → done, and its revert removes the part', async () => {
    const { router, policies, executor, events } = setup();
    await send(router, 'set', 'hot', 'plain');
    const a = await executor.execute(cacheBy('operator', 'hot', 'celebrity launch'));
    expect(a).toMatchObject({
      id: 'a-1',
      state: 'done',
      outcome: 'pending',
      by: 'operator',
      reason: 'celebrity launch',
    });
    expect(text(await send(router, 'get', 'hot'))).toBe(
      'cache:{"maxStaleMs":50,"staleWhileRevalidate":false,"writeThrough":true}',
    );
    const t = await executor.execute({
      kind: 'throttle-key',
      subject: key('hot'),
      settings: { opsPerSec: 100 },
      by: 'operator',
      reason: 'writes too',
    });
    expect(policies.get(Buffer.from('hot'))?.policy).toEqual({
      consistency: 'bounded',
      cache: { maxStaleMs: 50, staleWhileRevalidate: false, writeThrough: true },
      coalesce: true,
      throttle: { opsPerSec: 100, burst: 100 },
    });
    // Throttle runs first in the chain: its stage answers the GET now.
    expect(text(await send(router, 'get', 'hot'))).toMatch(/^throttle:/);
    await executor.revert(t.id, 'calm again');
    expect(text(await send(router, 'get', 'hot'))).toMatch(/^cache:/);
    const reverted = await executor.revert(a.id, 'over');
    expect(reverted).toMatchObject({
      state: 'rolled-back',
      outcome: 'reverted',
      detail: 'reverted by operator: over',
    });
    expect(policies.get(Buffer.from('hot'))).toBeUndefined();
    expect(text(await send(router, 'get', 'hot'))).toBe('plain');
    expect(events).toEqual([
      'action.pending a-1',
      'action.running a-1',
      'action.done a-1',
      'action.pending a-2',
      'action.running a-2',
      'action.done a-2',
      'action.rolled-back a-2',
      'action.rolled-back a-1',
    ]);
    expect(executor.list().map((r) => r.id)).toEqual(['a-2', 'a-1']);
    await expect(executor.revert(a.id, 'again')).rejects.toMatchObject({ reason: 'not-revertible' });
  });

  it('executor - bad settings fail the action with a message naming the field; an unknown kind is refused', async () => {
    const { executor } = setup();
    const a = await executor.execute({ ...cacheBy('operator'), settings: { maxStaleMs: -1 } });
    expect(a.state).toBe('failed');
    expect(a.detail).toMatch(/maxStaleMs/);
    await expect(executor.execute({ ...cacheBy('operator'), kind: 'shed' })).rejects.toThrow(
      /no handler for action kind 'shed'/,
    );
  });

  it('executor - a whole policy supersedes the parts before it, and one with no remedy removes the key policy', async () => {
    const { router, executor } = setup();
    const a = await executor.execute(cacheBy('operator'));
    const p = await executor.execute({
      kind: 'policy',
      subject: key('hot'),
      settings: { consistency: 'bounded', throttle: { opsPerSec: 5, burst: 5 } },
      by: 'operator',
      reason: 'by hand',
    });
    expect(p.state).toBe('done');
    expect(executor.get(a.id)?.detail).toBe(`superseded by ${p.id}`);
    await expect(executor.revert(a.id, 'x')).rejects.toThrow(/superseded/);
    expect(text(await send(router, 'get', 'hot'))).toBe('throttle:{"opsPerSec":5,"burst":5}');
    await executor.execute({
      kind: 'policy',
      subject: key('hot'),
      settings: {},
      by: 'operator',
      reason: 'off',
    });
    expect(await send(router, 'get', 'hot')).toBeNull();
  });

  it('executor - dry-run records the planner’s request as recommended and applies nothing; operators still act', async () => {
    const { router, executor, events } = setup({ mode: 'dry-run' });
    const r = await executor.execute(cacheBy('planner'));
    expect(r).toMatchObject({ state: 'done', outcome: 'recommended' });
    expect(await send(router, 'get', 'hot')).toBeNull();
    expect(events).toEqual(['action.recommended a-1']);
    await expect(executor.revert(r.id, 'x', 'planner')).rejects.toMatchObject({ reason: 'dry-run' });
    await executor.execute(cacheBy('operator', 'other'));
    expect(text(await send(router, 'get', 'other'))).toMatch(/^cache:/);
  });

  it('executor - manual refuses the planner, frozen refuses everyone with a clear error, and only an operator thaws it', async () => {
    const { executor, events } = setup();
    executor.setAutomation({ mode: 'manual', by: 'operator', reason: 'incident review' });
    await expect(executor.execute(cacheBy('planner'))).rejects.toMatchObject({ reason: 'manual' });
    const a = await executor.execute(cacheBy('operator'));
    expect(a.state).toBe('done');
    executor.setAutomation({ mode: 'frozen', by: 'operator', reason: 'change freeze' });
    const refused = executor.execute(cacheBy('operator', 'other'));
    await expect(refused).rejects.toBeInstanceOf(ActionRefused);
    await expect(refused).rejects.toThrow(/frozen: nothing changes/);
    await expect(executor.revert(a.id, 'no')).rejects.toMatchObject({ reason: 'frozen' });
    expect(() => executor.setAutomation({ mode: 'auto', by: 'planner', reason: 'x' })).toThrow(/frozen/);
    executor.setAutomation({ mode: 'auto', by: 'operator', reason: 'thaw' });
    expect(executor.changes.map((c) => `${c.mode} ${c.reason}`)).toEqual([
      'manual incident review',
      'frozen change freeze',
      'auto thaw',
    ]);
    expect(events.filter((e) => e.startsWith('automation.'))).toHaveLength(3);
    expect(executor.list()).toHaveLength(1); // refusals are errors, not records
  });

  it('executor - the planner waits out the cooldown after any change to a subject, and is capped per minute', async () => {
    const { clock, executor } = setup();
    await executor.execute(cacheBy('operator', 'k1'));
    await expect(executor.execute(cacheBy('planner', 'k1'))).rejects.toMatchObject({ reason: 'cooldown' });
    clock.advance(9_999);
    expect(executor.refusal(cacheBy('planner', 'k1'))?.reason).toBe('cooldown');
    clock.advance(1);
    expect(executor.refusal(cacheBy('planner', 'k1'))).toBeNull();
    // Cap 3 per minute: the fourth on a fresh subject is refused until the first is a minute old.
    for (const k of ['k1', 'k2', 'k3'])
      expect((await executor.execute(cacheBy('planner', k))).state).toBe('done');
    await expect(executor.execute(cacheBy('planner', 'k4'))).rejects.toMatchObject({ reason: 'rate-cap' });
    // Operators are not budgeted.
    expect((await executor.execute(cacheBy('operator', 'k5'))).state).toBe('done');
    clock.advance(59_999);
    expect(executor.refusal(cacheBy('planner', 'k4'))?.reason).toBe('rate-cap');
    clock.advance(1);
    expect((await executor.execute(cacheBy('planner', 'k4'))).state).toBe('done');
  });

  it('executor - the do-not-touch list stops the planner (exact names and prefix*), not operators', async () => {
    const { executor } = setup({ doNotTouch: ['session:*', 'exact'] });
    await expect(executor.execute(cacheBy('planner', 'session:42'))).rejects.toMatchObject({
      reason: 'do-not-touch',
    });
    await expect(executor.execute(cacheBy('planner', 'exact'))).rejects.toThrow(
      /do-not-touch list \('exact'\)/,
    );
    expect((await executor.execute(cacheBy('planner', 'exactly'))).state).toBe('done');
    expect((await executor.execute(cacheBy('operator', 'session:42'))).state).toBe('done');
  });

  it('executor - actions on one subject run one at a time; a pending one can be cancelled and never applies', async () => {
    const gates: (() => void)[] = [];
    const order: string[] = [];
    const slow: ActionKindHandler = {
      kind: 'cache',
      apply: (s, settings) =>
        new Promise<void>((resolve) => {
          order.push(`apply ${s.name} ${JSON.stringify(settings)}`);
          gates.push(resolve);
        }),
      revert: () => Promise.resolve(),
      status: () => null,
    };
    const { executor } = setup({ handlers: [slow] });
    const first = executor.execute({ ...cacheBy('operator'), settings: { n: 1 } });
    const second = executor.execute({ ...cacheBy('operator'), settings: { n: 2 } });
    const third = executor.execute({ ...cacheBy('operator'), settings: { n: 3 } });
    const other = executor.execute({ ...cacheBy('operator', 'elsewhere'), settings: { n: 4 } });
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual(['apply hot {"n":1}', 'apply elsewhere {"n":4}']);
    expect(executor.get('a-1')?.state).toBe('running');
    expect(() => executor.cancel('a-1')).toThrow(/only a pending action/);
    executor.cancel('a-2', 'changed my mind');
    gates.shift()!();
    gates.shift()!();
    await new Promise((r) => setImmediate(r));
    gates.shift()!();
    const records = await Promise.all([first, second, third, other]);
    expect(records.map((r) => r.state)).toEqual(['done', 'cancelled', 'done', 'done']);
    expect(order).toEqual(['apply hot {"n":1}', 'apply elsewhere {"n":4}', 'apply hot {"n":3}']);
    expect(records[1].detail).toBe('changed my mind');
  });

  it('executor - the log is bounded, filters by state and kind, and an action in force stays revertible after it is dropped', async () => {
    const { executor } = setup({ logSize: 3 });
    const first = await executor.execute(cacheBy('operator', 'k0'));
    for (let i = 1; i < 5; i++) await executor.execute(cacheBy('operator', `k${i}`));
    expect(executor.list().map((r) => r.id)).toEqual(['a-5', 'a-4', 'a-3']);
    expect(executor.list({ limit: 1 }).map((r) => r.id)).toEqual(['a-5']);
    expect(executor.list({ kind: 'throttle-key' })).toEqual([]);
    expect((await executor.revert(first.id, 'cold')).state).toBe('rolled-back');
    expect(executor.list({ state: 'done' })).toHaveLength(3);
  });

  it('executor - a measurement and its verdict are kept on the record and published', async () => {
    const { executor, events } = setup();
    const a = await executor.execute({
      ...cacheBy('planner'),
      prediction: { metric: 'nodeShare', before: 0.6, expected: 0.3, direction: 'below' },
    });
    const r = executor.recordMeasurement(a.id, { at: 1, value: 0.25, evidence: {} }, 'effective');
    expect(r).toMatchObject({ outcome: 'effective', measurement: { value: 0.25 } });
    expect(events.at(-1)).toBe('action.measured a-1');
    expect(executor.status(a.id)).toMatchObject({ serving: 'hot' });
  });

  it('key subjects - names written as keyText prints them turn back into the key bytes', () => {
    expect(keyFromText('plain:key')).toEqual(Buffer.from('plain:key'));
    expect(keyFromText('a\\\\b\\xff\\x00')).toEqual(Buffer.from([0x61, 0x5c, 0x62, 0xff, 0x00]));
  });
});

/**
 * The admission seam: the admission stage itself is another branch's
 * (src/router/admission.ts); this stands in for its four methods, keeping
 * only what they store.
 */
describe('admission actions', () => {
  function admissionStandIn() {
    const quotas = new Map<string, { opsPerSec: number; burst: number }>();
    const levels = new Map<string, number>();
    return {
      quotas,
      levels,
      setTenantQuota(t: string, l: { opsPerSec: number; burst?: number | undefined } | null) {
        if (l === null) quotas.delete(t);
        else quotas.set(t, { opsPerSec: l.opsPerSec, burst: l.burst ?? Math.ceil(l.opsPerSec) });
      },
      tenantQuota: (t: string) => quotas.get(t),
      setShedding(n: string, level: number | null) {
        if (level === null) levels.delete(n);
        else levels.set(n, level);
      },
      shedding: (n: string) => levels.get(n),
    };
  }

  it('admission actions - a tenant quota and shedding apply, and their revert restores what was in force before (a configured quota stays)', async () => {
    const adm = admissionStandIn();
    adm.quotas.set('acme', { opsPerSec: 5000, burst: 5000 });
    const executor = new Executor({ handlers: admissionActions(adm), clock: new ManualClock() });
    const q1 = await executor.execute({
      kind: 'quota-tenant',
      subject: { type: 'tenant', name: 'acme' },
      settings: { opsPerSec: 1000 },
      by: 'planner',
      reason: 'noisy tenant',
    });
    const q2 = await executor.execute({
      kind: 'quota-tenant',
      subject: { type: 'tenant', name: 'acme' },
      settings: { opsPerSec: 500, burst: 50 },
      by: 'operator',
      reason: 'tighter',
    });
    expect(q1.detail).toBe(`superseded by ${q2.id}`);
    expect(adm.quotas.get('acme')).toEqual({ opsPerSec: 500, burst: 50 });
    await executor.revert(q2.id, 'quiet again');
    expect(adm.quotas.get('acme')).toEqual({ opsPerSec: 5000, burst: 5000 });

    const shed = await executor.execute({
      kind: 'shed',
      subject: { type: 'node', name: 'n1' },
      settings: { belowPriority: 1 },
      by: 'operator',
      reason: 'SLO breach',
    });
    expect(adm.levels.get('n1')).toBe(1);
    expect(executor.status(shed.id)).toEqual({ belowPriority: 1 });
    await executor.revert(shed.id, 'recovered');
    expect(adm.levels.has('n1')).toBe(false);

    const wrong = await executor.execute({
      kind: 'shed',
      subject: { type: 'tenant', name: 'acme' },
      settings: { belowPriority: 1 },
      by: 'operator',
      reason: 'x',
    });
    expect(wrong).toMatchObject({ state: 'failed', detail: 'shed acts on a node, not on a tenant' });
  });
});

describe('key policy actions', () => {
  it('key policy actions - only the kinds whose remedy the process has are offered, so the executor refuses the others up front', () => {
    const router = testRouter();
    const policies = new PolicyManager({ router, clock: new ManualClock() }, [answeringRemedy('aggregate')]);
    const executor = new Executor({ handlers: keyPolicyActions(policies) });
    expect(executor.kinds).toEqual(['aggregate', 'policy']);
    expect(executor.refusal(cacheBy('planner'))?.message).toBe(
      "no handler for action kind 'cache' (available: aggregate, policy)",
    );
  });
});

describe('executor model', () => {
  type Op =
    | { op: 'part'; kind: 'cache' | 'throttle-key'; key: string; n: number }
    | { op: 'revert'; kind: 'cache' | 'throttle-key' | 'policy'; key: string }
    | { op: 'policy'; key: string; cache: number | null; throttle: number | null };
  const keys = fc.constantFrom('a', 'b');
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    fc.record({
      op: fc.constant('part' as const),
      kind: fc.constantFrom('cache' as const, 'throttle-key' as const),
      key: keys,
      n: fc.integer({ min: 1, max: 9 }),
    }),
    fc.record({
      op: fc.constant('revert' as const),
      kind: fc.constantFrom('cache' as const, 'throttle-key' as const, 'policy' as const),
      key: keys,
    }),
    fc.record({
      op: fc.constant('policy' as const),
      key: keys,
      cache: fc.option(fc.integer({ min: 1, max: 9 })),
      throttle: fc.option(fc.integer({ min: 1, max: 9 })),
    }),
  );

  it('executor model - after any sequence of applies, whole policies and reverts, each key’s policy holds exactly the parts of the actions in force', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { maxLength: 25 }), async (ops) => {
        const { policies, executor } = setup();
        // The model: per key, the remedy parts in force.
        const model = new Map<string, { cache?: number; throttle?: number }>();
        for (const o of ops) {
          const parts = model.get(o.key) ?? {};
          if (o.op === 'part') {
            const r = await executor.execute({
              kind: o.kind,
              subject: key(o.key),
              settings: o.kind === 'cache' ? { maxStaleMs: o.n } : { opsPerSec: o.n },
              by: 'operator',
              reason: 'model',
            });
            expect(r.state).toBe('done');
            model.set(o.key, { ...parts, [o.kind === 'cache' ? 'cache' : 'throttle']: o.n });
          } else if (o.op === 'policy') {
            const settings: Record<string, unknown> = { consistency: 'bounded' };
            if (o.cache !== null) settings.cache = { maxStaleMs: o.cache, staleWhileRevalidate: false };
            if (o.throttle !== null) settings.throttle = { opsPerSec: o.throttle, burst: o.throttle };
            await executor.execute({
              kind: 'policy',
              subject: key(o.key),
              settings,
              by: 'operator',
              reason: 'm',
            });
            model.set(o.key, {
              ...(o.cache === null ? {} : { cache: o.cache }),
              ...(o.throttle === null ? {} : { throttle: o.throttle }),
            });
          } else {
            const target = executor.activeOn(key(o.key)).find((r) => r.kind === o.kind);
            if (target === undefined) continue;
            await executor.revert(target.id, 'm');
            if (o.kind === 'policy') model.set(o.key, {});
            else {
              const next = { ...parts };
              delete next[o.kind === 'cache' ? 'cache' : 'throttle'];
              model.set(o.key, next);
            }
          }
          for (const k of ['a', 'b']) {
            const want = model.get(k) ?? {};
            const got = policies.get(Buffer.from(k))?.policy;
            expect({ cache: got?.cache?.maxStaleMs, throttle: got?.throttle?.opsPerSec }).toEqual({
              cache: want.cache,
              throttle: want.throttle,
            });
          }
        }
        await policies.clear();
      }),
      { numRuns: 60, seed: 13 },
    );
  });
});

describe('executor: a failed policy change', () => {
  it('an apply that fails after the old chain closed leaves no action listed as in force for what is gone', async () => {
    const router = testRouter();
    const clock = new ManualClock();
    const cache = answeringRemedy('cache');
    // Builds fail for one setting: the change has closed the old chain by then.
    const failing: typeof cache = {
      name: 'cache',
      build: (policy, k, next, ctx) => {
        if (policy.cache?.maxStaleMs === 13) throw new Error('cannot build');
        return cache.build(policy, k, next, ctx);
      },
    };
    const policies = new PolicyManager({ router, clock }, [failing]);
    const executor = new Executor({ handlers: keyPolicyActions(policies), clock });
    const first = await executor.execute({ ...cacheBy('operator'), settings: { maxStaleMs: 50 } });
    expect(first.state).toBe('done');
    expect(executor.activeOn(key('hot')).map((r) => r.id)).toEqual([first.id]);
    const second = await executor.execute({ ...cacheBy('operator'), settings: { maxStaleMs: 13 } });
    expect(second.state).toBe('failed');
    expect(router.policies.size).toBe(0);
    expect(executor.activeOn(key('hot'))).toEqual([]);
    expect(executor.status(first.id)).toBeNull();
  });
});
