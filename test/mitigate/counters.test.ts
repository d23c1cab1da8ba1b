/**
 * Counter remedies - aggregation with group commit and salted counters keep
 * every INCR reply what one Redis would have given (distinct and gap-free:
 * the prefix sums of one serial order) and the final value equal to the
 * acknowledged increments, under concurrency, while the remedies are
 * switched on and off, at the int64 edge, on a key of another type; over
 * embedded nodes with a capacity model (replies arrive later) and over real
 * redis-server nodes.
 */
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ShardBackend } from '../../src/backend/backend.js';
import { MemoryBackend } from '../../src/backend/memory.js';
import { RedisBackend } from '../../src/backend/redis.js';
import { nodeId } from '../../src/keyspace/ids.js';
import { ErrorCode } from '../../src/errors.js';
import { hsError } from '../../src/protocol/reply.js';
import { chooseSubKeys, subKeyName } from '../../src/mitigate/actions/salt.js';
import type { KeyPolicy } from '../../src/mitigate/policy.js';
import { requireBinary, startRedisCluster, type RedisProcess } from '../../src/testkit/index.js';
import {
  ManualClock,
  ManualTimers,
  client,
  nodes,
  raw,
  rig,
  send,
  serialOrderProblem,
  tick,
  type Acked,
  type Rig,
  type Seen,
} from './counter-harness.js';
import { mulberry32 } from '../seeded-random.js';

const hasRedis = requireBinary('redis-server', 'counter remedy tests over Redis');

const AGG: KeyPolicy = { consistency: 'bounded', aggregate: { flushMs: 2, mode: 'sync' } };
const ASYNC: KeyPolicy = { consistency: 'bounded', aggregate: { flushMs: 2, mode: 'async' } };
const SALT: KeyPolicy = { consistency: 'bounded', salt: { buckets: 3 } };
/** One sub-key: its own part meets int64 first. */
const SALT1: KeyPolicy = { consistency: 'bounded', salt: { buckets: 1 } };
const BOTH: KeyPolicy = {
  consistency: 'bounded',
  aggregate: { flushMs: 2, mode: 'sync' },
  salt: { buckets: 3 },
};

const INT64_MAX = 9223372036854775807n;

const toClose: ShardBackend[] = [];
afterEach(async () => {
  await Promise.all(toClose.splice(0).map((b) => b.close()));
});

function memoryNodes(n: number, capacity: number | null = null): MemoryBackend[] {
  const made = nodes(n).map((node) => new MemoryBackend({ node, capacity }));
  toClose.push(...made);
  return made;
}

interface Load {
  readonly acked: Acked[];
  /** Each client's replies, in the order it sent the commands. */
  readonly perClient: bigint[][];
  readonly errors: string[];
}

/**
 * `clients` connections each send `rounds` bursts of `burst` pipelined
 * increments (INCR, INCRBY; DECR, DECRBY too when `negative`) and wait for
 * each burst's replies.
 */
async function load(
  r: Rig,
  key: string,
  o: { clients: number; rounds: number; burst: number; seed: number; negative: boolean },
): Promise<Load> {
  const rng = mulberry32(o.seed);
  const acked: Acked[] = [];
  const errors: string[] = [];
  const perClient: bigint[][] = [];
  const one = async (): Promise<void> => {
    const session = client();
    const mine: bigint[] = [];
    perClient.push(mine);
    for (let round = 0; round < o.rounds; round++) {
      const sent: Promise<Seen>[] = [];
      const adds: bigint[] = [];
      for (let i = 0; i < o.burst; i++) {
        const pick = Math.floor(rng() * (o.negative ? 4 : 2));
        const k = 1 + Math.floor(rng() * 50);
        const [args, n] =
          pick === 0
            ? [['incr', key], 1n]
            : pick === 1
              ? [['incrby', key, String(k)], BigInt(k)]
              : pick === 2
                ? [['decr', key], -1n]
                : [['decrby', key, String(k)], -BigInt(k)];
        adds.push(n);
        sent.push(send(r.router, session, ...args));
      }
      const replies = await Promise.all(sent);
      // A client across a socket yields to the event loop between bursts; an
      // embedded node answering at once would otherwise keep the switcher out.
      await tick();
      replies.forEach((reply, i) => {
        if (typeof reply !== 'bigint') return errors.push(String(reply));
        acked.push({ n: adds[i]!, reply });
        mine.push(reply);
      });
    }
  };
  await Promise.all(Array.from({ length: o.clients }, one));
  return { acked, perClient, errors };
}

/** Switches `key`'s policy among `choices` (undefined: none) until `stop` says so; returns how many switches. */
async function switching(
  r: Rig,
  key: string,
  choices: readonly (KeyPolicy | undefined)[],
  seed: number,
  stop: () => boolean,
): Promise<number> {
  const rng = mulberry32(seed ^ 0x5eed);
  const k = Buffer.from(key);
  let switches = 0;
  while (!stop()) {
    const p = choices[Math.floor(rng() * choices.length)];
    if (p === undefined) await r.manager.delete(k);
    else await r.manager.set(k, p);
    switches++;
    for (let i = 0, n = Math.floor(rng() * 4); i < n && !stop(); i++) await tick();
  }
  return switches;
}

/** Runs the load while switching policies; checks the replies and the final value. */
async function exactUnderSwitching(
  r: Rig,
  key: string,
  o: { seed: number; negative: boolean; clients: number; rounds: number; choices: (KeyPolicy | undefined)[] },
): Promise<{ switches: number; load: Load }> {
  const admin = client();
  const initial = 1000n;
  expect(await send(r.router, admin, 'set', key, String(initial))).toBe('OK');
  let done = false;
  const loading = load(r, key, {
    clients: o.clients,
    rounds: o.rounds,
    burst: 4,
    seed: o.seed,
    negative: o.negative,
  });
  const switches = switching(r, key, o.choices, o.seed, () => done);
  const result = await loading;
  done = true;
  const n = await switches;
  expect(result.errors).toEqual([]);
  // Read through whatever policy is in force (a salted GET sums the sub-keys), then as a plain key.
  const during = await send(r.router, admin, 'get', key);
  await r.manager.delete(Buffer.from(key));
  const after = await send(r.router, admin, 'get', key);
  expect(after).toBe(during);
  const final = BigInt(after as string);
  expect(serialOrderProblem(initial, result.acked, final)).toBeNull();
  if (!o.negative) {
    expect(new Set(result.acked.map((a) => a.reply)).size).toBe(result.acked.length);
    for (const mine of result.perClient)
      for (let i = 1; i < mine.length; i++) expect(mine[i]!).toBeGreaterThan(mine[i - 1]!);
  }
  // Folded back: no sub-key is left on any node.
  for (const b of r.backends)
    for (let j = 0; j < 64; j++) expect(await raw(b, 'exists', subKeyName(Buffer.from(key), j))).toBe(0n);
  return { switches: n, load: result };
}

describe('counter aggregation - group commit', () => {
  it('sends a batch as one INCRBY once flushMs has passed and answers nobody before it is acknowledged', async () => {
    const timers = new ManualTimers();
    const r = rig(memoryNodes(2, 100_000), { timers });
    await r.manager.set(Buffer.from('c'), AGG);
    const s = client();
    const replies: Seen[] = [];
    const sent = ['incr', 'incrby 5', 'decr', 'decrby 2', 'incr'].map((c) =>
      send(r.router, s, ...c.split(' ').slice(0, 1), 'c', ...c.split(' ').slice(1)).then((x) =>
        replies.push(x),
      ),
    );
    for (let i = 0; i < 5; i++) await tick();
    expect(r.count('incr', 'incrby', 'decr', 'decrby')).toBe(0);
    expect(replies).toEqual([]);
    timers.fireAll();
    await Promise.all(sent);
    expect(replies).toEqual([1n, 6n, 5n, 3n, 4n]);
    expect(r.count('incrby')).toBe(1);
    expect(r.count('incr', 'decr', 'decrby')).toBe(0);
    expect(r.manager.get(Buffer.from('c'))?.status.aggregate).toMatchObject({
      batches: 1,
      increments: 5,
      backendWrites: 1,
    });
  });

  it('sends the gathering batch before any other command on the key, which then sees it', async () => {
    const timers = new ManualTimers();
    const r = rig(memoryNodes(2, 100_000), { timers });
    await r.manager.set(Buffer.from('c'), AGG);
    const s = client();
    const first = [send(r.router, s, 'incr', 'c'), send(r.router, s, 'incrby', 'c', '9')];
    const get = send(r.router, s, 'get', 'c');
    const later = send(r.router, s, 'incr', 'c');
    const set = send(r.router, s, 'set', 'c', '100');
    const last = send(r.router, s, 'incr', 'c');
    expect(await Promise.all([...first, get])).toEqual([1n, 10n, '10']);
    expect(await later).toBe(11n);
    expect(await set).toBe('OK');
    timers.fireAll();
    expect(await last).toBe(101n);
  });

  it('close flushes what is gathering and resolves once it is acknowledged', async () => {
    const timers = new ManualTimers();
    const r = rig(memoryNodes(2, 100_000), { timers });
    await r.manager.set(Buffer.from('c'), AGG);
    const s = client();
    const sent = Array.from({ length: 10 }, () => send(r.router, s, 'incr', 'c'));
    await r.manager.delete(Buffer.from('c'));
    expect(await Promise.all(sent)).toEqual(Array.from({ length: 10 }, (_, i) => BigInt(i + 1)));
    expect(r.count('incrby')).toBe(1);
    expect(timers.pending.size).toBe(0);
  });

  it('caps a batch by count', async () => {
    const timers = new ManualTimers();
    const r = rig(memoryNodes(1, 100_000), { timers, maxBatch: 4 });
    await r.manager.set(Buffer.from('c'), AGG);
    const s = client();
    const sent = Array.from({ length: 10 }, () => send(r.router, s, 'incr', 'c'));
    for (let i = 0; i < 10; i++) await tick();
    timers.fireAll();
    expect(await Promise.all(sent)).toEqual(Array.from({ length: 10 }, (_, i) => BigInt(i + 1)));
    expect(r.count('incrby', 'incr')).toBe(3);
  });

  it('async: answers from the last known value before the batch is written, and writes it', async () => {
    const timers = new ManualTimers();
    const r = rig(memoryNodes(2, 100_000), { timers });
    await r.manager.set(Buffer.from('c'), ASYNC);
    const s = client();
    // The value is not known yet: the first batch is answered when written.
    const first = send(r.router, s, 'incrby', 'c', '5');
    timers.fireAll();
    expect(await first).toBe(5n);
    const early = [send(r.router, s, 'incr', 'c'), send(r.router, s, 'incr', 'c')];
    expect(await Promise.all(early)).toEqual([6n, 7n]);
    expect(r.count('incr', 'incrby')).toBe(1); // not written yet
    expect(await send(r.router, s, 'get', 'c')).toBe('7'); // a read sends the batch first
    expect(r.manager.get(Buffer.from('c'))?.status.aggregate).toMatchObject({
      mode: 'async',
      answeredEarly: 2,
    });
  });

  it('backend writes per increment stay far under one at high concurrency (counted at the nodes)', async () => {
    const r = rig(memoryNodes(3, 200_000));
    await r.manager.set(Buffer.from('hot'), AGG);
    const result = await load(r, 'hot', { clients: 200, rounds: 10, burst: 1, seed: 7, negative: false });
    expect(result.errors).toEqual([]);
    const writes = r.count('incr', 'incrby', 'decr', 'decrby');
    const perIncrement = writes / result.acked.length;
    const status = r.manager.get(Buffer.from('hot'))!.status.aggregate!;
    expect(status.backendWrites).toBe(writes);
    console.log(
      `aggregation: ${result.acked.length} increments, ${writes} backend writes, ${perIncrement.toFixed(4)} per increment`,
    );
    expect(perIncrement).toBeLessThan(0.05);
    expect(
      serialOrderProblem(0n, result.acked, BigInt((await send(r.router, client(), 'get', 'hot')) as string)),
    ).toBeNull();
  });
});

/** A node whose replies arrive later (in order), as across a socket. */
function deferred(inner: ShardBackend): ShardBackend {
  const b = Object.create(inner) as ShardBackend;
  b.send = (cmd, done) => inner.send(cmd, (reply) => setImmediate(() => done(reply)));
  return b;
}

const MAX = String(INT64_MAX);
const MIN = String(-INT64_MAX - 1n);
const commandArb = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(['incr'], ['decr']) },
  {
    weight: 6,
    arbitrary: fc
      .tuple(
        fc.constantFrom('incrby', 'decrby'),
        fc.oneof(
          fc.integer({ min: -20, max: 20 }).map(String),
          fc.constantFrom(MAX, MIN, String(INT64_MAX - 2n), '-9223372036854775807', 'abc', '1.5'),
        ),
      )
      .map(([c, n]) => [c, n]),
  },
  { weight: 2, arbitrary: fc.constantFrom(['get'], ['mget', '*', 'other'], ['exists'], ['ttl'], ['strlen']) },
  {
    weight: 2,
    arbitrary: fc
      .constantFrom('0', '10', String(INT64_MAX - 3n), String(-INT64_MAX + 2n), 'abc')
      .map((v) => ['set', v]),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      ['del'],
      ['hset', 'f', 'v'],
      ['expire', '100'],
      ['persist'],
      ['incrbyfloat', '1.5'],
      ['getdel'],
    ),
  },
);
const stepArb = fc.oneof(
  { weight: 10, arbitrary: commandArb.map((c) => ({ cmd: c })) },
  { weight: 2, arbitrary: fc.constant({ fire: true as const }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(undefined, AGG, ASYNC, SALT, BOTH, SALT1).map((policy) => ({ policy })),
  },
);

/** The command with the key put in: after the name, and in place of `*`. */
function withKey(c: readonly string[], key: string): string[] {
  const [name, ...rest] = c;
  return rest.includes('*') ? [name!, ...rest.map((a) => (a === '*' ? key : a))] : [name!, key, ...rest];
}

type Step = { cmd: readonly string[] } | { fire: true } | { policy: KeyPolicy | undefined };

/**
 * Runs `steps` through `r` on `key` and the same commands on a plain model
 * (`plain`, given the command with the model's key); the replies must be
 * equal, and after the policy is removed the key must read as the model's
 * with no sub-key left.
 */
async function sameAsPlain(
  steps: readonly Step[],
  r: Rig,
  timers: ManualTimers,
  key: string,
  plain: (cmd: readonly string[]) => Promise<Seen>,
): Promise<void> {
  const s = client();
  const got: Promise<Seen>[] = [];
  const want: Seen[] = [];
  const changes: Promise<unknown>[] = [];
  for (const step of steps) {
    if ('fire' in step) timers.fireAll();
    else if ('policy' in step) {
      const p = step.policy;
      changes.push(p === undefined ? r.manager.delete(Buffer.from(key)) : r.manager.set(Buffer.from(key), p));
    } else {
      got.push(send(r.router, s, ...withKey(step.cmd, key)));
      want.push(await plain(step.cmd));
    }
    await tick();
  }
  let settled = false;
  const all = Promise.all(got).finally(() => (settled = true));
  // A hang is the defect this looks for: 10 s is far beyond any answer.
  for (const deadline = Date.now() + 10_000; !settled;) {
    if (Date.now() > deadline)
      throw new Error(`replies stuck: ${JSON.stringify(r.manager.list().map((v) => v.status))}`);
    timers.fireAll();
    await tick();
  }
  await Promise.all(changes);
  expect(await all).toEqual(want);
  await r.manager.delete(Buffer.from(key));
  expect(await send(r.router, s, 'get', key)).toEqual(await plain(['get']));
  const subs = await Promise.all(
    r.backends.flatMap((b) =>
      Array.from({ length: 8 }, (_, j) => raw(b, 'exists', subKeyName(Buffer.from(key), j))),
    ),
  );
  expect(subs.every((x) => x === 0n)).toBe(true);
}

describe('counter remedies - same replies as one plain Redis, command by command (model-based)', () => {
  it('any mix of commands, timer firings and policy changes answers exactly as a plain node in arrival order', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { minLength: 1, maxLength: 60 }), async (steps) => {
        const timers = new ManualTimers();
        const r = rig(
          memoryNodes(3).map((n) => deferred(n)),
          { timers },
        );
        const model = new MemoryBackend({ node: nodeId('model') });
        toClose.push(model);
        await sameAsPlain(steps, r, timers, 'k', async (cmd) => {
          const args = withKey(cmd, 'k');
          if (args[0] !== 'mget') return raw(model, ...args);
          // One node, but Redis's MGET: nil for a key of another type.
          const values = [await raw(model, 'get', 'k'), await raw(model, 'get', 'other')];
          return values.map((v) => (typeof v === 'string' && v.startsWith('-WRONGTYPE') ? null : v));
        });
      }),
      { numRuns: 300 },
    );
  });
});

describe('salted counters - at the int64 edge', () => {
  it('an increment the total can take but its sub-key cannot goes into the base key, answered as Redis would', async () => {
    const r = rig(memoryNodes(3, 100_000));
    const s = client();
    await send(r.router, s, 'set', 'c', String(-INT64_MAX + 2n));
    await r.manager.set(Buffer.from('c'), SALT1);
    expect(await send(r.router, s, 'incrby', 'c', MAX)).toBe(2n);
    expect(await send(r.router, s, 'incrby', 'c', '5')).toBe(7n); // the sub-key would hold INT64_MAX + 5
    expect(await send(r.router, s, 'incrby', 'c', MAX)).toBe('-ERR increment or decrement would overflow');
  });

  it('folding back sub-keys whose parts sum past int64 into a negative base keeps the exact total', async () => {
    const r = rig(memoryNodes(3, 100_000));
    const s = client();
    await send(r.router, s, 'set', 'c', String(-INT64_MAX - 1n));
    await r.manager.set(Buffer.from('c'), SALT);
    expect(await send(r.router, s, 'incrby', 'c', MAX)).toBe(-1n);
    expect(await send(r.router, s, 'incrby', 'c', MAX)).toBe(INT64_MAX - 1n);
    expect(await send(r.router, s, 'incr', 'c')).toBe(INT64_MAX);
    expect(await send(r.router, s, 'get', 'c')).toBe(MAX);
    await r.manager.delete(Buffer.from('c'));
    expect(await send(r.router, s, 'get', 'c')).toBe(MAX);
  });
});

describe('salted counters - another client writes the key', () => {
  it('a non-counter written behind the router’s back overwrites the salted increments, as on one node', async () => {
    const r = rig(memoryNodes(3, 100_000));
    const s = client();
    await r.manager.set(Buffer.from('c'), SALT);
    await Promise.all(Array.from({ length: 6 }, () => send(r.router, s, 'incr', 'c')));
    const home = r.backends.find((b) => b.node === r.router.table.shardFor(Buffer.from('c')).node)!;
    expect(await raw(home, 'set', 'c', 'abc')).toBe('OK');
    expect(await send(r.router, s, 'get', 'c')).toBe('abc');
    expect(await send(r.router, s, 'del', 'c')).toBe(1n);
    expect(await send(r.router, s, 'incr', 'c')).toBe(1n);
    await r.manager.delete(Buffer.from('c'));
    expect(await send(r.router, s, 'get', 'c')).toBe('1');
    for (const b of r.backends)
      for (let j = 0; j < 8; j++) expect(await raw(b, 'exists', subKeyName(Buffer.from('c'), j))).toBe(0n);
  });
});

describe('counter remedies - several routers on the same nodes', () => {
  /** Two routers' loads at once; every acknowledged increment of both. */
  async function twoRouters(
    policy: KeyPolicy,
  ): Promise<{ a: Load; b: Load; final: bigint; ra: Rig; rb: Rig }> {
    const shared = memoryNodes(3, 150_000);
    const ra = rig(shared);
    const rb = rig(shared);
    await ra.manager.set(Buffer.from('cnt'), policy);
    await rb.manager.set(Buffer.from('cnt'), policy);
    const [a, b] = await Promise.all([
      load(ra, 'cnt', { clients: 20, rounds: 20, burst: 4, seed: 21, negative: false }),
      load(rb, 'cnt', { clients: 20, rounds: 20, burst: 4, seed: 22, negative: false }),
    ]);
    expect([...a.errors, ...b.errors]).toEqual([]);
    // Each router folds back its view; the other one's increments are kept.
    await ra.manager.delete(Buffer.from('cnt'));
    await rb.manager.delete(Buffer.from('cnt'));
    const final = BigInt((await send(ra.router, client(), 'get', 'cnt')) as string);
    return { a, b, final, ra, rb };
  }

  it('aggregation: replies stay exact across routers (each batch’s INCRBY result comes from the node)', async () => {
    const { a, b, final } = await twoRouters(AGG);
    const all = [...a.acked, ...b.acked];
    expect(serialOrderProblem(0n, all, final)).toBeNull();
    expect(new Set(all.map((x) => x.reply)).size).toBe(all.length);
  });

  it('salting: the sum stays exact, replies are exact only within each router', async () => {
    const { a, b, final } = await twoRouters(SALT);
    const sum = [...a.acked, ...b.acked].reduce((n, x) => n + x.n, 0n);
    expect(final).toBe(sum);
    // Within one router, replies are still distinct and rise per client.
    for (const one of [a, b]) {
      expect(new Set(one.acked.map((x) => x.reply)).size).toBe(one.acked.length);
      for (const mine of one.perClient)
        for (let i = 1; i < mine.length; i++) expect(mine[i]!).toBeGreaterThan(mine[i - 1]!);
    }
  });
});

describe('counter aggregation - failures that are not Redis refusing', () => {
  it('a batch that meets hotshard’s own error (node overloaded) gives every client that error and is not replayed', async () => {
    const timers = new ManualTimers();
    const r = rig(memoryNodes(1, 100_000), { timers });
    const s = client();
    await r.manager.set(Buffer.from('c'), AGG);
    const sent = Array.from({ length: 5 }, () => send(r.router, s, 'incr', 'c'));
    const node = r.backends[0]!;
    const original = node.send.bind(node);
    node.send = (cmd, done) =>
      cmd.name === 'incrby'
        ? done(hsError(ErrorCode.NodeOverloaded, 'node n0 is over capacity'))
        : original(cmd, done);
    timers.fireAll();
    const replies = await Promise.all(sent);
    expect(new Set(replies)).toEqual(new Set(['-BUSY HS_ERR_NODE_OVERLOADED node n0 is over capacity']));
    node.send = original;
    expect(r.count('incr')).toBe(0); // no replay
    const next = send(r.router, s, 'incr', 'c');
    timers.fireAll();
    expect(await next).toBe(1n);
  });
});

describe('salted counters', () => {
  it('places the sub-keys on nodes other than each other and the key’s, where the table allows', () => {
    const r = rig(memoryNodes(4));
    for (const key of ['likes:1', '{user1}likes', 'x']) {
      const subs = chooseSubKeys(Buffer.from(key), 3, r.router.table);
      const at = subs.map((s) => r.router.table.shardFor(s).node);
      expect(new Set(at).size).toBe(3);
      expect(at).not.toContain(r.router.table.shardFor(Buffer.from(key)).node);
      for (const s of subs) expect(s.toString()).toMatch(/^\{hs:salt:\d+:.*\}$/);
    }
    // More buckets than nodes: distinct shards.
    const subs = chooseSubKeys(Buffer.from('k'), 8, r.router.table);
    expect(new Set(subs.map((s) => r.router.table.shardFor(s).id)).size).toBe(8);
  });

  it('spreads increments over the sub-keys, answers the exact running total, GET sums, delete folds back', async () => {
    const r = rig(memoryNodes(4, 100_000));
    const s = client();
    expect(await send(r.router, s, 'incrby', 'c', '40')).toBe(40n);
    await r.manager.set(Buffer.from('c'), SALT);
    const replies = await Promise.all(Array.from({ length: 9 }, () => send(r.router, s, 'incr', 'c')));
    expect(replies).toEqual(Array.from({ length: 9 }, (_, i) => BigInt(41 + i)));
    const status = r.manager.get(Buffer.from('c'))!.status.salt as { subKeys: string[]; mode: string };
    expect(status.mode).toBe('salted');
    const parts = await Promise.all(
      status.subKeys.map((k) => send(r.router, s, 'get', k)), // the sub-keys are plain keys to the router
    );
    expect(parts).toEqual(['3', '3', '3']);
    expect(await send(r.router, s, 'get', 'c')).toBe('49');
    expect(await send(r.router, s, 'mget', 'c', 'other')).toEqual(['49', null]);
    await r.manager.delete(Buffer.from('c'));
    expect(await send(r.router, s, 'get', 'c')).toBe('49');
    for (const k of status.subKeys) expect(await send(r.router, s, 'exists', k)).toBe(0n);
  });

  it('folds back before SET, DEL and EXPIRE, and stays plain while the key has an expiry', async () => {
    const clock = new ManualClock();
    const r = rig(memoryNodes(3, 100_000), { clock });
    const s = client();
    await r.manager.set(Buffer.from('c'), SALT);
    await Promise.all(Array.from({ length: 6 }, () => send(r.router, s, 'incr', 'c')));
    expect(await send(r.router, s, 'getset', 'c', '100')).toBe('6');
    expect(await send(r.router, s, 'incr', 'c')).toBe(101n);
    expect(await send(r.router, s, 'strlen', 'c')).toBe(3n);
    expect(await send(r.router, s, 'del', 'c')).toBe(1n);
    expect(await send(r.router, s, 'get', 'c')).toBe(null);
    expect(await send(r.router, s, 'incr', 'c')).toBe(1n);
    expect(await send(r.router, s, 'expire', 'c', '100')).toBe(1n);
    expect(await send(r.router, s, 'incr', 'c')).toBe(2n);
    expect(r.manager.get(Buffer.from('c'))!.status.salt).toMatchObject({
      mode: 'plain',
      reason: 'the key has an expiry',
    });
    expect(await send(r.router, s, 'ttl', 'c')).toBe(100n);
    expect(await send(r.router, s, 'persist', 'c')).toBe(1n);
    clock.advance(1_000);
    expect(await send(r.router, s, 'incr', 'c')).toBe(3n);
    expect(r.manager.get(Buffer.from('c'))!.status.salt).toMatchObject({ mode: 'salted', total: '3' });
  });
});

describe('counter remedies - exact under concurrency over embedded nodes with a capacity model', () => {
  for (const seed of [1, 2]) {
    it(`increments only: replies distinct and gap-free, final = acknowledged, switching remedies mid-load (seed ${seed})`, async () => {
      const r = rig(memoryNodes(3, 150_000));
      const { switches } = await exactUnderSwitching(r, 'cnt', {
        seed,
        negative: false,
        clients: 40,
        rounds: 25,
        choices: [undefined, AGG, SALT, BOTH, ASYNC],
      });
      expect(switches).toBeGreaterThan(3);
    });
  }

  it('increments and decrements: replies are the prefix sums of one serial order (seed 3)', async () => {
    const r = rig(memoryNodes(3, 150_000));
    await exactUnderSwitching(r, 'cnt', {
      seed: 3,
      negative: true,
      clients: 40,
      rounds: 25,
      choices: [undefined, AGG, SALT, BOTH],
    });
  });

  for (const [name, policy] of [
    ['aggregate', AGG],
    ['salt', SALT],
    ['aggregate + salt', BOTH],
  ] as const) {
    it(`${name}: at INT64 max Redis's overflow error goes to exactly the increments that overflow`, async () => {
      const timers = new ManualTimers();
      const r = rig(memoryNodes(3, 100_000), { timers });
      expect(await overflowCase(r, policy, timers)).toEqual(
        await overflowCase(rig(memoryNodes(3)), undefined, timers),
      );
    });

    it(`${name}: WRONGTYPE passes through`, async () => {
      const timers = new ManualTimers();
      const r = rig(memoryNodes(3, 100_000), { timers });
      expect(await wrongTypeCase(r, policy, timers)).toEqual(
        await wrongTypeCase(rig(memoryNodes(3)), undefined, timers),
      );
    });
  }
});

/** Pipelined increments from one client across INT64 max; the replies in order. */
async function overflowCase(r: Rig, policy: KeyPolicy | undefined, timers: ManualTimers): Promise<Seen[]> {
  const s = client();
  await send(r.router, s, 'set', 'big', String(INT64_MAX - 5n));
  if (policy !== undefined) await r.manager.set(Buffer.from('big'), policy);
  const steps = [
    'incr',
    'incrby 3',
    'incrby 2',
    'incr',
    'decrby 4',
    'incr',
    'incrby 9223372036854775807',
    'decr',
  ];
  const sent = steps.map((c) => {
    const [name, ...rest] = c.split(' ');
    return send(r.router, s, name!, 'big', ...rest);
  });
  for (let i = 0; i < 10; i++) {
    await tick();
    timers.fireAll();
  }
  const replies = await Promise.all(sent);
  replies.push(await send(r.router, s, 'get', 'big'));
  if (policy !== undefined) await r.manager.delete(Buffer.from('big'));
  replies.push(await send(r.router, s, 'get', 'big'));
  return replies;
}

async function wrongTypeCase(r: Rig, policy: KeyPolicy | undefined, timers: ManualTimers): Promise<Seen[]> {
  const s = client();
  await send(r.router, s, 'hset', 'h', 'f', 'v');
  await send(r.router, s, 'set', 'str', 'abc');
  if (policy !== undefined) {
    await r.manager.set(Buffer.from('h'), policy);
    await r.manager.set(Buffer.from('str'), policy);
  }
  const sent = [
    send(r.router, s, 'incr', 'h'),
    send(r.router, s, 'incrby', 'h', '4'),
    send(r.router, s, 'incr', 'str'),
    send(r.router, s, 'decrby', 'str', '2'),
  ];
  for (let i = 0; i < 10; i++) {
    await tick();
    timers.fireAll();
  }
  const replies = await Promise.all(sent);
  replies.push(await send(r.router, s, 'get', 'str'), await send(r.router, s, 'hget', 'h', 'f'));
  return replies;
}

describe.skipIf(!hasRedis)('counter remedies - over redis-server nodes', () => {
  let servers: RedisProcess[] = [];
  const backends: RedisBackend[] = [];
  beforeAll(async () => {
    servers = await startRedisCluster(3);
    for (const [i, s] of servers.entries()) {
      const b = new RedisBackend({ node: nodeId(`r${i}`), host: s.host, port: s.port });
      await b.connect();
      backends.push(b);
    }
  }, 30_000);
  afterAll(async () => {
    await Promise.all(backends.map((b) => b.close()));
    await Promise.all(servers.map((s) => s.stop()));
  });

  it('increments only: distinct and gap-free, final = acknowledged, switching remedies mid-load', async () => {
    const r = rig(backends);
    await exactUnderSwitching(r, 'redis:cnt', {
      seed: 11,
      negative: false,
      clients: 30,
      rounds: 20,
      choices: [undefined, AGG, SALT, BOTH, ASYNC],
    });
  });

  it('increments and decrements: the prefix sums of one serial order', async () => {
    const r = rig(backends);
    await exactUnderSwitching(r, 'redis:mixed', {
      seed: 12,
      negative: true,
      clients: 30,
      rounds: 20,
      choices: [undefined, AGG, SALT, BOTH],
    });
  });

  it('overflow and WRONGTYPE: Redis’s own errors, to exactly the increments Redis refuses', async () => {
    for (const policy of [AGG, SALT, BOTH]) {
      const timers = new ManualTimers();
      const r = rig(backends, { timers });
      const plain = await overflowCase(r, undefined, timers);
      expect(await overflowCase(r, policy, timers)).toEqual(plain);
      await send(r.router, client(), 'del', 'h', 'str');
      const plainWrong = await wrongTypeCase(r, undefined, timers);
      await send(r.router, client(), 'del', 'h', 'str');
      expect(await wrongTypeCase(r, policy, timers)).toEqual(plainWrong);
      await r.manager.clear();
      await send(r.router, client(), 'del', 'h', 'str');
    }
  });

  it('model-based: any mix of commands, timer firings and policy changes answers as a plain key does', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { minLength: 1, maxLength: 30 }), async (steps) => {
        const timers = new ManualTimers();
        const r = rig(backends, { timers });
        const s = client();
        run++;
        await sameAsPlain(steps, r, timers, `model:k${run}`, (cmd) =>
          send(r.router, s, ...withKey(cmd, `model:plain${run}`)),
        );
      }),
      { numRuns: 40 },
    );
  });

  it('backend writes per increment at high concurrency (counted at the nodes)', async () => {
    const r = rig(backends);
    await r.manager.set(Buffer.from('redis:hot'), AGG);
    const result = await load(r, 'redis:hot', {
      clients: 200,
      rounds: 10,
      burst: 1,
      seed: 5,
      negative: false,
    });
    expect(result.errors).toEqual([]);
    const writes = r.count('incr', 'incrby', 'decr', 'decrby');
    console.log(
      `aggregation over redis: ${result.acked.length} increments, ${writes} writes, ${(writes / result.acked.length).toFixed(4)} per increment`,
    );
    expect(writes / result.acked.length).toBeLessThan(0.05);
    await r.manager.clear();
  });
});
