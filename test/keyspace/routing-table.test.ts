import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode, HotshardError } from '../../src/errors.js';
import { nodeId, shardId, type NodeId } from '../../src/keyspace/ids.js';
import {
  hashPartitioner,
  rangePartitioner,
  type Partitioner,
  type Position,
} from '../../src/keyspace/partitioner.js';
import {
  RoutingTable,
  ShardStatus,
  type RoutingTableJSON,
  type ShardInfo,
} from '../../src/keyspace/routing-table.js';

const NODES: NodeId[] = [nodeId('n0'), nodeId('n1'), nodeId('n2')];
const hash = hashPartitioner();
const range = rangePartitioner();
const s = shardId;

/** Runs `fn` and returns what it threw (failing the test when it does not throw). */
function thrown(fn: () => unknown): HotshardError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(HotshardError);
    return err as HotshardError;
  }
  throw new Error('expected an error');
}

const contains = (p: Partitioner, shard: ShardInfo, pos: Position): boolean =>
  p.compare(shard.start, pos) <= 0 && (shard.end === null || p.compare(pos, shard.end) < 0);

function expectWellFormed(t: RoutingTable): void {
  const p = t.partitioner;
  expect(p.compare(t.shards[0]!.start, p.min)).toBe(0);
  expect(t.shards.at(-1)!.end).toBeNull();
  t.shards.forEach((shard, i) => {
    const next = t.shards[i + 1];
    if (next === undefined) return;
    expect(p.compare(shard.start, shard.end!)).toBeLessThan(0);
    expect(p.compare(shard.end!, next.start)).toBe(0);
  });
  expect(new Set(t.shards.map((x) => x.id)).size).toBe(t.shards.length);
  for (const shard of t.shards) expect(t.nodes()).toContain(shard.node);
}

/** Checks every sample position is owned by exactly one shard, and that lookups agree with it. */
function expectExactlyOneOwner(t: RoutingTable, positions: Position[]): void {
  const p = t.partitioner;
  for (const pos of positions) {
    const owners = t.shards.filter((shard) => contains(p, shard, pos));
    expect(owners).toHaveLength(1);
    expect(t.shardAt(pos).id).toBe(owners[0]!.id);
  }
}

type At = { mode: 'mid' } | { mode: 'fraction'; r: number } | { mode: 'raw'; raw: Position };
type Op =
  | { kind: 'split'; pick: number; at: At }
  | { kind: 'move'; pick: number; node: number }
  | { kind: 'status'; pick: number; status: ShardStatus };

function opsFor(raw: fc.Arbitrary<Position>): fc.Arbitrary<Op[]> {
  const at: fc.Arbitrary<At> = fc.oneof(
    fc.constant({ mode: 'mid' as const }),
    fc
      .double({ min: 0, max: 1, maxExcluded: true, noNaN: true })
      .map((r) => ({ mode: 'fraction' as const, r })),
    raw.map((x) => ({ mode: 'raw' as const, raw: x })),
  );
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('split' as const), pick: fc.nat(), at }) },
    {
      weight: 2,
      arbitrary: fc.record({ kind: fc.constant('move' as const), pick: fc.nat(), node: fc.nat() }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('status' as const),
        pick: fc.nat(),
        status: fc.constantFrom(...Object.values(ShardStatus)),
      }),
    },
  );
  return fc.array(op, { maxLength: 25 });
}

/** The explicit split point an op asks for; undefined = let the table take the midpoint. */
function splitPoint(p: Partitioner, shard: ShardInfo, at: At): Position | undefined {
  if (at.mode === 'mid') return undefined;
  if (at.mode === 'raw') return at.raw;
  if (p.kind === 'hash') {
    const start = shard.start as number;
    const end = shard.end === null ? 2 ** 32 : (shard.end as number);
    return start + Math.floor(at.r * (end - start)); // may land on start: a boundary, which must fail
  }
  return p.midpoint(shard.start, shard.end) ?? shard.start;
}

const boundaryBytes = fc
  .array(fc.constantFrom(0x00, 0x01, 0x3f, 0x40, 0x41, 0x7f, 0x80, 0xbf, 0xc0, 0xff), { maxLength: 5 })
  .map((a) => Buffer.from(a));

const configs = [
  {
    p: hash,
    raw: fc.integer({ min: 0, max: 0xffffffff }) as fc.Arbitrary<Position>,
    keys: fc.uint8Array({ maxLength: 16 }).map((a) => Buffer.from(a)),
  },
  { p: range, raw: boundaryBytes as fc.Arbitrary<Position>, keys: boundaryBytes },
];

describe.each(configs)('routing table ($p.kind)', ({ p, raw, keys }) => {
  it(`routing table - ${p.kind}: splits and moves keep every key on exactly one shard and move only keys of the changed shard`, () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        opsFor(raw),
        fc.array(keys, { minLength: 1, maxLength: 30 }),
        (n, ops, sample) => {
          let t = RoutingTable.create({ partitioner: p, nodes: NODES, shards: n });
          expectWellFormed(t);
          for (const op of ops) {
            const target = t.shards[op.pick % t.shards.length]!;
            const before = sample.map((k) => t.shardFor(k));
            let next: RoutingTable;
            let expectOwner: (before: ShardInfo, key: Buffer) => { id: string; node: string };
            if (op.kind === 'split') {
              const at = splitPoint(p, target, op.at);
              const point = at ?? p.midpoint(target.start, target.end);
              const inside =
                point !== null && contains(p, target, point) && p.compare(point, target.start) > 0;
              if (!inside) {
                expect(thrown(() => t.split(target.id, at)).code).toBe(ErrorCode.Routing);
                continue;
              }
              next = t.split(target.id, at);
              const created = next.shards.filter((x) => t.shard(x.id) === undefined);
              expect(created).toHaveLength(1);
              expect(created[0]!.start).toEqual(point);
              expect(created[0]!.end).toEqual(target.end);
              expect(next.shard(target.id)!.end).toEqual(point);
              expectOwner = (b, key) =>
                b.id !== target.id
                  ? b
                  : p.compare(p.position(key), point) >= 0
                    ? { id: created[0]!.id, node: target.node }
                    : b;
            } else if (op.kind === 'move') {
              const node = NODES[op.node % NODES.length]!;
              next = t.move(target.id, node);
              if (node === target.node) expect(next).toBe(t);
              expectOwner = (b) => (b.id === target.id ? { id: b.id, node } : b);
            } else {
              next = t.withStatus(target.id, op.status);
              expect(next.shard(target.id)!.status).toBe(op.status);
              expectOwner = (b) => b;
            }
            expect(next.version).toBe(next === t ? t.version : t.version + 1);
            expectWellFormed(next);
            sample.forEach((key, i) => {
              const after = next.shardFor(key);
              const want = expectOwner(before[i]!, key);
              expect({ id: after.id, node: after.node }).toEqual({ id: want.id, node: want.node });
            });
            const positions = [...sample.map((k) => p.position(k)), ...next.shards.map((x) => x.start)];
            if (p.kind === 'hash')
              positions.push(...next.shards.map((x) => Math.max(0, (x.start as number) - 1)), 0xffffffff);
            expectExactlyOneOwner(next, positions);
            t = next;
          }
          // Whatever the history, the table survives a trip through JSON text unchanged.
          const back = RoutingTable.fromJSON(JSON.parse(JSON.stringify(t)), p);
          expect(back.toJSON()).toEqual(t.toJSON());
          expect(back.shards).toEqual(t.shards);
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('routing table', () => {
  it('routing table - create spreads equal ranges round-robin over nodes at version 1', () => {
    const t = RoutingTable.create({ partitioner: hash, nodes: NODES.slice(0, 2), shards: 4, capacity: 5000 });
    expect(t.version).toBe(1);
    expect(t.shards.map((x) => [x.id, x.start, x.end, x.node, x.capacity, x.status])).toEqual([
      ['s0', 0, 2 ** 30, 'n0', 5000, 'active'],
      ['s1', 2 ** 30, 2 ** 31, 'n1', 5000, 'active'],
      ['s2', 2 ** 31, 3 * 2 ** 30, 'n0', 5000, 'active'],
      ['s3', 3 * 2 ** 30, null, 'n1', 5000, 'active'],
    ]);
    expect(t.nodes()).toEqual(['n0', 'n1']);
    expect(t.shardsOn(nodeId('n1')).map((x) => x.id)).toEqual(['s1', 's3']);
    expect(t.shard(s('s2'))?.start).toBe(2 ** 31);
    expect(t.shard(s('s9'))).toBeUndefined();
  });

  it('routing table - lookups find the range holding a position, boundaries included', () => {
    const t = RoutingTable.create({ partitioner: hash, nodes: NODES, shards: 4 });
    expect(t.shardAt(0).id).toBe('s0');
    expect(t.shardAt(2 ** 30 - 1).id).toBe('s0');
    expect(t.shardAt(2 ** 30).id).toBe('s1');
    expect(t.shardAt(0xffffffff).id).toBe('s3');
    const key = Buffer.from('{user1000}.following');
    expect(t.shardFor(key)).toBe(t.shardAt(hash.position(key)));
    expect(thrown(() => t.shardAt(Buffer.from('x'))).code).toBe(ErrorCode.Routing);
  });

  it('routing table - range tables route sequential keys by byte order', () => {
    const t = RoutingTable.create({ partitioner: range, nodes: NODES, shards: 4 }).split(
      s('s1'),
      Buffer.from('user:5'),
    );
    expect(t.shardFor(Buffer.from('?')).id).toBe('s0');
    expect(t.shardFor(Buffer.from('@')).id).toBe('s1');
    expect(t.shardFor(Buffer.from('user:4999')).id).toBe('s1');
    expect(t.shardFor(Buffer.from('user:5000')).id).toBe('s4');
    expect(t.shardFor(Buffer.from([0xff, 0xff])).id).toBe('s3');
  });

  it('routing table - split defaults to the midpoint and the next free id, on the same node', () => {
    const t = RoutingTable.create({ partitioner: hash, nodes: NODES, shards: 2, capacity: 100 })
      .withStatus(s('s1'), ShardStatus.Splitting)
      .split(s('s1'));
    expect(t.version).toBe(3);
    expect(t.shards.map((x) => [x.id, x.start, x.end, x.node, x.capacity, x.status])).toEqual([
      ['s0', 0, 2 ** 31, 'n0', 100, 'active'],
      ['s1', 2 ** 31, 3 * 2 ** 30, 'n1', 100, 'splitting'],
      ['s2', 3 * 2 ** 30, null, 'n1', 100, 'splitting'],
    ]);
    expect(t.split(s('s0'), 5, s('hot-1')).shard(s('hot-1'))).toMatchObject({ start: 5, end: 2 ** 31 });
  });

  it('routing table - split copies a Buffer point, so reusing the caller buffer moves no boundary', () => {
    const at = Buffer.from('m');
    const t = RoutingTable.create({ partitioner: range, nodes: NODES, shards: 1 }).split(s('s0'), at);
    at[0] = 0x7a;
    expect(t.shard(s('s1'))!.start).toEqual(Buffer.from('m'));
  });

  it('routing table - split at a boundary or outside the range is a routing error naming the range', () => {
    const t = RoutingTable.create({ partitioner: hash, nodes: NODES, shards: 4 });
    for (const at of [2 ** 30, 2 ** 31, 0, 2 ** 31 + 1]) {
      const err = thrown(() => t.split(s('s1'), at));
      expect(err.code).toBe(ErrorCode.Routing);
      expect(err.message).toContain('["1073741824", "2147483648")');
    }
    expect(thrown(() => t.split(s('s1'), -5)).message).toMatch(/not a hash position/);
    expect(thrown(() => t.split(s('s1'), Buffer.from('a'))).code).toBe(ErrorCode.Routing);
  });

  it('routing table - a single-position range cannot be split', () => {
    const t = RoutingTable.create({ partitioner: hash, nodes: NODES, shards: 1 }).split(s('s0'), 1);
    const err = thrown(() => t.split(s('s0')));
    expect(err.code).toBe(ErrorCode.Routing);
    expect(err.message).toMatch(/shard s0 covers \["0", "1"\), which has no position to split at/);
  });

  it('routing table - unknown shards, taken ids, unknown nodes and bad values are routing errors', () => {
    const t = RoutingTable.create({ partitioner: hash, nodes: NODES, shards: 2 });
    const cases: Array<[() => unknown, RegExp]> = [
      [() => t.split(s('s7')), /unknown shard "s7"/],
      [() => t.move(s('s7'), NODES[0]!), /unknown shard "s7"/],
      [() => t.withStatus(s('nope'), ShardStatus.Moving), /unknown shard "nope"/],
      [() => t.withCapacity(s('nope'), 10), /unknown shard "nope"/],
      [() => t.split(s('s0'), undefined, s('s1')), /shard id s1 is already in use/],
      [() => t.move(s('s0'), nodeId('n9')), /node n9 is not in the routing table \(nodes: n0, n1, n2\)/],
      [
        () => t.withStatus(s('s0'), 'gone' as ShardStatus),
        /status must be one of active, splitting, moving, draining/,
      ],
      [() => t.withCapacity(s('s0'), -1), /capacity must be null or a finite number >= 0/],
      [() => t.withoutNode(NODES[0]!), /node n0 still holds shards s0; move them first/],
    ];
    for (const [fn, message] of cases) {
      const err = thrown(fn);
      expect(err.code).toBe(ErrorCode.Routing);
      expect(err.message).toMatch(message);
    }
  });

  it('routing table - no-op changes return the same table; real ones bump the version once', () => {
    const t = RoutingTable.create({ partitioner: hash, nodes: NODES.slice(0, 1), shards: 2 });
    expect(t.move(s('s0'), NODES[0]!)).toBe(t);
    expect(t.withStatus(s('s0'), ShardStatus.Active)).toBe(t);
    expect(t.withCapacity(s('s0'), null)).toBe(t);
    expect(t.withNode(NODES[0]!)).toBe(t);
    const grown = t.withNode(NODES[1]!);
    expect(grown.version).toBe(2);
    expect(grown.nodes()).toEqual(['n0', 'n1']);
    expect(grown.shardsOn(NODES[1]!)).toEqual([]);
    const moved = grown.move(s('s1'), NODES[1]!);
    expect(moved.version).toBe(3);
    expect(moved.withCapacity(s('s1'), 2500).shard(s('s1'))!.capacity).toBe(2500);
    expect(moved.move(s('s1'), NODES[0]!).withoutNode(NODES[1]!).nodes()).toEqual(['n0']);
    expect(t.version).toBe(1); // the original is untouched
  });

  it('routing table - tables and their rows are frozen', () => {
    const t = RoutingTable.create({ partitioner: hash, nodes: NODES, shards: 2 });
    expect(Object.isFrozen(t.shards)).toBe(true);
    expect(Object.isFrozen(t.shards[0])).toBe(true);
    t.nodes().push(nodeId('x'));
    expect(t.nodes()).toHaveLength(3);
  });

  it('routing table - create rejects bad options with config errors', () => {
    const cases: Array<[() => unknown, RegExp]> = [
      [
        () => RoutingTable.create({ partitioner: hash, nodes: [], shards: 2 }),
        /nodes must list at least one node/,
      ],
      [
        () => RoutingTable.create({ partitioner: hash, nodes: NODES, shards: 0 }),
        /shard count must be an integer in \[1, 65536\], got 0/,
      ],
      [
        () => RoutingTable.create({ partitioner: hash, nodes: [NODES[0]!, NODES[0]!], shards: 2 }),
        /nodes\[1\] "n0" is listed twice/,
      ],
      [
        () => RoutingTable.create({ partitioner: hash, nodes: NODES, shards: 2, capacity: Number.NaN }),
        /capacity must be null/,
      ],
    ];
    for (const [fn, message] of cases) {
      const err = thrown(fn);
      expect(err.code).toBe(ErrorCode.Config);
      expect(err.message).toMatch(message);
    }
  });
});

describe('routing table JSON', () => {
  it('routing table JSON - round trips exactly, awkward range bytes included', () => {
    const t = RoutingTable.create({ partitioner: range, nodes: NODES, shards: 3, capacity: 1000 })
      .split(s('s0'), Buffer.from([0x00, 0x5c, 0x22, 0xff]))
      .split(s('s2'), Buffer.from('\u00e9t\u00e9', 'utf8'))
      .move(s('s4'), NODES[2]!)
      .withStatus(s('s2'), ShardStatus.Draining)
      .withCapacity(s('s1'), null);
    const json = t.toJSON();
    expect(json.shards[0]).toEqual({
      id: 's0',
      start: '',
      end: '\\x00\\\\"\\xff',
      node: 'n0',
      capacity: 1000,
      status: 'active',
    });
    const back = RoutingTable.fromJSON(JSON.parse(JSON.stringify(t)));
    expect(back.version).toBe(t.version);
    expect(back.partitioner).toBe(range);
    expect(back.toJSON()).toEqual(json);
    expect(back.shards).toEqual(t.shards);
    expect(back.nodes()).toEqual(t.nodes());
  });

  const valid = (): RoutingTableJSON =>
    RoutingTable.create({ partitioner: hash, nodes: NODES.slice(0, 2), shards: 3 }).toJSON();
  const badCases: Array<[string, (j: RoutingTableJSON) => unknown, RegExp]> = [
    ['not an object', () => 'table', /must be an object/],
    [
      'unknown partitioner',
      (j) => ({ ...j, partitioner: 'ring' }),
      /partitioner must be one of hash, range, got "ring"/,
    ],
    ['version zero', (j) => ({ ...j, version: 0 }), /version must be a positive integer, got 0/],
    ['nodes missing', (j) => ({ ...j, nodes: undefined }), /nodes must be an array/],
    ['no shards', (j) => ({ ...j, shards: [] }), /shards must not be empty/],
    [
      'gap',
      (j) => ((j.shards[1]!.start = '1431655766'), j),
      /shards\[0\] \("s0"\)\.end "1431655765" does not equal shards\[1\]\.start "1431655766"/,
    ],
    [
      'unsorted',
      (j) => (j.shards.reverse(), j),
      /shards\[0\] \("s2"\)\.start is "2863311530"; the first shard must start at "0"/,
    ],
    [
      'does not start at min',
      (j) => ((j.shards[0]!.start = '7'), j),
      /shards\[0\] \("s0"\)\.start is "7"; the first shard must start at "0"/,
    ],
    ['open end', (j) => ((j.shards[2]!.end = '4294967295'), j), /shards\[2\] \("s2"\)\.end must be null/],
    [
      'empty range',
      (j) => ((j.shards[1]!.end = j.shards[1]!.start), (j.shards[2]!.start = j.shards[1]!.start), j),
      /shards\[1\] \("s1"\) is empty or reversed/,
    ],
    ['duplicate id', (j) => ((j.shards[2]!.id = 's0'), j), /shards\[2\] \("s0"\): shard id is used twice/],
    [
      'unknown node',
      (j) => ((j.shards[1]!.node = 'n7'), j),
      /shards\[1\] \("s1"\): node "n7" is not in nodes/,
    ],
    [
      'bad status',
      (j) => ((j.shards[1]!.status = 'up' as ShardStatus), j),
      /shards\[1\] \("s1"\)\.status must be one of active, splitting, moving, draining, got "up"/,
    ],
    [
      'bad capacity',
      (j) => (((j.shards[0] as { capacity: unknown }).capacity = '10'), j),
      /shards\[0\] \("s0"\)\.capacity must be null or a finite number/,
    ],
    [
      'bad position text',
      (j) => ((j.shards[1]!.start = 'half'), j),
      /shards\[1\]\.start: hash position "half" is not an integer/,
    ],
    [
      'position not a string',
      (j) => (((j.shards[1] as { end: unknown }).end = 5), j),
      /shards\[1\]\.end must be a string/,
    ],
  ];
  it.each(badCases)(
    'routing table JSON - rejects %s with a config error naming the field',
    (_name, mutate, message) => {
      const err = thrown(() => RoutingTable.fromJSON(mutate(valid())));
      expect(err.code).toBe(ErrorCode.Config);
      expect(err.message).toMatch(/^routing table JSON: /);
      expect(err.message).toMatch(message);
    },
  );

  it('routing table JSON - a partitioner passed by the caller must match the JSON', () => {
    const err = thrown(() => RoutingTable.fromJSON(valid(), range));
    expect(err.code).toBe(ErrorCode.Config);
    expect(err.message).toMatch(/partitioner is "hash" but the caller expects "range"/);
    expect(RoutingTable.fromJSON(valid(), hash).partitioner).toBe(hash);
  });
});
