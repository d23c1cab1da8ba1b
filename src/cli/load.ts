/** `hotshard load`: drive a RESP or HTTP endpoint with a seeded, skewed workload. */
import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { ConfigError, HotshardError } from '../errors.js';
import { parseDistribution } from '../load/distributions.js';
import { runLoad, type LoadOptions, type LoadReport } from '../load/generator.js';
import { formatReport, ProgressLine } from '../load/progress.js';
import type { TargetSpec } from '../load/targets.js';
import { optionalInt, targetFromFlags } from './target-flags.js';
import {
  compileWorkload,
  parseOps,
  parseTenants,
  parseValueSize,
  type WorkloadSpec,
} from '../load/workload.js';
import { verifyWrites, WriteLedger, type WriteCheck } from '../load/write-ledger.js';

/** Exit code for flags that make no sense. */
const BAD_FLAGS = 2;

interface LoadFlags {
  resp?: string;
  http?: string;
  rate?: string;
  concurrency?: string;
  duration: string;
  connections?: string;
  dist?: string;
  keys?: string;
  keyPrefix?: string;
  ops?: string;
  mgetKeys?: string;
  valueSize?: string;
  tenants?: string;
  workload?: string;
  seed: string;
  timeout: string;
  maxOutstanding?: string;
  password?: string;
  verify?: boolean;
  report?: string;
}

/** Registers `load`. */
export function addLoadCommand(program: Command): void {
  program
    .command('load')
    .description('send a seeded workload to a RESP endpoint (hotshard, twemproxy, Redis) or the HTTP API')
    .option('--resp <host:port>', 'RESP target')
    .option('--http <url>', 'HTTP target, e.g. http://127.0.0.1:8080')
    .option('--rate <n>', 'open loop: requests per second (latency from the intended send time)')
    .option('--concurrency <n>', 'closed loop: requests kept in flight')
    .option('--duration <time>', 'how long to send: 30, 30s, 500ms, 2m', '30s')
    .option('--connections <n>', 'connections to the target (default 50)')
    .option('--dist <spec>', 'uniform | zipf:1.2 | hotspot:0.9,0.01 | celebrity:KEY,SHARE,T,T2 | sequential')
    .option('--keys <n>', 'distinct keys per tenant (default 100000)')
    .option('--key-prefix <prefix>', 'key name prefix (default key:)')
    .option('--ops <mix>', 'op weights, e.g. get=90,set=10 (ops: get, set, incr, mget, del)')
    .option('--mget-keys <n>', 'keys per MGET (default 10)')
    .option('--value-size <spec>', 'SET value bytes: 64 | 32-512 | 64:90,1024:10')
    .option('--tenants <list>', 'tenants and their rates, e.g. a=1000,b=5000 (keys prefixed "a:")')
    .option('--workload <file>', 'a JSON WorkloadSpec; the flags above override its fields')
    .option('--seed <n>', 'random seed; the same seed sends the same requests', '1')
    .option('--timeout <time>', 'a request unanswered this long fails as a timeout', '10s')
    .option(
      '--max-outstanding <n>',
      'open loop: in-flight limit; due requests beyond it fail as overload-local',
    )
    .option('--password <password>', 'hotshard/Redis password: AUTH over --resp, Bearer over --http')
    .option('--verify', 'record acknowledged writes, read them back at the end; exit 1 if any was lost')
    .option('--report <file>', 'write the JSON report here')
    .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : BAD_FLAGS))
    .action(async (flags: LoadFlags) => {
      let options: LoadOptions;
      try {
        options = loadOptions(flags);
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        console.error(`hotshard load: ${err.message}`);
        process.exit(BAD_FLAGS);
      }
      process.exit(await run(options, flags));
    });
}

/** Turns the flags into runLoad options; throws ConfigError naming the flag. */
export function loadOptions(flags: LoadFlags): LoadOptions {
  const target: TargetSpec = targetFromFlags(flags);

  let workload: WorkloadSpec = {};
  if (flags.workload !== undefined) {
    try {
      workload = JSON.parse(readFileSync(flags.workload, 'utf8')) as WorkloadSpec;
    } catch (err) {
      throw new ConfigError(`--workload ${flags.workload}: ${(err as Error).message}`);
    }
    if (typeof workload !== 'object' || workload === null || Array.isArray(workload))
      throw new ConfigError(`--workload ${flags.workload} must hold a JSON object (a WorkloadSpec)`);
  }
  const keys = optionalInt(flags.keys, '--keys', 1, 2 ** 32);
  const mgetKeys = optionalInt(flags.mgetKeys, '--mget-keys', 1, 10_000);
  workload = {
    ...workload,
    ...(keys !== undefined ? { keys } : {}),
    ...(flags.keyPrefix !== undefined ? { keyPrefix: flags.keyPrefix } : {}),
    ...(flags.dist !== undefined ? { distribution: parseDistribution(flags.dist) } : {}),
    ...(flags.ops !== undefined ? { ops: parseOps(flags.ops) } : {}),
    ...(mgetKeys !== undefined ? { mgetKeys } : {}),
    ...(flags.valueSize !== undefined ? { valueSize: parseValueSize(flags.valueSize) } : {}),
    ...(flags.tenants !== undefined ? { tenants: parseTenants(flags.tenants) } : {}),
  };

  const rate = optionalNumber(flags.rate, '--rate');
  const concurrency = optionalInt(flags.concurrency, '--concurrency', 1, 1_000_000);
  if (rate !== undefined && concurrency !== undefined)
    throw new ConfigError('give --rate (open loop) or --concurrency (closed loop), not both');
  if (rate === undefined && concurrency === undefined && workload.tenants === undefined)
    throw new ConfigError('give --rate N (open loop), --concurrency N (closed loop) or --tenants with rates');
  const maxOutstanding = optionalInt(flags.maxOutstanding, '--max-outstanding', 1, 100_000_000);
  const seed = Number(flags.seed);
  if (!Number.isSafeInteger(seed))
    throw new ConfigError(`--seed must be an integer, got ${JSON.stringify(flags.seed)}`);
  compileWorkload(workload, { seed, ...(rate !== undefined ? { rate } : {}) }); // fails fast on a bad spec
  return {
    target,
    workload,
    durationMs: parseDuration(flags.duration, '--duration'),
    timeoutMs: parseDuration(flags.timeout, '--timeout'),
    seed,
    ...(rate !== undefined ? { rate } : {}),
    ...(concurrency !== undefined ? { concurrency } : {}),
    ...(maxOutstanding !== undefined ? { maxOutstanding } : {}),
  };
}

async function run(options: LoadOptions, flags: LoadFlags): Promise<number> {
  const abort = new AbortController();
  let interrupted = false;
  const onSigint = (): void => {
    if (interrupted) process.exit(130);
    interrupted = true;
    abort.abort();
  };
  process.on('SIGINT', onSigint);
  const progress = new ProgressLine(process.stderr, options.durationMs);
  const ledger = flags.verify === true ? new WriteLedger() : undefined;
  let report: LoadReport;
  try {
    report = await runLoad({
      ...options,
      signal: abort.signal,
      onSecond: (s) => progress.update(s),
      ...(ledger !== undefined ? { trackWrites: ledger } : {}),
    });
  } catch (err) {
    progress.done();
    if (err instanceof ConfigError) {
      console.error(`hotshard load: ${err.message}`);
      return BAD_FLAGS;
    }
    if (err instanceof HotshardError) {
      console.error(`hotshard load: ${err.message}`);
      return 1;
    }
    throw err;
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
  progress.done();
  let check: WriteCheck | undefined;
  if (ledger !== undefined) {
    try {
      check = await verifyWrites(options.target, ledger, { timeoutMs: options.timeoutMs ?? 10_000 });
    } catch (err) {
      console.error(`hotshard load: cannot read the writes back: ${(err as Error).message}`);
      return 1;
    }
  }
  let table = formatReport(report);
  if (check !== undefined) {
    table += `\n${'writes lost'.padEnd(14)}  ${check.lostWrites} of ${check.acknowledgedWrites} acknowledged (${check.checkedKeys} keys checked, ${check.unverifiableKeys} unverifiable, ${check.readErrors} unreadable)`;
    for (const e of check.examples) table += `\n  lost: ${e.key} expected ${e.expected}, found ${e.found}`;
  }
  process.stdout.write(`${table}\n`);
  if (flags.report !== undefined) {
    writeFileSync(
      flags.report,
      `${JSON.stringify(check === undefined ? report : { ...report, writeCheck: check }, null, 2)}\n`,
    );
  }
  return check !== undefined && check.lostWrites > 0 ? 1 : 0;
}

/** `30`, `30s`, `500ms`, `2m` → milliseconds. */
export function parseDuration(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  const value = m ? Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 'm' ? 60_000 : 1000) : NaN;
  if (!(value > 0))
    throw new ConfigError(
      `${flag} must be a positive time like 30s, 500ms or 2m; got ${JSON.stringify(text)}`,
    );
  return value;
}

function optionalNumber(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const v = Number(text);
  if (!(text.trim() !== '' && Number.isFinite(v) && v > 0))
    throw new ConfigError(`${flag} must be a number > 0, got ${JSON.stringify(text)}`);
  return v;
}
