/**
 * Live move with several routers on one PostgreSQL store: `--routers` hotshard
 * instances (in this process) over the same two redis-servers, each with paced
 * GET/SET/INCR clients on the moving range, while router 1 moves it. Prints,
 * per run: the move's time, cutover attempts, requests held on the mover and
 * on the other routers with the mover's held p99/max, client p99 during the
 * move, failed requests and lost INCRs (target 0); then one JSON line. The
 * peer in the same run: the same move with one router (today's local-only
 * hold), so the cost of holding on every router is read side by side.
 *
 *   npm run bench:move-multi -- [--routers 3] [--keys 100000] [--client-rate 3000]
 *
 * Needs PostgreSQL (HOTSHARD_TEST_PG, default postgres://postgres@127.0.0.1:5432/postgres);
 * each run creates a database of its own and drops it. Exits non-zero when a
 * request failed or a write was lost.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import * as hdr from 'hdr-histogram-js';
import pg from 'pg';
import { nodeId, shardId } from '../../src/keyspace/ids.js';
import { decodeReply } from '../../src/protocol/reply-decoder.js';
import { RawReply, ReplyError, type Reply } from '../../src/protocol/reply.js';
import { ShardMove } from '../../src/rebalance/index.js';
import type { Router } from '../../src/router/router.js';
import { Session } from '../../src/router/session.js';
import { startTestHotshard, type TestHotshard } from '../../src/testkit/hotshard.js';
import { startRedisCluster } from '../../src/testkit/index.js';

const { values: args } = parseArgs({
  options: {
    routers: { type: 'string', default: '3' },
    keys: { type: 'string', default: '100000' },
    'client-rate': { type: 'string', default: '3000' },
  },
});
const ROUTERS = Number(args.routers);
const KEYS = Number(args.keys);
const RATE = Number(args['client-rate']);
for (const [name, v] of Object.entries({ routers: ROUTERS, keys: KEYS, 'client-rate': RATE }))
  if (!Number.isInteger(v) || v <= 0) {
    console.error(`bench:move-multi: --${name} must be a positive integer, got ${JSON.stringify(v)}`);
    process.exit(2);
  }
const ADMIN = process.env.HOTSHARD_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const S0 = shardId('s0');
const CLIENTS_PER_ROUTER = 8;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const decoded = (r: Reply): Reply => (r instanceof RawReply ? decodeReply(r.bytes) : r);
const send = (router: Router, session: Session, ...a: string[]): Promise<Reply> =>
  new Promise((resolve) =>
    router.dispatch(
      session,
      a.map((x) => Buffer.from(x)),
      undefined,
      resolve,
    ),
  );

async function admin(sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: ADMIN });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

function keysIn(router: Router, prefix: string, n: number): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < n; i++)
    if (router.table.shardFor(Buffer.from(`${prefix}${i}`)).id === S0) out.push(`${prefix}${i}`);
  return out;
}

async function oneRun(routers: number) {
  const db = `hs_bench_${process.pid}_${randomBytes(3).toString('hex')}`;
  await admin(`CREATE DATABASE ${db}`);
  const url = new URL(ADMIN);
  url.pathname = `/${db}`;
  const procs = await startRedisCluster(2);
  const hss: TestHotshard[] = [];
  try {
    for (let i = 0; i < routers; i++)
      hss.push(
        await startTestHotshard({
          backend: 'redis',
          redisProcesses: procs,
          store: url.toString(),
          shards: 2,
          telemetry: false,
        }),
      );
    const mover = hss[0]!.hs.router;
    const bulk = keysIn(mover, 'k:', KEYS);
    const filler = new Session(1, 'fill', false, 0);
    for (let i = 0; i < bulk.length; i += 5_000)
      await Promise.all(bulk.slice(i, i + 5_000).map((k) => send(mover, filler, 'SET', k, `v-${k}`)));
    const released = { requests: 0, maxMs: 0 };
    for (const t of hss.slice(1))
      t.hs.events.subscribe((e) => {
        if (e.type !== 'cutover.released') return;
        const d = e.data as { held: number; holdMaxMs: number };
        released.requests += d.held;
        released.maxMs = Math.max(released.maxMs, d.holdMaxMs);
      });
    const hist = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000 });
    let failed = 0;
    let running = true;
    const acked = new Map<string, number>();
    const clients = hss.flatMap((t, r) =>
      Array.from({ length: CLIENTS_PER_ROUTER }, async (_, c) => {
        const session = new Session(100 + r * 100 + c, 'bench', false, 0);
        const counters = keysIn(t.hs.router, `c:${r}:${c}:`, 20);
        const every = (1000 * CLIENTS_PER_ROUTER) / RATE;
        let due = performance.now();
        for (let i = 0; running; i++) {
          due += every;
          const wait = due - performance.now();
          if (wait > 0) await sleep(wait);
          const k = bulk[(r * 7919 + c * 104_729 + i * 31) % bulk.length]!;
          const counter = counters[i % counters.length]!;
          const cmd = i % 3 === 0 ? ['INCR', counter] : i % 3 === 1 ? ['GET', k] : ['SET', k, `v-${k}-${i}`];
          const at = performance.now();
          const reply = decoded(await send(t.hs.router, session, ...cmd));
          hist.recordValue(Math.max(1, Math.round((performance.now() - at) * 1000)));
          if (reply instanceof ReplyError) failed++;
          else if (cmd[0] === 'INCR') acked.set(counter, (acked.get(counter) ?? 0) + 1);
        }
      }),
    );
    await sleep(1_000);
    hist.reset();
    const target = mover.table.nodes().find((n) => n !== mover.table.shard(S0)!.node)!;
    const started = performance.now();
    const result = await new ShardMove({
      router: mover,
      shard: S0,
      target: nodeId(target),
      cutover: hss[0]!.hs.store.cutover,
    }).run();
    const moveSeconds = (performance.now() - started) / 1000;
    await sleep(500);
    running = false;
    await Promise.all(clients);
    let lost = 0;
    const reader = new Session(2, 'check', false, 0);
    for (const [k, n] of acked) {
      const v = decoded(await send(mover, reader, 'GET', k));
      if (Number(Buffer.isBuffer(v) ? v.toString() : -1) !== n) lost++;
    }
    const c = result.move.counters;
    return {
      routers,
      state: result.state,
      keys: bulk.length,
      moveSeconds: Math.round(moveSeconds * 100) / 100,
      cutoverAttempts: c.cutoverAttempts,
      heldOnMover: c.held,
      heldP99Ms: c.holdP99Ms,
      heldMaxMs: c.holdMaxMs,
      heldOnOthers: released.requests,
      heldMaxOnOthersMs: released.maxMs,
      clientP99DuringMs: hist.getValueAtPercentile(99) / 1000,
      failedRequests: failed,
      lostWriteKeys: lost,
    };
  } finally {
    await Promise.all(hss.map((t) => t.stop()));
    await Promise.all(procs.map((p) => p.stop()));
    await admin(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
  }
}

const ours = await oneRun(ROUTERS);
const peer = await oneRun(1);
console.log(`live move of ${ours.keys} keys, clients on every router (${RATE}/s each)`);
console.log('| figure | ' + `${ROUTERS} routers, coordinated` + ' | 1 router (peer) |');
console.log('| --- | --- | --- |');
for (const k of Object.keys(ours) as (keyof typeof ours)[])
  if (k !== 'routers') console.log(`| ${k} | ${ours[k]} | ${peer[k]} |`);
console.log(JSON.stringify({ bench: 'move-multi', ours, peer }));
if (ours.failedRequests + ours.lostWriteKeys + peer.failedRequests + peer.lostWriteKeys > 0) process.exit(1);
