/**
 * ZUNION, ZINTER, ZDIFF, their STORE forms and ZINTERCARD, after Redis 7.0's
 * zunionInterDiffGenericCommand: inputs may be sets (every member scored 1),
 * weights multiply scores (a NaN product counts as 0), sums that reach NaN
 * (inf + -inf) count as 0, and inputs are taken smallest first as Redis
 * sorts them, which decides the order floating-point sums are made in.
 */
import { ReplyError, type Reply } from '../protocol/reply.js';
import {
  is,
  keyOf,
  NOT_INTEGER,
  parseDouble,
  parseLong,
  parsePositiveLong,
  scoreReply,
  SYNTAX,
  WRONGTYPE,
  type Args,
  type Spec,
} from './memory-args.js';
import type { Keyspace } from './memory-keyspace.js';
import { SortedSet } from './memory-sorted-set.js';

type Op = 'union' | 'inter' | 'diff';
type Aggregate = 'sum' | 'min' | 'max';

interface Source {
  /** member → score; null for a missing key. */
  readonly scores: ReadonlyMap<string, number> | null;
  weight: number;
}

function scoresOf(v: SortedSet | Set<string>): Map<string, number> {
  const out = new Map<string, number>();
  if (v instanceof Set) for (const m of v) out.set(m, 1);
  else for (const n of v.entries()) out.set(n.member, n.score);
  return out;
}

function aggregate(how: Aggregate, acc: number, v: number): number {
  if (how === 'sum') {
    const s = acc + v;
    return Number.isNaN(s) ? 0 : s;
  }
  // zunionInterAggregate's comparisons, not Math.min / max: those order -0
  // below 0, and Redis keeps the score it has when the two compare equal.
  if (how === 'min') return v < acc ? v : acc;
  return v > acc ? v : acc;
}

function weighted(score: number, weight: number): number {
  const v = score * weight;
  return Number.isNaN(v) ? 0 : v;
}

/** What the op makes of its sources. */
function combine(op: Op, sources: Source[], how: Aggregate): SortedSet {
  const out = new SortedSet();
  if (op === 'diff') {
    const [first, ...rest] = sources;
    if (first?.scores === null || first === undefined) return out;
    for (const [m, s] of first.scores) {
      if (rest.every((r) => r.scores === null || !r.scores.has(m))) out.set(m, s, true);
    }
    return out;
  }
  const ordered = [...sources].sort((x, y) => (x.scores?.size ?? 0) - (y.scores?.size ?? 0));
  if (op === 'inter') {
    if (ordered.some((s) => s.scores === null)) return out;
    const [first, ...rest] = ordered;
    for (const [m, s] of first!.scores!) {
      let score = weighted(s, first!.weight);
      let everywhere = true;
      for (const r of rest) {
        const other = r.scores!.get(m);
        if (other === undefined) {
          everywhere = false;
          break;
        }
        // Unlike the first set's, a later weighted score is not cleared of
        // NaN (inf × 0): Redis's zinter aggregates it as it is, and a NaN sum
        // becomes 0 while MIN / MAX keep what they have.
        score = aggregate(how, score, other * r.weight);
      }
      if (everywhere) out.set(m, score, true);
    }
    return out;
  }
  const acc = new Map<string, number>();
  for (const src of ordered) {
    if (src.scores === null) continue;
    for (const [m, s] of src.scores) {
      const v = weighted(s, src.weight);
      const cur = acc.get(m);
      acc.set(m, cur === undefined ? v : aggregate(how, cur, v));
    }
  }
  for (const [m, s] of acc) out.set(m, s, true);
  return out;
}

/** zunionInterDiffGenericCommand: `dst` set for the STORE forms, `cardOnly` for ZINTERCARD. */
function generic(
  ks: Keyspace,
  a: Args,
  name: string,
  op: Op,
  numkeysAt: number,
  store: boolean,
  cardOnly: boolean,
): Reply {
  const setnum = parseLong(a[numkeysAt]!);
  if (setnum === null) return NOT_INTEGER;
  if (setnum < 1) return new ReplyError(`ERR at least 1 input key is needed for '${name}' command`);
  if (setnum > a.length - (numkeysAt + 1)) return SYNTAX;
  const sources: Source[] = [];
  let j = numkeysAt + 1;
  for (let i = 0; i < setnum; i++, j++) {
    const v = ks.get(keyOf(a, j));
    if (v !== undefined && !(v instanceof SortedSet) && !(v instanceof Set)) return WRONGTYPE;
    sources.push({ scores: v === undefined ? null : scoresOf(v), weight: 1 });
  }
  let how: Aggregate = 'sum';
  let withScores = false;
  let limit = 0;
  while (j < a.length) {
    const remaining = a.length - j;
    if (op !== 'diff' && !cardOnly && remaining >= setnum + 1 && is(a[j], 'weights')) {
      j++;
      for (let i = 0; i < setnum; i++, j++) {
        const w = parseDouble(a[j]!);
        if (w === null) return new ReplyError('ERR weight value is not a float');
        sources[i]!.weight = w;
      }
    } else if (op !== 'diff' && !cardOnly && remaining >= 2 && is(a[j], 'aggregate')) {
      j++;
      const agg = a[j]!;
      if (is(agg, 'sum')) how = 'sum';
      else if (is(agg, 'min')) how = 'min';
      else if (is(agg, 'max')) how = 'max';
      else return SYNTAX;
      j++;
    } else if (!store && !cardOnly && is(a[j], 'withscores')) {
      j++;
      withScores = true;
    } else if (cardOnly && remaining >= 2 && is(a[j], 'limit')) {
      j++;
      const l = parsePositiveLong(a[j]!, "LIMIT can't be negative");
      if (l instanceof ReplyError) return l;
      limit = l;
      j++;
    } else return SYNTAX;
  }
  const result = combine(op, sources, how);
  if (cardOnly) return limit > 0 ? Math.min(limit, result.size) : result.size;
  if (store) {
    const dst = keyOf(a, 1);
    if (result.size === 0) {
      ks.delete(dst);
      return 0;
    }
    const stored = new SortedSet();
    for (const n of result.entries()) stored.set(n.member, n.score);
    ks.set(dst, stored);
    return result.size;
  }
  const out: Reply[] = [];
  for (const n of result.entries()) {
    out.push(Buffer.from(n.member, 'latin1'));
    if (withScores) out.push(scoreReply(n.score));
  }
  return out;
}

/** The set-algebra sorted-set commands, by lower-case name. */
export const zsetOpCommands: Readonly<Record<string, Spec>> = {
  zunion: { arity: -3, run: (ks, a) => generic(ks, a, 'zunion', 'union', 1, false, false) },
  zinter: { arity: -3, run: (ks, a) => generic(ks, a, 'zinter', 'inter', 1, false, false) },
  zdiff: { arity: -3, run: (ks, a) => generic(ks, a, 'zdiff', 'diff', 1, false, false) },
  zunionstore: { arity: -4, run: (ks, a) => generic(ks, a, 'zunionstore', 'union', 2, true, false) },
  zinterstore: { arity: -4, run: (ks, a) => generic(ks, a, 'zinterstore', 'inter', 2, true, false) },
  zdiffstore: { arity: -4, run: (ks, a) => generic(ks, a, 'zdiffstore', 'diff', 2, true, false) },
  zintercard: { arity: -3, run: (ks, a) => generic(ks, a, 'zintercard', 'inter', 1, false, true) },
};
