/**
 * The control plane's loop: every tick, read the routers' telemetry into a
 * snapshot, run the detector, and publish what changed. Mitigation will hang
 * off the same loop.
 */
import type { Clock } from '../clock.js';
import { systemClock } from '../clock.js';
import { MemoryBackend } from '../backend/memory.js';
import { RedisBackend } from '../backend/redis.js';
import type { Detector } from '../detect/detector.js';
import type { DetectorRules } from '../detect/rules.js';
import type { DetectorEvent, Hotspot } from '../detect/hotspot.js';
import type { TickSnapshot } from '../detect/snapshot.js';
import { skewReport, type SkewReport } from '../detect/skew.js';
import type { Router } from '../router/router.js';
import type { RouterTelemetry } from '../telemetry/router-telemetry.js';
import { buildSnapshot, type NodePlacement, type ShardPlacement } from '../telemetry/snapshot.js';
import type { EventBus } from './events.js';

/** Monitor settings. */
export interface MonitorOptions {
  readonly router: Router;
  readonly telemetry: RouterTelemetry;
  readonly detector: Detector;
  readonly bus: EventBus;
  readonly sloP99Ms: number;
  /** How often the detector runs (ms) while a condition is pending or a hotspot active. */
  readonly tickMs: number;
  /**
   * How often it runs (ms) while nothing is in sight (`Detector.watching`
   * false); default `tickMs`. Rounded up to a whole number of `tickMs`.
   * Hysteresis counts ticks, and a condition seen once switches to `tickMs`,
   * so this only delays the first sight of a new hotspot, by up to
   * quietTickMs − tickMs, and saves what a detector tick costs the proxy
   * (see docs/observability.md, "Rates and windows"). Not for a hot key:
   * at every half tick in between, `keyTripwire` looks at the current
   * second's sketches, and a key rising past it gets its tick then (tickDue).
   */
  readonly quietTickMs?: number;
  /** Seconds of telemetry each snapshot covers. */
  readonly windowSeconds: number;
  readonly clock?: Clock;
  /** Where the ticks come from; default a real, unref'd setInterval. Tests fire theirs by hand. */
  readonly interval?: Interval;
  /** Told when a timed tick throws; the timer goes on (default: rethrown into the timer). */
  readonly onError?: (err: unknown) => void;
  /**
   * Runs after every firing of the timer, ticked or not (the planner: it
   * must also revert what an idle proxy no longer needs). Its throw is its
   * own: the caller records it, and detection is unaffected.
   */
  readonly afterFiring?: () => void;
}

/** Calls `fn` every `ms` until the returned function is called. */
export type Interval = (fn: () => void, ms: number) => () => void;

const realInterval: Interval = (fn, ms) => {
  const timer = setInterval(fn, ms);
  timer.unref();
  return () => clearInterval(timer);
};

/** Runs detection on a timer and publishes hotspot events. */
export class Monitor {
  readonly #o: MonitorOptions;
  readonly #clock: Clock;
  #stopTimer: (() => void) | undefined;
  #last: TickSnapshot | undefined;
  #lastSkew: SkewReport | undefined;
  /** Shard placements of the routing table in force, formatted once per table version. */
  #placements: { version: number; shards: Map<string, ShardPlacement> } | undefined;
  /** Requests the router had dispatched at the last timed tick. */
  #lastCommands = -1;
  /** Timer firings since the last timed tick that ran. */
  #skipped = 0;

  constructor(options: MonitorOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
  }

  /**
   * Starts ticking: every `tickMs` while the detector is watching something,
   * every `quietTickMs` while it is not, sooner for a hot key (tickDue). A
   * timed tick is skipped while the router has dispatched nothing since the
   * last one, nothing is hot and the last snapshot already showed no traffic:
   * the snapshot would say what the last one said, and an idle proxy should
   * not spend a core's percent re-reading it.
   */
  start(): void {
    const { tickMs, quietTickMs = tickMs } = this.#o;
    const quietHalves = 2 * Math.max(1, Math.ceil(quietTickMs / tickMs));
    // The timer fires every half tick (see tickDue); most firings only decide.
    this.#stopTimer ??= (this.#o.interval ?? realInterval)(() => {
      try {
        this.#timed(quietHalves);
      } catch (err) {
        // A bug in detection costs this tick, never the process: the data
        // plane does not depend on the control loop.
        if (this.#o.onError === undefined) throw err;
        this.#o.onError(err);
      }
    }, tickMs / 2);
  }

  /** One firing of the timer: decides whether to tick, and ticks. */
  #timed(quietHalves: number): void {
    const commands = this.#o.router.stats.commands;
    const idle =
      commands === this.#lastCommands &&
      this.#o.detector.active().length === 0 &&
      this.#last !== undefined &&
      !hasTraffic(this.#last);
    this.#lastCommands = commands;
    this.#skipped++;
    if (!idle) this.#detectIfDue(quietHalves);
    this.#o.afterFiring?.();
  }

  #detectIfDue(quietHalves: number): void {
    const { detector, telemetry } = this.#o;
    const due = tickDue({
      halves: this.#skipped,
      quietHalves,
      watching: detector.watching,
      provingHotKey: detector.provingHotKey,
      tripped: () => keyTripwire(telemetry, detector.rules),
    });
    if (!due) return;
    this.#skipped = 0;
    this.tick();
  }

  /** Stops ticking. */
  stop(): void {
    this.#stopTimer?.();
    this.#stopTimer = undefined;
  }

  /** The newest snapshot the detector saw. */
  get snapshot(): TickSnapshot {
    return this.#last ?? this.buildSnapshot();
  }

  /** Skew measures of the newest snapshot. */
  get skew(): SkewReport {
    return this.#lastSkew ?? skewReport(this.snapshot);
  }

  /** Active hotspots. */
  active(): Hotspot[] {
    return this.#o.detector.active();
  }

  /** Hotspots raised so far, newest last (bounded). */
  history(): Hotspot[] {
    return this.#o.detector.history();
  }

  /** Reads telemetry into the detector's input. */
  buildSnapshot(): TickSnapshot {
    const { router, telemetry } = this.#o;
    const table = router.table;
    const p = table.partitioner;
    const nodes = new Map<string, NodePlacement>();
    for (const [id, backend] of router.backends) {
      if (backend instanceof MemoryBackend)
        nodes.set(id, { capacity: backend.capacity, queueDepth: backend.queueDepth });
      else if (backend instanceof RedisBackend)
        nodes.set(id, { capacity: null, queueDepth: backend.inFlight });
    }
    if (this.#placements?.version !== table.version) {
      const shards = new Map<string, ShardPlacement>();
      for (const s of table.shards) {
        shards.set(s.id, {
          node: s.node,
          range: [p.format(s.start), s.end === null ? null : p.format(s.end)],
          capacity: s.capacity,
        });
      }
      this.#placements = { version: table.version, shards };
    }
    const shards = this.#placements.shards;
    // One reading of the clock: shard, node and tenant figures of one tick cover the same seconds.
    return telemetry.consistent(() =>
      buildSnapshot(telemetry, {
        windowSeconds: this.#o.windowSeconds,
        // The partial current second too: a spike must not wait for its second to end.
        withCurrent: true,
        sloP99Ms: this.#o.sloP99Ms,
        shards,
        nodes,
        locate: (key) => {
          const s = router.table.shardFor(key);
          return { shard: s.id, node: s.node };
        },
      }),
    );
  }

  /** One detector round: snapshot, detect, publish. Returns what changed. */
  tick(): DetectorEvent[] {
    const snapshot = this.buildSnapshot();
    if (this.#last !== undefined && snapshot.now < this.#last.now) return [];
    this.#last = snapshot;
    this.#lastSkew = skewReport(snapshot);
    const events = this.#o.detector.tick(snapshot);
    for (const e of events) this.#o.bus.publish(`hotspot.${e.type}`, e.hotspot, this.#clock.now());
    return events;
  }
}

/** What the monitor's timer knows when it fires (every tickMs / 2). */
export interface TimerState {
  /** Firings since the last tick, this one included. */
  readonly halves: number;
  /** Firings per tick while nothing is in sight (2 × quietTickMs / tickMs, rounded up). */
  readonly quietHalves: number;
  /** Detector.watching. */
  readonly watching: boolean;
  /** Detector.provingHotKey. */
  readonly provingHotKey: boolean;
  /** The key tripwire (keyTripwire), asked only when its answer decides. */
  readonly tripped: () => boolean;
}

/**
 * Whether the monitor's timer, firing every half tick, should run the
 * detector now: at every firing while a hot key waits for its second tick
 * (hotKeyRaiseTicks; a full tick more put detection at 600–1,060 ms after
 * onset), and otherwise at most every tickMs: then while the detector
 * watches something, once quietTickMs has passed, or when the key tripwire
 * trips. The tripwire is asked at every firing from a full tick on, so a
 * rising key's first tick comes within half a tick of the wire, not a
 * whole one. Other kinds keep the tickMs pace their raiseTicks count in.
 */
export function tickDue(t: TimerState): boolean {
  if (t.provingHotKey) return true;
  if (t.halves < 2) return false;
  return t.watching || t.halves >= t.quietHalves || t.tripped();
}

/**
 * Whether a key in the current second's sketches runs above half the lower
 * key-rate floor (`rules.keyRateFloor.clear` / 2), so that a monitor in its
 * quiet pace should tick now: a hot key's detection target leaves no room
 * for waiting out a quiet tick (with 500 ms quiet ticks and nothing else, one
 * bench:detect run saw a celebrity key 999 ms after onset). Costs a pass over
 * two SpaceSaving summaries (RouterTelemetry.peakKeyRate), not a tick. A key
 * that is hot only by dominating a hot shard (below the floor) waits for the
 * quiet tick.
 */
export function keyTripwire(telemetry: RouterTelemetry, rules: DetectorRules): boolean {
  return telemetry.peakKeyRate() > rules.keyRateFloor.clear / 2;
}

/** Whether a snapshot saw any request in its window. */
function hasTraffic(s: TickSnapshot): boolean {
  return s.shards.some((x) => x.reads + x.writes > 0);
}
