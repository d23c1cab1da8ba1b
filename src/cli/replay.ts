/** `hotshard replay TRACE`: send an access log's requests again, faster, with an injected hot key. */
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { ConfigError, HotshardError } from '../errors.js';
import { ProgressLine } from '../load/progress.js';
import { parseInjection, replayTrace, type ReplayOptions, type ReplayReport } from '../load/replay.js';
import type { TargetSpec } from '../load/targets.js';
import { optionalInt, targetFromFlags } from './target-flags.js';
import { TraceError } from '../load/trace.js';
import { parseDuration } from './load.js';

/** Exit code for flags (or a trace) that make no sense: nothing was sent. */
const BAD_FLAGS = 2;

/** The flags as commander hands them over. */
export interface ReplayFlags {
  resp?: string;
  http?: string;
  speed: string;
  inject: string[];
  connections?: string;
  seed: string;
  timeout: string;
  maxOutstanding?: string;
  password?: string;
  report?: string;
}

/** Registers `replay`. */
export function addReplayCommand(program: Command): void {
  program
    .command('replay')
    .description('replay an access log (JSONL) against a RESP endpoint or the HTTP API, optionally faster')
    .argument('<trace>', 'the access log: hotshard start --access-log FILE')
    .option('--resp <host:port>', 'RESP target')
    .option('--http <url>', 'HTTP target, e.g. http://127.0.0.1:8080')
    .option('--speed <n>', 'replay N times faster (0.5 = half speed)', '1')
    .option(
      '--inject <KEY:SHARE:FROM_S[:TO_S]>',
      'from FROM_S trace seconds, replace SHARE (0.3 or 30%) of requests by GET KEY; repeatable',
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .option('--connections <n>', 'connections to the target (default 50)')
    .option('--seed <n>', 'seeds the injection draws', '1')
    .option('--timeout <time>', 'a request unanswered this long fails as a timeout', '10s')
    .option('--max-outstanding <n>', 'in-flight limit; due requests beyond it fail as overload-local')
    .option('--password <password>', 'hotshard/Redis password: AUTH over --resp, Bearer over --http')
    .option('--report <file>', 'write the JSON report here')
    .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : BAD_FLAGS))
    .action(async (trace: string, flags: ReplayFlags) => {
      let options: ReplayOptions;
      try {
        options = replayOptions(trace, flags);
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        console.error(`hotshard replay: ${err.message}`);
        process.exit(BAD_FLAGS);
      }
      process.exit(await run(options, flags.report));
    });
}

/**
 * Turns the flags into replayTrace options; throws ConfigError naming the flag.
 *
 * @example replayOptions('access.jsonl', { resp: '127.0.0.1:6380', speed: '10', inject: ['k:0.3:5'], seed: '1', timeout: '10s' });
 */
export function replayOptions(trace: string, flags: ReplayFlags): ReplayOptions {
  const target: TargetSpec = targetFromFlags(flags);
  const speed = Number(flags.speed);
  if (!(flags.speed.trim() !== '' && Number.isFinite(speed) && speed > 0))
    throw new ConfigError(
      `--speed must be a number > 0 (10 = ten times faster), got ${JSON.stringify(flags.speed)}`,
    );
  const seed = Number(flags.seed);
  if (!(flags.seed.trim() !== '' && Number.isSafeInteger(seed)))
    throw new ConfigError(`--seed must be an integer, got ${JSON.stringify(flags.seed)}`);
  const maxOutstanding = optionalInt(flags.maxOutstanding, '--max-outstanding', 1, 100_000_000);
  return {
    trace,
    target,
    speed,
    seed,
    inject: flags.inject.map(parseInjection),
    timeoutMs: parseDuration(flags.timeout, '--timeout'),
    ...(maxOutstanding !== undefined ? { maxOutstanding } : {}),
  };
}

async function run(options: ReplayOptions, reportFile: string | undefined): Promise<number> {
  const abort = new AbortController();
  let interrupted = false;
  const onSigint = (): void => {
    if (interrupted) process.exit(130);
    interrupted = true;
    abort.abort();
  };
  process.on('SIGINT', onSigint);
  let progress: ProgressLine | undefined;
  let report: ReplayReport;
  try {
    report = await replayTrace({
      ...options,
      signal: abort.signal,
      onStart: (trace, durationMs) => {
        const mget = trace.ops.mget ?? 0;
        console.error(
          `replaying ${trace.records.toLocaleString('en-US')} records over ${(trace.spanMs / 1000).toFixed(1)} s ` +
            `at ${options.speed ?? 1}x: about ${(durationMs / 1000).toFixed(1)} s`,
        );
        if (mget > 0)
          console.error(
            `note: ${mget} MGET records are sent as a GET of their first key (the log keeps no other)`,
          );
        progress = new ProgressLine(process.stderr, Math.max(durationMs, 1));
      },
      onSecond: (s) => progress?.update(s),
    });
  } catch (err) {
    progress?.done();
    if (err instanceof ConfigError || err instanceof TraceError) {
      console.error(`hotshard replay: ${err.message}`);
      return BAD_FLAGS;
    }
    if (err instanceof HotshardError) {
      console.error(`hotshard replay: ${err.message}`);
      return 1;
    }
    throw err;
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
  progress?.done();
  process.stdout.write(`${formatReplayReport(report)}\n`);
  if (reportFile !== undefined) writeFileSync(reportFile, `${JSON.stringify(report, null, 2)}\n`);
  return 0;
}

/** The final summary of a replay as an aligned two-column table. */
export function formatReplayReport(r: ReplayReport): string {
  const n = (v: number): string => v.toLocaleString('en-US');
  const ms = (v: number): string => `${v.toFixed(3)} ms`;
  const counts = (o: Readonly<Record<string, number>>): string =>
    Object.entries(o)
      .filter(([, c]) => c > 0)
      .sort((a, b) => b[1] - a[1])
      .map(([k, c]) => `${k} ${n(c)}`)
      .join(', ') || '-';
  const t = r.trace;
  const rows: [string, string][] = [
    ['target', r.target],
    [
      'trace',
      `${t.file}: ${n(t.records)} records over ${(t.spanMs / 1000).toFixed(1)} s` +
        (t.outOfOrder > 0 ? ` (${n(t.outOfOrder)} out of order, sent at once)` : ''),
    ],
    [
      'replay',
      `${r.settings.speed}x in ${(r.durationMs / 1000).toFixed(1)} s${r.aborted ? ' (aborted)' : ''} + ${r.drainMs} ms drain`,
    ],
    ['requests', `${n(r.ops)} finished, ${n(r.ok)} ok, ${n(r.errors)} errors, ${n(r.shed)} shed`],
    ['throughput', `${n(r.throughput)} req/s (${n(r.okThroughput)} ok/s)`],
    ['ops', counts(r.opsByType)],
  ];
  if (r.mgetAsGet > 0) rows.push(['mget as get', `${n(r.mgetAsGet)} (sent as GET of the logged first key)`]);
  if (Object.keys(r.skipped).length > 0)
    rows.push(['skipped', `${counts(r.skipped)}; ops not replayed: ${counts(r.unsupportedOps)}`]);
  if (r.settings.inject.length > 0) {
    const share = r.sent === 0 ? 0 : (100 * r.injected) / r.sent;
    rows.push([
      'injected',
      `${n(r.injected)} GETs = ${share.toFixed(1)} % of sent (${counts(r.injectedByKey)}), seed ${r.settings.seed}`,
    ]);
  }
  rows.push(
    ['latency p50', ms(r.latency.p50)],
    ['latency p90', ms(r.latency.p90)],
    ['latency p99', ms(r.latency.p99)],
    ['latency p99.9', ms(r.latency.p999)],
    ['latency max', ms(r.latency.max)],
    ['send lag p99', ms(r.sendLag.p99)],
  );
  for (const [kind, count] of Object.entries(r.errorsByKind).sort((a, b) => b[1] - a[1]))
    rows.push([`error ${kind}`, `${n(count)}  e.g. ${(r.errorExamples[kind] ?? '').slice(0, 80)}`]);
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n');
}
