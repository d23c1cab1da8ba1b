/**
 * The config store's conformance suite: every implementation runs it
 * (embedded.test.ts in memory and on a file, postgres.test.ts on a throwaway
 * database), so a router can hold either without knowing which.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { ErrorCode, HotshardError } from '../../src/errors.js';
import { nodeId, shardId } from '../../src/keyspace/ids.js';
import { hashPartitioner, rangePartitioner } from '../../src/keyspace/partitioner.js';
import { RoutingTable } from '../../src/keyspace/routing-table.js';
import type { ActionRecord } from '../../src/mitigate/action.js';
import {
  StoreUnavailable,
  VersionConflict,
  type ConfigStore,
  type RoutingVersion,
} from '../../src/store/index.js';

/** One place a store lives, opened as often as a case needs. */
export interface StoreHarness {
  /** Opens a store on the same database each time. */
  open(clock: ManualClock): Promise<ConfigStore>;
  /** Whether a store opened after another was closed sees its data (false: memory). */
  readonly persistent: boolean;
  /** Whether two open stores see each other's saves and watches (PostgreSQL; one file in one process). */
  readonly shared: boolean;
  cleanup(): Promise<void>;
}

const table = (shards = 4): RoutingTable =>
  RoutingTable.create({
    partitioner: hashPartitioner(),
    nodes: [nodeId('127.0.0.1:7001'), nodeId('127.0.0.1:7002')],
    shards,
  });

function action(id: string, createdAt: number, state: ActionRecord['state'] = 'done'): ActionRecord {
  return {
    id,
    kind: 'cache',
    subject: { type: 'key', name: `user:${id}` },
    settings: { maxStaleMs: 100 },
    by: 'planner',
    reason: 'read-hot key',
    hotspot: { id: 'h-1', evidence: { keyShare: 0.4 } },
    prediction: { metric: 'nodeShare', before: 0.4, expected: 0.2, direction: 'below' },
    state,
    outcome: 'pending',
    measurement: null,
    detail: null,
    createdAt,
    updatedAt: createdAt,
    revertedAt: null,
    progress: null,
  };
}

/** Waits until `check` passes, polling; the store's notices are asynchronous. */
async function eventually(check: () => void, what: string, tries = 400): Promise<void> {
  let last: unknown;
  for (let i = 0; i < tries; i++) {
    try {
      check();
      return;
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  throw new Error(`${what}: ${(last as Error).message}`);
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

/** Runs every case against the stores `make` opens. */
export function runStoreCases(label: string, make: () => Promise<StoreHarness>): void {
  /** Runs `body` with a fresh harness and a store on it, closing both after. */
  const withStore = async (
    body: (store: ConfigStore, h: StoreHarness, clock: ManualClock) => Promise<void>,
  ): Promise<void> => {
    const h = await make();
    const clock = new ManualClock();
    const store = await h.open(clock);
    try {
      await body(store, h, clock);
    } finally {
      await store.close();
      await h.cleanup();
    }
  };

  describe(`${label} - config store`, () => {
    it('config store - an empty store has no routing version, nodes, policies, actions, moves, audit or incidents', () =>
      withStore(async (store) => {
        expect(await store.routing.latest()).toBeUndefined();
        expect(await store.routing.shards()).toEqual([]);
        expect(await store.nodes.list()).toEqual([]);
        expect(await store.policies.list()).toEqual([]);
        expect(await store.actions.list()).toEqual([]);
        expect(await store.moves.listOpen()).toEqual([]);
        expect(await store.audit.list()).toEqual([]);
        expect(await store.incidents.list()).toEqual([]);
        expect(await store.heat.list({ from: 0, to: Number.MAX_SAFE_INTEGER })).toEqual([]);
      }));

    it('config store - a saved routing table reads back equal, for both partitioners', () =>
      withStore(async (store, _h, clock) => {
        const hash = table(8).split(shardId('s3'));
        const saved = await store.routing.save(hash, { expectedVersion: null, reason: 'initial' });
        expect(saved).toEqual({
          version: 2,
          partitioner: 'hash',
          table: hash.toJSON(),
          createdAt: clock.now(),
          reason: 'initial',
        });
        const back = await store.routing.latest();
        expect(back).toEqual(saved);
        expect(RoutingTable.fromJSON(back!.table).toJSON()).toEqual(hash.toJSON());
        const range = RoutingTable.create({
          partitioner: rangePartitioner(),
          nodes: [nodeId('n0')],
          shards: 3,
          splits: [Buffer.from([0x00, 0xff, 0x80]), Buffer.from('g')],
        }).withStatus(shardId('s1'), 'moving');
        const r = range.withCapacity(shardId('s0'), 1234.5);
        await store.routing.save(r, { expectedVersion: 2, reason: 'range' });
        const rb = await store.routing.latest();
        expect(RoutingTable.fromJSON(rb!.table, rangePartitioner()).toJSON()).toEqual(r.toJSON());
        expect((await store.routing.get(2))?.table).toEqual(hash.toJSON());
        // The seed's rows for the version in force: the range table's, in key order.
        const rows = await store.routing.shards();
        expect(rows.map((row) => [row.shardId, row.node, row.capacity, row.status, row.version])).toEqual(
          r.shards.map((s) => [s.id, s.node, s.capacity, s.status, r.version]),
        );
        expect(rows.map((row) => [row.start, row.end])).toEqual(
          r.toJSON().shards.map((s) => [s.start, s.end]),
        );
        expect(rows[0]!.keyRange).toBe(`[${rows[0]!.start}, ${rows[0]!.end!})`);
        expect(rows.at(-1)!.keyRange).toBe(`[${rows.at(-1)!.start}, ∞)`);
        expect(await store.routing.get(99)).toBeUndefined();
      }));

    it('config store - a save against a stale version is refused and the winner stays in force', () =>
      withStore(async (store) => {
        const v1 = table();
        await store.routing.save(v1, { expectedVersion: null, reason: 'initial' });
        const mine = v1.split(shardId('s0'));
        const theirs = v1.move(shardId('s0'), nodeId('127.0.0.1:7002'));
        await store.routing.save(theirs, { expectedVersion: 1, reason: 'move s0' });
        const err = await rejection(store.routing.save(mine, { expectedVersion: 1, reason: 'split s0' }));
        expect(err).toBeInstanceOf(VersionConflict);
        expect(err).toMatchObject({ code: ErrorCode.VersionConflict, expected: 1, actual: 2 });
        expect((err as Error).message).toMatch(/based on version 1, but the store holds version 2/);
        expect((await store.routing.latest())?.table).toEqual(theirs.toJSON());
        // "Nothing saved yet" is stale too once something is.
        expect(
          await rejection(store.routing.save(mine, { expectedVersion: null, reason: 'x' })),
        ).toBeInstanceOf(VersionConflict);
        // A version that does not move forward is a caller's bug, not a conflict.
        const stale = await rejection(store.routing.save(v1, { expectedVersion: 2, reason: 'back' }));
        expect(stale).toMatchObject({ code: ErrorCode.BadRequest });
        expect((await store.routing.latest())?.version).toBe(2);
      }));

    it('config store - of two routers saving from the same version at once, exactly one wins', () =>
      withStore(async (a, h) => {
        const b = h.shared ? await h.open(new ManualClock()) : a;
        try {
          const v1 = table();
          await a.routing.save(v1, { expectedVersion: null, reason: 'initial' });
          for (let round = 0; round < 5; round++) {
            const base = (await a.routing.latest())!;
            const from = RoutingTable.fromJSON(base.table);
            const left = from.split(shardId('s0'));
            const right = from.split(shardId('s1'));
            const outcomes = await Promise.allSettled([
              a.routing.save(left, { expectedVersion: base.version, reason: 'a' }),
              b.routing.save(right, { expectedVersion: base.version, reason: 'b' }),
            ]);
            const won = outcomes.filter((o) => o.status === 'fulfilled');
            const lost = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
            expect(won).toHaveLength(1);
            expect(lost[0]!.reason).toBeInstanceOf(VersionConflict);
            const winner = (won[0] as PromiseFulfilledResult<RoutingVersion>).value;
            expect((await b.routing.latest())?.table).toEqual(winner.table);
          }
        } finally {
          if (b !== a) await b.close();
        }
      }));

    it('config store - a watch hears each later version, from this store or another on the same database', () =>
      withStore(async (a, h) => {
        const b = h.shared ? await h.open(new ManualClock()) : a;
        try {
          let t = table();
          await a.routing.save(t, { expectedVersion: null, reason: 'before the watch' });
          const heard: number[] = [];
          const unwatch = b.routing.watch((v) => heard.push(v.version), { after: 1 });
          for (let i = 0; i < 3; i++) {
            const next = t.split(shardId('s0'), undefined, shardId(`x${i}`));
            await a.routing.save(next, { expectedVersion: t.version, reason: `split ${i}` });
            t = next;
            // Each is heard before the next is saved (bursts may fold; these must not).
            await eventually(() => expect(heard.at(-1)).toBe(t.version), `version ${t.version} heard`);
          }
          expect(heard).toEqual([2, 3, 4]);
          unwatch();
          const last = t.split(shardId('s1'));
          await a.routing.save(last, { expectedVersion: t.version, reason: 'unwatched' });
          // A watch started later, without `after`, hears only what comes after it.
          const later: number[] = [];
          const stop = a.routing.watch((v) => later.push(v.version));
          await new Promise((r) => setTimeout(r, 100));
          const after = last.split(shardId('s2'));
          await b.routing.save(after, { expectedVersion: last.version, reason: 'later' });
          await eventually(() => expect(later).toEqual([after.version]), 'the later watch');
          stop();
          expect(heard).toEqual([2, 3, 4]);
        } finally {
          if (b !== a) await b.close();
        }
      }));

    it('config store - nodes are added once, replaced, listed in order and deleted', () =>
      withStore(async (store) => {
        const n1 = {
          id: '127.0.0.1:7001',
          kind: 'redis',
          address: '127.0.0.1:7001',
          addedAt: 10,
          status: 'active',
        } as const;
        const n0 = { id: 'n0', kind: 'memory', address: null, addedAt: 5, status: 'active' } as const;
        expect(await store.nodes.add(n1)).toBe(true);
        expect(await store.nodes.add({ ...n1, status: 'other' })).toBe(false);
        await store.nodes.put(n0);
        expect(await store.nodes.list()).toEqual([n0, n1]);
        await store.nodes.put({ ...n1, status: 'draining' });
        expect(await store.nodes.get(n1.id)).toEqual({ ...n1, status: 'draining' });
        expect(await store.nodes.delete(n1.id)).toBe(true);
        expect(await store.nodes.delete(n1.id)).toBe(false);
        expect(await store.nodes.get(n1.id)).toBeUndefined();
      }));

    it('config store - key policies are kept by their bytes, binary keys included', () =>
      withStore(async (store, _h, clock) => {
        const keys = [
          Buffer.from('user:1'),
          Buffer.from([0x00, 0xff, 0xfe, 0x80]),
          Buffer.from('é', 'utf8'),
          Buffer.alloc(0),
        ];
        for (const [i, k] of keys.entries())
          await store.policies.put(k, { consistency: 'bounded', cache: { maxStaleMs: i } } as never);
        const listed = await store.policies.list();
        expect(listed).toHaveLength(keys.length);
        for (const [i, k] of keys.entries()) {
          const got = await store.policies.get(k);
          expect(got?.key.equals(k)).toBe(true);
          expect(got?.policy).toEqual({ consistency: 'bounded', cache: { maxStaleMs: i } });
          expect(got?.updatedAt).toBe(clock.now());
        }
        // 'é' as latin1 is one byte, as utf8 two: different keys.
        expect(await store.policies.get(Buffer.from('é', 'latin1'))).toBeUndefined();
        clock.advance(1000);
        await store.policies.put(keys[0]!, { consistency: 'strong' } as never);
        expect(await store.policies.get(keys[0]!)).toMatchObject({
          policy: { consistency: 'strong' },
          updatedAt: clock.now(),
        });
        expect(await store.policies.delete(keys[1]!)).toBe(true);
        expect(await store.policies.delete(keys[1]!)).toBe(false);
        expect(await store.policies.list()).toHaveLength(keys.length - 1);
      }));

    it('config store - action records are replaced as they change and listed newest first', () =>
      withStore(async (store) => {
        for (let i = 1; i <= 12; i++)
          await store.actions.put(action(`a-${i}`, 100 + Math.floor(i / 4), 'pending'));
        await store.actions.put({ ...action('a-3', 100), state: 'failed', detail: 'boom', updatedAt: 500 });
        expect(await store.actions.get('a-3')).toMatchObject({
          state: 'failed',
          detail: 'boom',
          updatedAt: 500,
        });
        expect(await store.actions.get('a-99')).toBeUndefined();
        const ids = (await store.actions.list()).map((r) => r.id);
        expect(ids).toEqual([
          'a-12',
          'a-11',
          'a-10',
          'a-9',
          'a-8',
          'a-7',
          'a-6',
          'a-5',
          'a-4',
          'a-3',
          'a-2',
          'a-1',
        ]);
        expect((await store.actions.list({ limit: 2 })).map((r) => r.id)).toEqual(['a-12', 'a-11']);
        expect((await store.actions.list({ state: 'failed' })).map((r) => r.id)).toEqual(['a-3']);
        expect(await store.actions.get('a-1')).toEqual(action('a-1', 100, 'pending'));
      }));

    it('config store - moves: open ones are listed for a restart to resume, closed ones are not', () =>
      withStore(async (store, _h, clock) => {
        await store.moves.put({ id: 'm-1', open: true, state: { phase: 'copy', keysCopied: 10 } });
        clock.advance(1);
        await store.moves.put({ id: 'm-2', open: true, state: { phase: 'catch-up' } });
        expect((await store.moves.listOpen()).map((m) => m.id)).toEqual(['m-1', 'm-2']);
        clock.advance(1);
        await store.moves.put({ id: 'm-1', open: false, state: { phase: 'done' } });
        expect(await store.moves.listOpen()).toEqual([
          { id: 'm-2', open: true, state: { phase: 'catch-up' }, updatedAt: clock.now() - 1 },
        ]);
        expect(await store.moves.get('m-1')).toEqual({
          id: 'm-1',
          open: false,
          state: { phase: 'done' },
          updatedAt: clock.now(),
        });
        expect(await store.moves.delete('m-1')).toBe(true);
        expect(await store.moves.get('m-1')).toBeUndefined();
      }));

    it('config store - the audit log appends with increasing ids and lists by time', () =>
      withStore(async (store, _h, clock) => {
        const entries = [];
        for (let i = 0; i < 5; i++) {
          entries.push(
            await store.audit.append({
              who: 'operator',
              verb: 'split',
              target: `shard:s${i}`,
              reason: `r${i}`,
              details: i === 0 ? null : { at: i },
            }),
          );
          clock.advance(10);
        }
        expect(entries.map((e) => e.id)).toEqual([...entries.map((e) => e.id)].sort((x, y) => x - y));
        expect(new Set(entries.map((e) => e.id)).size).toBe(5);
        expect(entries[0]).toMatchObject({
          at: clock.now() - 50,
          who: 'operator',
          verb: 'split',
          target: 'shard:s0',
          details: null,
        });
        expect(await store.audit.list()).toEqual(entries);
        expect((await store.audit.list({ limit: 2 })).map((e) => e.target)).toEqual(['shard:s3', 'shard:s4']);
        const since = entries[2]!.at;
        expect((await store.audit.list({ since })).map((e) => e.target)).toEqual([
          'shard:s2',
          'shard:s3',
          'shard:s4',
        ]);
        expect((await store.audit.list({ since, limit: 1 })).map((e) => e.target)).toEqual(['shard:s2']);
        const explicit = await store.audit.append({
          at: 7,
          who: 'planner',
          verb: 'move',
          target: 'shard:s9',
          reason: null,
        });
        expect(explicit).toMatchObject({ at: 7, reason: null });
        expect((await store.audit.list({ limit: 1 }))[0]).toEqual(explicit);
      }));

    it('config store - incidents are replaced as they change and listed newest first', () =>
      withStore(async (store) => {
        await store.incidents.put({
          id: 'i-1',
          state: 'open',
          openedAt: 100,
          resolvedAt: null,
          slos: ['p99'],
        });
        await store.incidents.put({ id: 'i-2', state: 'open', openedAt: 200, summary: null });
        await store.incidents.put({
          id: 'i-1',
          state: 'resolved',
          openedAt: 100,
          resolvedAt: 150,
          slos: ['p99'],
        });
        expect(await store.incidents.get('i-1')).toEqual({
          id: 'i-1',
          state: 'resolved',
          openedAt: 100,
          resolvedAt: 150,
          slos: ['p99'],
        });
        expect((await store.incidents.list()).map((i) => i.id)).toEqual(['i-2', 'i-1']);
        expect((await store.incidents.list({ state: 'open' })).map((i) => i.id)).toEqual(['i-2']);
        expect(await store.incidents.get('nope')).toBeUndefined();
      }));

    it('config store - heat samples are replaced by block, shard and source, listed by time and pruned', () =>
      withStore(async (store) => {
        const sample = (
          at: number,
          shard: string,
          source: string,
          qps: number,
          utilization: number | null,
        ) => ({
          at,
          shard,
          node: 'n0',
          source,
          qps,
          p99Ms: 1.5,
          utilization,
          bytes: qps * 100,
        });
        expect(await store.heat.list({ from: 0, to: 1e15 })).toEqual([]);
        await store.heat.put([
          sample(20_000, 's1', 'r1', 30, 0.3),
          sample(10_000, 's0', 'r1', 10, null),
          sample(10_000, 's0', 'r2', 5, 0.05),
        ]);
        // The same block, shard and source again replaces it.
        await store.heat.put([sample(20_000, 's1', 'r1', 40, 0.4)]);
        expect(await store.heat.list({ from: 0, to: 30_000 })).toEqual([
          sample(10_000, 's0', 'r1', 10, null),
          sample(10_000, 's0', 'r2', 5, 0.05),
          sample(20_000, 's1', 'r1', 40, 0.4),
        ]);
        expect((await store.heat.list({ from: 10_001, to: 20_000 })).length).toBe(0);
        // More rows than one INSERT takes.
        await store.heat.put(Array.from({ length: 1200 }, (_, i) => sample(30_000, `x${i}`, 'r1', i, null)));
        expect((await store.heat.list({ from: 30_000, to: 40_000 })).length).toBe(1200);
        expect(await store.heat.prune(20_000)).toBe(2);
        expect((await store.heat.list({ from: 0, to: 1e15 })).map((h) => h.at)[0]).toBe(20_000);
        const err = await rejection(store.heat.put([sample(40_000, 's0', 'r1', Number.NaN, null)]));
        expect((err as HotshardError).code).toBe(ErrorCode.BadRequest);
        expect((err as Error).message).toMatch(/heat qps/);
        expect(await store.heat.list({ from: 40_000, to: 50_000 })).toEqual([]);
      }));

    it('config store - bad input is refused with a clear error, and a closed store says it is closed', () =>
      withStore(async (store, h) => {
        const bad = async (p: Promise<unknown>, re: RegExp): Promise<void> => {
          const err = await rejection(p);
          expect(err).toBeInstanceOf(HotshardError);
          expect((err as HotshardError).code).toBe(ErrorCode.BadRequest);
          expect((err as Error).message).toMatch(re);
        };
        await bad(store.policies.put('user:1' as never, {} as never), /must be a Buffer/);
        await bad(
          store.routing.save({ version: 3 } as never, { expectedVersion: null, reason: '' }),
          /RoutingTable/,
        );
        await bad(
          store.nodes.put({ id: '', kind: 'redis', address: 'x', addedAt: 1, status: 'a' }),
          /node id/,
        );
        await bad(
          store.nodes.put({ id: 'x', kind: 'disk' as never, address: null, addedAt: 1, status: 'a' }),
          /redis or memory/,
        );
        const circular: Record<string, unknown> = {};
        circular.self = circular;
        await bad(store.moves.put({ id: 'm', open: true, state: circular }), /JSON/);
        await bad(store.moves.put({ id: 'm', open: true, state: undefined }), /JSON/);
        await bad(store.audit.list({ limit: 0 }), /limit/);
        await bad(store.incidents.put({ id: 'i', state: 'open', openedAt: Number.NaN }), /openedAt/);
        const other = await h.open(new ManualClock());
        await other.close();
        await other.close(); // idempotent
        const err = await rejection(other.routing.latest());
        expect(err).toBeInstanceOf(StoreUnavailable);
        expect((err as Error).message).toMatch(/is closed/);
        expect(() => other.routing.watch(() => {})).toThrow(/is closed/);
        // Closing one store leaves another on the same database working.
        expect(await store.routing.latest()).toBeUndefined();
      }));

    it('config store - everything survives a close and reopen (a restart)', async () => {
      const h = await make();
      try {
        if (!h.persistent) return;
        const clock = new ManualClock();
        const first = await h.open(clock);
        const t = table().split(shardId('s2'));
        await first.routing.save(table(), { expectedVersion: null, reason: 'initial' });
        await first.routing.save(t, { expectedVersion: 1, reason: 'split s2' });
        await first.nodes.put({
          id: '127.0.0.1:7003',
          kind: 'redis',
          address: '127.0.0.1:7003',
          addedAt: 1,
          status: 'active',
        });
        await first.policies.put(Buffer.from([1, 2, 3]), {
          consistency: 'bounded',
          throttle: { opsPerSec: 5, burst: 5 },
        } as never);
        await first.actions.put(action('a-1', 100));
        await first.moves.put({ id: 'm-1', open: true, state: { phase: 'copy' } });
        await first.audit.append({ who: 'operator', verb: 'split', target: 'shard:s2', reason: 'hot' });
        await first.incidents.put({ id: 'i-1', state: 'open', openedAt: 1 });
        const instance = await first.instance();
        await first.close();

        const second = await h.open(clock);
        try {
          expect((await second.routing.latest())?.table).toEqual(t.toJSON());
          expect((await second.routing.latest())?.reason).toBe('split s2');
          expect((await second.nodes.list()).map((n) => n.id)).toEqual(['127.0.0.1:7003']);
          expect((await second.policies.get(Buffer.from([1, 2, 3])))?.policy).toEqual({
            consistency: 'bounded',
            throttle: { opsPerSec: 5, burst: 5 },
          });
          expect(await second.actions.get('a-1')).toEqual(action('a-1', 100));
          expect((await second.moves.listOpen()).map((m) => m.id)).toEqual(['m-1']);
          expect((await second.audit.list()).map((e) => e.target)).toEqual(['shard:s2']);
          expect((await second.incidents.get('i-1'))?.state).toBe('open');
          // Instance numbers are never handed out twice, across restarts too.
          expect(await second.instance()).toBeGreaterThan(instance);
          // Still a compare-and-set against what was saved before the restart.
          const next = t.split(shardId('s0'));
          expect(
            await rejection(second.routing.save(next, { expectedVersion: 1, reason: 'stale' })),
          ).toBeInstanceOf(VersionConflict);
          await second.routing.save(next, { expectedVersion: t.version, reason: 'after restart' });
        } finally {
          await second.close();
        }
      } finally {
        await h.cleanup();
      }
    });
  });
}
