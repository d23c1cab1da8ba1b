/**
 * The hotspot detector: run once per tick on a TickSnapshot, it turns the
 * tick's classification (classify.ts) into hotspots that are raised only after
 * their condition has held for several ticks and cleared only after it has
 * stayed below the lower thresholds for several more (rules.ts).
 *
 * Pure: time is the snapshot's `now`, and the output depends only on the
 * sequence of snapshots, so a test or a replayed trace gets exact answers.
 */
import { classify, type Candidate, type ClassifyState } from './classify.js';
import {
  type DetectorEvent,
  type Hotspot,
  type HotspotKind,
  SEVERITY_RANK,
  type Severity,
} from './hotspot.js';
import { QUEUE_MEMORY, resolveRules, type DetectorRules } from './rules.js';
import type { TickSnapshot } from './snapshot.js';

/** Hysteresis state of one (kind, subject). */
interface Track {
  readonly kind: HotspotKind;
  /** First tick of the current run of ticks in which the raw condition held. */
  readonly onset: number;
  /** Consecutive ticks the condition has held (before raising). */
  held: number;
  /** The raised hotspot, null while the condition is still proving itself. */
  hotspot: Hotspot | null;
  /** Consecutive ticks below the clear thresholds (while raised). */
  below: number;
  /** Consecutive ticks with a lower severity than the hotspot's, and the worst of them. */
  lowerTicks: number;
  lowerWorst: Severity;
  /** Consecutive ticks with the other heat. */
  flippedTicks: number;
  /** Consecutive ticks with the other heat by a clear margin (DECISIVE_SHARE). */
  decisiveTicks: number;
}

/**
 * A share of reads (or of writes) at which the other heat is no near-even mix
 * that could flap back: a key filled and then read (a post written, then
 * everyone reads it) flips to read-hot after `hotKeyRaiseTicks` ticks of this,
 * not `clearTicks`, so its remedy follows within a second of the change.
 */
const DECISIVE_SHARE = 0.8;

const trackKey = (kind: HotspotKind, subject: string): string => `${kind}\u0000${subject}`;

const KIND_TEXT: Readonly<Record<HotspotKind, string>> = {
  'hot-key': 'hot key',
  'hot-range': 'hot range',
  'hot-node': 'hot node',
  'noisy-tenant': 'noisy tenant',
  'skew-warning': 'skew warning',
};

/**
 * A cleared hotspot's summary: kept in history() and sent with the cleared
 * event, it must not go on saying, in the present tense of its last hot
 * tick, that the subject is hot.
 */
function clearedSummary(h: Hotspot, rules: DetectorRules): string {
  const subject = h.kind === 'hot-key' || h.kind === 'noisy-tenant' ? JSON.stringify(h.subject) : h.subject;
  const rate = h.evidence.rate;
  const at = typeof rate === 'number' ? ` at ${Math.round(rate)} ops/s` : '';
  return `cleared: ${KIND_TEXT[h.kind]} ${subject} stayed below its clear thresholds for ${rules.clearTicks} ticks; it was ${h.heat}${at} when last hot`;
}

/**
 * Detects hot keys, hot ranges, hot nodes and noisy tenants with hysteresis.
 *
 * @example
 * const detector = new Detector({ raiseTicks: 4 });
 * setInterval(() => {
 *   for (const e of detector.tick(telemetry.snapshot())) bus.emit('hotspot', e);
 * }, 250);
 * detector.active(); // what is hot now
 */
export class Detector {
  /** The rules in force (defaults filled in, validated). */
  readonly rules: DetectorRules;
  readonly #tracks = new Map<string, Track>();
  /** Every hotspot raised, by id, in raise order; latest version of each. */
  readonly #history = new Map<string, Hotspot>();
  /** Queue depths per entity, newest last, for the "queue rising" impact signal. */
  readonly #queues = new Map<string, number[]>();
  #lastNow = -Infinity;

  /** Throws a ConfigError naming the field when a rule is invalid. */
  constructor(rules: Partial<DetectorRules> = {}) {
    this.rules = resolveRules(rules);
  }

  /**
   * Evaluates one snapshot; returns what was raised or updated (severity or
   * heat changed), in rule order (keys, ranges, nodes, tenants, skew), then
   * what cleared. Snapshots must come in time order.
   */
  tick(snapshot: TickSnapshot): DetectorEvent[] {
    const now = snapshot.now;
    if (!(now >= this.#lastNow)) {
      throw new RangeError(`detector: snapshot at ${now} is older than the previous one at ${this.#lastNow}`);
    }
    this.#lastNow = now;
    const state: ClassifyState = {
      isActive: (kind, subject) => this.#tracks.get(trackKey(kind, subject))?.hotspot != null,
      queueDepths: (entity) => this.#queues.get(entity),
    };
    const candidates = classify(snapshot, this.rules, state);
    const events: DetectorEvent[] = [];
    const seen = new Set<string>();
    for (const c of candidates) {
      const key = trackKey(c.kind, c.subject);
      if (seen.has(key)) continue;
      seen.add(key);
      const track = this.#tracks.get(key) ?? this.#newTrack(key, c.kind, now);
      const event = track.hotspot === null ? this.#prove(track, c, now) : this.#hold(track, c);
      if (event !== null) events.push({ type: event, hotspot: track.hotspot as Hotspot, at: now });
    }
    for (const [key, track] of this.#tracks) {
      if (seen.has(key)) continue;
      if (track.hotspot === null) {
        // The condition broke before it was proven: a blip, forget it.
        this.#tracks.delete(key);
        continue;
      }
      track.below += 1;
      if (track.below >= this.rules.clearTicks) {
        track.hotspot = Object.freeze({
          ...track.hotspot,
          summary: clearedSummary(track.hotspot, this.rules),
          clearedAt: now,
        });
        this.#record(track.hotspot);
        this.#tracks.delete(key);
        events.push({ type: 'cleared', hotspot: track.hotspot, at: now });
      }
    }
    this.#rememberQueues(snapshot);
    return events;
  }

  /**
   * Whether anything is in sight: a condition held at the last tick and is
   * waiting to be proven, or a hotspot is active. The monitor ticks faster
   * while it is (see MonitorOptions.quietTickMs).
   */
  get watching(): boolean {
    return this.#tracks.size > 0;
  }

  /**
   * Whether a hot-key condition held at the last tick and waits for its next
   * tick to be raised (`hotKeyRaiseTicks`). The monitor gives it that tick
   * at half the period: a hot key's target leaves no room for a full one.
   */
  get provingHotKey(): boolean {
    for (const t of this.#tracks.values()) if (t.hotspot === null && t.kind === 'hot-key') return true;
    return false;
  }

  /** The hotspots active now, in the order they were raised. */
  active(): Hotspot[] {
    return [...this.#history.values()].filter((h) => h.clearedAt === null);
  }

  /** Every hotspot raised (active and cleared), oldest first, at most `rules.maxHistory`. */
  history(): Hotspot[] {
    return [...this.#history.values()];
  }

  #newTrack(key: string, kind: HotspotKind, now: number): Track {
    const track: Track = {
      kind,
      onset: now,
      held: 0,
      hotspot: null,
      below: 0,
      lowerTicks: 0,
      lowerWorst: 'info',
      flippedTicks: 0,
      decisiveTicks: 0,
    };
    this.#tracks.set(key, track);
    return track;
  }

  /** The condition holds for a track not yet raised: raise it once it has held long enough. */
  #prove(track: Track, c: Candidate, now: number): 'raised' | null {
    track.held += 1;
    const needed = c.kind === 'hot-key' ? this.rules.hotKeyRaiseTicks : this.rules.raiseTicks;
    if (track.held < needed) return null;
    track.hotspot = Object.freeze({
      id: `${c.kind}:${c.subject}@${track.onset}`,
      kind: c.kind,
      subject: c.subject,
      shard: c.shard,
      node: c.node,
      heat: c.heat,
      severity: c.severity,
      impact: c.impact,
      evidence: c.evidence,
      summary: c.summary,
      onset: track.onset,
      detectedAt: now,
      clearedAt: null,
    });
    this.#record(track.hotspot);
    return 'raised';
  }

  /**
   * The condition still holds for a raised hotspot: refresh its evidence.
   * Severity rises at once (an operator must hear about new impact now) but
   * falls, and heat flips, only after `clearTicks` ticks, so neither flaps;
   * a flip by a clear margin (DECISIVE_SHARE) takes `hotKeyRaiseTicks`.
   */
  #hold(track: Track, c: Candidate): 'updated' | null {
    const h = track.hotspot as Hotspot;
    track.below = 0;
    let severity = h.severity;
    if (SEVERITY_RANK[c.severity] > SEVERITY_RANK[h.severity]) {
      severity = c.severity;
      track.lowerTicks = 0;
    } else if (SEVERITY_RANK[c.severity] < SEVERITY_RANK[h.severity]) {
      track.lowerWorst =
        track.lowerTicks === 0 || SEVERITY_RANK[c.severity] > SEVERITY_RANK[track.lowerWorst]
          ? c.severity
          : track.lowerWorst;
      track.lowerTicks += 1;
      if (track.lowerTicks >= this.rules.clearTicks) {
        severity = track.lowerWorst;
        track.lowerTicks = 0;
      }
    } else {
      track.lowerTicks = 0;
    }
    let heat = h.heat;
    track.flippedTicks = c.heat === h.heat ? 0 : track.flippedTicks + 1;
    const share = c.evidence.readShare;
    const decisive =
      typeof share === 'number' && (c.heat === 'read-hot' ? share : 1 - share) >= DECISIVE_SHARE;
    track.decisiveTicks = c.heat !== h.heat && decisive ? track.decisiveTicks + 1 : 0;
    if (track.flippedTicks >= this.rules.clearTicks || track.decisiveTicks >= this.rules.hotKeyRaiseTicks) {
      heat = c.heat;
      track.flippedTicks = 0;
      track.decisiveTicks = 0;
    }
    const changed = severity !== h.severity || heat !== h.heat;
    track.hotspot = Object.freeze({
      ...h,
      severity,
      heat,
      impact: c.impact,
      evidence: c.evidence,
      summary: c.summary,
    });
    this.#record(track.hotspot);
    return changed ? 'updated' : null;
  }

  #record(h: Hotspot): void {
    this.#history.set(h.id, h);
    if (this.#history.size <= this.rules.maxHistory) return;
    for (const [id, old] of this.#history) {
      if (old.clearedAt === null) continue;
      this.#history.delete(id);
      if (this.#history.size <= this.rules.maxHistory) return;
    }
  }

  #rememberQueues(s: TickSnapshot): void {
    const keep = QUEUE_MEMORY * this.rules.queueRiseTicks;
    const present = new Set<string>();
    const remember = (key: string, depth: number): void => {
      present.add(key);
      const q = this.#queues.get(key) ?? [];
      q.push(depth);
      if (q.length > keep) q.shift();
      this.#queues.set(key, q);
    };
    for (const sh of s.shards) remember(`shard:${sh.id}`, sh.queueDepth);
    for (const n of s.nodes) remember(`node:${n.id}`, n.queueDepth);
    for (const tn of s.tenants) remember(`tenant:${tn.id}`, tn.queueDepth);
    for (const key of this.#queues.keys()) if (!present.has(key)) this.#queues.delete(key);
  }
}
