/**
 * SORT and SORT_RO, after Redis 7.0's sort.c: the options in any order, LIMIT
 * as Redis clamps it, BY and GET patterns (`*` replaced by the element,
 * `->field` reading a hash, `#` the element itself) looked up on this node,
 * a constant BY meaning "do not sort", numeric scores read as strtod reads
 * them, and the tie rules of its comparator (equal scores by the elements'
 * bytes; ALPHA by strcoll in the C locale, which stops at a NUL byte).
 *
 * Where Redis's order depends on its hash tables — a set returned unsorted
 * (BY a constant, without STORE), ties under ALPHA with BY — this gives one
 * order of its own; every other reply is Redis's.
 */
import { ReplyError, type Reply } from '../protocol/reply.js';
import {
  is,
  keyOf,
  NOT_INTEGER,
  parseDouble,
  parseLong,
  SYNTAX,
  WRONGTYPE,
  type Args,
  type Spec,
} from './memory-args.js';
import { Deque } from './memory-deque.js';
import type { Keyspace } from './memory-keyspace.js';
import { SortedSet } from './memory-sorted-set.js';

const NOT_DOUBLE = new ReplyError("ERR One or more scores can't be converted into double");

/** The part of a string C's string functions see: up to the first NUL. */
function cString(b: Buffer): Buffer {
  const nul = b.indexOf(0);
  return nul === -1 ? b : b.subarray(0, nul);
}

/**
 * The value `pattern` names for `element` (lookupKeyByPattern): `#` is the
 * element; otherwise the first `*` is replaced by it and the key read, or,
 * with `->field` after the `*`, that field of the hash. Undefined when there
 * is no `*`, no such key, or a key of another type.
 */
function byPattern(ks: Keyspace, pattern: Buffer, element: Buffer): Buffer | undefined {
  const pat = cString(pattern);
  if (pat.length === 1 && pat[0] === 0x23) return element; // '#'
  const star = pat.indexOf(0x2a); // '*'
  if (star === -1) return undefined;
  const arrow = pat.indexOf('->', star + 1, 'latin1');
  const field = arrow !== -1 && arrow + 2 < pat.length ? pattern.subarray(arrow + 2) : undefined;
  const keyEnd = field === undefined ? pattern.length : arrow;
  const key = Buffer.concat([pattern.subarray(0, star), element, pattern.subarray(star + 1, keyEnd)]);
  const v = ks.get(key.toString('latin1'));
  if (v === undefined) return undefined;
  if (field === undefined) return v instanceof Buffer ? v : undefined;
  return v instanceof Map ? v.get(field.toString('latin1')) : undefined;
}

/** A score as sort.c reads it: strtod over the C string, all of it. */
function sortScore(b: Buffer): number | null {
  const s = cString(b);
  if (s.length === 0) return 0;
  let i = 0;
  while (i < s.length && (s[i] === 0x20 || (s[i]! >= 0x09 && s[i]! <= 0x0d))) i++;
  return i === s.length ? null : parseDouble(s.subarray(i));
}

/** strcoll in the C locale: bytes up to the first NUL. */
const collate = (a: Buffer, b: Buffer): number => Buffer.compare(cString(a), cString(b));

interface Entry {
  readonly element: Buffer;
  score: number;
  by: Buffer | undefined;
}

function sort(ks: Keyspace, a: Args, readOnly: boolean): Reply {
  let desc = false;
  let alpha = false;
  let limitStart = 0;
  let limitCount = -1;
  let store: string | undefined;
  let by: Buffer | undefined;
  let dontSort = false;
  const gets: Buffer[] = [];
  for (let j = 2; j < a.length; j++) {
    const left = a.length - j - 1;
    const opt = a[j]!;
    if (is(opt, 'asc')) desc = false;
    else if (is(opt, 'desc')) desc = true;
    else if (is(opt, 'alpha')) alpha = true;
    else if (is(opt, 'limit') && left >= 2) {
      const start = parseLong(a[j + 1]!);
      const count = start === null ? null : parseLong(a[j + 2]!);
      if (start === null || count === null) return NOT_INTEGER;
      [limitStart, limitCount] = [start, count];
      j += 2;
    } else if (!readOnly && is(opt, 'store') && left >= 1) store = keyOf(a, ++j);
    else if (is(opt, 'by') && left >= 1) {
      by = a[++j]!;
      // A pattern without '*' names one key for every element: nothing to sort by.
      if (!cString(by).includes(0x2a)) dontSort = true;
    } else if (is(opt, 'get') && left >= 1) gets.push(a[++j]!);
    else return SYNTAX;
  }
  const value = ks.get(keyOf(a, 1));
  if (value !== undefined && !(value instanceof Deque || value instanceof Set || value instanceof SortedSet))
    return WRONGTYPE;
  // A set must come out the same on a replica: with STORE it is sorted anyway.
  if (dontSort && value instanceof Set && store !== undefined) {
    dontSort = false;
    alpha = true;
    by = undefined;
  }
  const length = value === undefined ? 0 : value instanceof Deque ? value.length : value.size;
  let start = limitStart < 0 ? 0 : limitStart;
  let end = limitCount < 0 ? length - 1 : start + limitCount - 1;
  if (start >= length) {
    start = length - 1;
    end = length - 2;
  }
  if (end >= length) end = length - 1;

  let entries: Entry[];
  if (dontSort && (value instanceof Deque || value instanceof SortedSet)) {
    // In the value's own order (DESC walks it backwards), only the range asked for.
    const all =
      value instanceof Deque
        ? value.toArray()
        : [...value.entries()].map((n) => Buffer.from(n.member, 'latin1'));
    if (desc) all.reverse();
    entries = (end >= start ? all.slice(start, end + 1) : []).map((element) => ({
      element,
      score: 0,
      by: undefined,
    }));
    end -= start;
    start = 0;
  } else {
    const elements =
      value === undefined
        ? []
        : value instanceof Deque
          ? value.toArray()
          : value instanceof Set
            ? [...value].map((m) => Buffer.from(m, 'latin1'))
            : [...value.entries()].map((n) => Buffer.from(n.member, 'latin1'));
    entries = elements.map((element) => ({ element, score: 0, by: undefined }));
  }

  if (!dontSort) {
    let notDouble = false;
    for (const e of entries) {
      const key = by === undefined ? e.element : byPattern(ks, by, e.element);
      if (key === undefined) continue;
      if (alpha) {
        if (by !== undefined) e.by = key;
      } else {
        const score = sortScore(key);
        if (score === null) notDouble = true;
        else e.score = score;
      }
    }
    if (notDouble) return NOT_DOUBLE;
    const sign = desc ? -1 : 1;
    const compare = (x: Entry, y: Entry): number => {
      let cmp: number;
      if (!alpha) {
        cmp = x.score > y.score ? 1 : x.score < y.score ? -1 : Buffer.compare(x.element, y.element);
      } else if (by !== undefined) {
        if (x.by === undefined || y.by === undefined) cmp = x.by === y.by ? 0 : x.by === undefined ? -1 : 1;
        else cmp = store !== undefined ? Buffer.compare(x.by, y.by) : collate(x.by, y.by);
      } else {
        cmp = store !== undefined ? Buffer.compare(x.element, y.element) : collate(x.element, y.element);
      }
      return sign * cmp;
    };
    entries.sort(compare);
  }

  const out: (Buffer | null)[] = [];
  for (let j = start; j <= end; j++) {
    const element = entries[j]!.element;
    if (gets.length === 0) out.push(element);
    for (const pattern of gets) out.push(byPattern(ks, pattern, element) ?? null);
  }
  if (store === undefined) return out;
  if (out.length === 0) {
    ks.delete(store);
    return 0;
  }
  // A missing GET is stored as an empty string.
  ks.set(store, new Deque(out.map((v) => (v === null ? Buffer.alloc(0) : Buffer.from(v)))));
  return out.length;
}

/** SORT and SORT_RO, by lower-case name. */
export const sortCommands: Readonly<Record<string, Spec>> = {
  sort: { arity: -2, run: (ks, a) => sort(ks, a, false) },
  sort_ro: { arity: -2, run: (ks, a) => sort(ks, a, true) },
};
