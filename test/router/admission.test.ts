/**
 * The admission stage, through a router over embedded nodes on a manual
 * clock: tenant quotas, node limits and shedding answer at once with
 * HS_ERR_THROTTLED (the right scope and an exact retry-after), leave other
 * tenants and nodes alone, count as shed in telemetry, and shed the
 * lowest-priority tenants first.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ShardBackend } from '../../src/backend/backend.js';
import { MemoryBackend } from '../../src/backend/memory.js';
import { ManualClock } from '../../src/clock.js';
import { ErrorCode } from '../../src/errors.js';
import { nodeId, type NodeId } from '../../src/keyspace/ids.js';
import { hashPartitioner } from '../../src/keyspace/partitioner.js';
import { RoutingTable } from '../../src/keyspace/routing-table.js';
import { OK, ReplyError, type Reply } from '../../src/protocol/reply.js';
import { Instrumentation } from '../../src/router/instrumentation.js';
import { Router } from '../../src/router/router.js';
import { Session } from '../../src/router/session.js';
import { Tenants } from '../../src/router/tenants.js';
import { RouterTelemetry } from '../../src/telemetry/router-telemetry.js';

const START = 1_700_000_000_000;
const toClose: ShardBackend[] = [];
afterEach(async () => {
  await Promise.all(toClose.splice(0).map((b) => b.close()));
});

const N0 = nodeId('n0');
const N1 = nodeId('n1');

function setup(
  tenants?: Tenants,
  tenantFromKey = false,
): { router: Router; clock: ManualClock; table: RoutingTable } {
  const clock = new ManualClock(START);
  const nodes = [N0, N1];
  const table = RoutingTable.create({ partitioner: hashPartitioner(), nodes, shards: 4 });
  const backends = new Map<NodeId, ShardBackend>(nodes.map((n) => [n, new MemoryBackend({ node: n })]));
  toClose.push(...backends.values());
  return { router: new Router(table, backends, { clock, tenants, tenantFromKey }), clock, table };
}

function sessionOf(tenant: string): Session {
  const s = new Session(1, 'test', false, 0);
  s.tenant = tenant;
  return s;
}

// Embedded nodes answer synchronously, and so does every refusal.
function send(r: Router, session: Session, ...args: string[]): Reply {
  let out: Reply | undefined;
  r.dispatch(
    session,
    args.map((a) => Buffer.from(a)),
    undefined,
    (reply) => (out = reply),
  );
  if (out === undefined) throw new Error('no synchronous reply');
  return out;
}

/** A refusal as its fields, anything else as is. */
function shown(reply: Reply): unknown {
  if (reply instanceof ReplyError)
    return reply.code === ErrorCode.Throttled
      ? { throttled: reply.scope, retryAfterMs: reply.retryAfterMs }
      : reply.message;
  return Buffer.isBuffer(reply) ? reply.toString() : reply;
}

/** A key that lives on `node`. */
function keyOn(table: RoutingTable, node: NodeId, prefix = 'k'): string {
  for (let i = 0; ; i++) {
    const key = `${prefix}${i}`;
    if (table.shards[table.indexFor(Buffer.from(key))]!.node === node) return key;
  }
}

describe('admission', () => {
  it('admission - nothing configured: not engaged, every request passes', () => {
    const { router } = setup();
    expect(router.admission.engaged).toBe(false);
    for (let i = 0; i < 100; i++) expect(send(router, sessionOf('a'), 'SET', `k${i}`, 'v')).toBe(OK);
    router.admission.setTenantQuota('a', { opsPerSec: 1 });
    expect(router.admission.engaged).toBe(true);
    router.admission.setTenantQuota('a', null);
    expect(router.admission.engaged).toBe(false);
  });

  it('admission - a tenant over its quota gets scope=tenant with the exact retry-after; another tenant is unaffected', () => {
    const { router, clock } = setup();
    router.admission.setTenantQuota('noisy', { opsPerSec: 10, burst: 3 });
    const noisy = sessionOf('noisy');
    const quiet = sessionOf('quiet');
    const got = Array.from({ length: 5 }, (_, i) => shown(send(router, noisy, 'SET', `n${i}`, 'v')));
    expect(got).toEqual([
      OK,
      OK,
      OK,
      { throttled: 'tenant', retryAfterMs: 100 },
      { throttled: 'tenant', retryAfterMs: 100 },
    ]);
    const refused = send(router, noisy, 'GET', 'n0') as ReplyError;
    expect(refused.message).toBe(
      'BUSY HS_ERR_THROTTLED retry-after-ms=100 scope=tenant tenant noisy is over its quota of 10 ops/s (burst 3)',
    );
    for (let i = 0; i < 50; i++) expect(send(router, quiet, 'SET', `q${i}`, 'v')).toBe(OK);
    // The refused writes never reached a node.
    expect(send(router, quiet, 'EXISTS', 'n3', 'n4')).toBe(0);
    clock.advance(60);
    expect(shown(send(router, noisy, 'GET', 'n0'))).toEqual({ throttled: 'tenant', retryAfterMs: 40 });
    clock.advance(40);
    expect(shown(send(router, noisy, 'GET', 'n0'))).toBe('v');
    expect(router.admission.status().tenants).toEqual([
      { tenant: 'noisy', opsPerSec: 10, burst: 3, tokens: 0, admitted: 4, throttled: 4 },
    ]);
  });

  it('admission - a multi-key command is one request to the tenant quota, and refused whole', () => {
    const { router } = setup();
    router.admission.setTenantQuota('t', { opsPerSec: 1, burst: 2 });
    const t = sessionOf('t');
    expect(send(router, t, 'MSET', 'a', '1', 'b', '2', 'c', '3', 'd', '4')).toBe(OK);
    expect(send(router, t, 'MGET', 'a', 'b', 'c', 'd')).toEqual(
      ['1', '2', '3', '4'].map((v) => Buffer.from(v)),
    );
    expect(shown(send(router, t, 'DEL', 'a', 'b', 'c', 'd'))).toEqual({
      throttled: 'tenant',
      retryAfterMs: 1000,
    });
    expect(send(router, sessionOf('other'), 'EXISTS', 'a', 'b', 'c', 'd')).toBe(4);
  });

  it('admission - a node limit refuses requests to that node only, with scope=node; multi-key takes a token from each node it touches', () => {
    const { router, table, clock } = setup();
    router.admission.setNodeLimit(N0, { opsPerSec: 2, burst: 2 });
    const s = sessionOf('t');
    const on0 = keyOn(table, N0);
    const on1 = keyOn(table, N1);
    expect(send(router, s, 'SET', on0, 'x')).toBe(OK);
    expect(send(router, s, 'MGET', on0, on1)).toEqual([Buffer.from('x'), null]);
    const refused = send(router, s, 'GET', on0) as ReplyError;
    expect(shown(refused)).toEqual({ throttled: 'node', retryAfterMs: 500 });
    expect(refused.message).toMatch(
      /^BUSY HS_ERR_THROTTLED retry-after-ms=500 scope=node node n0 is over its limit/,
    );
    expect(shown(send(router, s, 'MGET', on1, on0))).toEqual({ throttled: 'node', retryAfterMs: 500 });
    for (let i = 0; i < 20; i++) expect(send(router, s, 'GET', on1)).toBe(null);
    clock.advance(500);
    expect(send(router, s, 'GET', on0)).toEqual(Buffer.from('x'));
  });

  it('admission - a refusal takes no token from any limit: the refused request leaves the others as they were', () => {
    const { router, table } = setup();
    router.admission.setTenantQuota('t', { opsPerSec: 1, burst: 5 });
    router.admission.setNodeLimit(N0, { opsPerSec: 1, burst: 1 });
    const s = sessionOf('t');
    const on0 = keyOn(table, N0);
    const on1 = keyOn(table, N1);
    expect(send(router, s, 'GET', on0)).toBe(null);
    for (let i = 0; i < 10; i++)
      expect(shown(send(router, s, 'GET', on0))).toEqual({ throttled: 'node', retryAfterMs: 1000 });
    // The tenant still has 4 of its 5 tokens.
    expect(router.admission.status().tenants[0]).toMatchObject({ tokens: 4, admitted: 1, throttled: 0 });
    for (let i = 0; i < 4; i++) expect(send(router, s, 'GET', on1)).toBe(null);
    // Both limits exhausted: the longer wait is the one named.
    router.admission.setTenantQuota('t', { opsPerSec: 0.5, burst: 5 });
    expect(shown(send(router, s, 'GET', on0))).toEqual({ throttled: 'tenant', retryAfterMs: 2000 });
  });

  it('admission - shedding drops the lowest-priority tenants first, only on the shedding node, and lifts', () => {
    const tenants = new Tenants({
      declared: [
        { name: 'batch', priority: 0 },
        { name: 'web' }, // default priority 1
        { name: 'checkout', priority: 5 },
      ],
    });
    const { router, table } = setup(tenants);
    const on0 = keyOn(table, N0);
    const on1 = keyOn(table, N1);
    const who = ['batch', 'web', 'checkout', 'default'].map(sessionOf);
    const at = (key: string): unknown[] => who.map((s) => shown(send(router, s, 'GET', key)));
    const SHED = { throttled: 'node', retryAfterMs: 1000 };

    router.admission.setShedding(N0, 1);
    expect(at(on0)).toEqual([SHED, null, null, null]);
    expect(at(on1)).toEqual([null, null, null, null]);
    router.admission.setShedding(N0, 2);
    expect(at(on0)).toEqual([SHED, SHED, null, SHED]);
    router.admission.setShedding(N0, 6);
    expect(at(on0)).toEqual([SHED, SHED, SHED, SHED]);
    expect((send(router, who[0]!, 'GET', on0) as ReplyError).message).toBe(
      'BUSY HS_ERR_THROTTLED retry-after-ms=1000 scope=node node n0 is shedding load: tenants below priority 6 are refused (batch has 0)',
    );
    // A multi-key command touching a shedding node is refused whole.
    router.admission.setShedding(N0, 1);
    expect(shown(send(router, who[0]!, 'MGET', on1, on0))).toEqual(SHED);
    expect(router.admission.status().shedding).toEqual([{ node: N0, belowPriority: 1, shed: 10 }]);
    router.admission.setShedding(N0, null);
    expect(router.admission.engaged).toBe(false);
    expect(at(on0)).toEqual([null, null, null, null]);
  });

  it('admission - a throttled or shed request counts as shed in telemetry, not as an error', () => {
    const { router, clock, table } = setup();
    const telemetry = new RouterTelemetry({ clock });
    router.instrument(new Instrumentation(telemetry, table));
    router.admission.setTenantQuota('t', { opsPerSec: 1, burst: 1 });
    const s = sessionOf('t');
    send(router, s, 'GET', 'k');
    send(router, s, 'GET', 'k');
    send(router, s, 'MGET', 'k', 'j');
    clock.advance(1000);
    let reads = 0;
    let shed = 0;
    let errors = 0;
    for (const w of telemetry.window('shard', 1).values()) {
      reads += w.reads;
      shed += w.shed;
      errors += w.errors;
    }
    expect({ reads, shed, errors }).toEqual({ reads: 4, shed: 3, errors: 0 });
  });

  it("admission - with tenantFromKey, a session that named no tenant is its key prefix's, if that names a tenant", () => {
    const tenants = new Tenants({ declared: [{ name: 'acme' }, { name: 'batch', priority: 0 }] });
    const { router, table } = setup(tenants, true);
    router.admission.setTenantQuota('acme', { opsPerSec: 1, burst: 1 });
    const anon = sessionOf('default');
    const acme = sessionOf('acme');
    expect(router.admission.tenantOf(anon, Buffer.from('acme:x'))).toBe('acme');
    expect(router.admission.tenantOf(anon, Buffer.from('mallory:x'))).toBe('default'); // not declared
    expect(router.admission.tenantOf(anon, Buffer.from('other:x'))).toBe('default'); // reserved
    expect(router.admission.tenantOf(anon, Buffer.from('nocolon'))).toBe('default');
    // A session that named its tenant keeps it, whatever its keys are called.
    expect(router.admission.tenantOf(sessionOf('batch'), Buffer.from('acme:x'))).toBe('batch');
    expect(send(router, anon, 'SET', 'acme:a', '1')).toBe(OK);
    expect(shown(send(router, anon, 'GET', 'acme:a'))).toEqual({ throttled: 'tenant', retryAfterMs: 1000 });
    expect(shown(send(router, acme, 'GET', 'x'))).toEqual({ throttled: 'tenant', retryAfterMs: 1000 });
    expect(send(router, anon, 'GET', 'mallory:a')).toBe(null);
    // Shedding goes by the same tenant: batch's keys are shed, the rest are not.
    const on0 = keyOn(table, N0, 'batch:');
    router.admission.setShedding(N0, 1);
    expect(shown(send(router, anon, 'GET', on0))).toEqual({ throttled: 'node', retryAfterMs: 1000 });
    expect(send(router, anon, 'GET', keyOn(table, N0, 'web:'))).toBe(null);
  });

  it('admission - bad limits are refused with the field named, and change nothing', () => {
    const { router } = setup();
    expect(() => router.admission.setTenantQuota('t', { opsPerSec: 0 })).toThrow(/opsPerSec/);
    expect(() => router.admission.setNodeLimit(N0, { opsPerSec: 5, burst: 0 })).toThrow(/burst/);
    expect(() => router.admission.setShedding(N0, Number.NaN)).toThrow(/shedding level/);
    expect(router.admission.engaged).toBe(false);
    // Burst defaults to one second of the rate.
    router.admission.setTenantQuota('t', { opsPerSec: 50 });
    expect(router.admission.tenantQuota('t')).toEqual({ opsPerSec: 50, burst: 50 });
  });
});
