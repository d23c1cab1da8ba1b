/**
 * Score and lex ranges of sorted sets (zslParseRange, zslParseLexRange) and
 * the walks over them: ZRANGE's three forms, ZCOUNT, ZLEXCOUNT and the
 * ZREMRANGEBY* commands share these, so they agree on every bound.
 */
import { ReplyError } from '../protocol/reply.js';
import type { SortedSet, ZNode } from './memory-sorted-set.js';

export const SCORE_RANGE_ERROR = new ReplyError('ERR min or max is not a float');
export const LEX_RANGE_ERROR = new ReplyError('ERR min or max not valid string range item');

/** A bound on (score, member) order: which nodes are at or after the minimum, at or before the maximum. */
export interface Range {
  readonly atOrAfterMin: (n: ZNode) => boolean;
  readonly upToMax: (n: ZNode) => boolean;
  /** True when no node can be in it (min above max). */
  readonly empty: boolean;
  /** A lex range (by member), not a score range. */
  readonly lex: boolean;
}

const STRTOD =
  /^[ \t\n\v\f\r]*([+-]?)(?:(inf(?:inity)?)|(nan)|0[xX]([0-9a-fA-F]*\.?[0-9a-fA-F]*)(?:[pP]([+-]?\d+))?|((?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?))/i;

/** strtod over the whole text (zslParseRange's check): null when bytes remain or it is NaN. */
function strtodWhole(s: string): number | null {
  if (s.length === 0) return 0;
  const m = STRTOD.exec(s);
  if (m === null || m[0].length !== s.length) return null;
  const sign = m[1] === '-' ? -1 : 1;
  if (m[2] !== undefined) return sign * Infinity;
  if (m[3] !== undefined) return null;
  if (m[6] !== undefined) return sign * Number(m[6]);
  const hex = m[4] ?? '';
  if (hex === '' || hex === '.') return null;
  const [int = '', frac = ''] = hex.split('.');
  let v = int === '' ? 0 : parseInt(int, 16);
  for (let i = 0; i < frac.length; i++) v += parseInt(frac[i]!, 16) / 16 ** (i + 1);
  return sign * v * 2 ** Number(m[5] ?? 0);
}

/** A score bound: `(` for exclusive, else inclusive; `-inf` / `+inf` allowed. */
function parseScoreBound(b: Buffer): { v: number; ex: boolean } | null {
  const s = b.toString('latin1');
  const ex = s.startsWith('(');
  const v = strtodWhole(ex ? s.slice(1) : s);
  return v === null ? null : { v, ex };
}

/** zslParseRange. */
export function parseScoreRange(minArg: Buffer, maxArg: Buffer): Range | null {
  const min = parseScoreBound(minArg);
  const max = parseScoreBound(maxArg);
  if (min === null || max === null) return null;
  return {
    atOrAfterMin: min.ex ? (n) => n.score > min.v : (n) => n.score >= min.v,
    upToMax: max.ex ? (n) => n.score < max.v : (n) => n.score <= max.v,
    empty: min.v > max.v || (min.v === max.v && (min.ex || max.ex)),
    lex: false,
  };
}

type LexBound = { kind: 'min' } | { kind: 'max' } | { kind: 'value'; v: string; ex: boolean };

function parseLexBound(b: Buffer): LexBound | null {
  if (b.length === 0) return null;
  const c = b[0];
  if (c === 0x2b) return b.length === 1 ? { kind: 'max' } : null;
  if (c === 0x2d) return b.length === 1 ? { kind: 'min' } : null;
  if (c === 0x28 || c === 0x5b) return { kind: 'value', v: b.toString('latin1', 1), ex: c === 0x28 };
  return null;
}

/** zslParseLexRange. Lex ranges assume every score is equal, as Redis's do; the walk is by member. */
export function parseLexRange(minArg: Buffer, maxArg: Buffer): Range | null {
  const min = parseLexBound(minArg);
  const max = parseLexBound(maxArg);
  if (min === null || max === null) return null;
  const atOrAfterMin = (n: ZNode): boolean =>
    min.kind === 'min' ? true : min.kind === 'max' ? false : min.ex ? n.member > min.v : n.member >= min.v;
  const upToMax = (n: ZNode): boolean =>
    max.kind === 'max' ? true : max.kind === 'min' ? false : max.ex ? n.member < max.v : n.member <= max.v;
  let empty = min.kind === 'max' || max.kind === 'min';
  if (min.kind === 'value' && max.kind === 'value') {
    empty = min.v > max.v || (min.v === max.v && (min.ex || max.ex));
  }
  return { atOrAfterMin, upToMax, empty, lex: true };
}

/** The ranks [first, last] of the nodes in `range`, or null when none is. */
export function rankSpan(z: SortedSet, range: Range): [number, number] | null {
  if (range.empty) return null;
  const first = z.first(range.atOrAfterMin);
  if (first === null || !range.upToMax(first.node)) return null;
  const last = z.last(range.upToMax);
  if (last === null || last.rank < first.rank) return null;
  return [first.rank, last.rank];
}

/** Below this size Redis keeps a sorted set as a listpack, whose range searches are linear scans. */
const LISTPACK_ENTRIES = 128;

/**
 * The nodes of `range` in walk order, as Redis finds them: the range must
 * overlap the set (zslIsInRange: the last node at or after min, the first up
 * to max), then from the first node at or after min (the last up to max when
 * reversed) the walk goes on while the other bound holds. For scores that is
 * simply the nodes between the bounds. Lex ranges over unequal scores are
 * not monotone: Redis's answer then depends on the search, a linear scan for
 * a listpack, copied here.
 */
export function rangeNodes(z: SortedSet, range: Range, rev: boolean): ZNode[] {
  const out: ZNode[] = [];
  for (let n = startNode(z, range, rev); n !== null && inRange(range, n, rev); n = step(n, rev)) out.push(n);
  return out;
}

/** Where Redis's walk over `range` starts (see rangeNodes), or null when the range misses the set. */
function startNode(z: SortedSet, range: Range, rev: boolean): ZNode | null {
  const head = z.at(0);
  const tail = z.tail;
  if (range.empty || head === null || tail === null) return null;
  if (!range.atOrAfterMin(tail) || !range.upToMax(head)) return null;
  const linear = range.lex && z.size <= LISTPACK_ENTRIES;
  let n: ZNode | null;
  if (!rev) {
    if (!linear) n = z.first(range.atOrAfterMin)?.node ?? null;
    else for (n = head; n !== null && !range.atOrAfterMin(n);) n = n.level[0]!.forward;
  } else {
    if (!linear) n = z.last(range.upToMax)?.node ?? null;
    else for (n = tail; n !== null && !range.upToMax(n);) n = n.backward;
  }
  // zslFirstInRange and its kin answer NULL when that node is past the other
  // bound, so an offset never walks on from it.
  return n !== null && inRange(range, n, rev) ? n : null;
}

/** Whether the walk goes on at `n`: only the bound it walks towards is checked. */
function inRange(range: Range, n: ZNode, rev: boolean): boolean {
  return rev ? range.atOrAfterMin(n) : range.upToMax(n);
}

function step(n: ZNode, rev: boolean): ZNode | null {
  return rev ? n.backward : n.level[0]!.forward;
}

/**
 * The nodes of `range` in order (reversed from the top for `rev`), skipping
 * `offset` and taking `limit` (negative: all), as genericZrangebyscoreCommand
 * and genericZrangebylexCommand do: the offset is skipped from the start
 * without looking at the bounds, so over a lex range whose scores differ it
 * can step past members outside the range and land on one inside again. A
 * negative offset answers nothing.
 */
export function walk(z: SortedSet, range: Range, rev: boolean, offset: number, limit: number): ZNode[] {
  if (offset < 0) return [];
  let n = startNode(z, range, rev);
  for (; n !== null && offset > 0; offset--) n = step(n, rev);
  const out: ZNode[] = [];
  for (; n !== null && limit !== 0 && inRange(range, n, rev); limit--) {
    out.push(n);
    n = step(n, rev);
  }
  return out;
}
