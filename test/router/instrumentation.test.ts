/**
 * The router's instrumentation above and below the sample budget: every
 * request is counted exactly, only the sampled ones get a wrapping callback
 * (the rest go out with the caller's own, allocating nothing), and what the
 * sampled ones measure adds up to unbiased totals.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ReplyCallback, ShardBackend } from '../../src/backend/backend.js';
import { MemoryBackend } from '../../src/backend/memory.js';
import { ManualClock } from '../../src/clock.js';
import { ErrorCode } from '../../src/errors.js';
import { nodeId, type NodeId } from '../../src/keyspace/ids.js';
import { hashPartitioner } from '../../src/keyspace/partitioner.js';
import { RoutingTable } from '../../src/keyspace/routing-table.js';
import type { Reply } from '../../src/protocol/reply.js';
import { AccessLog } from '../../src/router/access-log.js';
import { commandSpec } from '../../src/router/command-table.js';
import { Instrumentation } from '../../src/router/instrumentation.js';
import { replyTo } from '../../src/router/reply-to.js';
import { Router } from '../../src/router/router.js';
import { Session } from '../../src/router/session.js';
import { RouterTelemetry } from '../../src/telemetry/router-telemetry.js';

const START = 1_700_000_000_000;

function cluster(): { table: RoutingTable; backends: Map<NodeId, ShardBackend> } {
  const nodes = ['n0', 'n1'].map(nodeId);
  const table = RoutingTable.create({ partitioner: hashPartitioner(), nodes, shards: 4 });
  const backends = new Map<NodeId, ShardBackend>(nodes.map((n) => [n, new MemoryBackend({ node: n })]));
  return { table, backends };
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

/** Sends `args` through the router and returns the reply (the memory backend answers synchronously). */
function send(router: Router, session: Session, ...args: string[]): Reply {
  let reply: Reply | undefined;
  router.dispatch(
    session,
    args.map((a) => Buffer.from(a)),
    undefined,
    (r) => (reply = r),
  );
  if (reply === undefined) throw new Error(`no synchronous reply to ${args.join(' ')}`);
  return reply;
}

describe('instrumentation', () => {
  it('instrumentation - above the budget only a sample is wrapped; every request is still counted on its shard, node and tenant', () => {
    const { table, backends } = cluster();
    cleanups.push(() => Promise.all([...backends.values()].map((b) => b.close())).then(() => {}));
    const clock = new ManualClock(START);
    const telemetry = new RouterTelemetry({ clock, sampleBudget: 200, sampleSeed: 11 });
    const ins = new Instrumentation(telemetry, table);
    const session = new Session(1, 'test', false, 0);
    session.tenant = 'acme';
    const get = commandSpec('get')!;
    const done: ReplyCallback = () => {};
    const keys = Array.from({ length: 100 }, (_, i) => Buffer.from(`user:${i}`));
    const second = (requests: number): number => {
      let wrapped = 0;
      for (let i = 0; i < requests; i++) {
        const key = keys[i % keys.length]!;
        const cmd = { name: 'get', args: [Buffer.from('GET'), key], frame: undefined };
        const cb = ins.keyed(session, get, cmd, table.indexFor(key), done);
        if (cb !== done) {
          wrapped++;
          cb(Buffer.from('v'));
        }
      }
      clock.advance(1000);
      // Counting reads no clock: a read moves the rings to the new second, as
      // the monitor's tick does (else up to one sampling gap would land in
      // the second before).
      expect(telemetry.second).toBe(clock.now() / 1000);
      return wrapped;
    };
    expect(second(150)).toBe(150); // below the budget every request is measured
    second(5000); // a burst: the factor steps up within the second, then follows the rate
    const wrapped = [second(5000), second(5000)];
    // 5,000 / 32 ≈ 156 a second once the factor follows the rate.
    for (const w of wrapped) expect(w).toBeGreaterThan(80);
    for (const w of wrapped) expect(w).toBeLessThan(260);
    // Windows are rates per second: each key has 50 requests a second.
    const shards = telemetry.window('shard', 2);
    let reads = 0;
    for (const s of table.shards) {
      const expected = keys.filter((k) => table.shardFor(k).id === s.id).length * 50;
      expect(shards.get(s.id)?.reads, s.id).toBe(expected); // exact, sampled or not
      reads += shards.get(s.id)!.reads;
    }
    expect(reads).toBe(5000);
    expect(telemetry.window('tenant', 2).get('acme')?.reads).toBe(5000);
    expect(telemetry.window('node', 2).get('n0')!.reads + telemetry.window('node', 2).get('n1')!.reads).toBe(
      5000,
    );
    // Bytes come from the sample, weighted: the reply is 1 byte + 8 of framing per GET.
    const out = telemetry.window('tenant', 2).get('acme')!.bytesOut;
    expect(Math.abs(out / (5000 * 9) - 1)).toBeLessThan(0.25);
    // The sketches see the same sample, weighted: the per-key rates still add
    // up to the traffic (≈ 310 samples of weight 32: ±6 % standard error).
    const top = telemetry.topKeys(2, 200);
    expect(top.length).toBeGreaterThan(80);
    const total = top.reduce((sum, k) => sum + k.reads, 0);
    expect(Math.abs(total / 5000 - 1)).toBeLessThan(0.2);
  });

  it('instrumentation - a measured request goes out with a replyTo callback, which still hands its reply on', () => {
    // The backend calls every callback from one site: the connection's own
    // (replyTo) and the measuring one must be closures of one function literal,
    // or V8 stops inlining that call (src/router/reply-to.ts).
    const { table } = cluster();
    const telemetry = new RouterTelemetry({ clock: new ManualClock(START), sampleBudget: Infinity });
    const ins = new Instrumentation(telemetry, table);
    const session = new Session(1, 'test', false, 0);
    const settled: Array<[number, Reply]> = [];
    const client = replyTo({ settle: (seq, reply) => settled.push([seq, reply]) }, 7);
    const key = Buffer.from('user:1');
    const cmd = { name: 'get', args: [Buffer.from('GET'), key], frame: undefined };
    const cb = ins.keyed(session, commandSpec('get')!, cmd, table.indexFor(key), client);
    expect(cb).not.toBe(client); // measured: every request is, below the budget
    expect(cb.toString()).toBe(client.toString());
    const reply = Buffer.from('v');
    cb(reply);
    expect(settled).toEqual([[7, reply]]);
    // Measured, not only counted: bytes come from the measurement alone.
    expect(telemetry.window('shard', 1, true).get(table.shardFor(key).id)?.bytesOut).toBeGreaterThan(0);
  });

  it('instrumentation - through the router, MGET counts every key on its own shard and errors are measured', () => {
    const { table, backends } = cluster();
    cleanups.push(() => Promise.all([...backends.values()].map((b) => b.close())).then(() => {}));
    const clock = new ManualClock(START);
    const telemetry = new RouterTelemetry({ clock });
    const router = new Router(table, backends);
    router.instrument(new Instrumentation(telemetry, table));
    const session = new Session(1, 'test', false, 0);
    expect(send(router, session, 'SET', 'a', '1')).toBeDefined();
    send(router, session, 'MGET', 'a', 'b', 'c', 'd', 'e', 'f');
    send(router, session, 'SET', 'x', 'not a number');
    send(router, session, 'INCR', 'x'); // an error reply from the node
    clock.advance(1000);
    const shards = telemetry.window('shard', 1);
    let reads = 0;
    let writes = 0;
    let errors = 0;
    for (const w of shards.values()) {
      reads += w.reads;
      writes += w.writes;
      errors += w.errors;
    }
    expect({ reads, writes, errors }).toEqual({ reads: 6, writes: 3, errors: 1 });
    const xShard = table.shardFor(Buffer.from('x')).id;
    expect(shards.get(xShard)!.errors).toBe(1);
  });

  it('instrumentation - through the router, a key’s increments are counted among its writes: INCR, INCRBY, DECR, DECRBY and nothing else', () => {
    const { table, backends } = cluster();
    cleanups.push(() => Promise.all([...backends.values()].map((b) => b.close())).then(() => {}));
    const clock = new ManualClock(START);
    const telemetry = new RouterTelemetry({ clock });
    const router = new Router(table, backends);
    router.instrument(new Instrumentation(telemetry, table));
    const session = new Session(1, 'test', false, 0);
    for (let i = 0; i < 10; i++) {
      send(router, session, 'INCR', 'likes');
      send(router, session, 'INCRBY', 'likes', '5');
      send(router, session, 'DECR', 'likes');
      send(router, session, 'DECRBY', 'likes', '2');
      send(router, session, 'SET', 'likes', '0');
      send(router, session, 'LPUSH', 'jobs', 'j');
      send(router, session, 'HINCRBY', 'h', 'f', '1');
      send(router, session, 'INCRBYFLOAT', 'f', '1.5');
      send(router, session, 'GET', 'likes');
    }
    clock.advance(1000);
    expect(telemetry.commandMix(Buffer.from('likes'), 1)).toEqual({ increments: 40, writes: 50 });
    // Not what aggregation batches: a hash field, a float, a list.
    expect(telemetry.commandMix(Buffer.from('jobs'), 1)).toEqual({ increments: 0, writes: 10 });
    expect(telemetry.commandMix(Buffer.from('h'), 1)).toEqual({ increments: 0, writes: 10 });
    expect(telemetry.commandMix(Buffer.from('f'), 1)).toEqual({ increments: 0, writes: 10 });
    expect(telemetry.commandMix(Buffer.from('never'), 1)).toBeNull();
  });

  it('instrumentation - a node-overloaded reply counts as shed by its code, a Redis error as an error', () => {
    const clock = new ManualClock(START);
    const nodes = ['n0', 'n1'].map(nodeId);
    const table = RoutingTable.create({ partitioner: hashPartitioner(), nodes, shards: 4 });
    // One operation per second, nothing may wait: the second request to a node is refused at once.
    const backends = new Map<NodeId, ShardBackend>(
      nodes.map((n) => [n, new MemoryBackend({ node: n, clock, capacity: 1, maxQueue: 0 })]),
    );
    cleanups.push(() => Promise.all([...backends.values()].map((b) => b.close())).then(() => {}));
    const telemetry = new RouterTelemetry({ clock });
    const router = new Router(table, backends);
    router.instrument(new Instrumentation(telemetry, table));
    const session = new Session(1, 'test', false, 0);
    const replies: Reply[] = [];
    for (let i = 0; i < 2; i++)
      router.dispatch(session, [Buffer.from('GET'), Buffer.from('k')], undefined, (r) => replies.push(r));
    expect(replies).toHaveLength(2);
    expect(replies[1]).toMatchObject({ code: ErrorCode.NodeOverloaded });
    clock.advance(1000);
    const w = telemetry.window('shard', 1).get(table.shardFor(Buffer.from('k')).id)!;
    expect({ reads: w.reads, errors: w.errors, shed: w.shed }).toEqual({ reads: 2, errors: 0, shed: 1 });
  });

  it('instrumentation - the access log gets its sampled requests even when telemetry does not measure them', async () => {
    const { table, backends } = cluster();
    cleanups.push(() => Promise.all([...backends.values()].map((b) => b.close())).then(() => {}));
    const dir = mkdtempSync(join(tmpdir(), 'hotshard-ins-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'access.jsonl');
    const log = new AccessLog(file, 1);
    const clock = new ManualClock(START);
    // A budget of 1: after the first second almost nothing is measured.
    const telemetry = new RouterTelemetry({ clock, sampleBudget: 1, sampleSeed: 3 });
    const router = new Router(table, backends);
    router.instrument(new Instrumentation(telemetry, table, { accessLog: log }));
    const session = new Session(1, 'test', false, 0);
    for (let i = 0; i < 50; i++) send(router, session, 'SET', `k${i}`, 'v');
    clock.advance(1000);
    for (let i = 0; i < 50; i++) send(router, session, 'GET', `k${i}`);
    await log.close();
    const lines = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { op: string; key: string; shard: string });
    expect(lines).toHaveLength(100);
    expect(lines.filter((l) => l.op === 'get')).toHaveLength(50);
    for (const l of lines) expect(l.shard).toBe(table.shardFor(Buffer.from(l.key)).id);
  });
});
