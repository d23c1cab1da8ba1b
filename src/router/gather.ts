/**
 * Multi-key reads whose keys span nodes, computed in the router from
 * per-key reads on each key's node: SINTER / SUNION / SDIFF and SINTERCARD
 * from SMEMBERS, PFCOUNT from the raw HLL strings (hll.ts), ZUNION / ZINTER /
 * ZDIFF from ZRANGE ... WITHSCORES (and SMEMBERS: Redis takes plain sets as
 * members of score 1). Same answer as one Redis holding every key, except
 * that it is not a snapshot: a write between the per-key reads may be seen
 * by some and not others, as with any command spanning nodes.
 *
 * Arguments past the keys are parsed here; what does not parse goes to the
 * first key's node unchanged, so the client gets Redis's own error text.
 */
import type { ReplyCallback, ShardBackend } from '../backend/backend.js';
import type { NodeId } from '../keyspace/ids.js';
import type { RoutingTable } from '../keyspace/routing-table.js';
import type { Command } from '../protocol/command.js';
import { decodeReply } from '../protocol/reply-decoder.js';
import { RawReply, ReplyError, isErrorReply, type Reply } from '../protocol/reply.js';
import type { CommandSpec } from './command-table.js';
import { countRegisters, emptyRegisters, mergeHll } from '../backend/hll.js';

interface GatherRouter {
  readonly backends: ReadonlyMap<NodeId, ShardBackend>;
}

const WRONGTYPE = 'WRONGTYPE Operation against a key holding the wrong kind of value';

const b = (s: string): Buffer => Buffer.from(s);
const SMEMBERS = b('smembers');
const GET = b('get');
const ZRANGE = b('zrange');
const ZERO = b('0');
const MINUS_ONE = b('-1');
const WITHSCORES = b('withscores');

/** Sends every command and calls `done` with the replies decoded, in order. */
function fetch(sends: { backend: ShardBackend; cmd: Command }[], done: (replies: Reply[]) => void): void {
  const replies = new Array<Reply>(sends.length);
  let left = sends.length;
  sends.forEach(({ backend, cmd }, i) =>
    backend.send(cmd, (r) => {
      replies[i] = r instanceof RawReply ? decodeReply(r.bytes) : r;
      if (--left === 0) done(replies);
    }),
  );
}

function lower(a: Buffer | undefined): string {
  return a === undefined || a.length > 16 ? '' : a.toString('latin1').toLowerCase();
}

/** Redis's strtod-like score/weight parse; NaN when not a number. */
function parseScore(a: Buffer | string): number {
  const s = (typeof a === 'string' ? a : a.toString('latin1')).toLowerCase();
  if (s === 'inf' || s === '+inf' || s === 'infinity' || s === '+infinity') return Infinity;
  if (s === '-inf' || s === '-infinity') return -Infinity;
  if (s === '' || /\s/.test(s) || !/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/.test(s)) return NaN;
  return Number(s);
}

/** A double as Redis 7.0's addReplyDouble writes it (printf's %.17g). */
export function formatDouble(d: number): string {
  if (d === Infinity) return 'inf';
  if (d === -Infinity) return '-inf';
  if (d === 0) return Object.is(d, -0) ? '-0' : '0';
  const [mant, expText] = d.toExponential(16).split('e') as [string, string];
  const exp = Number(expText);
  const trim = (s: string): string => (s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s);
  if (exp < -4 || exp >= 17) {
    const e = Math.abs(exp);
    return `${trim(mant)}e${exp < 0 ? '-' : '+'}${e < 10 ? '0' : ''}${e}`;
  }
  return trim(d.toFixed(Math.max(0, 16 - exp)));
}

/**
 * Computes `cmd` (whose keys, at `positions`, live on several nodes) from
 * per-key reads and answers `done`.
 */
export function dispatchGather(
  router: GatherRouter,
  spec: CommandSpec,
  cmd: Command,
  positions: readonly number[],
  table: RoutingTable,
  at: Int32Array,
  done: ReplyCallback,
): void {
  const args = cmd.args;
  const backendOf = (k: number): ShardBackend => router.backends.get(table.shards[at[k]!]!.node)!;
  const keys = positions.map((p) => args[p]!);
  const rest = args.slice(positions[positions.length - 1]! + 1);
  const asIs = (): void => backendOf(0).send(cmd, done);
  const perKey = (name: Buffer, extra: Buffer[] = []): { backend: ShardBackend; cmd: Command }[] =>
    keys.map((key, k) => ({
      backend: backendOf(k),
      cmd: { name: name.toString(), args: [name, key, ...extra], frame: undefined },
    }));
  switch (spec.name) {
    case 'sinter':
    case 'sunion':
    case 'sdiff':
      return fetch(perKey(SMEMBERS), (sets) => done(setOp(spec.name, sets)));
    case 'sintercard': {
      let limit = 0;
      if (rest.length === 2 && lower(rest[0]) === 'limit' && /^\d{1,18}$/.test(rest[1]!.toString('latin1')))
        limit = Number(rest[1]!.toString('latin1'));
      else if (rest.length !== 0) return asIs();
      return fetch(perKey(SMEMBERS), (sets) => {
        const r = setOp('sinter', sets);
        done(Array.isArray(r) ? (limit > 0 ? Math.min(limit, r.length) : r.length) : r);
      });
    }
    case 'pfcount':
      return fetch(perKey(GET), (values) => done(pfcount(values)));
    case 'zunion':
    case 'zinter':
    case 'zdiff': {
      const opts = parseZOptions(spec.name, rest, keys.length);
      if (opts === undefined) return asIs();
      const sends = [...perKey(ZRANGE, [ZERO, MINUS_ONE, WITHSCORES]), ...perKey(SMEMBERS)];
      return fetch(sends, (replies) => done(zsetOp(spec.name, opts, replies, keys.length)));
    }
    default:
      return done(new ReplyError(`ERR internal: no gather rule for '${spec.name}'`));
  }
}

function setOp(name: string, sets: readonly Reply[]): Reply {
  for (const s of sets) if (isErrorReply(s)) return s;
  const members = sets.map((s) => (s as Buffer[]).map((m) => m.toString('latin1')));
  let out: Set<string>;
  if (name === 'sunion') {
    out = new Set();
    for (const s of members) for (const m of s) out.add(m);
  } else if (name === 'sinter') {
    if (members.some((s) => s.length === 0)) return [];
    const others = members.slice(1).map((s) => new Set(s));
    out = new Set(members[0]!.filter((m) => others.every((o) => o.has(m))));
  } else {
    out = new Set(members[0]);
    for (const s of members.slice(1)) for (const m of s) out.delete(m);
  }
  return [...out].map((m) => Buffer.from(m, 'latin1'));
}

function pfcount(values: readonly Reply[]): Reply {
  const registers = emptyRegisters();
  for (const v of values) {
    if (isErrorReply(v)) return v;
    if (v === null) continue;
    const problem = mergeHll(registers, v as Buffer);
    if (problem === 'wrongtype')
      return new ReplyError('WRONGTYPE Key is not a valid HyperLogLog string value.');
    if (problem === 'corrupt') return new ReplyError('INVALIDOBJ Corrupted HLL object detected');
  }
  return countRegisters(registers);
}

interface ZOptions {
  readonly weights: number[];
  readonly aggregate: 'sum' | 'min' | 'max';
  readonly withScores: boolean;
}

/** ZUNION/ZINTER's WEIGHTS, AGGREGATE, WITHSCORES (ZDIFF's WITHSCORES); undefined when Redis would object. */
function parseZOptions(name: string, rest: readonly Buffer[], n: number): ZOptions | undefined {
  const weights = new Array<number>(n).fill(1);
  let aggregate: ZOptions['aggregate'] = 'sum';
  let withScores = false;
  for (let i = 0; i < rest.length;) {
    const opt = lower(rest[i]);
    if (name !== 'zdiff' && opt === 'weights' && rest.length - i - 1 >= n) {
      for (let k = 0; k < n; k++) {
        const w = parseScore(rest[i + 1 + k]!);
        if (Number.isNaN(w)) return undefined;
        weights[k] = w;
      }
      i += n + 1;
    } else if (name !== 'zdiff' && opt === 'aggregate' && i + 1 < rest.length) {
      const a = lower(rest[i + 1]);
      if (a !== 'sum' && a !== 'min' && a !== 'max') return undefined;
      aggregate = a;
      i += 2;
    } else if (opt === 'withscores') {
      withScores = true;
      i += 1;
    } else return undefined;
  }
  return { weights, aggregate, withScores };
}

function aggregateOf(how: ZOptions['aggregate'], a: number, v: number): number {
  if (how === 'sum') {
    const s = a + v;
    return Number.isNaN(s) ? 0 : s; // inf + -inf: Redis answers 0
  }
  // zunionInterAggregate's comparisons, not Math.min / max: those order -0
  // below 0, and Redis keeps the score it has when the two compare equal.
  if (how === 'min') return v < a ? v : a;
  return v > a ? v : a;
}

function zsetOp(name: string, opts: ZOptions, replies: readonly Reply[], n: number): Reply {
  // Per key: the zset's members and scores, a set's members at score 1, or nothing.
  const sources: Map<string, number>[] = [];
  for (let k = 0; k < n; k++) {
    const z = replies[k]!;
    const s = replies[n + k]!;
    const src = new Map<string, number>();
    if (!isErrorReply(z)) {
      const items = z as Buffer[];
      for (let i = 0; i + 1 < items.length; i += 2)
        src.set(items[i]!.toString('latin1'), parseScore(items[i + 1]!.toString('latin1')));
    } else if (!isErrorReply(s)) {
      for (const m of s as Buffer[]) src.set(m.toString('latin1'), 1);
    } else if ((z as ReplyError).message.startsWith('WRONGTYPE')) return new ReplyError(WRONGTYPE);
    else return z;
    sources.push(src);
  }
  const weighted = (v: number, w: number): number => {
    const x = v * w;
    return Number.isNaN(x) ? 0 : x;
  };
  const out = new Map<string, number>();
  if (name === 'zdiff') {
    for (const [m, v] of sources[0]!) if (!sources.slice(1).some((o) => o.has(m))) out.set(m, v);
  } else {
    // Smallest first, as Redis does: sums of three or more add in that order.
    const order = sources
      .map((src, k) => ({ src, w: opts.weights[k]! }))
      .sort((a, b) => a.src.size - b.src.size);
    if (name === 'zinter') {
      if (order[0]!.src.size > 0)
        for (const [m, v] of order[0]!.src) {
          let score = weighted(v, order[0]!.w);
          let all = true;
          for (let j = 1; j < order.length && all; j++) {
            const o = order[j]!.src.get(m);
            if (o === undefined) all = false;
            // Unlike the first set's, a later weighted score is not cleared of
            // NaN (inf × 0): Redis's zinter aggregates it as it is, and a NaN
            // sum becomes 0 while MIN / MAX keep what they have.
            else score = aggregateOf(opts.aggregate, score, o * order[j]!.w);
          }
          if (all) out.set(m, score);
        }
    } else {
      for (const { src, w } of order)
        for (const [m, v] of src) {
          const x = weighted(v, w);
          const had = out.get(m);
          out.set(m, had === undefined ? x : aggregateOf(opts.aggregate, had, x));
        }
    }
  }
  const sorted = [...out].map(([m, v]) => ({ m: Buffer.from(m, 'latin1'), v }));
  sorted.sort((a, b) => (a.v !== b.v ? (a.v < b.v ? -1 : 1) : Buffer.compare(a.m, b.m)));
  const reply: Reply[] = [];
  for (const { m, v } of sorted) {
    reply.push(m);
    if (opts.withScores) reply.push(Buffer.from(formatDouble(v)));
  }
  return reply;
}
