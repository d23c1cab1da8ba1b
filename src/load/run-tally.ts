/**
 * Counts a run's outcomes overall and per second, for the load generator and
 * trace replay alike, so both report the same figures the same way.
 */
import { LatencyHistogram } from './latency.js';
import type { RequestError } from './targets.js';

/** One second of a run: requests that finished in [t, t+1) s. */
export interface SecondStats {
  readonly t: number;
  /** Finished requests, successes and failures (including `overload-local`). */
  readonly ops: number;
  readonly ok: number;
  readonly errors: number;
  /** Refused with an explicit retry-later (BUSY, 429). */
  readonly shed: number;
  readonly errorsByKind: Readonly<Record<string, number>>;
  /** Latency in ms (open loop: from the intended send time). */
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  /** Requests in flight at the end of the second. */
  readonly outstanding: number;
}

interface Second {
  t: number;
  ops: number;
  ok: number;
  errors: number;
  shed: number;
  byKind: Record<string, number>;
}

const newSecond = (t: number): Second => ({ t, ops: 0, ok: 0, errors: 0, shed: 0, byKind: {} });

/** Totals, errors by kind, latency and the per-second series of one run. */
export class RunTally {
  ops = 0;
  ok = 0;
  errors = 0;
  shed = 0;
  readonly byKind: Record<string, number> = {};
  readonly examples: Record<string, string> = {};
  readonly opsByType: Record<string, number>;
  readonly latency = new LatencyHistogram();
  readonly sendLag = new LatencyHistogram();
  readonly series: SecondStats[] = [];
  readonly #secondLatency = new LatencyHistogram();
  #sec = newSecond(0);

  /** @param ops op names listed with 0 in `opsByType` from the start */
  constructor(ops: readonly string[] = []) {
    this.opsByType = Object.fromEntries(ops.map((o) => [o, 0]));
  }

  /** Closes every whole second before `now` (ms since the start). */
  roll(now: number, outstanding: number, onSecond?: (s: SecondStats) => void): void {
    while (now >= (this.#sec.t + 1) * 1000) this.#emit(outstanding, onSecond);
  }

  succeed(op: string, latencyMs: number): void {
    this.#count(op);
    this.ok++;
    this.#sec.ok++;
    this.#secondLatency.recordMs(latencyMs);
  }

  /**
   * A failed request. `op` null: it was never issued as an op (a local
   * overload), so it counts as a request but under no op. `latencyMs` null:
   * never sent, so no latency to record.
   */
  fail(op: string | null, err: RequestError, latencyMs: number | null): void {
    this.#count(op);
    this.errors++;
    this.#sec.errors++;
    this.byKind[err.kind] = (this.byKind[err.kind] ?? 0) + 1;
    this.#sec.byKind[err.kind] = (this.#sec.byKind[err.kind] ?? 0) + 1;
    this.examples[err.kind] ??= err.message;
    if (err.shed) {
      this.shed++;
      this.#sec.shed++;
    }
    if (latencyMs !== null) this.#secondLatency.recordMs(latencyMs);
  }

  /** Closes the last, partial second. */
  finish(now: number, outstanding: number, onSecond?: (s: SecondStats) => void): void {
    this.roll(now, outstanding, onSecond);
    if (this.#sec.ops > 0) this.#emit(outstanding, onSecond);
  }

  #count(op: string | null): void {
    this.ops++;
    this.#sec.ops++;
    if (op !== null) this.opsByType[op] = (this.opsByType[op] ?? 0) + 1;
  }

  #emit(outstanding: number, onSecond?: (s: SecondStats) => void): void {
    const l = this.#secondLatency.summary();
    const sec = this.#sec;
    const stats: SecondStats = {
      t: sec.t,
      ops: sec.ops,
      ok: sec.ok,
      errors: sec.errors,
      shed: sec.shed,
      errorsByKind: sec.byKind,
      p50: l.p50,
      p99: l.p99,
      max: l.max,
      outstanding,
    };
    this.series.push(stats);
    this.latency.add(this.#secondLatency);
    this.#secondLatency.reset();
    this.#sec = newSecond(sec.t + 1);
    onSecond?.(stats);
  }
}
