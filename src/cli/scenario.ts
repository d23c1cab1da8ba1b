/** `hotshard scenario NAME`: a scripted incident with a live timeline and a JSON (and HTML) report. */
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { HotshardError } from '../errors.js';
import { renderReportHtml } from '../load/report-html.js';
import type { ScenarioReport } from '../load/scenario-report.js';
import { runScenario } from '../load/scenario-runner.js';
import { SCENARIOS, scenarioByName } from '../load/scenarios/index.js';

const fmt = (v: number | null, digits = 0): string => (v === null ? '—' : v.toFixed(digits));

/** The human summary printed at the end of a run. */
export function summarize(r: ScenarioReport): string {
  const lines = [
    '',
    `scenario ${r.scenario} (${r.backend}, seed ${r.seed}, ${r.durationSeconds} s, onset at ${r.onsetSecond} s)`,
    `  expected            ${r.expected.kind} ${r.expected.subject}`,
    `  detected            ${r.detection === null ? 'nothing' : `${r.detection.kind} ${r.detection.subject} after ${fmt(r.detection.latencyFromOnsetMs)} ms (${r.detection.correct ? 'correct' : 'not the expected one'})`}`,
    `  requests            ${r.totals.ops} (${r.totals.errors} failed = ${(100 * r.totals.errorRate).toFixed(2)} %, ${r.totals.shed} of them shed)`,
    `  latency             p50 ${r.totals.p50.toFixed(2)} ms, p99 ${r.totals.p99.toFixed(2)} ms`,
    `  hottest shard share ${(100 * r.before.hottestShardShare).toFixed(1)} % before -> ${(100 * r.after.hottestShardShare).toFixed(1)} % after (${r.after.hottestShard})`,
    `  node max/mean       ${r.before.nodeMaxOverMean.toFixed(2)} before -> ${r.after.nodeMaxOverMean.toFixed(2)} after`,
    `  writes              ${r.writes.acknowledged} acknowledged, ${r.writes.lost} lost`,
    `  mitigation          ${r.actions === null ? 'not built yet: no actions taken' : `${r.actions.length} actions`}`,
    '  targets',
    ...r.targets.map(
      (t) =>
        `    ${t.met === null ? '·  ' : t.met ? 'ok ' : 'MISS'} ${t.name}: ${fmt(t.actual, 2)} (limit ${t.limit})${t.met === null ? ' — not judged until mitigation exists' : ''}`,
    ),
  ];
  return lines.join('\n');
}

/** Registers `scenario`. */
export function addScenarioCommand(program: Command): void {
  program
    .command('scenario')
    .description(`run a scripted incident: ${SCENARIOS.map((s) => s.name).join(', ')}`)
    .argument('[name]', 'scenario name (omit with --list)')
    .option('--list', 'list the scenarios')
    .option('--report <file>', 'write the JSON report here')
    .option('--html <file>', 'write the HTML report here (default: next to --report, .html)')
    .option('--redis <nodes>', 'run in front of these Redis nodes (host:port,...) instead of embedded nodes')
    .option('--seed <n>', 'workload seed', '1')
    .option('--duration <seconds>', 'override the run length')
    .option('--onset <seconds>', 'override when the skew starts')
    .action(async (name: string | undefined, opts: Record<string, string | boolean | undefined>) => {
      if (opts.list === true || name === undefined) {
        for (const s of SCENARIOS) console.log(`${s.name.padEnd(28)} ${s.description}`);
        if (name === undefined && opts.list !== true) process.exitCode = 2;
        return;
      }
      const def = scenarioByName(name);
      if (def === undefined) {
        console.error(
          `hotshard: unknown scenario '${name}'; known: ${SCENARIOS.map((s) => s.name).join(', ')}`,
        );
        process.exit(2);
      }
      const num = (flag: string): number | undefined => {
        const v = opts[flag];
        if (v === undefined) return undefined;
        const n = Number(v);
        if (!Number.isInteger(n) || n < 0) {
          console.error(`hotshard: --${flag} must be a whole number, got '${String(v)}'`);
          process.exit(2);
        }
        return n;
      };
      const duration = num('duration');
      const onset = num('onset');
      const seed = num('seed') ?? 1;
      console.log(`scenario ${def.name}: ${def.description}\n`);
      let report: ScenarioReport;
      try {
        report = await runScenario(def, {
          seed,
          ...(typeof opts.redis === 'string' ? { redis: opts.redis.split(',') } : {}),
          timing: {
            ...(duration === undefined ? {} : { durationSeconds: duration }),
            ...(onset === undefined ? {} : { onsetSecond: onset }),
          },
          onLine: (line) => console.log(line),
        });
      } catch (err) {
        console.error(
          `hotshard: scenario failed: ${err instanceof HotshardError || err instanceof Error ? err.message : String(err)}`,
        );
        process.exit(1);
      }
      console.log(summarize(report));
      if (typeof opts.report === 'string') {
        writeFileSync(opts.report, JSON.stringify(report, null, 2) + '\n');
        console.log(`\nreport: ${opts.report}`);
      }
      const html =
        typeof opts.html === 'string'
          ? opts.html
          : typeof opts.report === 'string'
            ? opts.report.replace(/\.json$/, '') + '.html'
            : undefined;
      if (html !== undefined) {
        writeFileSync(html, renderReportHtml(report));
        console.log(`plots:  ${html}`);
      }
      const missed = report.targets.filter((t) => t.met === false);
      if (missed.length > 0) {
        console.log(`\n${missed.length} target(s) missed: ${missed.map((t) => t.name).join('; ')}`);
        process.exitCode = 1;
      }
    });
}
