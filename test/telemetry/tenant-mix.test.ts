/**
 * Which tenants send to which shard and node (tenant-mix.ts), read through
 * RouterTelemetry.tenantsOf on a manual clock: counts per tenant to one
 * entity against the tenant's total, the window, and the ring's reuse.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { Outcome, RouterTelemetry } from '../../src/telemetry/router-telemetry.js';
import { TenantMix } from '../../src/telemetry/tenant-mix.js';

const START = 1_700_000_000_000;

describe('tenant mix', () => {
  it('tenant mix - a node lists the tenants that sent to it, with their totals everywhere', () => {
    const clock = new ManualClock(START);
    const t = new RouterTelemetry({ clock });
    const [s0, s1] = ['s0', 's1'].map((id) => t.shardIndex(id));
    const [n0, n1] = ['n0', 'n1'].map((id) => t.nodeIndex(id));
    const [acme, globex] = ['acme', 'globex'].map((id) => t.tenantIndex(id));
    const send = (shard: number, node: number, tenant: number, n: number): void => {
      for (let i = 0; i < n; i++)
        t.record(shard, node, tenant, Buffer.from(`k${i}`), false, 10, 10, 100, Outcome.Ok);
    };
    send(s0!, n0!, acme!, 30);
    send(s1!, n1!, acme!, 10);
    send(s1!, n1!, globex!, 50);
    send(s1!, n1!, -1, 5); // nobody's: not in the mix
    expect(Object.fromEntries(t.tenantsOf('node', 'n0', 2))).toEqual({ acme: { toEntity: 30, total: 40 } });
    expect(Object.fromEntries(t.tenantsOf('node', 'n1', 2))).toEqual({
      acme: { toEntity: 10, total: 40 },
      globex: { toEntity: 50, total: 50 },
    });
    expect(Object.fromEntries(t.tenantsOf('shard', 's0', 2))).toEqual({ acme: { toEntity: 30, total: 40 } });
    expect(t.tenantsOf('node', 'n9', 2).size).toBe(0);
    // Two seconds later the first second is out of a 2-second window, not of a 3-second one.
    clock.advance(2000);
    send(s0!, n0!, globex!, 4);
    expect(Object.fromEntries(t.tenantsOf('node', 'n0', 2))).toEqual({ globex: { toEntity: 4, total: 4 } });
    expect(Object.fromEntries(t.tenantsOf('node', 'n0', 3))).toEqual({
      acme: { toEntity: 30, total: 40 },
      // Its 50 to n1 a window ago count in its total.
      globex: { toEntity: 4, total: 54 },
    });
  });

  it('tenant mix - weights count as sampled requests, and a reused slot starts empty', () => {
    const mix = new TenantMix(3);
    mix.advanceTo(100);
    mix.add(0, 0, 2, 8);
    mix.add(0, 1, 2, 8);
    expect(mix.counts('node', 0, 100, 1)).toEqual([0, 0, 8]);
    expect(mix.counts('shard', 0, 100, 1)).toEqual([0, 0, 16]);
    expect(mix.counts('node', null, 100, 1)).toEqual([0, 0, 16]);
    // Second 103 reuses second 100's slot.
    mix.advanceTo(103);
    mix.add(0, 0, 1, 1);
    expect(mix.counts('node', 0, 103, 3)).toEqual([0, 1]);
    expect(mix.counts('node', 0, 100, 1)).toEqual([]);
  });
});
