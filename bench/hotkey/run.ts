/**
 * bench:hotkey — does mitigating a hot key work, and what does it cost?
 * Every figure is printed beside its peer from the same run:
 *
 *   (a) celebrity-read, the hot key at 40 % of traffic over capacity-bounded
 *       embedded nodes: p99 before / during / after the onset, the hot node's
 *       share of backend commands, time from onset to p99 back under the SLO
 *       (target ≤ 3 s) — mitigation on against mitigation off.
 *   (b) a viral counter at ≥ 20k INCR/s: final GET against acknowledged
 *       increments (exact), backend writes per increment (target ≤ 0.01) —
 *       aggregation on against off.
 *   (c) Zipf θ = 1.2 over 100k keys, 90 % GET, through twemproxy and through
 *       hotshard over the same 4 redis-server nodes: each node's GET+SET
 *       count, max/mean (target hotshard ≤ 1.2), for several key namings.
 *   (d) a cached GET against a forwarded GET through the same router: CPU per
 *       request and throughput (a hit must cost less).
 *
 *   npm run bench:hotkey -- [--parts a,b,c,d] [--quick]
 *
 * Prints a summary table, then one JSON line. Exits non-zero when a part
 * fails to run — never because a target is missed (the table says so).
 */
import { parseArgs } from 'node:util';
import { findNutcracker } from '../../src/testkit/nutcracker.js';
import { hasBinary, startRedisCluster } from '../../src/testkit/index.js';
import { runBalance, type BalanceRow } from './balance.js';
import { cacheHitBench, formatCacheHit, type CacheHitResult } from './cache-hit.js';
import { readHot, viralCounter, type CounterLeg, type ReadHotLeg } from './scenarios.js';

const log = (line: string): void => void process.stderr.write(`[bench:hotkey] ${line}\n`);

const { values } = parseArgs({
  options: {
    parts: { type: 'string', default: 'a,b,c,d' },
    quick: { type: 'boolean', default: false },
  },
});
const parts = new Set(values.parts.split(','));
const quick = values.quick;

const out: Record<string, unknown> = { bench: 'hotkey', date: new Date().toISOString(), quick };
const lines: string[] = [];
const target = (ok: boolean): string => (ok ? 'met' : 'MISSED');

if (parts.has('a')) {
  log('(a) celebrity-read, hot key at 40 % of traffic, mitigation off then on');
  const { legs, sloP99Ms } = await readHot(0.4, log, quick ? 20 : 30);
  const [off, on] = legs as [ReadHotLeg, ReadHotLeg];
  out['a'] = { sloP99Ms, off, on };
  lines.push(
    `(a) celebrity-read, SLO p99 ${sloP99Ms} ms         mitigation off        on`,
    `    p99 before / during / after (ms)   ${[off.p99BeforeMs, off.p99DuringMs, off.p99AfterMs]
      .map((x) => x.toFixed(1))
      .join(' / ')
      .padEnd(20)} ${[on.p99BeforeMs, on.p99DuringMs, on.p99AfterMs].map((x) => x.toFixed(1)).join(' / ')}`,
    `    hot node share before → after     ${`${(100 * off.hotNodeShareBefore).toFixed(0)}% → ${(100 * off.hotNodeShareAfter).toFixed(0)}%`.padEnd(20)} ${(100 * on.hotNodeShareBefore).toFixed(0)}% → ${(100 * on.hotNodeShareAfter).toFixed(0)}%`,
    `    onset → p99 under SLO (s)          ${(off.p99RestoreSeconds?.toFixed(2) ?? 'never').padEnd(20)} ${on.p99RestoreSeconds?.toFixed(2) ?? 'never'}   target ≤ 3: ${target(on.p99RestoreSeconds !== null && on.p99RestoreSeconds <= 3)}`,
  );
}

if (parts.has('b')) {
  const rate = 20_000;
  log(`(b) viral counter at ${rate} INCR/s, aggregation off then on`);
  const legs = await viralCounter(rate, quick ? 6 : 10, log);
  const [off, on] = legs as [CounterLeg, CounterLeg];
  out['b'] = { off, on };
  lines.push(
    `(b) viral counter                        aggregation off       on`,
    `    INCR/s acknowledged                ${String(Math.round(off.incrPerSec)).padEnd(20)} ${Math.round(on.incrPerSec)}`,
    `    final GET = acknowledged           ${`${off.finalCount} = ${off.acknowledged}`.padEnd(20)} ${on.finalCount} = ${on.acknowledged}   exact: ${target(on.finalCount === on.acknowledged && off.finalCount === off.acknowledged)}`,
    `    backend writes per increment       ${off.backendWritesPerIncrement.toFixed(4).padEnd(20)} ${on.backendWritesPerIncrement.toFixed(4)}   target ≤ 0.01: ${target(on.backendWritesPerIncrement <= 0.01)}`,
  );
}

if (parts.has('c')) {
  if (!hasBinary('redis-server')) {
    log('(c) skipped: needs redis-server (apt-get install redis-server)');
  } else {
    const twemproxy = findNutcracker() !== undefined;
    if (!twemproxy) log('(c) twemproxy leg skipped: needs nutcracker (apt-get install nutcracker)');
    log('(c) Zipf 1.2 over 100k keys, 90 % GET, 4 redis-server nodes');
    const redis = await startRedisCluster(4);
    let rows: BalanceRow[];
    try {
      rows = await runBalance(
        redis,
        {
          keys: 100_000,
          theta: 1.2,
          rate: quick ? 8_000 : 15_000,
          warmupMs: quick ? 4_000 : 6_000,
          measureMs: quick ? 4_000 : 8_000,
          seed: 7,
          namings: [
            { name: 'key:<12 digits>', keyPrefix: 'key:', padWidth: 12 },
            { name: 'user:<n>', keyPrefix: 'user:', padWidth: 0 },
            { name: 'obj-<6 digits>', keyPrefix: 'obj-', padWidth: 6 },
          ],
        },
        log,
        twemproxy,
      );
    } finally {
      await Promise.all(redis.map((r) => r.stop()));
    }
    out['c'] = rows;
    lines.push(`(c) backend GET+SET max/mean, Zipf 1.2   twemproxy   hotshard`);
    for (const r of rows)
      lines.push(
        `    ${r.naming.padEnd(34)} ${(r.twemproxy?.toFixed(2) ?? '—').padEnd(11)} ${r.hotshard.toFixed(2)}   target ≤ 1.2: ${target(r.hotshard <= 1.2)}`,
      );
  }
}

if (parts.has('d')) {
  log('(d) cached GET against forwarded GET, same router');
  const result: CacheHitResult = await cacheHitBench({ seconds: quick ? 0.5 : 1, rounds: quick ? 3 : 5 });
  out['d'] = result;
  lines.push(
    '(d) cache hit against forward',
    ...formatCacheHit(result)
      .split('\n')
      .map((l) => `    ${l}`),
  );
}

process.stdout.write(`${lines.join('\n')}\n${JSON.stringify(out)}\n`);
process.exit(0);
