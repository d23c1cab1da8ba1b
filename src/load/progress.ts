/**
 * The live progress line of `hotshard load` (on a TTY only), and the final
 * human table. Formatting is pure so tests can check it without a terminal.
 */
import type { LoadReport, SecondStats } from './generator.js';

const BAR_WIDTH = 20;

/**
 * One line: a bar of the elapsed time, the last second's rate, p99 and errors.
 *
 * @example
 * formatProgress({ t: 4, ops: 9800, errors: 2, p99: 1.5, ... }, 30_000);
 * // '[###-----------------]   5/30 s    9,800 ops/s  p99   1.50 ms  errors 2 (0.02 %)'
 */
export function formatProgress(s: SecondStats, durationMs: number): string {
  const total = Math.max(1, Math.ceil(durationMs / 1000));
  const done = Math.min(total, s.t + 1);
  const filled = Math.round((done / total) * BAR_WIDTH);
  const bar = `[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}]`;
  const pct = s.ops === 0 ? 0 : (100 * s.errors) / s.ops;
  return (
    `${bar} ${String(done).padStart(String(total).length)}/${total} s  ` +
    `${s.ops.toLocaleString('en-US').padStart(9)} ops/s  p99 ${s.p99.toFixed(2).padStart(7)} ms  ` +
    `errors ${s.errors.toLocaleString('en-US')} (${pct.toFixed(2)} %)`
  );
}

/**
 * Rewrites one line on a terminal stream; does nothing when the stream is not a TTY.
 *
 * @example
 * const line = new ProgressLine(process.stderr, 30_000);
 * runLoad({ ..., onSecond: (s) => line.update(s) }).finally(() => line.done());
 */
export class ProgressLine {
  readonly #stream: NodeJS.WriteStream;
  readonly #durationMs: number;
  readonly #enabled: boolean;
  #shown = false;

  constructor(stream: NodeJS.WriteStream, durationMs: number) {
    this.#stream = stream;
    this.#durationMs = durationMs;
    this.#enabled = stream.isTTY === true;
  }

  update(s: SecondStats): void {
    // Seconds past the duration only hold the last replies draining in.
    if (!this.#enabled || s.t * 1000 >= this.#durationMs) return;
    this.#stream.write(`\r\x1b[K${formatProgress(s, this.#durationMs)}`);
    this.#shown = true;
  }

  /** Clears the line so the final table starts on a clean row. */
  done(): void {
    if (this.#enabled && this.#shown) this.#stream.write('\r\x1b[K');
    this.#shown = false;
  }
}

/** The final summary of a run as an aligned two-column table. */
export function formatReport(r: LoadReport): string {
  const n = (v: number): string => v.toLocaleString('en-US');
  const ms = (v: number): string => `${v.toFixed(3)} ms`;
  const rows: [string, string][] = [
    ['target', r.target],
    [
      'mode',
      r.mode === 'open'
        ? `open loop, ${typeof r.settings.rate === 'number' ? `${n(r.settings.rate)} req/s` : 'rate steps'}`
        : `closed loop, concurrency ${r.settings.concurrency}`,
    ],
    [
      'duration',
      `${(r.durationMs / 1000).toFixed(1)} s${r.aborted ? ' (aborted)' : ''} + ${r.drainMs} ms drain`,
    ],
    ['seed', String(r.seed)],
    ['requests', `${n(r.ops)} finished, ${n(r.ok)} ok, ${n(r.errors)} errors, ${n(r.shed)} shed`],
    ['throughput', `${n(r.throughput)} req/s (${n(r.okThroughput)} ok/s)`],
    [
      'ops',
      Object.entries(r.opsByType)
        .filter(([, c]) => c > 0)
        .map(([o, c]) => `${o} ${n(c)}`)
        .join(', ') || '-',
    ],
    ['latency p50', ms(r.latency.p50)],
    ['latency p90', ms(r.latency.p90)],
    ['latency p99', ms(r.latency.p99)],
    ['latency p99.9', ms(r.latency.p999)],
    ['latency max', ms(r.latency.max)],
  ];
  if (r.mode === 'open') rows.push(['send lag p99', ms(r.sendLag.p99)]);
  for (const [kind, count] of Object.entries(r.errorsByKind).sort((a, b) => b[1] - a[1]))
    rows.push([`error ${kind}`, `${n(count)}  e.g. ${(r.errorExamples[kind] ?? '').slice(0, 80)}`]);
  if (r.writes !== null)
    rows.push([
      'writes tracked',
      `${n(r.writes.acknowledgedWrites)} acknowledged, ${n(r.writes.unknownWrites)} unknown outcome, ${n(r.writes.keys)} keys`,
    ]);
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n');
}
