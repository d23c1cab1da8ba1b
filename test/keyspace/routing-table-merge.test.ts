import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode, HotshardError } from '../../src/errors.js';
import { nodeId, shardId, type NodeId } from '../../src/keyspace/ids.js';
import { hashPartitioner, rangePartitioner, type Position } from '../../src/keyspace/partitioner.js';
import { RoutingTable, ShardStatus } from '../../src/keyspace/routing-table.js';

const NODES: NodeId[] = [nodeId('n0'), nodeId('n1')];
const hash = hashPartitioner();
const range = rangePartitioner();
const s = shardId;

function thrown(fn: () => unknown): HotshardError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(HotshardError);
    return err as HotshardError;
  }
  throw new Error('expected an error');
}

const bytes = fc.uint8Array({ maxLength: 6 }).map((a) => Buffer.from(a));
const configs = [
  { p: hash, point: fc.integer({ min: 1, max: 0xffffffff }) as fc.Arbitrary<Position>, keys: bytes },
  { p: range, point: bytes.filter((b) => b.length > 0) as fc.Arbitrary<Position>, keys: bytes },
];

describe.each(configs)('routing table merge ($p.kind)', ({ p, point, keys }) => {
  it(`routing table - ${p.kind}: split then merge gives the same ranges, ids and owners back`, () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.array(point, { maxLength: 8 }),
        fc.nat(),
        point,
        fc.array(keys, { minLength: 1, maxLength: 30 }),
        (n, extra, pick, at, sample) => {
          let t = RoutingTable.create({ partitioner: p, nodes: NODES, shards: n });
          // A history of splits at arbitrary points, so ranges are uneven.
          for (const x of extra) {
            const owner = t.shardAt(x);
            if (p.compare(owner.start, x) !== 0) t = t.split(owner.id, x);
          }
          const target = t.shards[pick % t.shards.length]!;
          const inside =
            p.compare(at, target.start) > 0 && (target.end === null || p.compare(at, target.end) < 0);
          fc.pre(inside);
          const merged = t.split(target.id, at).merge(target.id);
          expect(merged.version).toBe(t.version + 2);
          expect(merged.shards).toEqual(t.shards);
          for (const k of sample) expect(merged.shardFor(k).id).toBe(t.shardFor(k).id);
        },
      ),
      { numRuns: 200 },
    );
  });

  it(`routing table - ${p.kind}: merge moves only the neighbour's keys, onto the merged shard`, () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 8 }),
        fc.nat(),
        fc.array(keys, { minLength: 1, maxLength: 30 }),
        (n, pick, sample) => {
          // One node, so every pair of neighbours may merge.
          const t = RoutingTable.create({ partitioner: p, nodes: [nodeId('n0')], shards: n });
          const i = pick % (n - 1);
          const left = t.shards[i]!;
          const right = t.shards[i + 1]!;
          const m = t.merge(left.id);
          expect(m.shards).toHaveLength(n - 1);
          expect(m.shard(right.id)).toBeUndefined();
          expect(m.shard(left.id)).toMatchObject({ start: left.start, end: right.end });
          for (const k of sample) {
            const was = t.shardFor(k).id;
            expect(m.shardFor(k).id).toBe(was === right.id ? left.id : was);
          }
          expect(RoutingTable.fromJSON(JSON.parse(JSON.stringify(m))).toJSON()).toEqual(m.toJSON());
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('routing table merge', () => {
  it('routing table - merge keeps the left shard id, capacity and node and bumps the version', () => {
    const t = RoutingTable.create({ partitioner: hash, nodes: NODES, shards: 2, capacity: 500 }).split(
      s('s1'),
      3 * 2 ** 30,
    );
    const m = t.merge(s('s1'));
    expect(m.version).toBe(t.version + 1);
    expect(m.shards.map((x) => [x.id, x.start, x.end, x.node, x.capacity, x.status])).toEqual([
      ['s0', 0, 2 ** 31, 'n0', 500, 'active'],
      ['s1', 2 ** 31, null, 'n1', 500, 'active'],
    ]);
  });

  it('routing table - merge refuses, with a reason, what it cannot join', () => {
    const t = RoutingTable.create({ partitioner: hash, nodes: NODES, shards: 4 });
    const unknown = thrown(() => t.merge(s('s9')));
    expect(unknown.code).toBe(ErrorCode.Routing);
    expect(unknown.message).toMatch(/unknown shard "s9"/);
    const last = thrown(() => t.merge(s('s3')));
    expect(last.code).toBe(ErrorCode.Routing);
    expect(last.message).toMatch(/last range/);
    const nodes = thrown(() => t.merge(s('s0')));
    expect(nodes.message).toMatch(/s0 is on n0 and its right-hand neighbour s1 on n1/);
    const same = t.move(s('s1'), nodeId('n0'));
    expect(same.merge(s('s0')).shards.map((x) => x.id)).toEqual(['s0', 's2', 's3']);
    const moving = same.withStatus(s('s1'), ShardStatus.Moving);
    expect(thrown(() => moving.merge(s('s0'))).message).toMatch(
      /s1 is moving: merge needs both shards active/,
    );
    expect(thrown(() => same.withStatus(s('s0'), ShardStatus.Splitting).merge(s('s0'))).message).toMatch(
      /s0 is splitting/,
    );
  });

  it('routing table - merge down to one shard covers the whole keyspace', () => {
    let t = RoutingTable.create({ partitioner: range, nodes: [nodeId('n0')], shards: 5 });
    while (t.shards.length > 1) t = t.merge(t.shards[0]!.id);
    expect(t.shards).toEqual([
      { id: 's0', start: Buffer.alloc(0), end: null, node: 'n0', capacity: null, status: 'active' },
    ]);
    expect(t.shardFor(Buffer.from([0xff, 0xff])).id).toBe('s0');
  });
});
