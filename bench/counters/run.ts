/**
 * Counter aggregation benchmark: one hot counter at a fixed INCR rate (open
 * loop, spread evenly over each millisecond) through a router onto embedded
 * nodes with a capacity model; for several flushMs, with and without
 * salting: backend writes per increment counted at the nodes, and whether
 * the final count equals the acknowledged increments; the plain key is the
 * peer.
 *
 * Writes per increment are at most 1 / (rate × flushMs) (0.025 at 20k INCR/s
 * and 2 ms, 0.01 at 5 ms); timers firing late and batches gathering while one
 * is in flight make it less: seen 0.009–0.019 at 2 ms and 0.008–0.009 at
 * 5 ms, in process and through the RESP front end with 64 connections. The
 * 0.01 target at 20k INCR/s wants flushMs ≥ 5. flushMs = 0 on an embedded
 * node answering at once batches nothing.
 *
 *   node --import tsx bench/counters/run.ts [--rate 20000 --seconds 2]
 */
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import type { ReplyCallback } from '../../src/backend/backend.js';
import { MemoryBackend } from '../../src/backend/memory.js';
import { systemClock } from '../../src/clock.js';
import { loadConfig } from '../../src/config.js';
import { startHotshard } from '../../src/hotshard.js';
import { nodeId } from '../../src/keyspace/ids.js';
import { hashPartitioner } from '../../src/keyspace/partitioner.js';
import { RoutingTable } from '../../src/keyspace/routing-table.js';
import { aggregateRemedy } from '../../src/mitigate/actions/aggregate.js';
import { saltRemedy } from '../../src/mitigate/actions/salt.js';
import { runLoad } from '../../src/load/generator.js';
import { PolicyManager } from '../../src/mitigate/policies.js';
import type { KeyPolicy } from '../../src/mitigate/policy.js';
import type { Command } from '../../src/protocol/command.js';
import { decodeReply } from '../../src/protocol/reply-decoder.js';
import { RawReply, type Reply } from '../../src/protocol/reply.js';
import { Router } from '../../src/router/router.js';
import { Session } from '../../src/router/session.js';

const { values } = parseArgs({
  options: { rate: { type: 'string', default: '20000' }, seconds: { type: 'string', default: '2' } },
});
const rate = Number(values.rate);
const seconds = Number(values.seconds);

interface Result {
  readonly case: string;
  readonly increments: number;
  readonly writes: number;
  readonly writesPerIncrement: number;
  readonly exact: boolean;
}

const INCR_FAMILY = new Set(['incr', 'incrby', 'decr', 'decrby']);

async function run(name: string, policy: KeyPolicy | undefined): Promise<Result> {
  const ids = [0, 1, 2].map((i) => nodeId(`n${i}`));
  let writes = 0;
  const backends = ids.map((node) => {
    const inner = new MemoryBackend({ node, capacity: 200_000 });
    const send = inner.send.bind(inner);
    inner.send = (cmd: Command, done: ReplyCallback) => {
      if (INCR_FAMILY.has(cmd.name)) writes++;
      send(cmd, done);
    };
    return inner;
  });
  const table = RoutingTable.create({ partitioner: hashPartitioner(), nodes: ids, shards: 12 });
  const router = new Router(table, new Map(backends.map((b) => [b.node, b])));
  const manager = new PolicyManager({ router, clock: systemClock }, [aggregateRemedy(), saltRemedy()]);
  const key = Buffer.from('viral:counter');
  if (policy !== undefined) await manager.set(key, policy);
  const session = new Session(1, 'bench', false, 0);
  const incr = [Buffer.from('incr'), key];
  let acked = 0;
  let sent = 0;
  const start = performance.now();
  const total = Math.round(rate * seconds);
  await new Promise<void>((resolve) => {
    const pace = (): void => {
      const due = Math.min(total, Math.round(((performance.now() - start) / 1000) * rate));
      while (sent < due) {
        sent++;
        router.dispatch(session, incr, undefined, (reply: Reply) => {
          const v = reply instanceof RawReply ? decodeReply(reply.bytes) : reply;
          if (typeof v === 'number' || typeof v === 'bigint') acked++;
          if (acked === total) resolve();
        });
      }
      if (sent < total) setImmediate(pace);
    };
    pace();
  });
  const startWrites = writes;
  await manager.clear();
  const final = await new Promise<Reply>((resolve) =>
    router.dispatch(session, [Buffer.from('get'), key], undefined, resolve),
  );
  await Promise.all(backends.map((b) => b.close()));
  const decoded = final instanceof RawReply ? decodeReply(final.bytes) : final;
  const value = Buffer.isBuffer(decoded) ? Number(decoded.toString('latin1')) : NaN;
  return {
    case: name,
    increments: total,
    writes: startWrites,
    writesPerIncrement: startWrites / total,
    exact: value === acked,
  };
}

const cases: [string, KeyPolicy | undefined][] = [
  ['plain (no policy)', undefined],
  ['aggregate flushMs=0', { consistency: 'bounded', aggregate: { flushMs: 0, mode: 'sync' } }],
  ['aggregate flushMs=2', { consistency: 'bounded', aggregate: { flushMs: 2, mode: 'sync' } }],
  ['aggregate flushMs=5', { consistency: 'bounded', aggregate: { flushMs: 5, mode: 'sync' } }],
  [
    'aggregate flushMs=5 + salt 3',
    { consistency: 'bounded', aggregate: { flushMs: 5, mode: 'sync' }, salt: { buckets: 3 } },
  ],
  ['aggregate flushMs=2 async', { consistency: 'bounded', aggregate: { flushMs: 2, mode: 'async' } }],
];

/** The same counter through a whole hotshard: RESP front end, 64 connections of the load generator. */
async function throughResp(name: string, policy: KeyPolicy | undefined): Promise<Result> {
  const hs = await startHotshard(
    loadConfig({
      flags: { nodes: 4, shards: 16, respPort: 0, httpPort: 0, logLevel: 'silent', automation: 'manual' },
    }),
    pino({ level: 'silent' }),
  );
  try {
    const key = 'likes:counter:000000000000';
    if (policy !== undefined) await hs.policies.set(Buffer.from(key), policy);
    const nodes = [...hs.router.backends.values()] as MemoryBackend[];
    const before = nodes.reduce((n, b) => n + b.commandsProcessed, 0);
    let acked = 0;
    await runLoad({
      target: { kind: 'resp', host: '127.0.0.1', port: hs.respPort, connections: 64 },
      // INCR goes to the counter names (counterPrefix), not keyPrefix.
      workload: {
        keys: 1,
        counterPrefix: 'likes:counter:',
        ops: { incr: 1 },
        distribution: { kind: 'uniform' },
      },
      rate,
      durationMs: seconds * 1000,
      timeoutMs: 5000,
      onRequest: (_key, _op, ok) => void (ok && acked++),
    });
    const writes = nodes.reduce((n, b) => n + b.commandsProcessed, 0) - before;
    await hs.policies.clear();
    const final = await new Promise<Reply>((resolve) =>
      hs.router.dispatch(
        new Session(1, 'bench', false, 0),
        [Buffer.from('get'), Buffer.from(key)],
        undefined,
        resolve,
      ),
    );
    const decoded = final instanceof RawReply ? decodeReply(final.bytes) : final;
    const value = Buffer.isBuffer(decoded) ? Number(decoded.toString('latin1')) : NaN;
    return {
      case: `RESP, 64 conns: ${name}`,
      increments: acked,
      writes,
      writesPerIncrement: writes / acked,
      exact: value === acked,
    };
  } finally {
    await hs.close();
  }
}

const results: Result[] = [];
for (const [name, policy] of cases) results.push(await run(name, policy));
for (const [name, policy] of cases.filter(([n]) => n !== 'aggregate flushMs=0'))
  results.push(await throughResp(name, policy));
console.log(JSON.stringify({ bench: 'counters', rate, seconds, results }));
console.log(`\n${rate} INCR/s for ${seconds} s on one counter`);
for (const r of results)
  console.log(
    `${r.case.padEnd(46)} writes ${String(r.writes).padStart(7)}  per increment ${r.writesPerIncrement.toFixed(4)}  exact ${r.exact}`,
  );
