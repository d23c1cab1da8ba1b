/**
 * The audit log: every change to the control plane's state, who made it
 * (`operator`: the admin token's holder; `planner`), when, what (a verb and
 * its target) and why (the `reason` given). `GET /audit` reads it.
 *
 * Kept in memory, bounded (oldest dropped first). The config store keeps it
 * for good: it is handed each entry through `persist` and gives the stored
 * ones back with `restore()` at start. A failing `persist` must not undo the
 * change it records (that change has happened), so it is reported to
 * `onPersistError` and the entry stays in memory.
 */
import { systemClock, type Clock } from '../clock.js';
import type { ActionRecord } from '../mitigate/action.js';
import type { EventBus } from './events.js';

/** Who changed something: the admin token's holder, or the planner. */
export type AuditActor = 'operator' | 'planner';

/** One audited change. */
export interface AuditEntry {
  /** Increasing per log: `au-<n>`. */
  readonly id: string;
  /** ms since the epoch. */
  readonly at: number;
  readonly who: AuditActor;
  /** What was done, e.g. `shard.split`, `policy.put`, `automation.set`. */
  readonly verb: string;
  /** What it was done to, e.g. `shard:s3`, `key:user:1`, `node:10.0.0.5:6379`, `action:a-4`. */
  readonly target: string;
  /** Why, as given; null when none was. */
  readonly reason: string | null;
  /** What changed: the settings, the resulting version, the action started. */
  readonly details: Readonly<Record<string, unknown>>;
}

/** What a caller records; the log adds the id and the time. */
export type AuditRecord = Omit<AuditEntry, 'id' | 'at'>;

/** How the log is set up. */
export interface AuditLogOptions {
  readonly clock?: Clock | undefined;
  /** Entries kept in memory. Default 10,000. */
  readonly size?: number | undefined;
  /** Hands each entry to durable storage (the config store). */
  readonly persist?: ((entry: AuditEntry) => void | Promise<void>) | undefined;
  /** Told when `persist` throws or rejects. */
  readonly onPersistError?: ((err: unknown, entry: AuditEntry) => void) | undefined;
}

/** A filter of {@link AuditLog.list}. */
export interface AuditQuery {
  /** Only entries at or after this time (ms since the epoch). */
  readonly since?: number | undefined;
  /** At most this many, newest first. Default 100. */
  readonly limit?: number | undefined;
}

/**
 * The bounded, in-memory audit log.
 *
 * @example
 * const audit = new AuditLog();
 * audit.append({ who: 'operator', verb: 'shard.split', target: 'shard:s0', reason: 'hot range', details: { at: '123' } });
 * audit.list({ limit: 10 });
 */
export class AuditLog {
  readonly #clock: Clock;
  readonly #size: number;
  readonly #persist: AuditLogOptions['persist'];
  readonly #onPersistError: AuditLogOptions['onPersistError'];
  readonly #entries: AuditEntry[] = [];
  #next = 1;

  constructor(options: AuditLogOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#size = options.size ?? 10_000;
    if (!Number.isInteger(this.#size) || this.#size < 1)
      throw new RangeError(`audit log size must be an integer ≥ 1, got ${this.#size}`);
    this.#persist = options.persist;
    this.#onPersistError = options.onPersistError;
  }

  /** Records a change; returns the entry as kept. */
  append(record: AuditRecord): AuditEntry {
    const entry: AuditEntry = Object.freeze({
      id: `au-${this.#next++}`,
      at: this.#clock.now(),
      who: record.who,
      verb: record.verb,
      target: record.target,
      reason: record.reason,
      details: record.details,
    });
    this.#keep(entry);
    if (this.#persist !== undefined) {
      try {
        const saved = this.#persist(entry);
        if (saved instanceof Promise) saved.catch((err: unknown) => this.#persistFailed(err, entry));
      } catch (err) {
        this.#persistFailed(err, entry);
      }
    }
    return entry;
  }

  /**
   * Puts back entries read from storage after a restart (any order): kept in
   * time order, and new ids continue after the highest restored one. Not
   * handed to `persist` again.
   */
  restore(entries: readonly AuditEntry[]): void {
    const all = [...this.#entries, ...entries].sort((a, b) => a.at - b.at || seq(a.id) - seq(b.id));
    const unique = all.filter((e, i) => i === 0 || e.id !== all[i - 1]!.id);
    this.#entries.splice(0, this.#entries.length, ...unique.slice(-this.#size));
    for (const e of entries) this.#next = Math.max(this.#next, seq(e.id) + 1);
  }

  /** Entries, newest first. */
  list(query: AuditQuery = {}): AuditEntry[] {
    const limit = query.limit ?? 100;
    const out: AuditEntry[] = [];
    for (let i = this.#entries.length - 1; i >= 0 && out.length < limit; i--) {
      const e = this.#entries[i]!;
      // continue, not break: a clock stepped back leaves older times after newer ones.
      if (query.since !== undefined && e.at < query.since) continue;
      out.push(e);
    }
    return out;
  }

  /** Entries kept now. */
  get size(): number {
    return this.#entries.length;
  }

  #keep(entry: AuditEntry): void {
    this.#entries.push(entry);
    if (this.#entries.length > this.#size) this.#entries.shift();
  }

  #persistFailed(err: unknown, entry: AuditEntry): void {
    try {
      this.#onPersistError?.(err, entry);
    } catch {
      // a failing reporter cannot be reported anywhere else
    }
  }
}

/**
 * Audits what the planner changes through the executor: each action it
 * applies, and each it reverts. An operator's changes are audited by the
 * routes that take them (with the reason in the request), so only the
 * planner's are taken from the bus here. Returns the unsubscribe function.
 */
export function auditPlannerActions(bus: EventBus, audit: AuditLog): () => void {
  return bus.subscribe((event) => {
    if (event.type !== 'action.done' && event.type !== 'action.rolled-back') return;
    const r = event.data as ActionRecord;
    const target = `${r.subject.type}:${r.subject.name}`;
    if (event.type === 'action.done' && r.by === 'planner') {
      audit.append({
        who: 'planner',
        verb: `action.${r.kind}`,
        target,
        reason: r.reason,
        details: { action: r.id, settings: r.settings },
      });
    }
    // The executor words a revert's detail `reverted by <who>: <reason>`; the record keeps who created it.
    const planner = 'reverted by planner: ';
    if (event.type === 'action.rolled-back' && r.detail?.startsWith(planner) === true) {
      audit.append({
        who: 'planner',
        verb: 'action.revert',
        target,
        reason: r.detail.slice(planner.length),
        details: { action: r.id, kind: r.kind },
      });
    }
  });
}

/** The number in an `au-<n>` id (0 for another form, which a store should never hold). */
function seq(id: string): number {
  const n = Number(id.slice(3));
  return id.startsWith('au-') && Number.isSafeInteger(n) ? n : 0;
}
