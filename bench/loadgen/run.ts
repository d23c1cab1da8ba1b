/**
 * Is the load generator fast enough not to be the bottleneck? redis-benchmark
 * GET and `runLoad` closed-loop GET against the same redis-server, side by
 * side: -c 50 -P 1 against 50 connections with 50 requests in flight, and
 * -c 50 -P 16 against 50 connections with 800 in flight (redis-benchmark
 * sends 16 and waits for all 16; the generator keeps 16 per connection in
 * flight all the time — the same depth, without the lock-step).
 *
 *   npm run bench:loadgen -- [--seconds 3] [--repeats 1] [--pipelines 1,16] [--clients 50] [--quick]
 *
 * The keyspace is populated first (redis-benchmark SET) and both sides read
 * the same names (`key:` + 12 digits, 100,000 keys, uniform), so GETs return
 * 64-byte values on both. Runs alternate between the two tools; each figure
 * is the median of the repeats. Prints the table, then one JSON line.
 */
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { runLoad } from '../../src/load/generator.js';
import { startRedis } from '../../src/testkit/index.js';
import { redisBenchmarkVersion, runRedisBenchmark } from '../lib/redis-benchmark.js';

const KEYSPACE = 100_000;
const DATA_SIZE = 64;
const log = (msg: string): void => void process.stderr.write(`[bench:loadgen] ${msg}\n`);

interface Cell {
  pipeline: number;
  concurrency: number;
  redisBenchmark: number[];
  loadgen: number[];
  loadgenP99: number[];
}

function settings(argv: string[]): {
  seconds: number;
  repeats: number;
  pipelines: number[];
  clients: number;
} {
  const { values } = parseArgs({
    args: argv,
    options: {
      seconds: { type: 'string' },
      repeats: { type: 'string' },
      pipelines: { type: 'string', default: '1,16' },
      clients: { type: 'string', default: '50' },
      quick: { type: 'boolean', default: false },
    },
  });
  const positive = (name: string, text: string): number => {
    const n = Number(text);
    if (!(n > 0)) throw new Error(`--${name} must be a positive number, got ${JSON.stringify(text)}`);
    return n;
  };
  return {
    seconds: positive('seconds', values.seconds ?? (values.quick ? '1' : '3')),
    repeats: Math.round(positive('repeats', values.repeats ?? '1')),
    pipelines: values.pipelines.split(',').map((p) => Math.round(positive('pipelines', p))),
    clients: Math.round(positive('clients', values.clients)),
  };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function main(): Promise<void> {
  const s = settings(process.argv.slice(2));
  const redis = await startRedis();
  try {
    log(`redis-server on ${redis.address}; populating ${KEYSPACE} keys`);
    await runRedisBenchmark({
      port: redis.port,
      tests: ['set'],
      requests: 200_000,
      pipeline: 16,
      keyspace: KEYSPACE,
    });
    const cells: Cell[] = s.pipelines.map((p) => ({
      pipeline: p,
      concurrency: p * s.clients,
      redisBenchmark: [],
      loadgen: [],
      loadgenP99: [],
    }));
    for (let repeat = 0; repeat < s.repeats; repeat++) {
      for (const cell of cells) {
        // Calibrate -n to the wanted length from a short run, once per cell.
        const base = {
          port: redis.port,
          tests: ['get'],
          clients: s.clients,
          pipeline: cell.pipeline,
          keyspace: KEYSPACE,
        };
        const sides = [
          async (): Promise<void> => {
            const probe =
              cell.redisBenchmark.length > 0
                ? median(cell.redisBenchmark)
                : (await runRedisBenchmark({ ...base, requests: 20_000 }))[0]!.rps;
            const [get] = await runRedisBenchmark({
              ...base,
              requests: Math.max(10_000, Math.round(probe * s.seconds)),
            });
            cell.redisBenchmark.push(get!.rps);
            log(`P${cell.pipeline} redis-benchmark ${Math.round(get!.rps)} req/s`);
          },
          async (): Promise<void> => {
            const report = await runLoad({
              target: { kind: 'resp', host: redis.host, port: redis.port, connections: s.clients },
              workload: { keys: KEYSPACE, ops: { get: 1 } },
              concurrency: cell.concurrency,
              durationMs: s.seconds * 1000,
            });
            if (report.errors > 0) throw new Error(`runLoad errors: ${JSON.stringify(report.errorsByKind)}`);
            cell.loadgen.push(report.throughput);
            cell.loadgenP99.push(report.latency.p99);
            log(`P${cell.pipeline} runLoad (concurrency ${cell.concurrency}) ${report.throughput} req/s`);
          },
        ];
        // Alternate which side goes first so drift on a shared machine hits both alike.
        if (repeat % 2 === 1) sides.reverse();
        for (const side of sides) await side();
      }
    }

    const rows = cells.map((c) => {
      const rb = median(c.redisBenchmark);
      const lg = median(c.loadgen);
      return {
        pipeline: c.pipeline,
        clients: s.clients,
        concurrency: c.concurrency,
        redisBenchmarkRps: Math.round(rb),
        loadgenRps: Math.round(lg),
        ratio: Math.round((lg / rb) * 1000) / 1000,
        loadgenP99Ms: median(c.loadgenP99),
      };
    });
    const header = ['GET', 'redis-benchmark', 'hotshard load', 'load/benchmark', 'load p99'];
    const lines = [
      header,
      ...rows.map((r) => [
        `-c ${r.clients} -P ${r.pipeline} (concurrency ${r.concurrency})`,
        r.redisBenchmarkRps.toLocaleString('en-US'),
        r.loadgenRps.toLocaleString('en-US'),
        r.ratio.toFixed(2),
        `${r.loadgenP99Ms.toFixed(2)} ms`,
      ]),
    ];
    const widths = header.map((_, i) => Math.max(...lines.map((l) => l[i]!.length)));
    const table = lines.map((l) =>
      l.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '),
    );
    table.push(
      `req/s, median of ${s.repeats} run(s) of ${s.seconds} s; one redis-server, ${KEYSPACE} keys, ${DATA_SIZE}-byte values`,
    );
    process.stdout.write(`${table.join('\n')}\n`);
    const json = {
      bench: 'loadgen',
      date: new Date().toISOString(),
      settings: { ...s, keyspace: KEYSPACE, dataSize: DATA_SIZE },
      env: { node: process.version, cpus: cpus().length, redisBenchmark: redisBenchmarkVersion() },
      results: rows,
    };
    process.stdout.write(`${JSON.stringify(json)}\n`);
  } finally {
    await redis.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`[bench:loadgen] ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
