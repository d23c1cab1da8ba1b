/**
 * Key distributions: which key index the next request touches. Each is a
 * small object with `next(rng, elapsedMs)`; the elapsed time lets a
 * distribution change during a run (a celebrity key that spikes at T and
 * calms down at T2, a phased workload).
 *
 * Zipf deserves a note. YCSB's ZipfianGenerator uses Gray et al.'s
 * closed-form approximation ("Quickly generating billion-record synthetic
 * databases", SIGMOD '94). Measured against the exact distribution it gives
 * rank 3 about 17 % more traffic than it should (θ = 0.99 and 1.2, 1000
 * keys), enough to fail a chi-square test at 200k draws, and YCSB's
 * ScrambledZipfian then hashes ranks modulo the key count, which merges some
 * ranks and leaves other keys unused. Here the default sampler is exact —
 * Hörmann & Derflinger's rejection-inversion ("Rejection-inversion to
 * generate variates from monotone discrete distributions", 1996; the algorithm
 * of Apache Commons RNG's RejectionInversionZipfSampler): O(1) per draw, no
 * O(n) zeta sum, any θ > 0 including 1 — and the scrambling is a bijection
 * (a Feistel network over FNV-1a, cycle-walked into [0, n)), so every key
 * keeps exactly its rank's probability. `sampler: 'ycsb'` keeps Gray's
 * formula for runs that must match YCSB's numbers.
 */
import { ConfigError } from '../errors.js';
import type { Rng } from './random.js';

/** Picks the key index (0-based) of the next request. */
export interface KeyDistribution {
  /** Key indexes drawn are in [0, keyCount), except `sequential`, which counts on past it. */
  readonly keyCount: number;
  next(rng: Rng, elapsedMs: number): number;
}

/** A distribution as JSON, for workload files and scenario definitions. */
export type DistributionSpec =
  | { readonly kind: 'uniform' }
  | {
      readonly kind: 'zipf';
      /** The exponent: P(rank k) ∝ 1 / k^θ. YCSB's default is 0.99. */
      readonly theta: number;
      /** Spread the hot ranks over the key space (default true); false keeps rank r at key index r. */
      readonly scrambled?: boolean;
      /** `exact` (default) or YCSB's approximation. */
      readonly sampler?: 'exact' | 'ycsb';
    }
  | {
      readonly kind: 'hotspot';
      /** Share of the requests (0..1) that go to the hot keys. */
      readonly trafficShare: number;
      /** Share of the keys (0..1) that are hot: key indexes [0, ceil(keyShare × keys)). */
      readonly keyShare: number;
    }
  | {
      readonly kind: 'celebrity';
      /** The key index that becomes a celebrity. */
      readonly key: number;
      /** Share of all requests (0..1) sent to it while the spike lasts, on top of what `base` gives it. */
      readonly share: number;
      /** The spike starts at this many ms into the run ... */
      readonly fromMs: number;
      /** ... and ends here; null or absent: it never ends. */
      readonly toMs?: number | null;
      /** The traffic outside the spike; default uniform. */
      readonly base?: DistributionSpec;
    }
  | {
      readonly kind: 'sequential';
      /** The first id; each draw takes the next one (time-ordered inserts). Default 0. */
      readonly start?: number;
    }
  | {
      readonly kind: 'phased';
      /** Each phase applies from `fromMs` until the next one's; the first starts at 0. */
      readonly phases: readonly { readonly fromMs: number; readonly distribution: DistributionSpec }[];
    };

/** Uniform over [0, keys). */
export function uniform(keys: number): KeyDistribution {
  return { keyCount: keys, next: (rng) => rng.nextInt(keys) };
}

/**
 * Zipf(θ) over `keys` keys: rank r (0-based) has probability ∝ 1/(r+1)^θ.
 * Scrambled by default (rank r lives at key index `scrambleIndex(r, keys)`).
 *
 * @example
 * const d = zipf(1_000_000, 1.2);
 * const key = d.next(rng, 0);
 */
export function zipf(
  keys: number,
  theta: number,
  opts: { scrambled?: boolean; sampler?: 'exact' | 'ycsb' } = {},
): KeyDistribution {
  const rank = opts.sampler === 'ycsb' ? ycsbZipfRanks(keys, theta) : exactZipfRanks(keys, theta);
  if (opts.scrambled === false) return { keyCount: keys, next: rank };
  const scramble = feistel(keys);
  return { keyCount: keys, next: (rng) => scramble(rank(rng)) };
}

/** The key index that holds Zipf rank `rank` (0 = the hottest) under scrambling; a bijection on [0, keys). */
export function scrambleIndex(rank: number, keys: number): number {
  return feistel(keys)(rank);
}

/** `trafficShare` of the draws go uniformly to the first `ceil(keyShare × keys)` keys, the rest to the others. */
export function hotspot(keys: number, trafficShare: number, keyShare: number): KeyDistribution {
  const hot = Math.min(keys, Math.max(1, Math.ceil(keyShare * keys)));
  const cold = keys - hot;
  if (cold === 0) return uniform(keys);
  return {
    keyCount: keys,
    next: (rng) => (rng.nextFloat() < trafficShare ? rng.nextInt(hot) : hot + rng.nextInt(cold)),
  };
}

/**
 * `base`, except that from `fromMs` until `toMs` a share of all draws goes to
 * key index `key`: the celebrity then takes `share + (1 − share) × p_base(key)`.
 */
export function celebrity(
  base: KeyDistribution,
  key: number,
  share: number,
  fromMs: number,
  toMs: number | null = null,
): KeyDistribution {
  const until = toMs ?? Infinity;
  return {
    keyCount: base.keyCount,
    next: (rng, elapsedMs) => {
      if (elapsedMs >= fromMs && elapsedMs < until && rng.nextFloat() < share) return key;
      return base.next(rng, elapsedMs);
    },
  };
}

/** Monotonically increasing ids from `start`: time-ordered inserts, which make hot ranges under range partitioning. */
export function sequential(keys: number, start = 0): KeyDistribution {
  let id = start;
  return { keyCount: keys, next: () => id++ };
}

/** Switches between distributions at given times; `phases` sorted by `fromMs`, the first at 0. */
export function phased(
  phases: readonly { fromMs: number; distribution: KeyDistribution }[],
): KeyDistribution {
  const first = phases[0];
  if (first === undefined) throw new ConfigError('phased distribution needs at least one phase');
  let current = 0;
  return {
    keyCount: Math.max(...phases.map((p) => p.distribution.keyCount)),
    next: (rng, elapsedMs) => {
      // Time moves forward, so the current phase only ever advances; a draw
      // from the past (rare: closed loop, out of order) searches from the start.
      if (elapsedMs < phases[current]!.fromMs) current = 0;
      while (current + 1 < phases.length && elapsedMs >= phases[current + 1]!.fromMs) current++;
      return phases[current]!.distribution.next(rng, elapsedMs);
    },
  };
}

/**
 * Builds a distribution from its JSON form; throws ConfigError naming the
 * field and the accepted values when the spec is invalid.
 *
 * @example
 * compileDistribution({ kind: 'zipf', theta: 1.2 }, 100_000);
 */
export function compileDistribution(
  spec: DistributionSpec,
  keys: number,
  field = 'distribution',
): KeyDistribution {
  checkInt(`${field}: keys`, keys, 1, 2 ** 32);
  switch (spec.kind) {
    case 'uniform':
      return uniform(keys);
    case 'zipf': {
      if (!(spec.theta > 0 && spec.theta <= 10))
        throw new ConfigError(`${field}.theta must be a number in (0, 10], got ${spec.theta}`);
      const sampler = spec.sampler ?? 'exact';
      if (sampler !== 'exact' && sampler !== 'ycsb')
        throw new ConfigError(`${field}.sampler must be "exact" or "ycsb", got ${JSON.stringify(sampler)}`);
      if (sampler === 'ycsb' && (spec.theta === 1 || keys > 1e8))
        throw new ConfigError(`${field}: the ycsb sampler needs theta ≠ 1 and at most 1e8 keys`);
      return zipf(keys, spec.theta, { scrambled: spec.scrambled !== false, sampler });
    }
    case 'hotspot':
      checkShare(`${field}.trafficShare`, spec.trafficShare);
      checkShare(`${field}.keyShare`, spec.keyShare);
      return hotspot(keys, spec.trafficShare, spec.keyShare);
    case 'celebrity': {
      checkInt(`${field}.key`, spec.key, 0, keys - 1);
      checkShare(`${field}.share`, spec.share);
      checkNumber(`${field}.fromMs`, spec.fromMs, 0);
      const toMs = spec.toMs ?? null;
      if (toMs !== null && !(toMs > spec.fromMs))
        throw new ConfigError(`${field}.toMs must be after fromMs (${spec.fromMs}), got ${toMs}`);
      const base = compileDistribution(spec.base ?? { kind: 'uniform' }, keys, `${field}.base`);
      return celebrity(base, spec.key, spec.share, spec.fromMs, toMs);
    }
    case 'sequential': {
      const start = spec.start ?? 0;
      checkInt(`${field}.start`, start, 0, Number.MAX_SAFE_INTEGER);
      return sequential(keys, start);
    }
    case 'phased': {
      const phases = spec.phases.map((p, i) => {
        checkNumber(`${field}.phases[${i}].fromMs`, p.fromMs, 0);
        return {
          fromMs: p.fromMs,
          distribution: compileDistribution(p.distribution, keys, `${field}.phases[${i}]`),
        };
      });
      if (phases[0]?.fromMs !== 0)
        throw new ConfigError(`${field}.phases must start with a phase at fromMs 0`);
      for (let i = 1; i < phases.length; i++) {
        if (phases[i]!.fromMs <= phases[i - 1]!.fromMs)
          throw new ConfigError(`${field}.phases must be sorted by fromMs, strictly increasing`);
      }
      return phased(phases);
    }
    default:
      throw new ConfigError(
        `${field}.kind must be one of uniform, zipf, hotspot, celebrity, sequential, phased; got ${JSON.stringify((spec as { kind: unknown }).kind)}`,
      );
  }
}

/**
 * Parses the command-line form: `uniform`, `zipf:1.2` (add `,unscrambled` or
 * `,ycsb`), `hotspot:0.9,0.01` (traffic share, key share),
 * `celebrity:KEY_INDEX,SHARE,T,T2` (T and T2 in seconds; T2 optional),
 * `sequential` or `sequential:START`.
 *
 * @example parseDistribution('hotspot:0.9,0.01'); // { kind: 'hotspot', trafficShare: 0.9, keyShare: 0.01 }
 */
export function parseDistribution(text: string): DistributionSpec {
  const colon = text.indexOf(':');
  const name = colon === -1 ? text : text.slice(0, colon);
  const args = colon === -1 ? [] : text.slice(colon + 1).split(',');
  const num = (i: number, what: string): number => {
    const raw = args[i];
    const v = raw === undefined || raw.trim() === '' ? NaN : Number(raw);
    if (!Number.isFinite(v))
      throw new ConfigError(`--dist ${name}: ${what} must be a number, got ${JSON.stringify(raw ?? '')}`);
    return v;
  };
  const arity = (min: number, max: number, usage: string): void => {
    if (args.length < min || args.length > max)
      throw new ConfigError(`--dist ${name} takes ${usage}, got ${JSON.stringify(text)}`);
  };
  switch (name) {
    case 'uniform':
      arity(0, 0, 'no arguments');
      return { kind: 'uniform' };
    case 'zipf': {
      arity(1, 2, 'zipf:THETA[,unscrambled|,ycsb]');
      const flag = args[1];
      if (flag !== undefined && flag !== 'unscrambled' && flag !== 'ycsb')
        throw new ConfigError(
          `--dist zipf: the option after THETA must be unscrambled or ycsb, got ${JSON.stringify(flag)}`,
        );
      return {
        kind: 'zipf',
        theta: num(0, 'THETA'),
        ...(flag === 'unscrambled' ? { scrambled: false } : {}),
        ...(flag === 'ycsb' ? { sampler: 'ycsb' as const } : {}),
      };
    }
    case 'hotspot':
      arity(2, 2, 'hotspot:TRAFFIC_SHARE,KEY_SHARE (e.g. hotspot:0.9,0.01)');
      return { kind: 'hotspot', trafficShare: num(0, 'TRAFFIC_SHARE'), keyShare: num(1, 'KEY_SHARE') };
    case 'celebrity':
      arity(3, 4, 'celebrity:KEY_INDEX,SHARE,T[,T2] (T and T2 in seconds)');
      return {
        kind: 'celebrity',
        key: num(0, 'KEY_INDEX'),
        share: num(1, 'SHARE'),
        fromMs: num(2, 'T') * 1000,
        toMs: args.length > 3 ? num(3, 'T2') * 1000 : null,
      };
    case 'sequential':
      arity(0, 1, 'sequential[:START]');
      return args.length === 0 ? { kind: 'sequential' } : { kind: 'sequential', start: num(0, 'START') };
    default:
      throw new ConfigError(
        `--dist must be uniform, zipf:THETA, hotspot:TRAFFIC,KEYS, celebrity:KEY,SHARE,T,T2 or sequential; got ${JSON.stringify(text)}`,
      );
  }
}

// ---------------------------------------------------------------- Zipf samplers

/**
 * Rejection-inversion sampling of ranks 0..n-1 with P(r) ∝ (r+1)^-θ: exact,
 * O(1) expected (the acceptance rate is above 90 % for every θ and n).
 */
function exactZipfRanks(n: number, theta: number): (rng: Rng) => number {
  const h = (x: number): number => Math.exp(-theta * Math.log(x));
  const hIntegral = (x: number): number => {
    const logX = Math.log(x);
    return helper2((1 - theta) * logX) * logX;
  };
  const hIntegralInverse = (x: number): number => {
    let t = x * (1 - theta);
    if (t < -1) t = -1; // limits the result to ≥ 0 despite rounding
    return Math.exp(helper1(t) * x);
  };
  const hX1 = hIntegral(1.5) - 1;
  const hN = hIntegral(n + 0.5);
  const s = 2 - hIntegralInverse(hIntegral(2.5) - h(2));
  return (rng) => {
    for (;;) {
      const u = hN + rng.nextFloat() * (hX1 - hN);
      const x = hIntegralInverse(u);
      let k = Math.floor(x + 0.5);
      if (k < 1) k = 1;
      else if (k > n) k = n;
      if (k - x <= s || u >= hIntegral(k + 0.5) - h(k)) return k - 1;
    }
  };
}

/** log(1 + x) / x, accurate near 0. */
function helper1(x: number): number {
  return Math.abs(x) > 1e-8 ? Math.log1p(x) / x : 1 - x * (0.5 - x * (1 / 3 - 0.25 * x));
}

/** (exp(x) − 1) / x, accurate near 0. */
function helper2(x: number): number {
  return Math.abs(x) > 1e-8 ? Math.expm1(x) / x : 1 + x * 0.5 * (1 + (x / 3) * (1 + 0.25 * x));
}

/** YCSB's ZipfianGenerator.nextLong (Gray et al.); approximate beyond the first two ranks. */
function ycsbZipfRanks(n: number, theta: number): (rng: Rng) => number {
  let zetan = 0;
  for (let i = 1; i <= n; i++) zetan += Math.pow(i, -theta);
  const zeta2 = 1 + Math.pow(0.5, theta);
  const alpha = 1 / (1 - theta);
  const eta = (1 - Math.pow(2 / n, 1 - theta)) / (1 - zeta2 / zetan);
  const second = 1 + Math.pow(0.5, theta);
  return (rng) => {
    const u = rng.nextFloat();
    const uz = u * zetan;
    if (uz < 1) return 0;
    if (uz < second) return Math.min(1, n - 1);
    return Math.min(n - 1, Math.floor(n * Math.pow(eta * u - eta + 1, alpha)));
  };
}

// ---------------------------------------------------------------- scrambling

const FEISTEL_ROUNDS = 4;

/**
 * A fixed pseudo-random permutation of [0, n): a balanced Feistel network
 * over the smallest even number of bits covering n, with FNV-1a as the round
 * function, cycle-walked until the value falls inside [0, n). The domain is
 * under 4n, so a call takes under four walks on average.
 */
function feistel(n: number): (x: number) => number {
  let bits = 2;
  while (2 ** bits < n) bits += 2;
  const half = bits / 2;
  const mask = 2 ** half - 1;
  const permute = (x: number): number => {
    let left = Math.floor(x / 2 ** half);
    let right = x & mask;
    for (let round = 0; round < FEISTEL_ROUNDS; round++) {
      let h = 0x811c9dc5;
      h = Math.imul(h ^ (right & 0xff), 0x01000193);
      h = Math.imul(h ^ (right >>> 8), 0x01000193);
      h = Math.imul(h ^ round, 0x01000193);
      const next = (left ^ h) & mask;
      left = right;
      right = next;
    }
    return left * 2 ** half + right;
  };
  return (x) => {
    let y = permute(x);
    while (y >= n) y = permute(y);
    return y;
  };
}

function checkShare(field: string, v: number): void {
  if (!(typeof v === 'number' && v >= 0 && v <= 1))
    throw new ConfigError(`${field} must be a share between 0 and 1, got ${String(v)}`);
}

function checkNumber(field: string, v: number, min: number): void {
  if (!(typeof v === 'number' && Number.isFinite(v) && v >= min))
    throw new ConfigError(`${field} must be a number ≥ ${min}, got ${String(v)}`);
}

function checkInt(field: string, v: number, min: number, max: number): void {
  if (!(Number.isSafeInteger(v) && v >= min && v <= max))
    throw new ConfigError(`${field} must be an integer in [${min}, ${max}], got ${String(v)}`);
}
