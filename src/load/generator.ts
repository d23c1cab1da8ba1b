/**
 * The load generator: sends a workload to a target, open-loop at a rate or
 * closed-loop at a concurrency, and reports throughput, latency percentiles,
 * errors by kind and a per-second series.
 *
 * Open loop avoids coordinated omission (Gil Tene; wrk2 does the same):
 * request i has an intended send time fixed by the rate schedule alone, it is
 * sent when that time comes whether or not earlier requests have returned, and
 * its latency is measured from the intended time — so a server that stalls
 * shows the queue it built, not just the service time of what it finally
 * answered. Sends are batched on a ~1 ms timer (Node has no finer sleep that
 * does not spin a core); that delay is inside the measured latency and is
 * reported separately as `sendLag`. Past `maxOutstanding` requests in flight,
 * a due request is not sent and counts as an `overload-local` error: the
 * generator never quietly slows down to what the target can take.
 *
 * Closed loop keeps `concurrency` requests in flight; its latency is from the
 * actual send, which is the service time as a client with that many callers
 * sees it.
 */
import { ConfigError } from '../errors.js';
import type { LatencySummary } from './latency.js';
import { RunTally, type SecondStats } from './run-tally.js';
import { openTarget, type RequestError, type ReplyValue, type TargetSpec } from './targets.js';
import {
  compileWorkload,
  OPS,
  type LoadRequest,
  type OpName,
  type RateStep,
  type WorkloadSpec,
} from './workload.js';
import { valueToken, type LedgerSummary, type WriteLedger } from './write-ledger.js';

export type { SecondStats } from './run-tally.js';

/** How to run the load. */
export interface LoadOptions {
  readonly target: TargetSpec;
  readonly workload?: WorkloadSpec;
  /** Open loop at this many requests/s (or steps). Default: the sum of the tenants' rates. */
  readonly rate?: number | readonly RateStep[];
  /** Closed loop with this many requests in flight; excludes `rate`. */
  readonly concurrency?: number;
  readonly durationMs: number;
  /** Default 1. The same seed draws the same requests (in open loop, at the same intended times). */
  readonly seed?: number;
  /** Stops the run early; the report covers what ran. */
  readonly signal?: AbortSignal;
  /** A request unanswered this long fails as `timeout` (RESP resets its connection); default 10 s. */
  readonly timeoutMs?: number;
  /** Open loop: requests in flight beyond which due requests fail as `overload-local`; default 100,000. */
  readonly maxOutstanding?: number;
  /** Record every acknowledged write here (and route each key's requests through one connection). */
  readonly trackWrites?: WriteLedger;
  /** Called once per second of the run with that second's figures. */
  readonly onSecond?: (stats: SecondStats) => void;
  /** Called for every finished request (per key for MGET). Off unless given: it costs a Buffer per key. */
  readonly onRequest?: (
    key: Buffer,
    op: OpName,
    ok: boolean,
    /** How it went: its tenant ('' for none), when it was due (ms into the run) and its latency (null when never sent). */
    detail: { readonly tenant: string; readonly intendedMs: number; readonly latencyMs: number | null },
  ) => void;
}

/** What a run measured; plain JSON. */
export interface LoadReport {
  readonly target: string;
  readonly mode: 'open' | 'closed';
  readonly seed: number;
  readonly startedAt: string;
  readonly settings: {
    readonly target: TargetSpec;
    readonly workload: WorkloadSpec;
    readonly rate: number | readonly RateStep[] | null;
    readonly concurrency: number | null;
    readonly durationMs: number;
    readonly timeoutMs: number;
    readonly maxOutstanding: number;
    readonly trackWrites: boolean;
  };
  /** How long requests were issued (shorter than asked when aborted). */
  readonly durationMs: number;
  /** How long the last replies took to arrive after that. */
  readonly drainMs: number;
  readonly aborted: boolean;
  /** Requests due (open loop) or issued (closed loop). */
  readonly scheduled: number;
  readonly sent: number;
  readonly ops: number;
  readonly ok: number;
  readonly errors: number;
  readonly shed: number;
  /** Finished requests per second of `durationMs`. */
  readonly throughput: number;
  readonly okThroughput: number;
  readonly opsByType: Readonly<Record<string, number>>;
  /** Over every sent request that got an answer or failed after sending. */
  readonly latency: LatencySummary;
  /** How late the generator sent requests after their intended time (open loop). */
  readonly sendLag: LatencySummary;
  readonly errorsByKind: Readonly<Record<string, number>>;
  /** The first message seen for each error kind. */
  readonly errorExamples: Readonly<Record<string, string>>;
  readonly series: readonly SecondStats[];
  readonly writes: LedgerSummary | null;
}

const BURST = 2_000;
const UNSENT_BACKOFF_MS = 10;
const ROLL_EVERY_MS = 100;

/**
 * Runs a load and resolves with its report once the duration has passed (or
 * the signal aborted) and the replies in flight have arrived or timed out.
 * Rejects with a ConfigError on invalid options, or when the target cannot be
 * reached at the start.
 *
 * @example
 * const report = await runLoad({
 *   target: { kind: 'resp', host: '127.0.0.1', port: 6380, connections: 8 },
 *   workload: { distribution: { kind: 'zipf', theta: 1.2 }, ops: { get: 90, set: 10 } },
 *   rate: 20_000,
 *   durationMs: 10_000,
 * });
 * console.log(report.throughput, report.latency.p99);
 */
export async function runLoad(options: LoadOptions): Promise<LoadReport> {
  const seed = options.seed ?? 1;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const maxOutstanding = options.maxOutstanding ?? 100_000;
  const spec = options.workload ?? {};
  const workload = compileWorkload(spec, {
    seed,
    ...(options.rate !== undefined ? { rate: options.rate } : {}),
  });
  const closed = options.concurrency !== undefined;
  validate(
    options,
    closed,
    timeoutMs,
    maxOutstanding,
    workload.schedule.some((s) => s.rate > 0),
  );
  const ledger = options.trackWrites;
  const startedAt = new Date().toISOString();
  const target = await openTarget(options.target, { timeoutMs });

  const lanes = target.lanes;
  const schedule = workload.schedule;
  const tenants = workload.tenants;
  const onRequest = options.onRequest;
  const onSecond = options.onSecond;
  const tally = new RunTally(OPS);
  let scheduled = 0;
  let sent = 0;
  let outstanding = 0;
  let roundRobin = 0;
  let running = true;
  let aborted = false;
  let stoppedAt = 0;

  const t0 = performance.now();
  const clock = (): number => performance.now() - t0;
  const roll = (now: number): void => tally.roll(now, outstanding, onSecond);

  const record = (
    req: LoadRequest,
    seq: number,
    intended: number,
    err: RequestError | null,
    value: ReplyValue,
  ): void => {
    outstanding--;
    const now = clock();
    roll(now);
    // Latency from the intended send time, for every request that was sent.
    if (err === null) tally.succeed(req.op, now - intended);
    else tally.fail(req.op, err, err.sent ? now - intended : null);
    if (ledger !== undefined) track(ledger, req, seq, err, value);
    if (onRequest !== undefined) {
      const detail = {
        tenant: tenants[req.tenant]!,
        intendedMs: intended,
        latencyMs: err === null || err.sent ? now - intended : null,
      };
      for (const k of req.keys) onRequest(Buffer.from(k), req.op, err === null, detail);
    }
  };

  const issue = (intended: number, then?: (err: RequestError | null) => void): void => {
    const req = workload.next(intended);
    const seq = scheduled++;
    let value: Buffer | undefined;
    if (req.op === 'set')
      value =
        ledger === undefined
          ? workload.filler(req.valueSize)
          : uniqueValue(ledger.runTag, seq, req.valueSize);
    const lane =
      ledger !== undefined && req.op !== 'mget' ? laneOf(req.keys[0]!, lanes) : roundRobin++ % lanes;
    outstanding++;
    sent++;
    target.send(lane, { op: req.op, tenant: tenants[req.tenant]!, keys: req.keys, value }, (err, reply) => {
      record(req, seq, intended, err, reply);
      if (err !== null && !err.sent) sent--;
      then?.(err);
      if (!running && outstanding === 0) drained?.();
    });
  };

  // Open loop: request i is due at the time the schedule's integral reaches i.
  let segment = 0;
  const timeOf = (i: number): number => {
    while (segment + 1 < schedule.length && schedule[segment + 1]!.before <= i) segment++;
    const s = schedule[segment]!;
    return s.rate > 0 ? s.fromMs + ((i - s.before) * 1000) / s.rate : Infinity;
  };
  let tickTimer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  const tick = (final = false): void => {
    tickTimer = undefined;
    if (!running) return;
    const now = clock();
    for (let n = 0; ; n++) {
      const due = timeOf(scheduled);
      if (due > now || due >= options.durationMs) break;
      if (n === BURST && !final) {
        // Far behind: let replies in before sending more.
        tickTimer = setImmediate(tick, false);
        return;
      }
      tally.sendLag.recordMs(now - due);
      if (outstanding >= maxOutstanding) {
        workload.next(due); // keep the request sequence the same whatever the overload
        scheduled++;
        roll(now);
        tally.fail(
          null,
          {
            kind: 'overload-local',
            message: `not sent: ${maxOutstanding} requests already in flight`,
            sent: false,
            shed: false,
          },
          null,
        );
        continue;
      }
      issue(due);
    }
    const wait = timeOf(scheduled) - clock();
    if (wait !== Infinity) tickTimer = setTimeout(tick, Math.max(1, Math.floor(wait)), false);
  };

  // Closed loop: each of `concurrency` workers sends again as soon as its request returns.
  const worker = (): void => {
    if (!running) return;
    issue(clock(), (err) => {
      if (err !== null && !err.sent) setTimeout(worker, UNSENT_BACKOFF_MS);
      else worker();
    });
  };

  let drained: (() => void) | undefined;
  const rollTimer = setInterval(() => roll(clock()), ROLL_EVERY_MS);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      if (!running) return;
      // The end timer may fire before the last tick: send what fell due before the end.
      if (!closed && !aborted) tick(true);
      running = false;
      stoppedAt = Math.min(clock(), options.durationMs);
      clearTimeout(endTimer);
      options.signal?.removeEventListener('abort', onAbort);
      if (tickTimer !== undefined) {
        clearTimeout(tickTimer as NodeJS.Timeout);
        clearImmediate(tickTimer as NodeJS.Immediate);
      }
      resolve();
    };
    const onAbort = (): void => {
      aborted = true;
      stop();
    };
    // Timers run on the loop's millisecond clock and can fire a fraction early.
    const end = (): void => {
      if (clock() < options.durationMs) endTimer = setTimeout(end, 1);
      else stop();
    };
    let endTimer = setTimeout(end, options.durationMs);
    if (options.signal?.aborted) return onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (closed) for (let i = 0; i < (options.concurrency ?? 0); i++) worker();
    else tick();
  });

  // Let the replies in flight arrive, up to the request timeout (shorter when aborted).
  const drainStart = clock();
  if (outstanding > 0) {
    await new Promise<void>((resolve) => {
      const limit = setTimeout(resolve, aborted ? Math.min(2_000, timeoutMs) : timeoutMs + 1_000);
      drained = () => {
        clearTimeout(limit);
        resolve();
      };
    });
  }
  drained = undefined;
  await target.close(); // anything still in flight fails as a timeout
  const drainMs = clock() - drainStart;
  clearInterval(rollTimer);
  tally.finish(clock(), outstanding, onSecond);

  const windowSeconds = Math.max(stoppedAt, 1) / 1000;
  const shownTarget: TargetSpec =
    options.target.password !== undefined ? { ...options.target, password: '***' } : options.target;
  return {
    target: target.label,
    mode: closed ? 'closed' : 'open',
    seed,
    startedAt,
    settings: {
      target: shownTarget,
      workload: spec,
      rate:
        options.rate ??
        (closed
          ? null
          : schedule.length === 1
            ? schedule[0]!.rate
            : schedule.map(({ fromMs, rate }) => ({ fromMs, rate }))),
      concurrency: options.concurrency ?? null,
      durationMs: options.durationMs,
      timeoutMs,
      maxOutstanding,
      trackWrites: ledger !== undefined,
    },
    durationMs: Math.round(stoppedAt),
    drainMs: Math.round(drainMs),
    aborted,
    scheduled,
    sent,
    ops: tally.ops,
    ok: tally.ok,
    errors: tally.errors,
    shed: tally.shed,
    throughput: Math.round(tally.ops / windowSeconds),
    okThroughput: Math.round(tally.ok / windowSeconds),
    opsByType: tally.opsByType,
    latency: tally.latency.summary(),
    sendLag: tally.sendLag.summary(),
    errorsByKind: tally.byKind,
    errorExamples: tally.examples,
    series: tally.series,
    writes: ledger?.summary() ?? null,
  };
}

function validate(
  o: LoadOptions,
  closed: boolean,
  timeoutMs: number,
  maxOutstanding: number,
  hasRate: boolean,
): void {
  if (!(Number.isFinite(o.durationMs) && o.durationMs > 0))
    throw new ConfigError(`durationMs must be a number > 0, got ${String(o.durationMs)}`);
  if (!(Number.isFinite(timeoutMs) && timeoutMs > 0))
    throw new ConfigError(`timeoutMs must be a number > 0, got ${String(timeoutMs)}`);
  if (!(Number.isSafeInteger(maxOutstanding) && maxOutstanding >= 1))
    throw new ConfigError(`maxOutstanding must be an integer ≥ 1, got ${String(maxOutstanding)}`);
  if (closed) {
    if (o.rate !== undefined)
      throw new ConfigError('give either rate (open loop) or concurrency (closed loop), not both');
    const c = o.concurrency!;
    if (!(Number.isSafeInteger(c) && c >= 1 && c <= maxOutstanding))
      throw new ConfigError(`concurrency must be an integer in [1, ${maxOutstanding}], got ${String(c)}`);
  } else if (!hasRate) {
    throw new ConfigError('give rate (open loop), concurrency (closed loop), or tenants with rates');
  }
  if (o.target.kind === 'http' && (o.workload?.ops?.mget ?? 0) > 0)
    throw new ConfigError('ops.mget: the HTTP API has no MGET; use a RESP target or drop mget from the mix');
  if (o.target.kind === 'http' && o.workload?.tenants?.some((t) => (t.ops?.mget ?? 0) > 0))
    throw new ConfigError('tenants[].ops.mget: the HTTP API has no MGET');
}

/** Records a finished write in the ledger. */
function track(
  ledger: WriteLedger,
  req: LoadRequest,
  seq: number,
  err: RequestError | null,
  value: ReplyValue,
): void {
  const op = req.op;
  if (op === 'get' || op === 'mget') return;
  if (err !== null && !err.sent) return; // never left: cannot have been applied
  const key = req.keys[0]!;
  if (op === 'incr') {
    if (err === null && typeof value === 'number') ledger.ackIncr(key, seq, value);
    else ledger.unknownIncr(key);
  } else if (err === null) ledger.ackWrite(key, seq, op === 'del');
  else ledger.unknownWrite(key, seq, op === 'del');
}

function uniqueValue(runTag: string, seq: number, size: number): Buffer {
  const token = valueToken(runTag, seq);
  if (size <= token.length) return Buffer.from(token, 'latin1');
  const out = Buffer.alloc(size, 0x78); // 'x'
  out.write(token, 0, 'latin1');
  return out;
}

/** The lane of a key: FNV-1a of its name, so all of a key's writes share one ordered connection. */
function laneOf(key: string, lanes: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return (h >>> 0) % lanes;
}
