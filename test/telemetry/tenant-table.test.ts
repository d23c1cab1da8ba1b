/**
 * Tenant telemetry has bounded cardinality whatever names clients send: a
 * few tenants by name, the rest summed exactly under `other`, idle ones
 * evicted, the busiest promoted.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { RouterTelemetry } from '../../src/telemetry/router-telemetry.js';
import { OTHER_TENANT } from '../../src/telemetry/tenant-table.js';

const START = 1_700_000_000_000;

function setup(options: ConstructorParameters<typeof RouterTelemetry>[0] = {}) {
  const clock = new ManualClock(START);
  const t = new RouterTelemetry({ clock, sampleSeed: 1, ...options });
  const shard = t.shardIndex('s0');
  const node = t.nodeIndex('n0');
  // A request as the instrumentation sends it: counted, and noted when it lands in `other`.
  const send = (tenant: string, n = 1): void => {
    const e = t.tenantIndex(tenant);
    for (let i = 0; i < n; i++) {
      t.count(shard, node, e, false);
      if (e === t.tenants.other) t.tenants.noteOther(tenant, 1);
    }
  };
  return { clock, t, send };
}

describe('tenant table', () => {
  it('tenant table - 10,000 tenant names keep at most maxTracked by name; every request is still counted', () => {
    const { clock, t, send } = setup({ tenants: { maxTracked: 8 } });
    for (let i = 0; i < 10_000; i++) send(`flood${i}`);
    clock.advance(1000);
    const w = t.window('tenant', 1);
    expect(w.size).toBe(9); // 8 by name + other
    expect(t.counters('tenant').names.length).toBeLessThanOrEqual(9);
    expect(w.get(OTHER_TENANT)?.reads).toBe(10_000 - 8);
    let total = 0;
    for (const e of w.values()) total += e.reads;
    expect(total).toBe(10_000);
  });

  it('tenant table - pinned (declared) tenants always have their own counters and are never evicted', () => {
    const { clock, t, send } = setup({ tenants: { maxTracked: 2, idleSeconds: 5, pinned: ['acme'] } });
    for (let i = 0; i < 100; i++) send(`x${i}`);
    send('acme', 7);
    clock.advance(1000);
    expect(t.window('tenant', 1).get('acme')?.reads).toBe(7);
    clock.advance(20_000);
    void t.window('tenant', 1);
    expect(t.counters('tenant').find('acme')).toBeDefined();
    expect(t.counters('tenant').find('x0')).toBeUndefined(); // idle: evicted
  });

  it('tenant table - an idle tenant is evicted into other, its slot reused from zero, and cached indexes are invalidated', () => {
    const { clock, t, send } = setup({ tenants: { maxTracked: 1, idleSeconds: 10 } });
    send('a', 5);
    const epoch = t.tenants.epoch;
    clock.advance(1000);
    expect(t.window('tenant', 1).get('a')?.reads).toBe(5);
    clock.advance(9000);
    void t.window('tenant', 1);
    expect(t.counters('tenant').find('a')).toBeDefined(); // idle 10 s: not yet
    clock.advance(2000);
    void t.window('tenant', 1);
    expect(t.counters('tenant').find('a')).toBeUndefined();
    expect(t.tenants.epoch).toBeGreaterThan(epoch);
    const slotOfA = 0;
    send('b', 3);
    expect(t.tenantIndex('b')).toBe(slotOfA);
    clock.advance(1000);
    const w = t.window('tenant', 30);
    expect([...w.keys()].sort()).toEqual(['b', 'other']);
    expect(w.get('b')!.requests).toBe(3); // nothing of `a` left in the reused slot
    expect(w.get('other')!.requests).toBe(5); // a's history, so totals still add up
  });

  it('tenant table - a busy tenant counted under other replaces the lightest tracked one within a second', () => {
    const { clock, t, send } = setup({ tenants: { maxTracked: 3 } });
    for (const n of ['a', 'b', 'c']) send(n, 10);
    send('heavy', 500);
    expect(t.tenantIndex('heavy')).toBe(t.tenants.other);
    const epoch = t.tenants.epoch;
    clock.advance(1000);
    void t.window('tenant', 1); // the second ends: rebalance
    expect(t.tenants.epoch).toBeGreaterThan(epoch);
    expect(t.tenantIndex('heavy')).not.toBe(t.tenants.other);
    expect(t.tenants.tracked).toBe(3);
    send('heavy', 100);
    clock.advance(1000);
    expect(t.window('tenant', 1).get('heavy')?.reads).toBe(100);
    // The tenant it replaced went into other with its history: totals still add up.
    let total = 0;
    for (const e of t.window('tenant', 10).values()) total += e.requests;
    expect(total).toBe(3 * 10 + 500 + 100);
  });

  it('tenant table - a name inside other only a little busier than the lightest tracked one does not churn the table', () => {
    const { clock, t, send } = setup({ tenants: { maxTracked: 2 } });
    send('a', 10);
    send('b', 10);
    send('c', 15);
    const epoch = t.tenants.epoch;
    clock.advance(1000);
    void t.window('tenant', 1);
    expect(t.tenants.epoch).toBe(epoch);
    expect(t.tenantIndex('c')).toBe(t.tenants.other);
  });

  it('tenant table - a closed table (declared tenants) knows only its pinned names and default', () => {
    const { t } = setup({ tenants: { closed: true, pinned: ['acme'] } });
    expect(t.tenantIndex('acme')).toBeGreaterThanOrEqual(0);
    expect(t.tenantIndex('default')).toBeGreaterThanOrEqual(0);
    expect(t.tenantIndex('mallory')).toBe(-1);
  });
});
