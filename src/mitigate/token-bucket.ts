/**
 * A token bucket: `opsPerSec` tokens a second, holding at most `burst`, one
 * token per request. A request that finds no token is told how long until
 * there is one — the retry-after of the throttled reply — and takes nothing,
 * so a client that waits exactly that long gets through.
 *
 * Credit is kept in thousandths of a token scaled by the clock's
 * milliseconds (`elapsedMs × opsPerSec`, a token is 1000 of them), so with
 * whole-number rates and a millisecond clock every value is an exact
 * integer: tests on a manual clock assert exact retry-afters.
 *
 * Refilled lazily on each call (no timer), so an idle bucket costs nothing.
 */
import type { Clock } from '../clock.js';

/** A rate limit: `opsPerSec` sustained, up to `burst` at once. */
export interface RateLimit {
  readonly opsPerSec: number;
  /** Requests that may arrive at once after a quiet spell (the bucket's size). */
  readonly burst: number;
}

const TOKEN = 1000;

/**
 * One rate limit on an injected clock.
 *
 * @example
 * const b = new TokenBucket({ opsPerSec: 10, burst: 2 }, clock);
 * b.take(); b.take(); // 0, 0
 * b.take(); // 100: the next token is 100 ms away
 */
export class TokenBucket {
  readonly #clock: Clock;
  #rate = 0;
  #capacity = 0;
  #credit = 0;
  #last: number;

  /** Starts full: a new limit admits a burst at once. */
  constructor(limit: RateLimit, clock: Clock) {
    this.#clock = clock;
    this.#last = clock.now();
    this.configure(limit);
    this.#credit = this.#capacity;
  }

  /** The limit in force. */
  get limit(): RateLimit {
    return { opsPerSec: this.#rate, burst: this.#capacity / TOKEN };
  }

  /**
   * Changes the limit, keeping the credit earned so far (capped at the new
   * burst): tightening a flooding client's limit must not hand it a fresh
   * burst.
   */
  configure(limit: RateLimit): void {
    checkLimit(limit);
    this.#refill();
    this.#rate = limit.opsPerSec;
    this.#capacity = limit.burst * TOKEN;
    if (this.#credit > this.#capacity) this.#credit = this.#capacity;
  }

  /** Takes a token: 0 when one was there, else the ms until one will be (nothing taken). */
  take(): number {
    this.#refill();
    if (this.#credit >= TOKEN) {
      this.#credit -= TOKEN;
      return 0;
    }
    return this.#until();
  }

  /** What `take()` would answer, without taking. */
  wait(): number {
    this.#refill();
    return this.#credit >= TOKEN ? 0 : this.#until();
  }

  /** Tokens available now (fractional). */
  tokens(): number {
    this.#refill();
    return this.#credit / TOKEN;
  }

  #until(): number {
    return Math.ceil((TOKEN - this.#credit) / this.#rate);
  }

  #refill(): void {
    const now = this.#clock.now();
    const elapsed = now - this.#last;
    this.#last = now;
    // A clock that steps back earns nothing (and does not owe either).
    if (elapsed <= 0) return;
    this.#credit = Math.min(this.#capacity, this.#credit + elapsed * this.#rate);
  }
}

/**
 * A limit whose burst may be left out: the burst is then one second of the
 * rate, and never under one request.
 */
export function withBurst(limit: {
  readonly opsPerSec: number;
  readonly burst?: number | undefined;
}): RateLimit {
  return { opsPerSec: limit.opsPerSec, burst: limit.burst ?? Math.max(1, limit.opsPerSec) };
}

/** Throws a RangeError naming the field when a limit cannot work. */
export function checkLimit(limit: RateLimit): void {
  if (!(Number.isFinite(limit.opsPerSec) && limit.opsPerSec > 0))
    throw new RangeError(`opsPerSec must be a positive number, got ${limit.opsPerSec}`);
  // Under one token a bucket could never admit anything.
  if (!(Number.isFinite(limit.burst) && limit.burst >= 1))
    throw new RangeError(`burst must be a number >= 1, got ${limit.burst}`);
}
