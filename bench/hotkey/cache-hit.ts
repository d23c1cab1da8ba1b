/**
 * What a cache hit costs against a forward (issue 13, bench:hotkey (d)): GETs
 * of a key with a cache policy (every one a hit) and GETs of a key without
 * (forwarded to its node) through the same Router, in one process, in
 * alternating rounds so drift on a shared machine hits both alike. Prints
 * throughput and CPU per request side by side; a hit must cost less.
 *
 * The requests enter at `Router.dispatch`, as a parsed RESP request does, so
 * the figures are the router's pipeline and the backend path, without the
 * client socket (which a hit and a forward pay alike).
 *
 *   node --import tsx bench/hotkey/cache-hit.ts [--backend redis|memory] [--seconds 1] [--rounds 5] [--depths 1,32]
 *
 * `cacheHitBench` is what bench:hotkey calls; run directly it prints the table
 * and one JSON line.
 *
 * Read the figures with the backend in mind. Over Redis a forward pays the
 * socket write, the read and the reply's parse; a hit pays the key-policy
 * lookup and a map lookup. Over an embedded node a forward is itself a map
 * lookup, so the two are close. The router is the tsc build (`dist/`, which
 * `npm run bench:hotkey` builds first), as `hotshard start` runs it: under tsx
 * every closure made per request also pays esbuild's `__name` call, which
 * made a hit look dearer than it is.
 */
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { ShardBackend } from '../../dist/backend/backend.js';
import { MemoryBackend } from '../../dist/backend/memory.js';
import { RedisBackend } from '../../dist/backend/redis.js';
import { systemClock } from '../../dist/clock.js';
import { nodeId, type NodeId } from '../../dist/keyspace/ids.js';
import { hashPartitioner } from '../../dist/keyspace/partitioner.js';
import { RoutingTable } from '../../dist/keyspace/routing-table.js';
import { cacheRemedy } from '../../dist/mitigate/actions/cache.js';
import { PolicyManager } from '../../dist/mitigate/policies.js';
import type { Reply } from '../../dist/protocol/reply.js';
import { Router } from '../../dist/router/router.js';
import { Session } from '../../dist/router/session.js';
import { hasBinary, startRedis, type RedisProcess } from '../../src/testkit/index.js';

/** One side's figures. */
export interface PathFigures {
  readonly requests: number;
  readonly opsPerSec: number;
  /** Router process CPU (user + system) per request, µs. */
  readonly cpuUsPerOp: number;
}

/** Both sides at one depth, from the same run. */
export interface CacheHitRow {
  /** Requests kept in flight. */
  readonly depth: number;
  readonly cached: PathFigures;
  readonly forwarded: PathFigures;
}

/** Every depth's row, from one run. */
export interface CacheHitResult {
  readonly backend: 'memory' | 'redis';
  readonly rows: readonly CacheHitRow[];
  /** Cache hits counted by the cache (every cached GET is one). */
  readonly hits: number;
}

/** Options of {@link cacheHitBench}. */
export interface CacheHitOptions {
  /** Default redis when redis-server is installed (a forward then pays the node's round trip), else memory. */
  readonly backend?: 'memory' | 'redis';
  /** Length of one measured phase, seconds. */
  readonly seconds?: number;
  /** Phases per side, alternating cached / forwarded. */
  readonly rounds?: number;
  /** Requests kept in flight, one row each (1: a client waiting for each reply; 32: pipelined). */
  readonly depths?: readonly number[];
  /** Value size, bytes. */
  readonly valueBytes?: number;
}

const session = new Session(1, 'bench', false, 0);

function frame(args: readonly Buffer[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) parts.push(Buffer.from(`$${a.length}\r\n`), a, Buffer.from('\r\n'));
  return Buffer.concat(parts);
}

/** Keeps `depth` GETs of `args` in flight for `ms`; counts replies and this process's CPU. */
function drive(
  router: Router,
  args: Buffer[],
  depth: number,
  ms: number,
): Promise<{ ops: number; cpuUs: number; wallMs: number }> {
  const bytes = frame(args);
  return new Promise((resolve) => {
    let ops = 0;
    let inflight = 0;
    let pumping = false;
    let over = false;
    const t0 = performance.now();
    const end = t0 + ms;
    const cpu0 = process.cpuUsage();
    const onReply = (_reply: Reply): void => {
      inflight--;
      // The clock is read every 256 replies: reading it per request would be a cost both sides pay.
      if ((++ops & 255) === 0 && performance.now() >= end) over = true;
      pump();
    };
    // Replies of the embedded node come back inside dispatch: the loop, not recursion, sends the next.
    const pump = (): void => {
      if (pumping) return;
      pumping = true;
      while (inflight < depth && !over) {
        inflight++;
        router.dispatch(session, args, bytes, onReply);
      }
      pumping = false;
      if (over && inflight === 0) {
        const cpu = process.cpuUsage(cpu0);
        resolve({ ops, cpuUs: cpu.user + cpu.system, wallMs: performance.now() - t0 });
      }
    };
    pump();
  });
}

/** Measures a cached GET against a forwarded GET through one Router. */
export async function cacheHitBench(options: CacheHitOptions = {}): Promise<CacheHitResult> {
  const backendKind = options.backend ?? (hasBinary('redis-server') ? 'redis' : 'memory');
  const seconds = options.seconds ?? 1;
  const rounds = options.rounds ?? 5;
  const depths = options.depths ?? [1, 32];
  const node = nodeId('n0');
  let server: RedisProcess | undefined;
  let backend: ShardBackend;
  if (backendKind === 'redis') {
    server = await startRedis();
    const redis = new RedisBackend({ node, host: server.host, port: server.port });
    await redis.connect();
    backend = redis;
  } else backend = new MemoryBackend({ node });
  try {
    const table = RoutingTable.create({ partitioner: hashPartitioner(), nodes: [node], shards: 1 });
    const router = new Router(table, new Map<NodeId, ShardBackend>([[node, backend]]));
    const manager = new PolicyManager({ router, clock: systemClock }, [cacheRemedy()]);
    const hot = Buffer.from('bench:hot');
    const cold = Buffer.from('bench:cold');
    await manager.set(hot, {
      consistency: 'bounded',
      cache: { maxStaleMs: 3_600_000, staleWhileRevalidate: false },
    });
    const value = 'v'.repeat(options.valueBytes ?? 64);
    for (const key of [hot, cold])
      await new Promise((resolve) =>
        router.dispatch(session, [Buffer.from('SET'), key, Buffer.from(value)], undefined, resolve),
      );
    const get = Buffer.from('GET');
    const sides = { cached: [get, hot], forwarded: [get, cold] } as const;
    // Warm-up: JIT and the first fill.
    for (const args of Object.values(sides)) await drive(router, [...args], depths[depths.length - 1]!, 200);
    const figures = (t: { ops: number; cpuUs: number; wallMs: number }): PathFigures => ({
      requests: t.ops,
      opsPerSec: Math.round((t.ops / t.wallMs) * 1000),
      cpuUsPerOp: Number((t.cpuUs / t.ops).toFixed(3)),
    });
    const rows: CacheHitRow[] = [];
    for (const depth of depths) {
      const totals = { cached: { ops: 0, cpuUs: 0, wallMs: 0 }, forwarded: { ops: 0, cpuUs: 0, wallMs: 0 } };
      for (let i = 0; i < rounds; i++) {
        const order = i % 2 === 0 ? (['cached', 'forwarded'] as const) : (['forwarded', 'cached'] as const);
        for (const side of order) {
          const r = await drive(router, [...sides[side]], depth, seconds * 1000);
          totals[side].ops += r.ops;
          totals[side].cpuUs += r.cpuUs;
          totals[side].wallMs += r.wallMs;
        }
      }
      rows.push({ depth, cached: figures(totals.cached), forwarded: figures(totals.forwarded) });
    }
    const status = manager.get(hot)!.status['cache'] as { hits: number };
    await manager.clear();
    return { backend: backendKind, rows, hits: status.hits };
  } finally {
    await backend.close();
    await server?.stop();
  }
}

/** Each depth's two sides as table rows, with the hit/forward ratio of CPU per request (target < 1). */
export function formatCacheHit(r: CacheHitResult): string {
  const lines = [
    `cache hit vs forward (${r.backend} backend, through one Router)`,
    `${'in flight'.padStart(9)}  ${'path'.padEnd(18)} ${'ops/s'.padStart(10)} ${'CPU µs/req'.padStart(11)} ${'hit/forward CPU'.padStart(16)}`,
  ];
  for (const row of r.rows) {
    const ratio = (row.cached.cpuUsPerOp / row.forwarded.cpuUsPerOp).toFixed(2);
    for (const [name, f, last] of [
      ['GET cached (hit)', row.cached, ''],
      ['GET forwarded', row.forwarded, `${ratio} (< 1)`],
    ] as const)
      lines.push(
        `${String(row.depth).padStart(9)}  ${name.padEnd(18)} ${String(f.opsPerSec).padStart(10)} ${f.cpuUsPerOp.toFixed(3).padStart(11)} ${last.padStart(16)}`,
      );
  }
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      backend: { type: 'string' },
      seconds: { type: 'string', default: '1' },
      rounds: { type: 'string', default: '5' },
      depths: { type: 'string', default: '1,32' },
    },
  });
  const result = await cacheHitBench({
    backend: values.backend === 'redis' || values.backend === 'memory' ? values.backend : undefined,
    seconds: Number(values.seconds),
    rounds: Number(values.rounds),
    depths: values.depths.split(',').map(Number),
  });
  console.log(formatCacheHit(result));
  console.log(JSON.stringify(result));
}
