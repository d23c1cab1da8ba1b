/**
 * The audit log: bounded, newest first, filtered by time, restored after a
 * restart without duplicates, its persist hook's failures reported and not
 * fatal; and on a started hotshard, every state change through the control
 * API (shards, policies, reverts, automation) and every change the planner
 * makes is in GET /audit with who, when, what and why.
 */
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { AuditLog, auditPlannerActions, type AuditEntry } from '../../src/control/audit.js';
import { parseSince } from '../../src/control/audit-api.js';
import { EventBus } from '../../src/control/events.js';
import { loadConfig } from '../../src/config.js';
import { startHotshard, type Hotshard } from '../../src/hotshard.js';
import { Executor } from '../../src/mitigate/executor.js';
import { answeringRemedy } from '../mitigate/test-remedy.js';

const ADMIN = 'audit-admin-token-0123456789';
const READ = 'audit-read-token-0123456789';

const entry = (verb: string, who: 'operator' | 'planner' = 'operator') => ({
  who,
  verb,
  target: 'shard:s0',
  reason: `why ${verb}`,
  details: {},
});

describe('audit log', () => {
  it('audit log - keeps the newest entries up to its size, lists newest first, and filters by time', () => {
    const clock = new ManualClock(1000);
    const log = new AuditLog({ clock, size: 3 });
    for (const verb of ['a', 'b', 'c', 'd']) {
      log.append(entry(verb));
      clock.advance(10);
    }
    expect(log.size).toBe(3);
    expect(log.list().map((e) => [e.id, e.verb, e.at])).toEqual([
      ['au-4', 'd', 1030],
      ['au-3', 'c', 1020],
      ['au-2', 'b', 1010],
    ]);
    expect(log.list({ since: 1020 }).map((e) => e.verb)).toEqual(['d', 'c']);
    expect(log.list({ limit: 1 }).map((e) => e.verb)).toEqual(['d']);
    expect(() => new AuditLog({ size: 0 })).toThrow(RangeError);
  });

  it('audit log - hands each entry to persist; a throwing or rejecting persist is reported and the entry kept', async () => {
    const saved: AuditEntry[] = [];
    const failures: string[] = [];
    let mode: 'ok' | 'throw' | 'reject' = 'ok';
    const log = new AuditLog({
      persist: (e) => {
        if (mode === 'throw') throw new Error('disk full');
        if (mode === 'reject') return Promise.reject(new Error('store down'));
        saved.push(e);
      },
      onPersistError: (err, e) => failures.push(`${e.verb}: ${(err as Error).message}`),
    });
    log.append(entry('one'));
    mode = 'throw';
    log.append(entry('two'));
    mode = 'reject';
    log.append(entry('three'));
    await new Promise((r) => setImmediate(r));
    expect(saved.map((e) => e.verb)).toEqual(['one']);
    expect(failures).toEqual(['two: disk full', 'three: store down']);
    expect(log.list().map((e) => e.verb)).toEqual(['three', 'two', 'one']);
  });

  it('audit log - restore() puts stored entries back in time order, once each, and new ids continue after them', () => {
    const clock = new ManualClock(5000);
    const before = new AuditLog({ clock });
    const stored = [before.append(entry('x')), before.append(entry('y'))];
    const after = new AuditLog({ clock, persist: () => {} });
    after.restore([stored[1]!, stored[0]!, stored[1]!]);
    const next = after.append(entry('z'));
    expect(next.id).toBe('au-3');
    expect(after.list().map((e) => e.verb)).toEqual(['z', 'y', 'x']);
  });

  it('audit log - the planner’s applied and reverted actions are audited from the bus; an operator’s are not (its route audits them)', async () => {
    const bus = new EventBus();
    const log = new AuditLog();
    auditPlannerActions(bus, log);
    const applied: string[] = [];
    const executor = new Executor({
      bus,
      handlers: [
        {
          kind: 'shed',
          apply: () => Promise.resolve(void applied.push('apply')),
          revert: () => Promise.resolve(void applied.push('revert')),
          status: () => ({}),
        },
      ],
    });
    const subject = { type: 'node', name: 'n0' } as const;
    const a = await executor.execute({
      kind: 'shed',
      subject,
      settings: {},
      by: 'planner',
      reason: 'p99 over SLO',
    });
    await executor.revert(a.id, 'load is back', 'planner');
    const b = await executor.execute({
      kind: 'shed',
      subject,
      settings: {},
      by: 'operator',
      reason: 'by hand',
    });
    await executor.revert(b.id, 'undo', 'operator');
    expect(applied).toEqual(['apply', 'revert', 'apply', 'revert']);
    expect(log.list().map((e) => [e.who, e.verb, e.target, e.reason])).toEqual([
      ['planner', 'action.revert', 'node:n0', 'load is back'],
      ['planner', 'action.shed', 'node:n0', 'p99 over SLO'],
    ]);
  });

  it('audit api - since takes ms or an ISO time and refuses anything else', () => {
    expect(parseSince('1700000000000')).toBe(1_700_000_000_000);
    expect(parseSince('2026-12-06T09:00:00Z')).toBe(Date.UTC(2026, 11, 6, 9));
    expect(parseSince('yesterday')).toMatch(/since must be ms since the epoch or an ISO 8601 time/);
  });
});

describe('audit api', () => {
  const running: Hotshard[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((hs) => hs.close()));
  });

  it('audit api - every change through the control API is in GET /audit: who, when, verb, target and the reason given; reads need a token', async () => {
    const config = loadConfig({
      flags: { respPort: 0, httpPort: 0, logLevel: 'silent', nodes: 2, adminToken: ADMIN, readToken: READ },
    });
    const hs = await startHotshard(config, pino({ level: 'silent' }), [answeringRemedy('cache')]);
    running.push(hs);
    const admin = { authorization: `Bearer ${ADMIN}` };
    const t0 = Date.now();
    const steps: [string, string, Record<string, unknown>][] = [
      ['POST', '/shards/s0:split', { reason: 'hot range' }],
      ['POST', '/shards/s1:throttle', { opsPerSec: 100, reason: 'batch job' }],
      ['POST', '/shards/s1:throttle', { opsPerSec: null }],
      ['PUT', '/policies/user:1', { cache: {}, reason: 'celebrity' }],
      ['PUT', '/policies/user:2', { cache: {}, reason: 'celebrity too' }],
      ['POST', '/actions/a-2:revert', { reason: 'false alarm' }],
      ['DELETE', '/policies/user:1?reason=cleanup', {}],
      ['POST', '/automation', { mode: 'manual', reason: 'change freeze' }],
    ];
    for (const [method, url, payload] of steps) {
      const r = await hs.http.inject({ method: method as 'POST', url, payload, headers: admin });
      expect(r.statusCode, `${method} ${url}: ${r.body}`).toBe(200);
    }
    // Refused changes are not audited: they changed nothing.
    await hs.http.inject({ method: 'POST', url: '/shards/s9:split', payload: {}, headers: admin });

    const res = await hs.http.inject({
      url: '/audit?limit=50',
      headers: { authorization: `Bearer ${READ}` },
    });
    expect(res.statusCode).toBe(200);
    const entries = res.json<{ entries: AuditEntry[] }>().entries;
    expect(entries.map((e) => [e.who, e.verb, e.target, e.reason])).toEqual([
      ['operator', 'automation.set', 'automation', 'change freeze'],
      ['operator', 'policy.delete', 'key:user:1', 'cleanup'],
      ['operator', 'action.revert', 'action:a-2', 'false alarm'],
      ['operator', 'policy.put', 'key:user:2', 'celebrity too'],
      ['operator', 'policy.put', 'key:user:1', 'celebrity'],
      ['operator', 'shard.throttle', 'shard:s1', null],
      ['operator', 'shard.throttle', 'shard:s1', 'batch job'],
      ['operator', 'shard.split', 'shard:s0', 'hot range'],
    ]);
    expect(entries.at(-1)!.details).toMatchObject({ newShard: 's8', version: 2, at: null });
    for (const e of entries) expect(e.at).toBeGreaterThanOrEqual(t0);
    const since = await hs.http.inject({
      url: `/audit?since=${entries[1]!.at}&limit=1`,
      headers: { authorization: `Bearer ${READ}` },
    });
    expect(since.json<{ entries: AuditEntry[] }>().entries.map((e) => e.verb)).toEqual(['automation.set']);
    const bad = await hs.http.inject({ url: '/audit?limit=0', headers: admin });
    expect(bad.statusCode).toBe(400);
    expect(bad.json<{ error: { message: string } }>().error.message).toMatch(/limit must be >= 1/);
  });
});
