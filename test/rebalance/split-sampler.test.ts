/**
 * The split sampler on the router's request path: only watched shards are
 * sampled, a new table keeps only finders whose range is unchanged, strides
 * cap what a very hot shard records, and multi-key requests count as spans.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ReplyCallback, ShardBackend } from '../../src/backend/backend.js';
import { MemoryBackend } from '../../src/backend/memory.js';
import { ManualClock } from '../../src/clock.js';
import { nodeId, shardId, type NodeId } from '../../src/keyspace/ids.js';
import { rangePartitioner } from '../../src/keyspace/partitioner.js';
import { RoutingTable } from '../../src/keyspace/routing-table.js';
import { SplitRefusal } from '../../src/rebalance/split-finder.js';
import { SplitSampler } from '../../src/rebalance/split-sampler.js';
import { commandSpec } from '../../src/router/command-table.js';
import { Instrumentation } from '../../src/router/instrumentation.js';
import { Session } from '../../src/router/session.js';
import { RouterTelemetry } from '../../src/telemetry/router-telemetry.js';
import { mulberry32 } from '../seeded-random.js';

const START = 1_700_000_000_000;
const range = rangePartitioner();
const s = shardId;

function setup(): {
  table: RoutingTable;
  ins: Instrumentation;
  sampler: SplitSampler;
  clock: ManualClock;
  get: (key: string) => void;
  mget: (...keys: string[]) => void;
} {
  const nodes = ['n0', 'n1'].map(nodeId);
  // s0 [, "m"), s1 ["m", end)
  const table = RoutingTable.create({ partitioner: range, nodes, shards: 2, splits: [Buffer.from('m')] });
  const backends = new Map<NodeId, ShardBackend>(nodes.map((n) => [n, new MemoryBackend({ node: n })]));
  cleanups.push(() => Promise.all([...backends.values()].map((b) => b.close())).then(() => {}));
  const clock = new ManualClock(START);
  const telemetry = new RouterTelemetry({ clock, sampleBudget: 100, sampleSeed: 1 });
  const ins = new Instrumentation(telemetry, table);
  const sampler = new SplitSampler({ clock, random: mulberry32(9) });
  ins.splitSampler = sampler;
  const session = new Session(1, 'test', false, 0);
  const done: ReplyCallback = () => {};
  const get = (key: string): void => {
    const k = Buffer.from(key);
    const cb = ins.keyed(
      session,
      commandSpec('get')!,
      { name: 'get', args: [Buffer.from('GET'), k], frame: undefined },
      ins_index(k),
      done,
    );
    if (cb !== done) cb(Buffer.from('v'));
  };
  const ins_index = (k: Buffer): number => table.indexFor(k);
  const mget = (...keys: string[]): void => {
    const args = [Buffer.from('MGET'), ...keys.map((k) => Buffer.from(k))];
    const at = Int32Array.from(args.slice(1), (k) => table.indexFor(k));
    const cb = ins.multiKey(
      session,
      commandSpec('mget')!,
      { name: 'mget', args, frame: undefined },
      at,
      done,
    );
    if (cb !== done) cb([]);
  };
  return { table, ins, sampler, clock, get, mget };
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

const key = (prefix: string, i: number): string => `${prefix}${String(i).padStart(4, '0')}`;
// Keys in random order: a candidate counts only the requests after it entered the reservoir,
// so a stream that sweeps the keys in order would look lopsided to it.
const draw = mulberry32(77);
const any = (prefix: string): string => key(prefix, Math.floor(draw() * 1000));

describe('split sampler', () => {
  it('split sampler - records only watched shards; unwatched shards are never sampled', () => {
    const { sampler, get } = setup();
    expect(sampler.watching).toBeNull();
    for (let i = 0; i < 500; i++) get(key('a', i));
    expect(sampler.decide(s('s0'))).toMatchObject({ ok: false, code: SplitRefusal.NotWatched });
    sampler.watchOnly([s('s0'), s('nope')]);
    expect(sampler.watched()).toEqual(['s0']);
    for (let i = 0; i < 2000; i++) {
      get(any('a'));
      get(any('x')); // s1: not watched
    }
    const d = sampler.decide(s('s0'));
    expect(d.ok).toBe(true);
    if (d.ok) expect(Buffer.compare(d.at as Buffer, Buffer.from('m'))).toBeLessThan(0);
    expect(sampler.stats(s('s0'))).toMatchObject({ recorded: 2000, stride: 1 }); // s0's requests only
    sampler.watchOnly([]);
    expect(sampler.watching).toBeNull();
    expect(sampler.decide(s('s0')).ok).toBe(false);
  });

  it('split sampler - a new table keeps the finder of an unchanged shard and drops one whose range changed', () => {
    const { table, ins, sampler, get } = setup();
    sampler.watchOnly([s('s0'), s('s1')]);
    for (let i = 0; i < 2000; i++) {
      get(any('a'));
      get(any('x'));
    }
    expect(sampler.decide(s('s0')).ok).toBe(true);
    expect(sampler.decide(s('s1')).ok).toBe(true);
    // s1 splits at "y": its counts no longer describe its range; s0 is as it was, and its node change is no range change.
    ins.setTable(table.split(s('s1'), Buffer.from('y')).move(s('s0'), nodeId('n1')));
    expect(sampler.decide(s('s0')).ok).toBe(true);
    // Still wanted: watched afresh on its new range.
    expect(sampler.decide(s('s1'))).toMatchObject({ ok: false, code: SplitRefusal.TooFewSamples });
    expect(sampler.stats(s('s1'))!.recorded).toBe(0);
    expect(sampler.stats(s('s0'))!.recorded).toBe(2000);
    // A merge: s1 is gone, s0 has a new range and starts afresh.
    ins.setTable(table.move(s('s0'), nodeId('n1')).move(s('s1'), nodeId('n1')).merge(s('s0')));
    expect(sampler.watched()).toEqual(['s0']);
    expect(sampler.stats(s('s0'))!.recorded).toBe(0);
  });

  it('split sampler - above the budget only every stride-th request is recorded', () => {
    const { sampler, clock, get } = setup();
    sampler.watchOnly([s('s0')]);
    for (let i = 0; i < 10_000; i++) get(any('a'));
    expect(sampler.stats(s('s0'))).toMatchObject({ recorded: 10_000, stride: 1 });
    clock.advance(1000);
    sampler.tick(); // 10k/s seen against a 2,000/s budget: stride 8
    for (let i = 0; i < 8_000; i++) get(any('a'));
    expect(sampler.stats(s('s0'))).toMatchObject({ recorded: 11_000, stride: 8, watchedMs: 1000 });
    clock.advance(1000);
    sampler.tick(); // 8k/s: stride 4
    expect(sampler.stats(s('s0'))!.stride).toBe(4);
    expect(sampler.decide(s('s0')).ok).toBe(true);
  });

  it('split sampler - a multi-key request is one span per watched shard it touches', () => {
    const { sampler, mget } = setup();
    sampler.watchOnly([s('s0')]);
    // "a…" and "l…" are both in s0, "x…" in s1 (not watched): one record per MGET.
    for (let i = 0; i < 3000; i++) mget(any('l'), any('x'), any('a'));
    expect(sampler.stats(s('s0'))!.recorded).toBe(3000);
    // Every candidate is a span's low end ("a…"), and most later spans cover it.
    const d = sampler.decide(s('s0'));
    expect(d).toMatchObject({ ok: false, code: SplitRefusal.Spanning });
  });
});
