/**
 * Hot-key read replicas, model-based: concurrent writers and readers of one
 * replicated key through a Router, checked against a model of one Redis.
 * Every write's reply equals the model's in the order the writes were
 * answered; after each answered write every copy in the read set holds the
 * key's value (read straight off the nodes); every read equals the model's
 * state at or after the last write answered before it was sent (and, for a
 * read pipelined behind a write of its own session, at or after that write).
 * Over embedded nodes with unequal capacities (replies come back out of order
 * across nodes) and over real redis-servers.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ShardBackend } from '../../src/backend/backend.js';
import { MemoryBackend } from '../../src/backend/memory.js';
import { RedisBackend } from '../../src/backend/redis.js';
import { ManualClock } from '../../src/clock.js';
import { nodeId, type NodeId } from '../../src/keyspace/ids.js';
import { hashPartitioner } from '../../src/keyspace/partitioner.js';
import { RoutingTable } from '../../src/keyspace/routing-table.js';
import { copyName, replicasRemedy } from '../../src/mitigate/actions/replicas.js';
import { PolicyManager } from '../../src/mitigate/policies.js';
import type { KeyPolicy } from '../../src/mitigate/policy.js';
import { decodeReply } from '../../src/protocol/reply-decoder.js';
import { MapReply, RawReply, ReplyError, SimpleString, type Reply } from '../../src/protocol/reply.js';
import { commandSpec } from '../../src/router/command-table.js';
import { Router } from '../../src/router/router.js';
import { loadConfig } from '../../src/config.js';
import { startHotshard, type Hotshard } from '../../src/hotshard.js';
import { pino } from 'pino';
import { Session } from '../../src/router/session.js';
import { requireBinary, startRedis, startRedisCluster, type RedisProcess } from '../../src/testkit/index.js';
import { mulberry32 } from '../seeded-random.js';

const strong = (count: number): KeyPolicy => ({ consistency: 'strong', replicas: { count } });
const KEY = Buffer.from('hot{user:1}');

// ---- the world: a router over some nodes, a policy manager with the remedy ----

interface World {
  readonly router: Router;
  readonly manager: PolicyManager;
  readonly backends: Map<NodeId, ShardBackend>;
  /** Reads of the hot key or a copy of it each node has been sent, counted at the node. */
  readonly hotReads: Map<string, number>;
}

function world(backends: Map<NodeId, ShardBackend>): World {
  const table = RoutingTable.create({
    partitioner: hashPartitioner(),
    nodes: [...backends.keys()],
    shards: 16,
  });
  const hotReads = new Map<string, number>();
  for (const [node, backend] of backends) {
    const send = backend.send.bind(backend);
    backend.send = (cmd, done) => {
      const spec = commandSpec(cmd.name);
      if (spec?.write === false && cmd.args[1]?.includes(KEY) === true)
        hotReads.set(node, (hotReads.get(node) ?? 0) + 1);
      send(cmd, done);
    };
  }
  const router = new Router(table, backends);
  const manager = new PolicyManager({ router, clock: new ManualClock() }, [replicasRemedy({ retryMs: 20 })]);
  return { router, manager, backends, hotReads };
}

let sessions = 0;
const newSession = (): Session => new Session(++sessions, 'test', false, 0);

function send(w: World, session: Session, args: readonly string[]): Promise<Reply> {
  return new Promise((resolve) =>
    w.router.dispatch(
      session,
      args.map((a) => Buffer.from(a)),
      undefined,
      resolve,
    ),
  );
}

function backendOf(w: World, name: Buffer): ShardBackend {
  const t = w.router.table;
  return w.backends.get(t.shards[t.indexFor(name)]!.node)!;
}

interface CopyView {
  name: string;
  node: string;
  state: string;
  reads: number;
}
interface ReplicaStatus {
  primary: { node: string; reads: number };
  copies: CopyView[];
  writes: number;
}
function status(w: World): ReplicaStatus {
  const view = w.manager.get(KEY);
  if (view === undefined) return { primary: { node: '', reads: 0 }, copies: [], writes: 0 };
  return view.status.replicas as unknown as ReplicaStatus;
}

/** A reply as plain data: strings, numbers, arrays, `!WORD` for an error. */
function norm(reply: Reply): unknown {
  const r = reply instanceof RawReply ? decodeReply(reply.bytes) : reply;
  if (r instanceof ReplyError) return `!${r.message.split(' ')[0]!}`;
  if (r instanceof SimpleString) return r.value;
  if (Buffer.isBuffer(r)) return r.toString();
  if (typeof r === 'bigint') return Number(r);
  if (Array.isArray(r)) return r.map(norm);
  if (r instanceof MapReply) return r.entries.map(norm);
  return r;
}

async function until(cond: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 2_000; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`never happened: ${what}`);
}

// ---- the model: one Redis holding the one key ----

type State = null | { t: 'string'; v: string } | { t: 'hash'; m: ReadonlyMap<string, string> };

function applyWrite(s: State, op: readonly string[]): { s: State; reply: unknown } {
  const [name, , a, b] = op as [string, string, string, string];
  switch (name) {
    case 'SET':
      return { s: { t: 'string', v: a }, reply: 'OK' };
    case 'INCR': {
      if (s?.t === 'hash') return { s, reply: '!WRONGTYPE' };
      // Redis's string2ll: no leading zeros, no "-0" ("0" then APPEND 7 gives "07", which INCR refuses).
      const v = s === null ? 0 : /^(0|-?[1-9]\d*)$/.test(s.v) ? Number(s.v) : NaN;
      if (Number.isNaN(v)) return { s, reply: '!ERR' };
      return { s: { t: 'string', v: String(v + 1) }, reply: v + 1 };
    }
    case 'APPEND': {
      if (s?.t === 'hash') return { s, reply: '!WRONGTYPE' };
      const v = (s?.v ?? '') + a;
      return { s: { t: 'string', v }, reply: v.length };
    }
    case 'HSET': {
      if (s?.t === 'string') return { s, reply: '!WRONGTYPE' };
      const m = new Map(s?.m ?? []);
      const added = m.has(a) ? 0 : 1;
      m.set(a, b);
      return { s: { t: 'hash', m }, reply: added };
    }
    case 'DEL':
      return { s: null, reply: s === null ? 0 : 1 };
    case 'EXPIRE':
      return { s, reply: s === null ? 0 : 1 };
    default:
      throw new Error(`no model of ${name}`);
  }
}

function readOf(s: State, op: readonly string[]): unknown {
  switch (op[0]) {
    case 'GET':
      return s === null ? null : s.t === 'hash' ? '!WRONGTYPE' : s.v;
    case 'TYPE':
      return s === null ? 'none' : s.t;
    case 'EXISTS':
      return s === null ? 0 : 1;
    case 'HGETALL':
      return s === null ? [] : s.t === 'string' ? '!WRONGTYPE' : [...s.m].map(([f, v]) => `${f}=${v}`).sort();
    default:
      throw new Error(`no model of ${op[0]}`);
  }
}

/** HGETALL's flat field/value list as sorted `f=v` (field order is the node's business). */
function readReply(op: readonly string[], reply: unknown): unknown {
  if (op[0] !== 'HGETALL' || !Array.isArray(reply)) return reply;
  const out: string[] = [];
  for (let i = 0; i < reply.length; i += 2) out.push(`${String(reply[i])}=${String(reply[i + 1])}`);
  return out.sort();
}

function randomWrite(rand: () => number, i: number): string[] {
  const k = KEY.toString();
  const pick = Math.floor(rand() * 7);
  switch (pick) {
    case 0:
      return ['SET', k, rand() < 0.5 ? String(Math.floor(rand() * 100)) : `v${i}`];
    case 1:
    case 2:
      return ['INCR', k];
    case 3:
      return ['APPEND', k, rand() < 0.5 ? '7' : 'x'];
    case 4:
      return ['HSET', k, `f${Math.floor(rand() * 3)}`, `h${i}`];
    case 5:
      return ['DEL', k];
    default:
      return ['EXPIRE', k, '1000'];
  }
}

const READS = [['GET'], ['TYPE'], ['EXISTS'], ['HGETALL']];

/**
 * Runs writers and readers at once against the key and checks every reply.
 * `onAck` runs inside each write's reply callback (before any later write of
 * the key can start): the copy check reads the nodes there.
 */
async function load(
  w: World,
  seed: number,
  opts: {
    initial: State;
    writers: number;
    writesEach: number;
    readers: number;
    readsEach: number;
    during?: () => void;
  },
): Promise<{ readErrors: unknown[] }> {
  const rand = mulberry32(seed);
  const k = KEY.toString();
  const states: State[] = [opts.initial];
  let acks = 0;
  const copyChecks: Promise<void>[] = [];
  /** Reads in the order they were answered; `issued` and `answered` on one counter. */
  const reads: {
    lo: number | (() => number);
    hi: number;
    issued: number;
    answered: number;
    op: string[];
    got: unknown;
  }[] = [];
  let tick = 0;
  const readErrors: unknown[] = [];
  let opIndex = 0;

  const checkCopies = (): void => {
    const key = backendOf(w, KEY).dump(KEY);
    const copies = status(w)
      .copies.filter((c) => c.state === 'in-set')
      .map((c) => {
        const name = Buffer.from(c.name, 'latin1');
        // A copy on a node that just died cannot be read (and serves no reads: the failure takes it out of the set).
        return backendOf(w, name)
          .dump(name)
          .catch(() => 'unreachable' as const);
      });
    copyChecks.push(
      Promise.all([key, ...copies]).then(([want, ...got]) => {
        for (const g of got) {
          if (g === 'unreachable') continue;
          expect(g?.payload.toString('hex')).toEqual(want?.payload.toString('hex'));
          expect(g === null || g.pttl === -1).toBe(want === null || want.pttl === -1);
        }
      }),
    );
  };

  /** Resolves the write's place in the order the key applied the writes. */
  const write = (session: Session, op: string[]): Promise<number> =>
    new Promise<number>((resolve) =>
      w.router.dispatch(
        session,
        op.map((a) => Buffer.from(a)),
        undefined,
        (r) => {
          // Acks come one at a time in the order the key applied the writes: the model follows that order.
          const { s, reply: want } = applyWrite(states[acks]!, op);
          acks++;
          states.push(s);
          checkCopies();
          const got = norm(r);
          if (JSON.stringify(got) !== JSON.stringify(want))
            readErrors.push({ write: op, got, want, at: acks });
          resolve(acks);
        },
      ),
    );

  const read = (session: Session, op: string[], lo: number | (() => number)): Promise<void> =>
    new Promise((resolve) => {
      const full = [op[0]!, k];
      const issued = ++tick;
      w.router.dispatch(
        session,
        full.map((a) => Buffer.from(a)),
        undefined,
        (r) => {
          // A write may be applied but not yet answered: the read may see one state past the answered ones.
          reads.push({ lo, hi: acks + 1, issued, answered: ++tick, op: full, got: readReply(full, norm(r)) });
          resolve();
        },
      );
    });

  const writers = Array.from({ length: opts.writers }, async () => {
    const session = newSession();
    for (let i = 0; i < opts.writesEach; i++) {
      const op = randomWrite(rand, opIndex++);
      if (rand() < 0.3) {
        // Pipelined: a read of the same session right behind the write must see it.
        let at = -1;
        const wrote = write(session, op).then((n) => (at = n));
        await Promise.all([wrote, read(session, READS[Math.floor(rand() * READS.length)]!, () => at)]);
      } else await write(session, op);
    }
  });
  const readers = Array.from({ length: opts.readers }, async () => {
    const session = newSession();
    for (let i = 0; i < opts.readsEach; i++) {
      await read(session, READS[Math.floor(rand() * READS.length)]!, acks);
      if (i === Math.floor(opts.readsEach / 3)) opts.during?.();
    }
  });
  await Promise.all([...writers, ...readers]);
  await Promise.all(copyChecks);

  // Linearizable reads: each read sees a state no older than the last write
  // answered before it was sent, nor than what any read answered before it
  // was sent saw (the earliest state that read's value fits).
  const answeredAt: number[] = [];
  const frontier: number[] = [];
  for (const r of reads) {
    let seenBefore = 0;
    for (let i = answeredAt.length - 1; i >= 0; i--)
      if (answeredAt[i]! < r.issued) {
        seenBefore = frontier[i]!;
        break;
      }
    const lo = Math.max(typeof r.lo === 'number' ? r.lo : r.lo(), seenBefore);
    const couldBe = [];
    let fits = -1;
    for (let j = lo; j <= Math.min(r.hi, states.length - 1); j++) {
      const want = readOf(states[j]!, r.op);
      couldBe.push(want);
      if (fits < 0 && JSON.stringify(want) === JSON.stringify(r.got)) fits = j;
    }
    if (fits < 0) readErrors.push({ read: r.op, got: r.got, lo, hi: r.hi, couldBe });
    answeredAt.push(r.answered);
    frontier.push(Math.max(frontier[frontier.length - 1] ?? 0, fits < 0 ? lo : fits));
  }
  // The key itself ends where the model does.
  const final = states[states.length - 1]!;
  for (const op of READS) {
    const full = [op[0]!, k];
    expect(readReply(full, norm(await send(w, newSession(), full)))).toEqual(readOf(final, full));
  }
  return { readErrors };
}

async function dbsize(w: World): Promise<number> {
  return Number(norm(await send(w, newSession(), ['DBSIZE'])));
}

async function nodeKeys(w: World): Promise<number> {
  let n = 0;
  for (const b of w.backends.values()) if (b.status === 'up') n += await b.keyCount();
  return n;
}

async function copiesLeft(w: World): Promise<string[]> {
  const left: string[] = [];
  for (let probe = 0; probe < 64; probe++) {
    const name = copyName(KEY, probe);
    const b = backendOf(w, name);
    if (b.status === 'up' && (await b.dump(name)) !== null) left.push(name.toString('latin1'));
  }
  return left;
}

/** The whole story on one world: copies built, load checked, invisibility, spread, revert. */
async function replicatedKeyStory(w: World, seed: number, sizes: { writesEach: number; readsEach: number }) {
  const s = newSession();
  await send(w, s, ['SET', KEY.toString(), '0']);
  await send(w, s, ['SET', 'bystander', 'b']);
  expect(await dbsize(w)).toBe(2);

  await w.manager.set(KEY, strong(2));
  await until(() => status(w).copies.every((c) => c.state === 'in-set'), 'copies built');
  const st = status(w);
  expect(st.copies).toHaveLength(2);
  const nodes = new Set([st.primary.node, ...st.copies.map((c) => c.node)]);
  expect(nodes.size).toBe(3); // the key and each copy on a node of its own

  // Copies exist on the nodes but clients do not see them.
  expect(await nodeKeys(w)).toBe(4);
  expect(await dbsize(w)).toBe(2);
  expect(norm(await send(w, s, ['EXISTS', KEY.toString(), 'bystander']))).toBe(2);

  const initial: State = { t: 'string', v: '0' };
  const { readErrors } = await load(w, seed, { initial, writers: 4, readers: 6, ...sizes });
  expect(readErrors).toEqual([]);

  // Reads were spread over the key and both copies: each of the three nodes served a fair part.
  const readsSeen = [...w.hotReads.values()].reduce((a, b) => a + b, 0);
  expect(w.hotReads.size).toBe(3);
  for (const n of w.hotReads.values()) expect(n).toBeGreaterThan(readsSeen / 6);
  const after = status(w);
  expect(after.primary.reads).toBeGreaterThan(0);
  for (const c of after.copies) expect(c.reads).toBeGreaterThan(0);
  expect(after.copies.every((c) => c.state === 'in-set')).toBe(true);

  const exists = norm(await send(w, s, ['EXISTS', KEY.toString()])) as number;
  expect(await dbsize(w)).toBe(1 + exists);
  const type = norm(await send(w, s, ['TYPE', KEY.toString()]));
  expect(['string', 'hash', 'none']).toContain(type);

  // Revert: the copies go, the key stays as it was.
  const before = norm(await send(w, s, ['TYPE', KEY.toString()]));
  await w.manager.delete(KEY);
  expect(await copiesLeft(w)).toEqual([]);
  expect(w.router.hiddenKeys.size).toBe(0);
  expect(norm(await send(w, s, ['TYPE', KEY.toString()]))).toEqual(before);
  expect(await nodeKeys(w)).toBe(1 + exists);
  expect(await dbsize(w)).toBe(1 + exists);
}

/** A copy's node fails mid-load: the copy leaves the read set, reads and writes keep succeeding. */
async function copyNodeFailsStory(
  w: World,
  seed: number,
  fail: (node: NodeId) => Promise<void>,
  recover?: (node: NodeId) => Promise<void>,
) {
  await w.manager.set(KEY, strong(2));
  await until(() => status(w).copies.every((c) => c.state === 'in-set'), 'copies built');
  const victim = status(w).copies[0]!;
  let failing: Promise<void> | undefined;
  const { readErrors } = await load(w, seed, {
    initial: null,
    writers: 2,
    writesEach: 30,
    readers: 4,
    readsEach: 90,
    during: () => (failing ??= fail(nodeId(victim.node))),
  });
  await failing;
  expect(readErrors).toEqual([]);
  // One more write after the failure marks the copy, whatever the load did.
  await send(w, newSession(), ['SET', KEY.toString(), 'after']);
  const st = status(w);
  const gone = st.copies.find((c) => c.name === victim.name)!;
  expect(gone.state).toBe('repairing');
  expect(st.copies.find((c) => c.name !== victim.name)!.state).toBe('in-set');
  const readsBefore = gone.reads;
  for (let i = 0; i < 30; i++)
    expect(norm(await send(w, newSession(), ['GET', KEY.toString()]))).toBe('after');
  expect(status(w).copies.find((c) => c.name === victim.name)!.reads).toBe(readsBefore);
  if (recover !== undefined) {
    // The node is back: the copy is re-copied from the key and serves reads again.
    await recover(nodeId(victim.node));
    await until(() => status(w).copies.every((c) => c.state === 'in-set'), 'copy repaired');
    const name = Buffer.from(victim.name, 'latin1');
    expect((await backendOf(w, name).dump(name))?.payload).toEqual(
      (await backendOf(w, KEY).dump(KEY))?.payload,
    );
    for (let i = 0; i < 30; i++)
      expect(norm(await send(w, newSession(), ['GET', KEY.toString()]))).toBe('after');
    expect(status(w).copies.find((c) => c.name === victim.name)!.reads).toBeGreaterThan(readsBefore);
  }
  await w.manager.delete(KEY);
  expect(await copiesLeft(w)).toEqual([]);
}

// ---- embedded nodes with unequal capacities ----

/**
 * Delays each reply of `backend` by a random 0–2 ms, keeping the node's own
 * reply order (as one connection does), so replies of different nodes
 * overtake each other.
 */
function lagging(backend: MemoryBackend, rand: () => number): MemoryBackend {
  const send = backend.send.bind(backend);
  const waiting: { at: number; deliver: () => void }[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  const flush = (): void => {
    timer = undefined;
    const now = performance.now();
    while (waiting.length > 0 && waiting[0]!.at <= now) waiting.shift()!.deliver();
    if (waiting.length > 0) timer = setTimeout(flush, waiting[0]!.at - now);
  };
  backend.send = (cmd, done) =>
    send(cmd, (reply) => {
      const last = waiting[waiting.length - 1]?.at ?? 0;
      waiting.push({ at: Math.max(last, performance.now() + rand() * 2), deliver: () => done(reply) });
      timer ??= setTimeout(flush, waiting[0]!.at - performance.now());
    });
  return backend;
}

describe('replicas over embedded nodes with a capacity model', () => {
  const open: ShardBackend[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((b) => b.close()));
  });
  /** Four nodes of unequal capacity whose replies also take a random 0–2 ms each, in order per node. */
  function memoryWorld(seed = 0): World {
    const caps = [3_000, 5_000, 8_000, 13_000];
    const rand = mulberry32(seed + 1000);
    const backends = new Map<NodeId, ShardBackend>(
      caps.map((capacity, i) => {
        const node = nodeId(`m${i}`);
        return [node, lagging(new MemoryBackend({ node, capacity, maxQueue: 100_000 }), rand)];
      }),
    );
    open.push(...backends.values());
    return world(backends);
  }

  for (const seed of [1, 2, 3]) {
    it(`keeps every copy equal to the key and no read stale (seed ${seed})`, async () => {
      await replicatedKeyStory(memoryWorld(seed), seed, { writesEach: 40, readsEach: 80 });
    });
  }

  it('a copy whose node fails leaves the read set; reads keep succeeding from the others', async () => {
    const w = memoryWorld();
    await copyNodeFailsStory(w, 7, (node) => w.backends.get(node)!.close());
  });

  it('a copy that diverges is repaired from the key and rejoins the read set', async () => {
    const w = memoryWorld();
    const s = newSession();
    await send(w, s, ['SET', KEY.toString(), '10']);
    await w.manager.set(KEY, strong(2));
    await until(() => status(w).copies.every((c) => c.state === 'in-set'), 'copies built');
    // Someone writes a copy behind the router's back: the next write's reply differs there.
    const victim = Buffer.from(status(w).copies[1]!.name, 'latin1');
    await backendOf(w, victim).deleteKeys([victim]);
    expect(norm(await send(w, s, ['INCR', KEY.toString()]))).toBe(11);
    await until(() => status(w).copies.every((c) => c.state === 'in-set'), 'copy repaired');
    expect((await backendOf(w, victim).dump(victim))?.payload).toEqual(
      (await backendOf(w, KEY).dump(KEY))?.payload,
    );
    for (let i = 0; i < 9; i++) expect(norm(await send(w, s, ['GET', KEY.toString()]))).toBe('11');
  });

  it('reverting under load: the copies go and no reply is wrong before, during or after', async () => {
    const w = memoryWorld();
    await w.manager.set(KEY, strong(2));
    await until(() => status(w).copies.every((c) => c.state === 'in-set'), 'copies built');
    let reverting: Promise<boolean> | undefined;
    const { readErrors } = await load(w, 21, {
      initial: null,
      writers: 3,
      writesEach: 30,
      readers: 4,
      readsEach: 60,
      during: () => (reverting ??= w.manager.delete(KEY)),
    });
    expect(await reverting).toBe(true);
    expect(readErrors).toEqual([]);
    expect(await copiesLeft(w)).toEqual([]);
    expect(w.router.hiddenKeys.size).toBe(0);
  });

  it('multi-key commands reach the copies key by key; EXISTS and DBSIZE count the key once', async () => {
    const w = memoryWorld();
    const s = newSession();
    const k = KEY.toString();
    await w.manager.set(KEY, strong(2));
    await until(() => status(w).copies.every((c) => c.state === 'in-set'), 'copies built');
    expect(norm(await send(w, s, ['MSET', k, 'a', 'plain', 'b']))).toBe('OK');
    const copies = status(w).copies.map((c) => Buffer.from(c.name, 'latin1'));
    for (const c of copies)
      expect((await backendOf(w, c).dump(c))?.payload).toEqual((await backendOf(w, KEY).dump(KEY))?.payload);
    for (let i = 0; i < 6; i++)
      expect(norm(await send(w, s, ['MGET', 'plain', k, 'none']))).toEqual(['b', 'a', null]);
    expect(norm(await send(w, s, ['EXISTS', k, 'plain', k]))).toBe(3);
    expect(await dbsize(w)).toBe(2);
    expect(await nodeKeys(w)).toBe(4);
    expect(norm(await send(w, s, ['DEL', 'plain', k]))).toBe(2);
    for (const c of copies) expect(await backendOf(w, c).dump(c)).toBeNull();
    expect(await dbsize(w)).toBe(0);
    expect(status(w).copies.every((c) => c.state === 'in-set')).toBe(true);
  });

  it('replacing the policy: the old copies go before the new ones are made', async () => {
    const w = memoryWorld();
    const s = newSession();
    await send(w, s, ['HSET', KEY.toString(), 'f', 'v']);
    await w.manager.set(KEY, strong(3));
    await until(() => status(w).copies.every((c) => c.state === 'in-set'), 'copies built');
    await w.manager.set(KEY, strong(1));
    await until(() => status(w).copies.every((c) => c.state === 'in-set'), 'copies rebuilt');
    expect(status(w).copies).toHaveLength(1);
    expect(await copiesLeft(w)).toEqual([status(w).copies[0]!.name]);
    expect(await nodeKeys(w)).toBe(2);
    expect(await dbsize(w)).toBe(1);
    expect(w.router.hiddenKeys.size).toBe(1);
  });

  /**
   * Three nodes on a clock that never moves, those of the copies or the key's
   * with a capacity of one operation and no queue: after one operation they
   * refuse everything, without running it.
   */
  function exhausted(which: 'key' | 'copies'): World {
    const nodes = ['o0', 'o1', 'o2'].map(nodeId);
    const table = RoutingTable.create({ partitioner: hashPartitioner(), nodes, shards: 16 });
    const keyNode = table.shards[table.indexFor(KEY)]!.node;
    const clock = new ManualClock();
    const backends = new Map<NodeId, ShardBackend>(
      nodes.map((node) => {
        const limited = (node === keyNode) === (which === 'key');
        return [node, new MemoryBackend({ node, clock, ...(limited ? { capacity: 1, maxQueue: 0 } : {}) })];
      }),
    );
    open.push(...backends.values());
    return world(backends);
  }

  it('a write the key’s node refuses reaches no copy: the copies stay in the set, equal to the key', async () => {
    const w = exhausted('key');
    const s = newSession();
    await w.manager.set(KEY, strong(2));
    await until(() => status(w).copies.every((c) => c.state === 'in-set'), 'copies built');
    expect(norm(await send(w, s, ['SET', KEY.toString(), 'v1']))).toBe('OK');
    expect(norm(await send(w, s, ['SET', KEY.toString(), 'v2']))).toBe('!BUSY');
    const st = status(w);
    expect(st.copies.map((c) => c.state)).toEqual(['in-set', 'in-set']);
    for (const c of st.copies) {
      const name = Buffer.from(c.name, 'latin1');
      expect((await backendOf(w, name).dump(name))?.payload).toEqual(
        (await backendOf(w, KEY).dump(KEY))?.payload,
      );
    }
    // The copies answer their turns; the key's own turns are refused by its node, as without replicas.
    const got = [];
    for (let i = 0; i < 6; i++) got.push(norm(await send(w, s, ['GET', KEY.toString()])));
    expect(got.filter((g) => g === 'v1')).toHaveLength(4);
    expect(got.filter((g) => g === '!BUSY')).toHaveLength(2);
  });

  it('an overloaded node refuses without running: copies stay in the set, reads fall back to the key', async () => {
    const w = exhausted('copies');
    const s = newSession();
    await send(w, s, ['SET', KEY.toString(), 'v']);
    await w.manager.set(KEY, strong(2));
    await until(() => status(w).copies.every((c) => c.state === 'in-set'), 'copies built');
    // The build's DEL took each copy node's one token: every read sent to a
    // copy is refused there and answered by the key; the copies stay in the set.
    const got = [];
    for (let i = 0; i < 9; i++) got.push(norm(await send(w, s, ['GET', KEY.toString()])));
    expect(got).toEqual(Array<string>(9).fill('v'));
    let st = status(w);
    expect(st.copies.map((c) => c.state)).toEqual(['in-set', 'in-set']);
    expect(st.copies.map((c) => c.reads)).toEqual([3, 3]);
    expect(st.primary.reads).toBe(9);
    // A write the copies' nodes refuse did not reach them: they leave the set, and reads stay right.
    expect(norm(await send(w, s, ['SET', KEY.toString(), 'v2']))).toBe('OK');
    st = status(w);
    expect(st.copies.map((c) => c.state)).toEqual(['repairing', 'repairing']);
    for (let i = 0; i < 6; i++) expect(norm(await send(w, s, ['GET', KEY.toString()]))).toBe('v2');
    expect(status(w).primary.reads).toBe(15);
  });

  it('copies carry the key’s TTL, and a missing key has no copies', async () => {
    const w = memoryWorld();
    const s = newSession();
    await send(w, s, ['SET', KEY.toString(), 'v', 'EX', '100']);
    await w.manager.set(KEY, strong(3));
    await until(() => status(w).copies.every((c) => c.state === 'in-set'), 'copies built');
    expect(status(w).copies).toHaveLength(3);
    for (const c of status(w).copies) {
      const name = Buffer.from(c.name, 'latin1');
      const d = await backendOf(w, name).dump(name);
      expect(d!.pttl).toBeGreaterThan(90_000);
      expect(d!.pttl).toBeLessThanOrEqual(100_000);
    }
    await send(w, s, ['DEL', KEY.toString()]);
    expect(await nodeKeys(w)).toBe(0);
    expect(await dbsize(w)).toBe(0);
  });

  it('asks for more copies than there are other nodes: one per other node', async () => {
    const w = memoryWorld();
    await w.manager.set(KEY, strong(9));
    await until(() => status(w).copies.every((c) => c.state === 'in-set'), 'copies built');
    expect(status(w).copies).toHaveLength(3);
  });
});

// ---- through a started hotshard's HTTP API ----

describe('replicas through PUT /policies', () => {
  let hs: Hotshard | undefined;
  afterEach(async () => {
    await hs?.close();
    hs = undefined;
  });

  it('a strong policy with replicas puts copies on the other nodes, GET /policies shows them, DELETE removes them', async () => {
    const admin = 'admin-token-0123456789';
    const config = loadConfig({
      flags: { respPort: 0, httpPort: 0, logLevel: 'silent', nodes: 3, adminToken: admin },
    });
    hs = await startHotshard(config, pino({ level: 'silent' }));
    const w: World = {
      router: hs.router,
      manager: hs.policies,
      backends: new Map(hs.router.backends),
      hotReads: new Map(),
    };
    const s = newSession();
    await send(w, s, ['SET', KEY.toString(), 'v']);
    const url = `/policies/${encodeURIComponent(KEY.toString())}`;
    const headers = { authorization: `Bearer ${admin}` };
    const put = await hs.http.inject({
      method: 'PUT',
      url,
      headers,
      payload: { consistency: 'strong', replicas: { count: 2 }, reason: 'celebrity, never stale' },
    });
    expect(put.statusCode).toBe(200);
    await until(
      () => status(w).copies.length === 2 && status(w).copies.every((c) => c.state === 'in-set'),
      'copies built',
    );
    const shown = (await hs.http.inject({ url })).json<{ status: { replicas: ReplicaStatus } }>();
    expect(shown.status.replicas.copies.map((c) => c.state)).toEqual(['in-set', 'in-set']);
    expect(await nodeKeys(w)).toBe(3);
    expect(await dbsize(w)).toBe(1);
    const del = await hs.http.inject({ method: 'DELETE', url: `${url}?reason=cold`, headers });
    expect(del.statusCode).toBe(200);
    expect(await nodeKeys(w)).toBe(1);
    expect(norm(await send(w, s, ['GET', KEY.toString()]))).toBe('v');
  });
});

// ---- real redis-servers ----

const hasRedis = requireBinary('redis-server', 'replicas over redis-server');

describe.runIf(hasRedis)('replicas over redis-server nodes', () => {
  let servers: RedisProcess[] = [];
  const open: RedisBackend[] = [];
  beforeAll(async () => {
    servers = await startRedisCluster(3);
  }, 30_000);
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
  });
  afterEach(async () => {
    const used = open.splice(0);
    await Promise.all(used.map((b) => b.flushAll().catch(() => {})));
    await Promise.all(used.map((b) => b.close()));
  });
  async function redisWorld(): Promise<World> {
    const backends = new Map<NodeId, ShardBackend>();
    for (const [i, s] of servers.entries()) {
      const node = nodeId(`r${i}`);
      const b = new RedisBackend({ node, host: s.host, port: s.port });
      await b.connect();
      await b.flushAll();
      open.push(b);
      backends.set(node, b);
    }
    return world(backends);
  }

  it('keeps every copy equal to the key and no read stale', async () => {
    await replicatedKeyStory(await redisWorld(), 11, { writesEach: 30, readsEach: 60 });
  }, 30_000);

  it('a copy whose redis-server stops leaves the read set, reads keep succeeding, and it rejoins once back', async () => {
    const w = await redisWorld();
    const at = (node: NodeId): number => Number(String(node).slice(1));
    await copyNodeFailsStory(
      w,
      12,
      async (node) => {
        await servers[at(node)]!.stop();
      },
      async (node) => {
        servers[at(node)] = await startRedis({ port: servers[at(node)]!.port });
      },
    );
  }, 30_000);
});
