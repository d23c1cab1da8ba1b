/**
 * Trace replay: sends the requests of an access log (see trace.ts) again, at
 * their original relative times divided by a speed-up, optionally with a
 * synthetic hot key injected ("make key K take X % of traffic from T").
 *
 * Like the load generator's open loop, a request is sent when its time comes
 * whether or not earlier ones have returned, and its latency is measured from
 * that intended time, so a target that falls behind shows its queue. The log
 * stamps `t` when a reply leaves the router, so file order is the order the
 * shards applied the requests; replay keeps it: times never go backwards
 * (an earlier `t` after a later one is sent at once), and every write to a
 * key travels on that key's connection, so SET / INCR / DEL on one key land in
 * the logged order and leave the state the original left. Reads (and injected
 * GETs) change nothing, so they are spread round-robin: a hot key's reads came
 * from many clients, and one connection — one request at a time over HTTP —
 * would queue them in the replayer instead of at the target.
 *
 * The trace is read twice — once to check every line and measure its span,
 * once while sending, a bounded window ahead — so a bad line fails before any
 * traffic and a long trace never sits whole in memory.
 */
import { ConfigError } from '../errors.js';
import type { SecondStats } from './generator.js';
import type { LatencySummary } from './latency.js';
import { RunTally } from './run-tally.js';
import { createRng, type Rng } from './random.js';
import { openTarget, type TargetCommand, type TargetSpec } from './targets.js';
import {
  MAX_REPLAY_VALUE,
  readTrace,
  replayCommand,
  scanTrace,
  type TraceRecord,
  type TraceSummary,
} from './trace.js';

/** "Make `key` take `share` of the traffic from `fromS` (to `toS`)", in trace seconds before speed-up. */
export interface Injection {
  readonly key: string;
  /** Fraction of the requests in the window replaced by a GET of `key`, in (0, 1]. */
  readonly share: number;
  readonly fromS: number;
  /** End of the window (exclusive); open-ended when absent. */
  readonly toS?: number;
}

/** How to replay. */
export interface ReplayOptions {
  /** Path of the JSONL trace. */
  readonly trace: string;
  readonly target: TargetSpec;
  /** Times are divided by this: 10 replays ten times faster. Default 1. */
  readonly speed?: number;
  readonly inject?: readonly Injection[];
  /** Seeds the injection draws; the same seed injects into the same requests. Default 1. */
  readonly seed?: number;
  /** A request unanswered this long fails as `timeout`; default 10 s. */
  readonly timeoutMs?: number;
  /** Requests in flight beyond which due requests fail as `overload-local`; default 100,000. */
  readonly maxOutstanding?: number;
  readonly signal?: AbortSignal;
  /** Called once the trace is checked and the target connected, before the first request. */
  readonly onStart?: (trace: TraceSummary, durationMs: number) => void;
  readonly onSecond?: (stats: SecondStats) => void;
}

/** What a replay measured; plain JSON. */
export interface ReplayReport {
  readonly target: string;
  readonly trace: TraceSummary;
  readonly startedAt: string;
  readonly settings: {
    readonly target: TargetSpec;
    readonly speed: number;
    readonly inject: readonly Injection[];
    readonly seed: number;
    readonly timeoutMs: number;
    readonly maxOutstanding: number;
  };
  /** How long requests were issued: about trace.spanMs / speed. */
  readonly durationMs: number;
  readonly drainMs: number;
  readonly aborted: boolean;
  /** Requests due (trace records minus skipped ones). */
  readonly scheduled: number;
  readonly sent: number;
  readonly ops: number;
  readonly ok: number;
  readonly errors: number;
  readonly shed: number;
  readonly throughput: number;
  readonly okThroughput: number;
  /** Finished requests by the command actually sent (an MGET record is sent as a GET). */
  readonly opsByType: Readonly<Record<string, number>>;
  /** MGET records sent as a GET of their first key — the log keeps only that key. */
  readonly mgetAsGet: number;
  /** Records not sent, by reason: `unsupported-op`, `binary-key` (not valid UTF-8). */
  readonly skipped: Readonly<Record<string, number>>;
  /** The ops behind `skipped['unsupported-op']`. */
  readonly unsupportedOps: Readonly<Record<string, number>>;
  /** Requests replaced by an injected GET, in total and by key. */
  readonly injected: number;
  readonly injectedByKey: Readonly<Record<string, number>>;
  readonly latency: LatencySummary;
  readonly sendLag: LatencySummary;
  readonly errorsByKind: Readonly<Record<string, number>>;
  readonly errorExamples: Readonly<Record<string, string>>;
  readonly series: readonly SecondStats[];
}

/** A request ready to send. */
interface Planned {
  /** ms after the replay's start. */
  readonly due: number;
  readonly cmd: TargetCommand;
  /** The key's lane, or -1 for round-robin. */
  readonly lane: number;
}

const BURST = 2_000;
/** How far ahead of the send time the reader may run (records). */
const WINDOW = 4_096;
/** Records parsed between yields to the event loop, so sends due meanwhile are not held up. */
const READ_SLICE = 256;

/**
 * Replays a trace and resolves with the report once every request was sent
 * and answered (or timed out). Rejects with TraceError on a bad trace and
 * ConfigError on bad options, before sending anything.
 *
 * @example
 * const report = await replayTrace({
 *   trace: 'access.jsonl',
 *   target: { kind: 'resp', host: '127.0.0.1', port: 6380 },
 *   speed: 10,
 *   inject: [{ key: 'user:42', share: 0.3, fromS: 60 }],
 * });
 */
export async function replayTrace(options: ReplayOptions): Promise<ReplayReport> {
  const speed = options.speed ?? 1;
  const seed = options.seed ?? 1;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const maxOutstanding = options.maxOutstanding ?? 100_000;
  if (!(Number.isFinite(speed) && speed > 0))
    throw new ConfigError(`speed must be a number > 0, got ${speed}`);
  if (!(timeoutMs > 0)) throw new ConfigError(`timeoutMs must be > 0, got ${timeoutMs}`);
  if (!(Number.isSafeInteger(maxOutstanding) && maxOutstanding >= 1))
    throw new ConfigError(`maxOutstanding must be an integer ≥ 1, got ${maxOutstanding}`);
  const injector = new Injector(options.inject ?? [], seed);
  const trace = await scanTrace(options.trace);
  const startedAt = new Date().toISOString();
  const target = await openTarget(options.target, { timeoutMs });
  const lanes = target.lanes;
  const planner = new Planner(trace.firstT, speed, injector, lanes);
  const tally = new RunTally();
  options.onStart?.(trace, trace.spanMs / speed);

  const queue: Planned[] = [];
  let head = 0;
  let exhausted = false;
  let running = true;
  let aborted = false;
  let scheduled = 0;
  let sent = 0;
  let outstanding = 0;
  let roundRobin = 0;
  let stoppedAt = 0;
  let wakeReader: (() => void) | undefined;
  let waitingForRecords = false;
  let drained: (() => void) | undefined;
  let tickTimer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  let stop: () => void = () => undefined;

  let readError: Error | undefined;
  // The clock starts at the first tick, when the first records are read.
  let t0: number | undefined;
  const clock = (): number => performance.now() - (t0 ?? performance.now());

  // Reads only the records the scan checked: a log still being appended to
  // may end in a half-written line.
  const read = async (): Promise<void> => {
    let left = trace.records;
    let slice = 0;
    for await (const { record } of readTrace(options.trace)) {
      if (!running || left-- === 0) break;
      // readline hands lines over as microtasks, which would starve the send timer.
      if (++slice === READ_SLICE) {
        slice = 0;
        await new Promise<void>((r) => setImmediate(r));
      }
      const p = planner.plan(record);
      if (p !== null) queue.push(p);
      if (waitingForRecords) {
        waitingForRecords = false;
        tick();
      }
      if (queue.length - head >= WINDOW) await new Promise<void>((r) => (wakeReader = r));
    }
    exhausted = true;
    if (waitingForRecords) tick();
  };

  const issue = (p: Planned, now: number): void => {
    scheduled++;
    tally.sendLag.recordMs(now - p.due);
    if (outstanding >= maxOutstanding) {
      tally.roll(now, outstanding, options.onSecond);
      tally.fail(
        p.cmd.op,
        {
          kind: 'overload-local',
          message: `not sent: ${maxOutstanding} requests already in flight`,
          sent: false,
          shed: false,
        },
        null,
      );
      return;
    }
    outstanding++;
    sent++;
    const lane = p.lane >= 0 ? p.lane : roundRobin++ % lanes;
    target.send(lane, p.cmd, (err) => {
      outstanding--;
      const at = clock();
      tally.roll(at, outstanding, options.onSecond);
      if (err === null) tally.succeed(p.cmd.op, at - p.due);
      else {
        if (!err.sent) sent--;
        tally.fail(p.cmd.op, err, err.sent ? at - p.due : null);
      }
      if (!running && outstanding === 0) drained?.();
    });
  };

  const tick = (): void => {
    tickTimer = undefined;
    if (!running) return;
    t0 ??= performance.now();
    const now = clock();
    for (let n = 0; head < queue.length && queue[head]!.due <= now; n++) {
      if (n === BURST) {
        // Far behind: let replies in before sending more.
        tickTimer = setImmediate(tick);
        return;
      }
      issue(queue[head++]!, now);
    }
    if (head > WINDOW) {
      queue.splice(0, head);
      head = 0;
    }
    if (wakeReader !== undefined && queue.length - head < WINDOW / 2) {
      const wake = wakeReader;
      wakeReader = undefined;
      wake();
    }
    if (head < queue.length) tickTimer = setTimeout(tick, Math.max(1, Math.floor(queue[head]!.due - now)));
    else if (exhausted) stop();
    else waitingForRecords = true;
  };

  const rollTimer = setInterval(() => tally.roll(clock(), outstanding, options.onSecond), 100);
  let reader: Promise<void> = Promise.resolve();
  const sending = new Promise<void>((resolve) => {
    stop = (): void => {
      if (!running) return;
      running = false;
      stoppedAt = clock();
      options.signal?.removeEventListener('abort', onAbort);
      if (tickTimer !== undefined) {
        clearTimeout(tickTimer as NodeJS.Timeout);
        clearImmediate(tickTimer as NodeJS.Immediate);
      }
      wakeReader?.();
      resolve();
    };
    const onAbort = (): void => {
      aborted = true;
      stop();
    };
    if (options.signal?.aborted === true) return onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    waitingForRecords = true;
    reader = read().catch((err: unknown) => {
      readError = err instanceof Error ? err : new Error('cannot read the trace', { cause: err });
      stop();
    });
  });
  await sending;

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
  await target.close(); // anything still in flight fails as a timeout
  await reader; // stops at its next record once sending has stopped
  clearInterval(rollTimer);
  tally.finish(clock(), outstanding, options.onSecond);
  const drainMs = clock() - drainStart;
  if (readError !== undefined) throw readError;

  const windowSeconds = Math.max(stoppedAt, 1) / 1000;
  const shownTarget: TargetSpec =
    options.target.password !== undefined ? { ...options.target, password: '***' } : options.target;
  return {
    target: target.label,
    trace,
    startedAt,
    settings: { target: shownTarget, speed, inject: injector.injections, seed, timeoutMs, maxOutstanding },
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
    mgetAsGet: planner.mgetAsGet,
    skipped: planner.skipped,
    unsupportedOps: planner.unsupportedOps,
    injected: injector.total,
    injectedByKey: injector.byKey,
    latency: tally.latency.summary(),
    sendLag: tally.sendLag.summary(),
    errorsByKind: tally.byKind,
    errorExamples: tally.examples,
    series: tally.series,
  };
}

/** Turns trace records into timed commands; counts what it skips. */
class Planner {
  readonly #firstT: number;
  readonly #speed: number;
  readonly #injector: Injector;
  readonly #lanes: number;
  #filler = Buffer.alloc(0);
  #lastDue = 0;
  mgetAsGet = 0;
  readonly skipped: Record<string, number> = {};
  readonly unsupportedOps: Record<string, number> = {};

  constructor(firstT: number, speed: number, injector: Injector, lanes: number) {
    this.#firstT = firstT;
    this.#speed = speed;
    this.#injector = injector;
    this.#lanes = lanes;
  }

  plan(r: TraceRecord): Planned | null {
    const c = replayCommand(r);
    if ('skip' in c) {
      this.skipped[c.skip] = (this.skipped[c.skip] ?? 0) + 1;
      if (c.skip === 'unsupported-op') this.unsupportedOps[r.op] = (this.unsupportedOps[r.op] ?? 0) + 1;
      return null;
    }
    const rel = r.t - this.#firstT;
    const due = (this.#lastDue = Math.max(this.#lastDue, rel / this.#speed));
    const hot = this.#injector.pick(rel / 1000);
    if (hot !== undefined) return { due, lane: -1, cmd: { op: 'get', tenant: r.tenant, keys: [hot] } };
    if (c.fromMget) this.mgetAsGet++;
    const cmd: TargetCommand =
      c.op === 'set'
        ? { op: 'set', tenant: r.tenant, keys: [c.key], value: this.#value(c.valueSize) }
        : { op: c.op, tenant: r.tenant, keys: [c.key] };
    return { due, lane: c.op === 'get' ? -1 : laneOf(c.key, this.#lanes), cmd };
  }

  /** `size` filler bytes; one shared buffer, grown to the largest value seen. */
  #value(size: number): Buffer {
    if (size > this.#filler.length)
      this.#filler = Buffer.alloc(Math.min(MAX_REPLAY_VALUE, Math.max(size, 2 * this.#filler.length)), 0x78);
    return this.#filler.subarray(0, size);
  }
}

/**
 * Picks the requests an injection replaces: one seeded draw per request
 * inside any window, split among the active injections by share, so each
 * injected key gets its share whatever else is active.
 */
export class Injector {
  readonly injections: readonly Injection[];
  readonly #rng: Rng;
  total = 0;
  readonly byKey: Record<string, number> = {};

  constructor(injections: readonly Injection[], seed: number) {
    validateInjections(injections);
    this.injections = injections;
    this.#rng = createRng(seed, 'inject');
  }

  /** The key that replaces a request logged `s` trace seconds after the first, or undefined to keep it. */
  pick(s: number): string | undefined {
    let u = -1;
    for (const inj of this.injections) {
      if (s < inj.fromS || (inj.toS !== undefined && s >= inj.toS)) continue;
      if (u < 0) u = this.#rng.nextFloat();
      if (u < inj.share) {
        this.total++;
        this.byKey[inj.key] = (this.byKey[inj.key] ?? 0) + 1;
        return inj.key;
      }
      u -= inj.share;
    }
    return undefined;
  }
}

/** Throws ConfigError unless every injection is well formed and overlapping shares add up to ≤ 1. */
export function validateInjections(list: readonly Injection[]): void {
  for (const [i, inj] of list.entries()) {
    const at = `inject[${i}]`;
    if (typeof inj.key !== 'string' || inj.key === '')
      throw new ConfigError(`${at}.key must be a non-empty key`);
    if (!(inj.share > 0 && inj.share <= 1))
      throw new ConfigError(`${at}.share must be in (0, 1], got ${inj.share}`);
    if (!(Number.isFinite(inj.fromS) && inj.fromS >= 0))
      throw new ConfigError(`${at}.fromS must be a number of seconds ≥ 0, got ${inj.fromS}`);
    if (inj.toS !== undefined && !(inj.toS > inj.fromS))
      throw new ConfigError(`${at}.toS must be after fromS (${inj.fromS}), got ${inj.toS}`);
  }
  // The active set only grows at a window's start: checking there covers every instant.
  for (const a of list) {
    const total = list
      .filter((b) => b.fromS <= a.fromS && (b.toS === undefined || b.toS > a.fromS))
      .reduce((sum, b) => sum + b.share, 0);
    if (total > 1 + 1e-9)
      throw new ConfigError(
        `injections active at ${a.fromS} s take ${(100 * total).toFixed(1)} % of the traffic; at most 100 %`,
      );
  }
}

/**
 * `KEY:SHARE:FROM_S[:TO_S]` → an Injection. SHARE is a fraction or a percentage
 * (`0.3`, `30%`). Keys may hold colons: the numbers are read from the right.
 *
 * @example
 * parseInjection('user:42:30%:10:20'); // { key: 'user:42', share: 0.3, fromS: 10, toS: 20 }
 */
export function parseInjection(text: string): Injection {
  const parts = text.split(':');
  const num = (s: string | undefined): number => (s === undefined || s.trim() === '' ? NaN : Number(s));
  const share = (s: string | undefined): number =>
    s?.endsWith('%') === true ? num(s.slice(0, -1)) / 100 : num(s);
  const valid = (inj: Injection): boolean =>
    inj.key !== '' &&
    inj.share > 0 &&
    inj.share <= 1 &&
    inj.fromS >= 0 &&
    (inj.toS === undefined || inj.toS > inj.fromS);
  const n = parts.length;
  if (n >= 4) {
    const inj = {
      key: parts.slice(0, n - 3).join(':'),
      share: share(parts[n - 3]),
      fromS: num(parts[n - 2]),
      toS: num(parts[n - 1]),
    };
    if (valid(inj)) return inj;
  }
  if (n >= 3) {
    const inj = {
      key: parts.slice(0, n - 2).join(':'),
      share: share(parts[n - 2]),
      fromS: num(parts[n - 1]),
    };
    if (valid(inj)) return inj;
  }
  throw new ConfigError(
    `--inject must be KEY:SHARE:FROM_S[:TO_S] with SHARE in (0, 1] (or 1%..100%), FROM_S ≥ 0 and TO_S > FROM_S, got ${JSON.stringify(text)}`,
  );
}

/** FNV-1a of the key: every write to one key shares a lane, so the writes keep their order. */
function laneOf(key: string, lanes: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return (h >>> 0) % lanes;
}
