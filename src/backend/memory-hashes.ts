/**
 * The hash commands beyond HGET / HSET / HDEL / HGETALL / HMGET / HINCRBY
 * (which sit in memory-commands.ts with the strings), after Redis 7.0's t_hash.c.
 */
import { OK, ReplyError, type Reply } from '../protocol/reply.js';
import {
  addLongDouble,
  arityError,
  bulk,
  copy,
  formatLongDouble,
  is,
  keyOf,
  LONG_MAX,
  LD_ZERO,
  NAN_OR_INF,
  NOT_FLOAT,
  parseLongDouble,
  parseRangeLong,
  readHash,
  SYNTAX,
  TOO_BIG,
  type Args,
  type Spec,
} from './memory-args.js';
import type { Keyspace } from './memory-keyspace.js';
import { EMPTY_SCAN, parseCursor, scan } from './memory-scan-fields.js';

const EMPTY: readonly Reply[] = [];
/** hash-max-listpack-entries / -value: below both Redis keeps the hash compact. */
const LISTPACK_ENTRIES = 128;
const LISTPACK_VALUE = 64;

/** HSET's fields and values from args[2..]; how many fields are new. */
export function setFields(ks: Keyspace, a: Args): number | ReplyError {
  const key = keyOf(a, 1);
  let h = readHash(ks, key);
  if (h instanceof ReplyError) return h;
  for (let i = 3; i < a.length; i += 2) if (a[i]!.length > ks.maxValueBytes) return TOO_BIG;
  if (h === undefined) {
    h = new Map();
    ks.set(key, h);
  }
  let created = 0;
  for (let i = 2; i < a.length; i += 2) {
    const field = keyOf(a, i);
    if (!h.has(field)) created++;
    h.set(field, copy(a[i + 1]!));
  }
  ks.modified(key);
  return created;
}

function hrandfield(ks: Keyspace, a: Args): Reply {
  if (a.length === 2) {
    const h = readHash(ks, keyOf(a, 1));
    if (h === undefined || h instanceof ReplyError) return h ?? null;
    const fields = Array.from(h.keys());
    return bulk(fields[Math.floor(ks.random() * fields.length)]!);
  }
  const l = parseRangeLong(a[2]!, -LONG_MAX, LONG_MAX);
  if (l instanceof ReplyError) return l;
  if (a.length > 4 || (a.length === 4 && !is(a[3], 'withvalues'))) return SYNTAX;
  const withValues = a.length === 4;
  if (withValues && (l < -LONG_MAX / 2 || l > LONG_MAX / 2))
    return new ReplyError('ERR value is out of range');
  const h = readHash(ks, keyOf(a, 1));
  if (h === undefined || h instanceof ReplyError) return h ?? EMPTY;
  if (l === 0) return EMPTY;
  const fields = Array.from(h.keys());
  let picked: string[];
  if (l < 0) {
    picked = [];
    for (let i = 0; i < -l; i++) picked.push(fields[Math.floor(ks.random() * fields.length)]!);
  } else if (l >= fields.length) {
    picked = fields;
  } else {
    for (let i = 0; i < l; i++) {
      const j = i + Math.floor(ks.random() * (fields.length - i));
      [fields[i], fields[j]] = [fields[j]!, fields[i]!];
    }
    picked = fields.slice(0, l);
  }
  const out: Reply[] = [];
  for (const f of picked) {
    out.push(bulk(f));
    if (withValues) out.push(h.get(f)!);
  }
  return out;
}

/** The further hash commands, by lower-case name. */
export const hashCommands: Readonly<Record<string, Spec>> = {
  hmset: {
    arity: -4,
    run(ks, a) {
      if (a.length % 2 === 1) return arityError('hmset');
      const r = setFields(ks, a);
      return r instanceof ReplyError ? r : OK;
    },
  },
  hsetnx: {
    arity: 4,
    run(ks, a) {
      const key = keyOf(a, 1);
      let h = readHash(ks, key);
      if (h instanceof ReplyError) return h;
      const field = keyOf(a, 2);
      if (h?.has(field) === true) return 0;
      if (a[3]!.length > ks.maxValueBytes) return TOO_BIG;
      if (h === undefined) {
        h = new Map();
        ks.set(key, h);
      }
      h.set(field, copy(a[3]!));
      ks.modified(key);
      return 1;
    },
  },
  hlen: {
    arity: 2,
    run(ks, a) {
      const h = readHash(ks, keyOf(a, 1));
      return h instanceof ReplyError ? h : (h?.size ?? 0);
    },
  },
  hexists: {
    arity: 3,
    run(ks, a) {
      const h = readHash(ks, keyOf(a, 1));
      return h instanceof ReplyError ? h : h?.has(keyOf(a, 2)) === true ? 1 : 0;
    },
  },
  hstrlen: {
    arity: 3,
    run(ks, a) {
      const h = readHash(ks, keyOf(a, 1));
      return h instanceof ReplyError ? h : (h?.get(keyOf(a, 2))?.length ?? 0);
    },
  },
  hkeys: {
    arity: 2,
    run(ks, a) {
      const h = readHash(ks, keyOf(a, 1));
      return h instanceof ReplyError ? h : h === undefined ? EMPTY : Array.from(h.keys(), bulk);
    },
  },
  hvals: {
    arity: 2,
    run(ks, a) {
      const h = readHash(ks, keyOf(a, 1));
      return h instanceof ReplyError ? h : h === undefined ? EMPTY : Array.from(h.values());
    },
  },
  hincrbyfloat: {
    arity: 4,
    run(ks, a) {
      const incr = parseLongDouble(a[3]!);
      if (incr === null) return NOT_FLOAT;
      if (!Number.isFinite(incr.e)) return new ReplyError('ERR value is NaN or Infinity');
      const key = keyOf(a, 1);
      let h = readHash(ks, key);
      if (h instanceof ReplyError) return h;
      if (h === undefined) {
        h = new Map();
        ks.set(key, h);
      }
      const field = keyOf(a, 2);
      const cur = h.get(field);
      const value = cur === undefined ? LD_ZERO : parseLongDouble(cur);
      if (value === null || !Number.isFinite(value.e)) return new ReplyError('ERR hash value is not a float');
      const sum = addLongDouble(value, incr);
      if (sum === null) return NAN_OR_INF;
      const out = Buffer.from(formatLongDouble(sum), 'latin1');
      h.set(field, out);
      ks.modified(key);
      return out;
    },
  },
  hrandfield: { arity: -2, run: hrandfield },
  hscan: {
    arity: -3,
    run(ks, a) {
      const cursor = parseCursor(a[2]!);
      if (cursor instanceof ReplyError) return cursor;
      const h = readHash(ks, keyOf(a, 1));
      if (h === undefined || h instanceof ReplyError) return h ?? EMPTY_SCAN;
      let compact = h.size <= LISTPACK_ENTRIES;
      if (compact) {
        for (const [f, v] of h) if (f.length > LISTPACK_VALUE || v.length > LISTPACK_VALUE) compact = false;
      }
      return scan(a, cursor, {
        size: h.size,
        compact,
        members: () => h.keys(),
        reply: (f) => [bulk(f), h.get(f)!],
      });
    },
  },
};
