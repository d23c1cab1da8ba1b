/**
 * The set commands of an embedded node, after Redis 7.0's t_set.c. Members
 * are latin1-decoded bytes in a JS Set; random picks (SPOP, SRANDMEMBER) draw
 * from the keyspace's seeded generator and walk the set, O(n) where Redis's
 * are O(1): fine for the sizes an embedded node holds, and exact in tests.
 */
import { ReplyError, type Reply } from '../protocol/reply.js';
import {
  bulk,
  is,
  keyOf,
  LONG_MAX,
  parsePositiveLong,
  parseRangeLong,
  readSet,
  SYNTAX,
  WRONGTYPE,
  type Args,
  type Spec,
} from './memory-args.js';
import type { Keyspace } from './memory-keyspace.js';
import { EMPTY_SCAN, parseCursor, scan } from './memory-scan.js';

const EMPTY: readonly Reply[] = [];
const INTSET_MAX = 512;

const members = (s: ReadonlySet<string>): Buffer[] => Array.from(s, bulk);

/** Every set named, missing ones as null; WRONGTYPE when one is not a set (all are checked first, as Redis does). */
function readSets(ks: Keyspace, keys: readonly string[]): (Set<string> | null)[] | ReplyError {
  const out: (Set<string> | null)[] = [];
  for (const key of keys) {
    const s = readSet(ks, key);
    if (s instanceof ReplyError) return s;
    out.push(s ?? null);
  }
  return out;
}

function intersect(sets: readonly (Set<string> | null)[], limit = 0): Set<string> {
  const result = new Set<string>();
  if (sets.some((s) => s === null)) return result;
  const sorted = [...(sets as Set<string>[])].sort((x, y) => x.size - y.size);
  const [first, ...rest] = sorted;
  for (const m of first!) {
    if (rest.every((s) => s.has(m))) {
      result.add(m);
      if (limit > 0 && result.size >= limit) break;
    }
  }
  return result;
}

function union(sets: readonly (Set<string> | null)[]): Set<string> {
  const result = new Set<string>();
  for (const s of sets) if (s !== null) for (const m of s) result.add(m);
  return result;
}

function diff(sets: readonly (Set<string> | null)[]): Set<string> {
  const [first, ...rest] = sets;
  const result = new Set<string>();
  if (first === null || first === undefined) return result;
  for (const m of first) if (rest.every((s) => s === null || !s.has(m))) result.add(m);
  return result;
}

type Combine = (sets: readonly (Set<string> | null)[]) => Set<string>;

function keysFrom(a: Args, from: number): string[] {
  const keys: string[] = [];
  for (let i = from; i < a.length; i++) keys.push(keyOf(a, i));
  return keys;
}

function combineRead(combine: Combine): Spec['run'] {
  return (ks, a) => {
    const sets = readSets(ks, keysFrom(a, 1));
    return sets instanceof ReplyError ? sets : members(combine(sets));
  };
}

function combineStore(combine: Combine): Spec['run'] {
  return (ks, a) => {
    const sets = readSets(ks, keysFrom(a, 2));
    if (sets instanceof ReplyError) return sets;
    const result = combine(sets);
    const dst = keyOf(a, 1);
    if (result.size === 0) {
      ks.delete(dst);
      return 0;
    }
    ks.set(dst, result);
    return result.size;
  };
}

/** `n` distinct random members (n < size), by a partial Fisher-Yates shuffle. */
function pickDistinct(ks: Keyspace, s: ReadonlySet<string>, n: number): string[] {
  const all = Array.from(s);
  for (let i = 0; i < n; i++) {
    const j = i + Math.floor(ks.random() * (all.length - i));
    [all[i], all[j]] = [all[j]!, all[i]!];
  }
  return all.slice(0, n);
}

function pickOne(ks: Keyspace, s: ReadonlySet<string>): string {
  let i = Math.floor(ks.random() * s.size);
  for (const m of s) if (i-- === 0) return m;
  throw new Error('unreachable: a pick within the set');
}

function spop(ks: Keyspace, a: Args): Reply {
  if (a.length > 3) return SYNTAX;
  const key = keyOf(a, 1);
  if (a.length === 2) {
    const s = readSet(ks, key);
    if (s === undefined || s instanceof ReplyError) return s ?? null;
    const m = pickOne(ks, s);
    s.delete(m);
    if (s.size === 0) ks.delete(key);
    else ks.modified(key);
    return bulk(m);
  }
  const count = parsePositiveLong(a[2]!);
  if (count instanceof ReplyError) return count;
  const s = readSet(ks, key);
  if (s === undefined || s instanceof ReplyError) return s ?? EMPTY;
  if (count === 0) return EMPTY;
  if (count >= s.size) {
    const all = members(s);
    ks.delete(key);
    return all;
  }
  const picked = pickDistinct(ks, s, count);
  for (const m of picked) s.delete(m);
  ks.modified(key);
  return picked.map(bulk);
}

function srandmember(ks: Keyspace, a: Args): Reply {
  if (a.length > 3) return SYNTAX;
  const key = keyOf(a, 1);
  if (a.length === 2) {
    const s = readSet(ks, key);
    if (s === undefined || s instanceof ReplyError) return s ?? null;
    return bulk(pickOne(ks, s));
  }
  const count = parseRangeLong(a[2]!, -LONG_MAX, LONG_MAX);
  if (count instanceof ReplyError) return count;
  const s = readSet(ks, key);
  if (s === undefined || s instanceof ReplyError) return s ?? EMPTY;
  if (count === 0) return EMPTY;
  if (count < 0) {
    const all = Array.from(s);
    const out: Buffer[] = [];
    for (let i = 0; i < -count; i++) out.push(bulk(all[Math.floor(ks.random() * all.length)]!));
    return out;
  }
  if (count >= s.size) return members(s);
  return pickDistinct(ks, s, count).map(bulk);
}

/** Whether Redis 7.0 would keep this set as an intset: all members integers, few of them. */
function isIntset(s: ReadonlySet<string>): boolean {
  if (s.size > INTSET_MAX) return false;
  for (const m of s)
    if (!/^(?:0|-?[1-9]\d{0,18})$/.test(m) || BigInt(m) > 2n ** 63n - 1n || BigInt(m) < -(2n ** 63n))
      return false;
  return true;
}

/** The set commands, by lower-case name. */
export const setCommands: Readonly<Record<string, Spec>> = {
  sadd: {
    arity: -3,
    run(ks, a) {
      const key = keyOf(a, 1);
      let s = readSet(ks, key);
      if (s instanceof ReplyError) return s;
      if (s === undefined) {
        s = new Set();
        ks.set(key, s);
      }
      let added = 0;
      for (let i = 2; i < a.length; i++) {
        const m = keyOf(a, i);
        if (!s.has(m)) {
          s.add(m);
          added++;
        }
      }
      if (added > 0) ks.modified(key);
      return added;
    },
  },
  srem: {
    arity: -3,
    run(ks, a) {
      const key = keyOf(a, 1);
      const s = readSet(ks, key);
      if (s === undefined || s instanceof ReplyError) return s ?? 0;
      let removed = 0;
      for (let i = 2; i < a.length; i++) if (s.delete(keyOf(a, i))) removed++;
      if (s.size === 0) ks.delete(key);
      else if (removed > 0) ks.modified(key);
      return removed;
    },
  },
  smembers: {
    arity: 2,
    run(ks, a) {
      const s = readSet(ks, keyOf(a, 1));
      return s === undefined || s instanceof ReplyError ? (s ?? EMPTY) : members(s);
    },
  },
  sismember: {
    arity: 3,
    run(ks, a) {
      const s = readSet(ks, keyOf(a, 1));
      return s instanceof ReplyError ? s : s?.has(keyOf(a, 2)) === true ? 1 : 0;
    },
  },
  smismember: {
    arity: -3,
    run(ks, a) {
      const s = readSet(ks, keyOf(a, 1));
      if (s instanceof ReplyError) return s;
      const out: number[] = [];
      for (let i = 2; i < a.length; i++) out.push(s?.has(keyOf(a, i)) === true ? 1 : 0);
      return out;
    },
  },
  scard: {
    arity: 2,
    run(ks, a) {
      const s = readSet(ks, keyOf(a, 1));
      return s instanceof ReplyError ? s : (s?.size ?? 0);
    },
  },
  smove: {
    arity: 4,
    run(ks, a) {
      const srcKey = keyOf(a, 1);
      const dstKey = keyOf(a, 2);
      const src = ks.get(srcKey);
      const dst = ks.get(dstKey);
      if (src === undefined) return 0;
      if (!(src instanceof Set) || (dst !== undefined && !(dst instanceof Set))) return WRONGTYPE;
      const m = keyOf(a, 3);
      if (src === dst) return src.has(m) ? 1 : 0;
      if (!src.delete(m)) return 0;
      if (src.size === 0) ks.delete(srcKey);
      else ks.modified(srcKey);
      if (dst === undefined) ks.set(dstKey, new Set([m]));
      else if (!dst.has(m)) {
        dst.add(m);
        ks.modified(dstKey);
      }
      return 1;
    },
  },
  spop: { arity: -2, run: spop },
  srandmember: { arity: -2, run: srandmember },
  sinter: { arity: -2, run: combineRead((sets) => intersect(sets)) },
  sunion: { arity: -2, run: combineRead(union) },
  sdiff: { arity: -2, run: combineRead(diff) },
  sinterstore: { arity: -3, run: combineStore((sets) => intersect(sets)) },
  sunionstore: { arity: -3, run: combineStore(union) },
  sdiffstore: { arity: -3, run: combineStore(diff) },
  sintercard: {
    arity: -3,
    run(ks, a) {
      const numkeys = parseRangeLong(a[1]!, 1, LONG_MAX, 'numkeys should be greater than 0');
      if (numkeys instanceof ReplyError) return numkeys;
      if (numkeys > a.length - 2)
        return new ReplyError("ERR Number of keys can't be greater than number of args");
      let limit = 0;
      for (let i = 2 + numkeys; i < a.length; i++) {
        if (is(a[i], 'limit') && i + 1 < a.length) {
          i++;
          const l = parsePositiveLong(a[i]!, "LIMIT can't be negative");
          if (l instanceof ReplyError) return l;
          limit = l;
        } else return SYNTAX;
      }
      const sets = readSets(ks, keysFrom(a, 2).slice(0, numkeys));
      return sets instanceof ReplyError ? sets : intersect(sets, limit).size;
    },
  },
  sscan: {
    arity: -3,
    run(ks, a) {
      const cursor = parseCursor(a[2]!);
      if (cursor instanceof ReplyError) return cursor;
      const s = readSet(ks, keyOf(a, 1));
      if (s === undefined || s instanceof ReplyError) return s ?? EMPTY_SCAN;
      const compact = isIntset(s);
      return scan(a, cursor, {
        size: s.size,
        compact,
        // an intset is kept sorted, so Redis returns it in numeric order
        members: () => (compact ? Array.from(s).sort((x, y) => (BigInt(x) < BigInt(y) ? -1 : 1)) : s),
        reply: (m) => [bulk(m)],
      });
    },
  },
};
