/**
 * The write ledger: every acknowledged write a load run made, so that at the
 * end `verifyWrites` can read each key back and count the acknowledged writes
 * that were lost — the check behind "no acknowledged write lost" while shards
 * split and move.
 *
 * Why the check is sound under concurrency:
 * - The generator sends every request on a key through the same lane (a
 *   connection that answers in order), so the writes to one key are applied
 *   in the order they were issued, and the acknowledged ones in particular.
 * - A write whose outcome is unknown (timeout, lost connection, any error
 *   reply after it was sent) may have been applied — and, if its connection
 *   was reset while a proxy still held it, even after later writes. So every
 *   unknown-outcome write is an acceptable final state; only writes that never
 *   left the generator count as not applied.
 * - SET/DEL key: the final value must be the last acknowledged write's (each
 *   SET value is unique: it starts with `<runTag>:<seq>|`; a DEL means
 *   absent) or one of the unknown-outcome writes'. Anything else means the
 *   last acknowledged write was lost. Keys with no acknowledged write are not
 *   verifiable (their state before the run is unknown).
 * - INCR key: with `v1` the reply to the first acknowledged INCR, `A` the
 *   acknowledged and `U` the unknown-outcome increments, the final value must
 *   lie in [v1 − 1 + A, v1 − 1 + A + U]: v1 fixes the starting value up to the
 *   unknown increments that landed before it, and those cancel out. Below the
 *   range, acknowledged increments were lost; above it, something applied
 *   increments nobody asked for (a retried write).
 * The check assumes this run is the only writer of its keys.
 */
import { openTarget, type ReplyValue, type TargetSpec } from './targets.js';

/** What a value written by the ledger starts with: `<runTag>:<seq>|`. */
export function valueToken(runTag: string, seq: number): string {
  return `${runTag}:${seq}|`;
}

interface StringEntry {
  readonly counter: false;
  /** Issue sequence number of the last acknowledged write; -1 when none. */
  lastSeq: number;
  /** True when that write was a DEL. */
  lastDeleted: boolean;
  acked: number;
  /** Unknown-outcome writes: a SET's seq, or -1 for a DEL. */
  unknown: number[] | undefined;
}

interface CounterEntry {
  readonly counter: true;
  /** Issue seq and reply of the earliest acknowledged INCR. */
  firstSeq: number;
  firstReply: number;
  acked: number;
  unknown: number;
}

/** Counts of what a ledger holds. */
export interface LedgerSummary {
  readonly keys: number;
  readonly acknowledgedWrites: number;
  readonly unknownWrites: number;
}

/** A lost write, for the report. */
export interface LostWrite {
  readonly key: string;
  readonly expected: string;
  readonly found: string;
}

/** What `verifyWrites` found. */
export interface WriteCheck {
  /** Keys read back (those with at least one acknowledged write). */
  readonly checkedKeys: number;
  /** Keys with only unknown-outcome writes: nothing to hold them to. */
  readonly unverifiableKeys: number;
  readonly acknowledgedWrites: number;
  readonly unknownWrites: number;
  /** Acknowledged writes lost: one per SET/DEL key whose last acknowledged write is gone, plus lost increments. */
  readonly lostWrites: number;
  readonly lostKeys: number;
  /** Counters above the highest possible value. */
  readonly excessKeys: number;
  /** Keys that could not be read back (after retries); neither lost nor verified. */
  readonly readErrors: number;
  /** Up to 10 examples. */
  readonly examples: readonly LostWrite[];
}

/**
 * Records a run's writes. Pass one as `trackWrites` to `runLoad`, then to `verifyWrites`.
 *
 * @example
 * const ledger = new WriteLedger();
 * await runLoad({ ..., trackWrites: ledger });
 * const check = await verifyWrites(target, ledger); // check.lostWrites === 0
 */
export class WriteLedger {
  /** Tags this run's values; unique per ledger so values left by earlier runs never match. */
  readonly runTag: string;
  readonly #entries = new Map<string, StringEntry | CounterEntry>();
  #acked = 0;
  #unknown = 0;

  constructor(runTag = `r${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`) {
    if (!/^[A-Za-z0-9_.-]+$/.test(runTag))
      throw new RangeError(`runTag must match [A-Za-z0-9_.-]+, got ${runTag}`);
    this.runTag = runTag;
  }

  /** An acknowledged SET (`deleted` false) or DEL (`deleted` true) issued with sequence number `seq`. */
  ackWrite(key: string, seq: number, deleted: boolean): void {
    const e = this.#string(key);
    this.#acked++;
    e.acked++;
    if (seq > e.lastSeq) {
      e.lastSeq = seq;
      e.lastDeleted = deleted;
    }
  }

  /** A SET or DEL whose outcome is unknown. */
  unknownWrite(key: string, seq: number, deleted: boolean): void {
    this.#unknown++;
    (this.#string(key).unknown ??= []).push(deleted ? -1 : seq);
  }

  /** An acknowledged INCR issued as `seq` that returned `reply`. */
  ackIncr(key: string, seq: number, reply: number): void {
    const e = this.#counter(key);
    this.#acked++;
    e.acked++;
    if (e.firstSeq === -1 || seq < e.firstSeq) {
      e.firstSeq = seq;
      e.firstReply = reply;
    }
  }

  /** An INCR whose outcome is unknown. */
  unknownIncr(key: string): void {
    this.#unknown++;
    this.#counter(key).unknown++;
  }

  summary(): LedgerSummary {
    return { keys: this.#entries.size, acknowledgedWrites: this.#acked, unknownWrites: this.#unknown };
  }

  /** Judges one key's final value (null when absent); returns the lost-write count and what was expected. */
  judge(key: string, found: ReplyValue): { lost: number; excess: boolean; expected: string } | undefined {
    const e = this.#entries.get(key);
    if (e === undefined || e.acked === 0) return undefined;
    if (e.counter) {
      const value = found === null ? 0 : Number(found instanceof Buffer ? found.toString('latin1') : found);
      const low = e.firstReply - 1 + e.acked;
      const high = low + e.unknown;
      const expected = e.unknown === 0 ? String(low) : `${low}..${high}`;
      if (!Number.isFinite(value)) return { lost: e.acked, excess: false, expected };
      return { lost: Math.min(e.acked, Math.max(0, low - value)), excess: value > high, expected };
    }
    const expected = e.lastDeleted ? '(absent)' : valueToken(this.runTag, e.lastSeq);
    let ok: boolean;
    if (found === null) ok = e.lastDeleted || (e.unknown?.includes(-1) ?? false);
    else {
      const seq = this.#seqOf(found instanceof Buffer ? found : Buffer.from(String(found)));
      ok =
        seq !== undefined && ((!e.lastDeleted && seq === e.lastSeq) || (e.unknown?.includes(seq) ?? false));
    }
    return { lost: ok ? 0 : 1, excess: false, expected };
  }

  /** Every key with at least one write, acknowledged or not. */
  keys(): IterableIterator<string> {
    return this.#entries.keys();
  }

  #seqOf(value: Buffer): number | undefined {
    const bar = value.indexOf(0x7c, 0); // '|'
    if (bar === -1 || bar > 64) return undefined;
    const token = value.toString('latin1', 0, bar);
    const colon = token.lastIndexOf(':');
    if (token.slice(0, colon) !== this.runTag) return undefined;
    const seq = Number(token.slice(colon + 1));
    return Number.isSafeInteger(seq) ? seq : undefined;
  }

  #string(key: string): StringEntry {
    let e = this.#entries.get(key);
    if (e === undefined) {
      e = { counter: false, lastSeq: -1, lastDeleted: false, acked: 0, unknown: undefined };
      this.#entries.set(key, e);
    }
    if (e.counter) throw new Error(`write ledger: ${key} is a counter, not a string key`);
    return e;
  }

  #counter(key: string): CounterEntry {
    let e = this.#entries.get(key);
    if (e === undefined) {
      e = { counter: true, firstSeq: -1, firstReply: 0, acked: 0, unknown: 0 };
      this.#entries.set(key, e);
    }
    if (!e.counter) throw new Error(`write ledger: ${key} is a string key, not a counter`);
    return e;
  }
}

const READ_WINDOW = 1_000;
const READ_ATTEMPTS = 3;

/**
 * Reads back every key the ledger holds and counts the acknowledged writes
 * that are gone. Reads are pipelined over a few connections; a key that
 * cannot be read after three attempts counts as a read error, not a loss.
 *
 * @example
 * const check = await verifyWrites({ kind: 'resp', host: '127.0.0.1', port: 6380 }, ledger);
 */
export async function verifyWrites(
  target: TargetSpec,
  ledger: WriteLedger,
  opts: { connections?: number; timeoutMs?: number } = {},
): Promise<WriteCheck> {
  const t = await openTarget(
    { ...target, connections: opts.connections ?? 4 },
    { timeoutMs: opts.timeoutMs ?? 10_000 },
  );
  const keys = [...ledger.keys()];
  let checked = 0;
  let unverifiable = 0;
  let lostWrites = 0;
  let lostKeys = 0;
  let excessKeys = 0;
  let readErrors = 0;
  const examples: LostWrite[] = [];
  try {
    let next = 0;
    await new Promise<void>((resolve) => {
      let active = 0;
      // `active` counts keys being read, including those waiting to retry.
      const read = (key: string, attempt: number, lane: number): void => {
        t.send(lane, { op: 'get', tenant: '', keys: [key] }, (err, value) => {
          if (err !== null && attempt + 1 < READ_ATTEMPTS) {
            setTimeout(() => read(key, attempt + 1, lane), 50 * (attempt + 1));
            return;
          }
          active--;
          if (err !== null) readErrors++;
          else {
            const verdict = ledger.judge(key, value);
            if (verdict === undefined) unverifiable++;
            else {
              checked++;
              if (verdict.excess) excessKeys++;
              if (verdict.lost > 0 || verdict.excess) {
                lostWrites += verdict.lost;
                if (verdict.lost > 0) lostKeys++;
                if (examples.length < 10)
                  examples.push({ key, expected: verdict.expected, found: describe(value) });
              }
            }
          }
          pump();
        });
      };
      const pump = (): void => {
        while (active < READ_WINDOW && next < keys.length) {
          active++;
          read(keys[next]!, 0, next++ % t.lanes);
        }
        if (active === 0 && next >= keys.length) resolve();
      };
      pump();
    });
  } finally {
    await t.close();
  }
  const summary = ledger.summary();
  return {
    checkedKeys: checked,
    unverifiableKeys: unverifiable,
    acknowledgedWrites: summary.acknowledgedWrites,
    unknownWrites: summary.unknownWrites,
    lostWrites,
    lostKeys,
    excessKeys,
    readErrors,
    examples,
  };
}

function describe(value: ReplyValue): string {
  if (value === null) return '(absent)';
  if (value instanceof Buffer) return value.toString('latin1', 0, Math.min(value.length, 48));
  return String(value);
}
