/**
 * Adaptive sampling for the heavy-hitter sketches: above a budget of sketch
 * updates per second, each request is kept with probability 1/s and counted
 * with weight s, so every sketch estimate stays an unbiased estimate of the
 * true count (E[weight · kept] = s · 1/s = 1 per request).
 *
 * Keep or skip is a Bernoulli trial per request, drawn as geometric gaps (one
 * random number per kept request, not per request). Not "every s-th request":
 * a client cycling through s keys would alias onto one of them.
 *
 * Choice of s: a power of two, the smallest with (last second's requests / s)
 * ≤ budget; and when a burst within a second has used 1.25 × the budget, s
 * quadruples on the spot, then again after each further budget/2 kept. So
 * sketch work stays ≤ `budget` updates per second at a steady rate (the
 * factor is not raised by mere noise around it: the margin is many standard
 * deviations of the kept count), and a burst r times last second's rate costs
 * about budget·(1.25 + log2(r)/4). The threshold used to be twice the budget
 * with doubling steps, 2·budget·(1 + log2(r)/2): at the start of a burst from
 * idle (r ≈ 16 at 250 k req/s) that kept 6× the budget in its first second,
 * most of the sketches' cost in `npm run bench:telemetry`. Changing s starts a new gap
 * under the new probability, which keeps every trial independent with the
 * probability in force.
 *
 * Randomness is a seeded mulberry32 kept inside the sampler rather than an
 * injected `() => number`: a float returned through a call V8 did not inline is
 * boxed, i.e. an allocation per kept request. Tests inject the seed.
 *
 * Sampling error: a key with n requests has estimate variance n·(s − 1), i.e.
 * a relative standard error of √((s − 1)/n) — 1 % for n = 10^5 at s = 16.
 */
import { ConfigError } from '../../errors.js';

/** The largest sampling factor (one request in 2^20). */
const MAX_FACTOR = 1 << 20;

/** Sampling state; one per router. */
export class AdaptiveSampler {
  /** Sketch updates per second above which sampling starts (Infinity: never). */
  readonly budget: number;
  #state: number;
  /** Current factor s: 1 in s requests kept, with weight s. */
  factor = 1;
  #logKeep = 0;
  #countdown = 1;
  /** Requests offered and kept in the current second. */
  offered = 0;
  kept = 0;

  constructor(budget = Infinity, seed = Math.floor(Math.random() * 2 ** 32)) {
    if (!(budget > 0)) throw new ConfigError(`sketch.budget must be > 0, got ${budget}`);
    this.budget = budget;
    this.#state = seed | 0;
  }

  /** Hot path: the weight to count this request with, or 0 to skip it. Allocation-free. */
  sample(): number {
    this.offered++;
    if (--this.#countdown > 0) return 0;
    const weight = this.factor;
    if (++this.kept >= 1.25 * this.budget && this.factor < MAX_FACTOR) {
      // A burst (more than the second's budget used already): quarter the
      // rate now, and again after another half budget.
      this.kept = 0.75 * this.budget;
      this.#setFactor(Math.min(this.factor * 4, MAX_FACTOR));
    } else {
      this.#countdown = weight === 1 ? 1 : this.#gap();
    }
    return weight;
  }

  /** A new second starts: choose s from the second that ended. */
  nextSecond(): void {
    const rate = this.offered;
    this.offered = 0;
    this.kept = 0;
    let s = 1;
    while (rate / s > this.budget && s < MAX_FACTOR) s *= 2;
    if (s !== this.factor) this.#setFactor(s);
  }

  #setFactor(s: number): void {
    this.factor = s;
    this.#logKeep = Math.log1p(-1 / s);
    this.#countdown = s === 1 ? 1 : this.#gap();
  }

  // Trials up to and including the next kept one: geometric with p = 1/s.
  #gap(): number {
    // mulberry32 (Tommy Ettinger, public domain): u uniform in [0, 1).
    const a = (this.#state = (this.#state + 0x6d2b79f5) | 0);
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    const u = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    return 1 + Math.floor(Math.log(1 - u) / this.#logKeep);
  }
}
