/**
 * Live move: a range holding `--keys` small keys (default 1 M) moved between
 * two redis-server nodes by an in-process router while clients keep using it.
 * Two runs: (1) under a mixed GET/SET client load across the keyspace, (2) the
 * same plus ≥ `--write-rate` writes/s (default 30k) into the moving range
 * (INCRs, each checked afterwards). Prints per run: copy keys/s (target ≥
 * 100k), the move's total time, client p99 before and during the move,
 * held-request p99 at cutover, failed requests and lost writes (target 0);
 * then one JSON line. The peer, in the same run: Redis's own MIGRATE of the
 * same number of keys between two fresh redis-servers in batches of 500, the
 * way `redis-cli --cluster reshard` and Codis copy a slot (not live: keys
 * being migrated are briefly unreadable there, and nothing is verified).
 *
 *   npm run bench:move -- [--keys 1000000] [--write-rate 30000] [--clients 32] [--client-rate 20000]
 *                         [--runs both|plain|writes] [--before-seconds 3]
 *
 * The clients, the router and the copier share this process, as they share
 * `hotshard start`'s; the keys are filled with pipelined SETs on a connection
 * of their own. Exits non-zero when a request failed or a write was lost.
 */
import { parseArgs } from 'node:util';
import * as hdr from 'hdr-histogram-js';
import { Redis } from 'ioredis';
import { RedisBackend } from '../../src/backend/redis.js';
import { nodeId, shardId } from '../../src/keyspace/ids.js';
import { hashPartitioner } from '../../src/keyspace/partitioner.js';
import { RoutingTable } from '../../src/keyspace/routing-table.js';
import { makeCommand } from '../../src/protocol/command.js';
import { decodeReply } from '../../src/protocol/reply-decoder.js';
import { RawReply, ReplyError, type Reply } from '../../src/protocol/reply.js';
import { ShardMove, type MoveResult } from '../../src/rebalance/index.js';
import { Router } from '../../src/router/router.js';
import { Session } from '../../src/router/session.js';
import { startRedisCluster, type RedisProcess } from '../../src/testkit/index.js';

const { values: args } = parseArgs({
  options: {
    keys: { type: 'string', default: '1000000' },
    'write-rate': { type: 'string', default: '30000' },
    clients: { type: 'string', default: '32' },
    'client-rate': { type: 'string', default: '20000' },
    runs: { type: 'string', default: 'both' },
    'before-seconds': { type: 'string', default: '3' },
    'no-peer': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log(
    'npm run bench:move -- [--keys N] [--write-rate N] [--clients N] [--client-rate N] [--runs both|plain|writes] [--before-seconds S] [--no-peer]',
  );
  process.exit(0);
}
const KEYS = Number(args.keys);
const WRITE_RATE = Number(args['write-rate']);
const CLIENTS = Number(args.clients);
const CLIENT_RATE = Number(args['client-rate']);
const BEFORE_S = Number(args['before-seconds']);
for (const [name, v] of Object.entries({
  keys: KEYS,
  'write-rate': WRITE_RATE,
  clients: CLIENTS,
  'client-rate': CLIENT_RATE,
  'before-seconds': BEFORE_S,
})) {
  if (!Number.isFinite(v) || v <= 0) {
    console.error(
      `bench:move: --${name} must be a positive number, got ${JSON.stringify(args[name as keyof typeof args])}`,
    );
    process.exit(2);
  }
}
if (!['both', 'plain', 'writes'].includes(args.runs)) {
  console.error(`bench:move: --runs must be both, plain or writes, got ${JSON.stringify(args.runs)}`);
  process.exit(2);
}
const S0 = shardId('s0');

const decoded = (r: Reply): Reply => (r instanceof RawReply ? decodeReply(r.bytes) : r);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface RunFigures {
  run: string;
  keys: number;
  copyKeysPerSec: number;
  copySeconds: number;
  moveSeconds: number;
  clientP99BeforeMs: number;
  clientP99DuringMs: number;
  heldRequests: number;
  heldP99Ms: number;
  heldMaxMs: number;
  failedRequests: number;
  lostWrites: number;
  writesPerSecDuringMove: number;
  catchUpRounds: number;
  finalSyncKeys: number;
  cutoverAborts: number;
  state: string;
}

async function oneRun(name: string, withWrites: boolean): Promise<RunFigures> {
  const procs: RedisProcess[] = await startRedisCluster(2);
  const nodes = procs.map((p, i) => new RedisBackend({ node: nodeId(`n${i}`), host: p.host, port: p.port }));
  try {
    await Promise.all(nodes.map((n) => n.connect()));
    const table = RoutingTable.create({
      partitioner: hashPartitioner(),
      nodes: nodes.map((n) => n.node),
      shards: 2,
    });
    const router = new Router(table, new Map(nodes.map((n) => [n.node, n])));
    const inS0 = (k: string): boolean => router.table.shardFor(Buffer.from(k)).id === S0;

    // Fill: KEYS keys in s0 (on n0), and a tenth as many on n1, pipelined straight to the nodes.
    const fill = async (
      node: RedisBackend,
      want: (k: string) => boolean,
      n: number,
      prefix: string,
    ): Promise<string[]> => {
      const names: string[] = [];
      for (let i = 0; names.length < n; i++) if (want(`${prefix}${i}`)) names.push(`${prefix}${i}`);
      for (let i = 0; i < names.length; i += 20_000) {
        await Promise.all(
          names
            .slice(i, i + 20_000)
            .map(
              (k) =>
                new Promise<void>((resolve) =>
                  node.send(makeCommand('SET', k, `value-of-${k}`), () => resolve()),
                ),
            ),
        );
      }
      return names;
    };
    const t0 = performance.now();
    const inRange = await fill(nodes[0]!, inS0, KEYS, 'k:');
    const elsewhere = await fill(nodes[1]!, (k) => !inS0(k), Math.max(1_000, KEYS / 10), 'k:');
    console.error(
      `[${name}] filled ${inRange.length + elsewhere.length} keys in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );

    // Clients: GET/SET (4:1) over keys of both shards, one request at a time each, paced to
    // CLIENT_RATE in all: a closed loop would saturate this process and time our own queue.
    const before = hdr.build({
      lowestDiscernibleValue: 1,
      highestTrackableValue: 60_000_000,
      numberOfSignificantValueDigits: 3,
    });
    const during = hdr.build({
      lowestDiscernibleValue: 1,
      highestTrackableValue: 60_000_000,
      numberOfSignificantValueDigits: 3,
    });
    let hist = before;
    let failed = 0;
    let running = true;
    let seed = 1;
    const rnd = (): number => (seed = (seed * 1_103_515_245 + 12_345) >>> 0) / 2 ** 32;
    const pool = [...inRange.slice(0, 50_000), ...elsewhere.slice(0, 50_000)];
    const client = async (id: number): Promise<void> => {
      const session = new Session(id, 'bench', false, 0);
      const every = (1000 * CLIENTS) / CLIENT_RATE;
      let due = performance.now() + Math.random() * every;
      while (running) {
        due += every;
        const wait = due - performance.now();
        if (wait > 0) await sleep(wait);
        const k = pool[Math.floor(rnd() * pool.length)]!;
        const cmd = rnd() < 0.8 ? ['GET', k] : ['SET', k, `value-of-${k}`];
        const t = performance.now();
        const reply = await new Promise<Reply>((resolve) =>
          router.dispatch(
            session,
            cmd.map((a) => Buffer.from(a)),
            undefined,
            resolve,
          ),
        );
        hist.recordValue(Math.max(1, Math.round((performance.now() - t) * 1000)));
        if (decoded(reply) instanceof ReplyError) failed++;
      }
    };
    const clients = Array.from({ length: CLIENTS }, (_, i) => client(i));

    // Writers into the moving range: INCR counters at WRITE_RATE/s, in ticks of 10 ms.
    const counterKeys = withWrites ? counterNames(inS0, 20_000) : [];
    const acked = new Map<string, number>();
    let writesDuringMove = 0;
    let moving = false;
    let writer: Promise<void> = Promise.resolve();
    if (withWrites) {
      const session = new Session(99_999, 'writer', false, 0);
      writer = (async () => {
        let next = performance.now();
        let i = 0;
        while (running) {
          const batch = Math.round(WRITE_RATE / 100);
          for (let j = 0; j < batch; j++) {
            const k = counterKeys[i++ % counterKeys.length]!;
            router.dispatch(session, [Buffer.from('INCR'), Buffer.from(k)], undefined, (reply) => {
              const v = decoded(reply);
              if (v instanceof ReplyError) failed++;
              else {
                acked.set(k, (acked.get(k) ?? 0) + 1);
                if (moving) writesDuringMove++;
              }
            });
          }
          next += 10;
          const wait = next - performance.now();
          if (wait > 0) await sleep(wait);
          else await new Promise((r) => setImmediate(r));
        }
      })();
    }

    await sleep(BEFORE_S * 1000);
    hist = during;
    moving = true;
    const moveStart = performance.now();
    const move = new ShardMove({ router, shard: S0, target: nodes[1]!.node });
    const progress = setInterval(() => {
      const p = move.progress();
      console.error(
        `[${name}] ${p.phase} copied ${p.keysCopied}/${p.keysTotal ?? '?'} at ${p.keysPerSec} keys/s, eta ${p.etaSeconds ?? '?'} s, dirty ${p.dirtyKeys}`,
      );
    }, 1000);
    const result: MoveResult = await move.run();
    clearInterval(progress);
    const moveSeconds = (performance.now() - moveStart) / 1000;
    moving = false;
    await sleep(500);
    running = false;
    await Promise.all(clients);
    await writer;
    await sleep(200);

    // Every acknowledged INCR must be there, once.
    let lost = 0;
    const session = new Session(1, 'check', false, 0);
    for (const [k, n] of acked) {
      const v = decoded(
        await new Promise<Reply>((r) =>
          router.dispatch(session, [Buffer.from('GET'), Buffer.from(k)], undefined, r),
        ),
      );
      if (Number(v) !== n) lost += Math.abs(n - Number(v));
    }
    const ts = result.move.timestamps;
    const copySeconds = ((ts['catching-up'] ?? 0) - (ts.copying ?? 0)) / 1000;
    const c = result.move.counters;
    return {
      run: name,
      keys: inRange.length,
      copyKeysPerSec: Math.round(c.keysCopied / copySeconds),
      copySeconds: round(copySeconds),
      moveSeconds: round(moveSeconds),
      clientP99BeforeMs: before.getValueAtPercentile(99) / 1000,
      clientP99DuringMs: during.getValueAtPercentile(99) / 1000,
      heldRequests: c.held,
      heldP99Ms: c.holdP99Ms,
      heldMaxMs: c.holdMaxMs,
      failedRequests: failed,
      lostWrites: lost,
      writesPerSecDuringMove: Math.round(writesDuringMove / moveSeconds),
      catchUpRounds: c.catchUpRounds,
      finalSyncKeys: c.finalSyncKeys,
      cutoverAborts: c.cutoverAborts,
      state: result.state + (result.detail === null ? '' : ` (${result.detail})`),
    };
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
    await Promise.all(procs.map((p) => p.stop()));
  }
}

/** `n` counter names in s0. */
function counterNames(inS0: (k: string) => boolean, n: number): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < n; i++) if (inS0(`cnt:${i}`)) out.push(`cnt:${i}`);
  return out;
}

const round = (x: number): number => Math.round(x * 100) / 100;

/** The peer: MIGRATE ... KEYS in batches of 500 from a node holding KEYS keys to an empty one; keys/s. */
async function migratePeer(): Promise<number> {
  const [from, to] = await startRedisCluster(2);
  const src = new Redis({ host: from!.host, port: from!.port, lazyConnect: true });
  try {
    await src.connect();
    for (let i = 0; i < KEYS; i += 10_000) {
      const p = src.pipeline();
      for (let j = i; j < Math.min(KEYS, i + 10_000); j++) p.set(`k:${j}`, `value-of-k:${j}`);
      await p.exec();
    }
    const t0 = performance.now();
    let moved = 0;
    let cursor = '0';
    do {
      const [next, keys] = await src.scan(cursor, 'COUNT', 500);
      cursor = next;
      if (keys.length === 0) continue;
      await src.call('MIGRATE', to!.host, String(to!.port), '', '0', '5000', 'REPLACE', 'KEYS', ...keys);
      moved += keys.length;
    } while (cursor !== '0');
    const seconds = (performance.now() - t0) / 1000;
    console.error(`[peer] MIGRATE moved ${moved} keys in ${seconds.toFixed(2)} s`);
    return Math.round(moved / seconds);
  } finally {
    src.disconnect();
    await Promise.all([from!.stop(), to!.stop()]);
  }
}

const runs: RunFigures[] = [];
if (args.runs !== 'writes') runs.push(await oneRun('mixed load', false));
if (args.runs !== 'plain')
  runs.push(await oneRun(`mixed load + ${WRITE_RATE} writes/s into the range`, true));

const cols: [string, (r: RunFigures) => string][] = [
  ['run', (r) => r.run],
  ['keys', (r) => String(r.keys)],
  ['copy keys/s', (r) => String(r.copyKeysPerSec)],
  ['move s', (r) => String(r.moveSeconds)],
  ['p99 before ms', (r) => r.clientP99BeforeMs.toFixed(2)],
  ['p99 during ms', (r) => r.clientP99DuringMs.toFixed(2)],
  ['held', (r) => String(r.heldRequests)],
  ['held p99 ms', (r) => r.heldP99Ms.toFixed(2)],
  ['writes/s in move', (r) => String(r.writesPerSecDuringMove)],
  ['failed', (r) => String(r.failedRequests)],
  ['lost', (r) => String(r.lostWrites)],
  ['state', (r) => r.state],
];
const peer = args['no-peer'] ? null : await migratePeer();
console.log(cols.map(([h]) => h).join(' | '));
for (const r of runs) console.log(cols.map(([, f]) => f(r)).join(' | '));
if (peer !== null)
  console.log(
    `peer: redis MIGRATE, batches of 500, no load, not live | ${KEYS} | ${peer} keys/s | hotshard/peer ${runs.map((r) => (r.copyKeysPerSec / peer).toFixed(2)).join(', ')}`,
  );
console.log(JSON.stringify({ bench: 'move', runs, peerMigrateKeysPerSec: peer }));
if (runs.some((r) => r.failedRequests > 0 || r.lostWrites > 0 || !r.state.startsWith('done')))
  process.exitCode = 1;
