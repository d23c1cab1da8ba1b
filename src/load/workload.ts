/**
 * What a load run sends: the op mix, the keys (distribution and naming), value
 * sizes and tenants. `WorkloadSpec` is the JSON form a scenario file or the
 * CLI writes; `compileWorkload` turns it into the form the generator draws
 * from, one request at a time, all randomness from one seed.
 *
 * Key names: `<tenant>:<prefix><index>` with the index zero-padded (12 digits
 * by default, like redis-benchmark), so names sort in index order — which is
 * what makes sequential ids a hot *range* under range partitioning. INCR uses
 * its own names (`<tenant>:<counterPrefix><index>`): a counter cannot share a
 * key with SET's string values without turning every INCR on a written key
 * into a type error.
 */
import { ConfigError } from '../errors.js';
import { compileDistribution, type DistributionSpec, type KeyDistribution } from './distributions.js';
import { createRng, type Rng } from './random.js';

/** The commands a workload mixes. */
export const OPS = ['get', 'set', 'incr', 'mget', 'del'] as const;
/** One of the commands a workload mixes. */
export type OpName = (typeof OPS)[number];

/** A rate that changes at given times: `rate` requests/s from `fromMs` on. */
export interface RateStep {
  readonly fromMs: number;
  readonly rate: number;
}

/** Value sizes of SET, in bytes. */
export type ValueSizeSpec =
  | { readonly kind: 'fixed'; readonly bytes: number }
  | { readonly kind: 'uniform'; readonly min: number; readonly max: number }
  | {
      readonly kind: 'buckets';
      readonly buckets: readonly { readonly bytes: number; readonly weight: number }[];
    };

/** A tenant: its keys carry the prefix `<name>:`, and it has its own rate. */
export interface TenantSpec {
  readonly name: string;
  /** Requests/s (open loop) or relative weight (closed loop, or when the run sets a total rate). */
  readonly rate: number | readonly RateStep[];
  /** Overrides the workload's distribution for this tenant. */
  readonly distribution?: DistributionSpec;
  /** Overrides the workload's key count for this tenant. */
  readonly keys?: number;
  /** Overrides the workload's op mix for this tenant. */
  readonly ops?: Partial<Record<OpName, number>>;
}

/** A workload as JSON. Every field has a default. */
export interface WorkloadSpec {
  /** Distinct keys per tenant; default 100,000. */
  readonly keys?: number;
  /** Default `key:`. */
  readonly keyPrefix?: string;
  /** Names of INCR's keys; default `counter:`. */
  readonly counterPrefix?: string;
  /** Zero-pad indexes to this many digits (0: no padding); default 12. */
  readonly padWidth?: number;
  /** Default uniform. */
  readonly distribution?: DistributionSpec;
  /** Relative weights; default `{ get: 90, set: 10 }`. */
  readonly ops?: Partial<Record<OpName, number>>;
  /** Keys per MGET; default 10. */
  readonly mgetKeys?: number;
  /** Default a fixed 64 bytes. */
  readonly valueSize?: ValueSizeSpec;
  /** Default one unnamed tenant (no key prefix). */
  readonly tenants?: readonly TenantSpec[];
}

/** One request the generator will send. */
export interface LoadRequest {
  readonly op: OpName;
  /** Index into `CompiledWorkload.tenants`. */
  readonly tenant: number;
  /** Key names; one, or `mgetKeys` for MGET. */
  readonly keys: readonly string[];
  /** SET's value size in bytes, else 0. */
  readonly valueSize: number;
}

/** A segment of the rate schedule: from `fromMs`, `rate` requests/s, split over tenants by `weights`. */
export interface RateSegment {
  readonly fromMs: number;
  readonly rate: number;
  /** Requests scheduled before `fromMs` (the integral of the rate). */
  readonly before: number;
  /** Cumulative tenant weights, normalised to end at 1. */
  readonly cumulative: readonly number[];
}

/** A workload ready to draw from. */
export interface CompiledWorkload {
  readonly spec: WorkloadSpec;
  readonly tenants: readonly string[];
  /** Piecewise-constant rate schedule (open loop); a single segment of rate 0 when no rate is known. */
  readonly schedule: readonly RateSegment[];
  /** The largest SET value in bytes. */
  readonly maxValueSize: number;
  /** Draws the request sent at `elapsedMs` into the run. Call with non-decreasing times for speed. */
  next(elapsedMs: number): LoadRequest;
  /** Deterministic filler bytes for a value of `size` bytes (a view, do not modify). */
  filler(size: number): Buffer;
}

const DEFAULT_OPS: Partial<Record<OpName, number>> = { get: 90, set: 10 };
const TENANT_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const MAX_VALUE = 16 * 1024 * 1024;
const NAME_CACHE_MAX = 1 << 20;

interface CompiledTenant {
  readonly prefix: string;
  /** Key names built so far, by index (string keys, then counters): building one costs more than the rest of a draw. */
  readonly names: Array<string | undefined>;
  readonly counterNames: Array<string | undefined>;
  readonly dist: KeyDistribution;
  readonly ops: readonly OpName[];
  readonly opCumulative: readonly number[];
  readonly rng: Rng;
}

/**
 * Validates and compiles a workload. `rate` (open loop) overrides the sum of
 * the tenants' rates; tenant rates then only weigh tenants against each other.
 *
 * @example
 * const w = compileWorkload({ distribution: { kind: 'zipf', theta: 1.2 }, ops: { get: 9, set: 1 } }, { seed: 1 });
 * const req = w.next(0); // { op: 'get', tenant: 0, keys: ['key:000000031337'], valueSize: 0 }
 */
export function compileWorkload(
  spec: WorkloadSpec,
  opts: { seed: number; rate?: number | readonly RateStep[] },
): CompiledWorkload {
  const keys = spec.keys ?? 100_000;
  const keyPrefix = spec.keyPrefix ?? 'key:';
  const counterPrefix = spec.counterPrefix ?? 'counter:';
  const padWidth = spec.padWidth ?? 12;
  const mgetKeys = spec.mgetKeys ?? 10;
  int('workload.keys', keys, 1, 2 ** 32);
  int('workload.padWidth', padWidth, 0, 20);
  int('workload.mgetKeys', mgetKeys, 1, 10_000);
  const sizes = compileValueSize(spec.valueSize ?? { kind: 'fixed', bytes: 64 });
  const tenantSpecs: readonly TenantSpec[] = spec.tenants ?? [{ name: '', rate: 0 }];
  if (tenantSpecs.length === 0)
    throw new ConfigError('workload.tenants must name at least one tenant when given');
  const seen = new Set<string>();
  const tenants = tenantSpecs.map((t, i): CompiledTenant => {
    const field = `workload.tenants[${i}]`;
    if (spec.tenants !== undefined && !TENANT_NAME.test(t.name))
      throw new ConfigError(`${field}.name must match ${TENANT_NAME.source}, got ${JSON.stringify(t.name)}`);
    if (seen.has(t.name)) throw new ConfigError(`${field}.name ${JSON.stringify(t.name)} is given twice`);
    seen.add(t.name);
    const tenantKeys = t.keys ?? keys;
    int(`${field}.keys`, tenantKeys, 1, 2 ** 32);
    const [ops, opCumulative] = compileOps(
      t.ops ?? spec.ops ?? DEFAULT_OPS,
      t.ops ? `${field}.ops` : 'workload.ops',
    );
    const cached = tenantKeys <= NAME_CACHE_MAX ? tenantKeys : 0;
    return {
      prefix: t.name === '' ? '' : `${t.name}:`,
      names: new Array<string | undefined>(cached),
      counterNames: new Array<string | undefined>(cached),
      dist: compileDistribution(
        t.distribution ?? spec.distribution ?? { kind: 'uniform' },
        tenantKeys,
        t.distribution ? `${field}.distribution` : 'workload.distribution',
      ),
      ops,
      opCumulative,
      // One stream per tenant: adding a tenant leaves the others' requests as they were.
      rng: createRng(opts.seed, `tenant:${t.name}`),
    };
  });
  const schedule = compileSchedule(tenantSpecs, opts.rate);
  const pick = createRng(opts.seed, 'tenant-choice');
  const sizeRng = createRng(opts.seed, 'value-size');
  const filler = makeFiller(sizes.max, opts.seed);

  const pad = (index: number): string =>
    padWidth === 0 ? String(index) : String(index).padStart(padWidth, '0');
  const nameOf = (t: CompiledTenant, counter: boolean, index: number): string => {
    const cache = counter ? t.counterNames : t.names;
    if (index < cache.length)
      return (cache[index] ??= t.prefix + (counter ? counterPrefix : keyPrefix) + pad(index));
    return t.prefix + (counter ? counterPrefix : keyPrefix) + pad(index);
  };
  let segment = 0;
  const next = (elapsedMs: number): LoadRequest => {
    if (elapsedMs < schedule[segment]!.fromMs) segment = 0;
    while (segment + 1 < schedule.length && elapsedMs >= schedule[segment + 1]!.fromMs) segment++;
    const cumulative = schedule[segment]!.cumulative;
    let tenant = 0;
    if (cumulative.length > 1) {
      const u = pick.nextFloat();
      while (tenant < cumulative.length - 1 && u >= cumulative[tenant]!) tenant++;
    }
    const t = tenants[tenant]!;
    const rng = t.rng;
    const u = rng.nextFloat();
    let o = 0;
    while (o < t.ops.length - 1 && u >= t.opCumulative[o]!) o++;
    const op = t.ops[o]!;
    if (op === 'mget') {
      const names = new Array<string>(mgetKeys);
      for (let i = 0; i < mgetKeys; i++) names[i] = nameOf(t, false, t.dist.next(rng, elapsedMs));
      return { op, tenant, keys: names, valueSize: 0 };
    }
    const name = nameOf(t, op === 'incr', t.dist.next(rng, elapsedMs));
    return { op, tenant, keys: [name], valueSize: op === 'set' ? sizes.draw(sizeRng) : 0 };
  };
  return {
    spec,
    tenants: tenantSpecs.map((t) => t.name),
    schedule,
    maxValueSize: sizes.max,
    next,
    filler: (size) => filler.subarray(0, size),
  };
}

/** The requests/s the schedule asks for at `elapsedMs`. */
export function rateAt(schedule: readonly RateSegment[], elapsedMs: number): number {
  let rate = 0;
  for (const s of schedule) if (s.fromMs <= elapsedMs) rate = s.rate;
  return rate;
}

function compileOps(weights: Partial<Record<OpName, number>>, field: string): [OpName[], number[]] {
  const ops: OpName[] = [];
  const raw: number[] = [];
  for (const [name, w] of Object.entries(weights)) {
    if (!(OPS as readonly string[]).includes(name))
      throw new ConfigError(`${field}: unknown op ${JSON.stringify(name)}; ops are ${OPS.join(', ')}`);
    if (!(typeof w === 'number' && Number.isFinite(w) && w >= 0))
      throw new ConfigError(`${field}.${name} must be a weight ≥ 0, got ${String(w)}`);
    if (w > 0) {
      ops.push(name as OpName);
      raw.push(w);
    }
  }
  if (ops.length === 0) throw new ConfigError(`${field} must give at least one op a weight above 0`);
  return [ops, cumulate(raw)];
}

function cumulate(weights: readonly number[]): number[] {
  const total = weights.reduce((a, b) => a + b, 0);
  let sum = 0;
  const out = weights.map((w) => (sum += w / total));
  out[out.length - 1] = 1; // no rounding gap at the top
  return out;
}

function stepsOf(rate: number | readonly RateStep[], field: string): readonly RateStep[] {
  const steps = typeof rate === 'number' ? [{ fromMs: 0, rate }] : rate;
  if (steps.length === 0 || steps[0]!.fromMs !== 0)
    throw new ConfigError(`${field} must be a number or steps starting at fromMs 0`);
  steps.forEach((s, i) => {
    if (!(Number.isFinite(s.rate) && s.rate >= 0))
      throw new ConfigError(`${field}: rate must be ≥ 0, got ${s.rate}`);
    if (i > 0 && !(s.fromMs > steps[i - 1]!.fromMs))
      throw new ConfigError(`${field}: steps must be sorted by fromMs, strictly increasing`);
  });
  return steps;
}

function stepAt(steps: readonly RateStep[], ms: number): number {
  let rate = 0;
  for (const s of steps) if (s.fromMs <= ms) rate = s.rate;
  return rate;
}

/** Merges the tenants' steps (and the run's total rate) into segments. */
function compileSchedule(
  tenants: readonly TenantSpec[],
  total: number | readonly RateStep[] | undefined,
): RateSegment[] {
  const tenantSteps = tenants.map((t, i) => stepsOf(t.rate, `workload.tenants[${i}].rate`));
  const totalSteps = total === undefined ? undefined : stepsOf(total, 'rate');
  const bounds = new Set<number>([0]);
  for (const steps of [...tenantSteps, ...(totalSteps ? [totalSteps] : [])])
    for (const s of steps) bounds.add(s.fromMs);
  const segments: RateSegment[] = [];
  let before = 0;
  for (const fromMs of [...bounds].sort((a, b) => a - b)) {
    const prev = segments[segments.length - 1];
    if (prev !== undefined) before += (prev.rate * (fromMs - prev.fromMs)) / 1000;
    const rates = tenantSteps.map((s) => stepAt(s, fromMs));
    const sum = rates.reduce((a, b) => a + b, 0);
    const rate = totalSteps ? stepAt(totalSteps, fromMs) : sum;
    // No tenant weight at this time but a total rate: share it equally.
    const cumulative = cumulate(sum > 0 ? rates : rates.map(() => 1));
    segments.push({ fromMs, rate, before, cumulative });
  }
  return segments;
}

interface CompiledSizes {
  readonly max: number;
  draw(rng: Rng): number;
}

function compileValueSize(spec: ValueSizeSpec): CompiledSizes {
  switch (spec.kind) {
    case 'fixed':
      int('valueSize.bytes', spec.bytes, 0, MAX_VALUE);
      return { max: spec.bytes, draw: () => spec.bytes };
    case 'uniform': {
      int('valueSize.min', spec.min, 0, MAX_VALUE);
      int('valueSize.max', spec.max, spec.min, MAX_VALUE);
      const span = spec.max - spec.min + 1;
      return { max: spec.max, draw: (rng) => spec.min + rng.nextInt(span) };
    }
    case 'buckets': {
      if (spec.buckets.length === 0) throw new ConfigError('valueSize.buckets must not be empty');
      spec.buckets.forEach((b, i) => {
        int(`valueSize.buckets[${i}].bytes`, b.bytes, 0, MAX_VALUE);
        if (!(b.weight > 0))
          throw new ConfigError(`valueSize.buckets[${i}].weight must be > 0, got ${b.weight}`);
      });
      const bytes = spec.buckets.map((b) => b.bytes);
      const cumulative = cumulate(spec.buckets.map((b) => b.weight));
      return {
        max: Math.max(...bytes),
        draw: (rng) => {
          const u = rng.nextFloat();
          let i = 0;
          while (i < cumulative.length - 1 && u >= cumulative[i]!) i++;
          return bytes[i]!;
        },
      };
    }
    default:
      throw new ConfigError(
        `valueSize.kind must be fixed, uniform or buckets, got ${JSON.stringify((spec as { kind: unknown }).kind)}`,
      );
  }
}

/** Printable pseudo-random bytes (so values read well in redis-cli), the same for a seed. */
function makeFiller(size: number, seed: number): Buffer {
  const rng = createRng(seed, 'filler');
  const buf = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) buf[i] = 0x61 + (rng.nextU32() % 26);
  return buf;
}

function int(field: string, v: number, min: number, max: number): void {
  if (!(Number.isSafeInteger(v) && v >= min && v <= max))
    throw new ConfigError(`${field} must be an integer in [${min}, ${max}], got ${String(v)}`);
}

// ---------------------------------------------------------------- command-line forms

/**
 * `get=90,set=10` → `{ get: 90, set: 10 }`.
 *
 * @example parseOps('get=80,incr=20');
 */
export function parseOps(text: string): Partial<Record<OpName, number>> {
  const out: Partial<Record<OpName, number>> = {};
  for (const [name, value] of pairs(text, '--ops', 'get=90,set=10')) {
    if (!(OPS as readonly string[]).includes(name))
      throw new ConfigError(`--ops: unknown op ${JSON.stringify(name)}; ops are ${OPS.join(', ')}`);
    out[name as OpName] = value;
  }
  compileOps(out, '--ops');
  return out;
}

/**
 * `64` (fixed), `32-512` (uniform range) or `64:90,1024:10` (bytes:weight buckets).
 *
 * @example parseValueSize('32-512'); // { kind: 'uniform', min: 32, max: 512 }
 */
export function parseValueSize(text: string): ValueSizeSpec {
  const usage = `--value-size must be BYTES, MIN-MAX or BYTES:WEIGHT,...; got ${JSON.stringify(text)}`;
  let spec: ValueSizeSpec;
  if (/^\d+$/.test(text)) spec = { kind: 'fixed', bytes: Number(text) };
  else if (/^\d+-\d+$/.test(text)) {
    const [min, max] = text.split('-').map(Number) as [number, number];
    spec = { kind: 'uniform', min, max };
  } else if (/^\d+:\d+(\.\d+)?(,\d+:\d+(\.\d+)?)*$/.test(text)) {
    spec = {
      kind: 'buckets',
      buckets: text.split(',').map((b) => {
        const [bytes, weight] = b.split(':').map(Number) as [number, number];
        return { bytes, weight };
      }),
    };
  } else throw new ConfigError(usage);
  try {
    compileValueSize(spec);
  } catch (err) {
    throw new ConfigError(`--value-size: ${(err as Error).message}`);
  }
  return spec;
}

/**
 * `a=1000,b=5000` → two tenants with their rates.
 *
 * @example parseTenants('a=1000,b=5000'); // [{ name: 'a', rate: 1000 }, { name: 'b', rate: 5000 }]
 */
export function parseTenants(text: string): TenantSpec[] {
  return pairs(text, '--tenants', 'a=1000,b=5000').map(([name, rate]) => {
    if (!TENANT_NAME.test(name))
      throw new ConfigError(`--tenants: name ${JSON.stringify(name)} must match ${TENANT_NAME.source}`);
    return { name, rate };
  });
}

function pairs(text: string, flag: string, example: string): [string, number][] {
  return text.split(',').map((part) => {
    const eq = part.indexOf('=');
    const value = eq === -1 ? NaN : Number(part.slice(eq + 1));
    if (eq <= 0 || part.slice(eq + 1).trim() === '' || !Number.isFinite(value) || value < 0)
      throw new ConfigError(
        `${flag} must look like ${example} (name=number ≥ 0), got ${JSON.stringify(part)}`,
      );
    return [part.slice(0, eq).trim(), value];
  });
}
