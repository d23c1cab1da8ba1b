/**
 * The copy engine of a live move: copies a key range from one node to
 * another in pipelined batches on the nodes' side connections (dumpKeys /
 * restoreKeys), re-copies given keys (the catch-up of dirty keys), and clears
 * a range from a node, all under one throttle in keys/s and bytes/s that can
 * be changed while it runs.
 *
 * A copy never outlives its source: each key's TTL is aged by the time since
 * its DUMP was sent (the DUMP ran no earlier), and a key whose time ran out
 * meanwhile, or that is gone, is deleted on the target, so a deleted or
 * expired key is never brought back.
 */
import type { KeyDump, KeyWrite, ShardBackend } from '../backend/backend.js';
import { ConfigError } from '../errors.js';

/** A move's copy limits; null is unlimited. */
export interface MoveLimits {
  readonly maxKeysPerSec: number | null;
  readonly maxBytesPerSec: number | null;
}

/** Unlimited. */
export const NO_LIMITS: MoveLimits = { maxKeysPerSec: null, maxBytesPerSec: null };

/** Throws a ConfigError naming the field when a limit is not null or a positive number. */
export function checkLimits(limits: Partial<MoveLimits>): MoveLimits {
  const one = (field: keyof MoveLimits): number | null => {
    const v = limits[field] ?? null;
    if (v !== null && !(typeof v === 'number' && Number.isFinite(v) && v > 0))
      throw new ConfigError(
        `${field} must be null (unlimited) or a positive number, got ${JSON.stringify(v)}`,
      );
    return v;
  };
  return { maxKeysPerSec: one('maxKeysPerSec'), maxBytesPerSec: one('maxBytesPerSec') };
}

/** A sleep that can be cut short (a cancelled move must not wait out its throttle). */
export type Sleep = (ms: number) => Promise<void>;

const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** One rate as a bucket that may go into debt: a batch is taken whole, then the next one waits the debt off. */
class DebtBucket {
  #rate: number | null = null;
  #credit = 0;
  #last: number;
  constructor(now: number) {
    this.#last = now;
  }
  set(rate: number | null, now: number): void {
    this.refill(now);
    this.#rate = rate;
    if (rate === null) this.#credit = 0;
    else this.#credit = Math.min(this.#credit, this.#burst());
  }
  #burst(): number {
    return this.#rate === null ? 0 : Math.max(1, this.#rate / 10); // 100 ms worth
  }
  refill(now: number): void {
    const elapsed = now - this.#last;
    this.#last = now;
    if (this.#rate === null || elapsed <= 0) return;
    this.#credit = Math.min(this.#burst(), this.#credit + (elapsed * this.#rate) / 1000);
  }
  take(n: number, now: number): void {
    this.refill(now);
    if (this.#rate !== null) this.#credit -= n;
  }
  /** Ms until out of debt; 0 when not in debt or unlimited. */
  wait(now: number): number {
    this.refill(now);
    if (this.#rate === null || this.#credit >= 0) return 0;
    return Math.ceil((-this.#credit * 1000) / this.#rate);
  }
}

/** The keys/s and bytes/s throttle of a move; {@link setLimits} applies to the next wait. */
export class CopyThrottle {
  readonly #now: () => number;
  readonly #sleep: Sleep;
  readonly #keys: DebtBucket;
  readonly #bytes: DebtBucket;
  #limits: MoveLimits;

  constructor(limits: MoveLimits, now: () => number = () => performance.now(), sleep: Sleep = realSleep) {
    this.#now = now;
    this.#sleep = sleep;
    this.#keys = new DebtBucket(now());
    this.#bytes = new DebtBucket(now());
    this.#limits = NO_LIMITS;
    this.setLimits(limits);
  }

  get limits(): MoveLimits {
    return this.#limits;
  }

  setLimits(limits: Partial<MoveLimits>): void {
    const checked = checkLimits({ ...this.#limits, ...limits });
    const now = this.#now();
    this.#keys.set(checked.maxKeysPerSec, now);
    this.#bytes.set(checked.maxBytesPerSec, now);
    this.#limits = checked;
  }

  /** Takes `keys` and `bytes`, then waits (in slices, so a new limit or a stop applies soon) while in debt. */
  async take(keys: number, bytes: number, check: () => void = () => undefined): Promise<void> {
    const now = this.#now();
    this.#keys.take(keys, now);
    this.#bytes.take(bytes, now);
    for (;;) {
      const t = this.#now();
      const wait = Math.max(this.#keys.wait(t), this.#bytes.wait(t));
      if (wait <= 0) return;
      check();
      await this.#sleep(Math.min(wait, 100));
    }
  }
}

/** What a copier needs. */
export interface CopierOptions {
  readonly source: ShardBackend;
  readonly target: ShardBackend;
  /** Whether a key belongs to the moving range. */
  readonly inRange: (key: Buffer) => boolean;
  readonly throttle: CopyThrottle;
  /** Keys per batch (default 500, as Codis). */
  readonly batchKeys?: number;
  /** Bytes a batch aims to stay under, once values' sizes are known (default 8 MiB). */
  readonly batchBytes?: number;
  /** Batches in flight at once (default 4): dumps of the next overlap restores of the last. */
  readonly window?: number;
  /** Keys a scan step asks for (SCAN COUNT, default 2000); the scan runs ahead of the copy. */
  readonly scanKeys?: number;
  /** Monotonic ms, for aging TTLs. */
  readonly now?: () => number;
}

/** Running totals of a copier. */
export interface CopyCounters {
  /** Keys written to the target by the bulk copy. */
  keysCopied: number;
  bytesCopied: number;
  /** Keys re-copied by catch-up and repair (writes or deletes). */
  keysResynced: number;
  /** Keys seen by the bulk copy's scan, in the range or not (for the ETA's estimate). */
  keysScanned: number;
  /** Keys the bulk copy's scan found in the range. */
  keysInRange: number;
}

/** Copies a range, re-copies keys, clears a range. */
export class RangeCopier {
  readonly counters: CopyCounters = {
    keysCopied: 0,
    bytesCopied: 0,
    keysResynced: 0,
    keysScanned: 0,
    keysInRange: 0,
  };
  readonly #o: Required<CopierOptions>;
  /** A moving estimate of a key's dump size, which sizes batches; null until a batch is dumped. */
  #bytesPerKey: number | null = null;
  /**
   * Keys the next batch may hold at most: 8 at first, doubled by each batch
   * dumped, so the first batches, sent before any size is known, are small
   * (8 large values, not 500) and small keys reach full batches in 6 steps.
   */
  #ramp = 8;

  constructor(options: CopierOptions) {
    this.#o = {
      batchKeys: 500,
      batchBytes: 8 * 1024 * 1024,
      window: 4,
      scanKeys: 2_000,
      now: () => performance.now(),
      ...options,
    };
  }

  /**
   * Copies every key of the range on the source (as the scan finds them) to
   * the target. The scan runs ahead on its own, a few batches' worth, so its
   * round trips (queued at the source behind the copy's own dumps) are not
   * waited for between batches: with the scan in line, a loaded box spent
   * half the copy's time waiting for SCAN replies (bench:move:profile).
   */
  async copyAll(check: () => void): Promise<void> {
    const { source, inRange } = this.#o;
    const c = this.counters;
    const accept = (key: Buffer): boolean => {
      c.keysScanned++;
      if (!inRange(key)) return false;
      c.keysInRange++;
      return true;
    };
    await this.#scanAhead(source, accept, async (next) => {
      await piped(this.#o.window, this.#o.batchBytes, async (pipe) => {
        for (;;) {
          const batch = await next(this.#batchSize());
          if (batch.length === 0) return;
          await this.#launch(pipe, batch, false, check);
        }
      });
    });
  }

  /**
   * Makes the target hold what the source holds now for `keys` (written, or
   * deleted when absent there). Unthrottled when `throttled` is false: the
   * final keys of a cutover, while requests wait.
   */
  async sync(keys: readonly Buffer[], check: () => void, throttled = true): Promise<void> {
    await piped(this.#o.window, this.#o.batchBytes, async (pipe) => {
      for (let i = 0; i < keys.length;) {
        const size = this.#batchSize();
        await this.#launch(pipe, keys.slice(i, i + size), true, check, throttled);
        i += size;
      }
    });
  }

  /** Deletes every key of the range on `node` (on its side connection); how many it found. */
  async clear(node: ShardBackend, check: () => void): Promise<number> {
    let n = 0;
    await this.#scanAhead(node, this.#o.inRange, async (next) => {
      await piped(this.#o.window, this.#o.batchBytes, async (pipe) => {
        for (;;) {
          const batch = await next(this.#throttledKeys(this.#o.batchKeys));
          if (batch.length === 0) return;
          check();
          await this.#o.throttle.take(batch.length, 0, check);
          n += batch.length;
          await pipe.add(node.restoreKeys(batch.map((key) => ({ key, dump: null }))));
        }
      });
    });
    return n;
  }

  /**
   * Runs `body` with `next(n)`, which gives the next (up to) `n` keys of
   * `node` that `accept` takes, [] once the scan has ended, while the scan
   * keeps a few batches ahead. A scan failure is thrown by `next`; when
   * `body` ends early the scan stops.
   */
  async #scanAhead(
    node: ShardBackend,
    accept: (key: Buffer) => boolean,
    body: (next: (n: number) => Promise<Buffer[]>) => Promise<void>,
  ): Promise<void> {
    const ahead = new KeyQueue(Math.max(this.#o.scanKeys, this.#o.batchKeys) * (this.#o.window + 1));
    const scan = (async () => {
      try {
        for await (const keys of node.scanKeys(accept, this.#o.scanKeys)) {
          if (!(await ahead.put(keys))) return;
          // An embedded node scans in this process: a turn between steps lets its requests through.
          await new Promise((resolve) => setImmediate(resolve));
        }
        ahead.end(null);
      } catch (err) {
        ahead.end(err);
      }
    })();
    try {
      await body((n) => ahead.take(n));
    } finally {
      ahead.close();
      await scan;
    }
  }

  async #launch(
    pipe: Pipeline,
    keys: Buffer[],
    resync: boolean,
    check: () => void,
    throttled = true,
  ): Promise<void> {
    check();
    if (throttled) await this.#o.throttle.take(keys.length, 0, check);
    // Until a size is known a batch weighs a whole batchBytes: it goes alone.
    const weight = this.#bytesPerKey === null ? this.#o.batchBytes : keys.length * this.#bytesPerKey;
    await pipe.add(this.#copyBatch(keys, resync, check, throttled), weight);
  }

  async #copyBatch(keys: Buffer[], resync: boolean, check: () => void, throttled: boolean): Promise<void> {
    const { source, target, throttle, now } = this.#o;
    const sent = now();
    const dumps = await source.dumpKeys(keys);
    let bytes = 0;
    let found = 0;
    for (const d of dumps) {
      if (d === null) continue;
      bytes += d.payload.length;
      found++;
    }
    // Sizes are known from here: the batches launched while this one restores already use them.
    if (found > 0) {
      const mean = Math.max(1, bytes / found);
      this.#bytesPerKey = this.#bytesPerKey === null ? mean : (this.#bytesPerKey * 3 + mean) / 4;
      this.#ramp = Math.min(this.#o.batchKeys, this.#ramp * 2);
    }
    if (bytes > 0 && throttled) await throttle.take(0, bytes, check);
    const elapsed = Math.ceil(now() - sent);
    const writes: KeyWrite[] = keys.map((key, i) => ({ key, dump: aged(dumps[i] ?? null, elapsed) }));
    await target.restoreKeys(writes);
    const c = this.counters;
    if (resync) c.keysResynced += keys.length;
    else {
      c.keysCopied += keys.length;
      c.bytesCopied += bytes;
    }
  }

  /**
   * Keys per batch: `batchKeys` (after the first few, see #ramp), fewer when
   * values are large, so a batch stays near `batchBytes` (or 100 ms of a
   * bytes/s limit), and fewer under a low keys/s limit (see #throttledKeys).
   */
  #batchSize(): number {
    const { batchBytes } = this.#o;
    const { maxBytesPerSec } = this.#o.throttle.limits;
    const bytes = Math.min(batchBytes, maxBytesPerSec === null ? Infinity : maxBytesPerSec / 10);
    const perKey = this.#bytesPerKey;
    return this.#throttledKeys(
      perKey === null ? this.#ramp : Math.min(this.#ramp, Math.floor(bytes / perKey)),
    );
  }

  /**
   * At most `keys`, and at most 100 ms of the keys/s limit in force (read per
   * batch, so a new limit applies from the next one): a low limit then sends
   * small batches evenly instead of a burst of 500 and a long wait, which the
   * bucket would allow by going into debt.
   */
  #throttledKeys(keys: number): number {
    const { maxKeysPerSec } = this.#o.throttle.limits;
    const cap = maxKeysPerSec === null ? keys : Math.min(keys, Math.floor(maxKeysPerSec / 10));
    return Math.max(1, cap);
  }
}

/** A dump with its TTL aged by `elapsed` ms; null (delete) when it has run out meanwhile. */
export function aged(dump: KeyDump | null, elapsed: number): KeyDump | null {
  if (dump === null || dump.pttl === -1) return dump;
  const left = dump.pttl - elapsed;
  return left >= 1 ? { payload: dump.payload, pttl: left } : null;
}

/** Runs `body` over a pipeline and drains it, also when `body` throws (a stop or a failed batch). */
async function piped(
  window: number,
  maxWeight: number,
  body: (pipe: Pipeline) => Promise<void>,
): Promise<void> {
  const pipe = new Pipeline(window, maxWeight);
  try {
    await body(pipe);
  } catch (err) {
    await pipe.drain().catch(() => undefined);
    throw err;
  }
  await pipe.drain();
}

/**
 * Up to `window` operations at once, and no new one while those in flight
 * weigh (the bytes copy batches are expected to carry) over half of
 * `maxWeight`: small keys fill the window, batches of large values (each
 * sized near `maxWeight`) go one at a time, so the node is not asked for several of them back to back while its
 * other clients wait. The first failure is thrown by the next add or by
 * drain, once nothing is in flight any more: a batch still running could
 * otherwise write to the target after a rollback cleared it.
 */
class Pipeline {
  readonly #window: number;
  readonly #maxWeight: number;
  readonly #inFlight = new Set<Promise<void>>();
  #weight = 0;
  #error: unknown = null;

  constructor(window: number, maxWeight = Infinity) {
    this.#window = Math.max(1, window);
    this.#maxWeight = maxWeight;
  }

  async add(op: Promise<void>, weight = 0): Promise<void> {
    const settled = (): void => {
      this.#inFlight.delete(tracked);
      this.#weight -= weight;
    };
    const tracked = op.then(settled, (err: unknown) => {
      settled();
      this.#error ??= err;
    });
    this.#inFlight.add(tracked);
    this.#weight += weight;
    while (
      this.#error === null &&
      (this.#inFlight.size >= this.#window || (this.#weight > this.#maxWeight / 2 && this.#inFlight.size > 0))
    )
      await Promise.race(this.#inFlight);
    if (this.#error !== null) await this.drain();
  }

  async drain(): Promise<void> {
    await Promise.all(this.#inFlight);
    const err = this.#error;
    if (err !== null) throw err instanceof Error ? err : new Error(JSON.stringify(err));
  }
}

/**
 * The keys a scan has found and the copy not yet taken, bounded: one
 * producer (the scan, which waits in `put` while it is full) and one
 * consumer (`take`).
 */
class KeyQueue {
  readonly #limit: number;
  #keys: Buffer[] = [];
  #head = 0;
  /** undefined while the scan runs; null once it ended; the error it failed with. */
  #ended: unknown = undefined;
  #closed = false;
  #wake: (() => void) | null = null;

  constructor(limit: number) {
    this.#limit = limit;
  }

  get #size(): number {
    return this.#keys.length - this.#head;
  }

  /** Adds keys, then waits while the queue is full; false once the consumer is gone (stop scanning). */
  async put(keys: readonly Buffer[]): Promise<boolean> {
    if (this.#closed) return false;
    if (this.#head > 0 && this.#head >= this.#keys.length / 2) {
      this.#keys = this.#keys.slice(this.#head);
      this.#head = 0;
    }
    for (const k of keys) this.#keys.push(k);
    this.#signal();
    while (!this.#closed && this.#size >= this.#limit) await this.#wait();
    return !this.#closed;
  }

  /** The scan ended: `err` null when it found every key, else why it failed. */
  end(err: unknown): void {
    this.#ended = err;
    this.#signal();
  }

  /** The consumer is gone. */
  close(): void {
    this.#closed = true;
    this.#signal();
  }

  /** Up to `n` keys, fewer only at the end of the scan; [] after it; throws the scan's failure. */
  async take(n: number): Promise<Buffer[]> {
    while (this.#size < n && this.#ended === undefined) await this.#wait();
    if (this.#ended !== undefined && this.#ended !== null) {
      const err = this.#ended;
      throw err instanceof Error ? err : new Error(JSON.stringify(err));
    }
    const out = this.#keys.slice(this.#head, this.#head + n);
    this.#head += out.length;
    this.#signal();
    return out;
  }

  #wait(): Promise<void> {
    return new Promise((resolve) => {
      this.#wake = resolve;
    });
  }

  #signal(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }
}
