/**
 * The sorted-set commands of an embedded node, after Redis 7.0's t_zset.c.
 * Scores are answered as RESP2 answers them (bulk strings in "%.17g"), the
 * form a Redis node's replies reach clients through the router too.
 */
import { ReplyError, type Reply } from '../protocol/reply.js';
import {
  bulk,
  is,
  keyOf,
  LONG_MAX,
  NOT_FLOAT,
  NOT_INTEGER,
  NULL_ARRAY,
  parseDouble,
  parseLong,
  parsePositiveLong,
  parseRangeLong,
  parseTimeout,
  readZSet,
  scoreReply,
  SYNTAX,
  WRONGTYPE,
  clampRange,
  type Args,
  type BlockingCall,
  type BlockingParse,
  type Spec,
} from './memory-args.js';
import type { Keyspace } from './memory-keyspace.js';
import { EMPTY_SCAN, parseCursor, scan } from './memory-scan.js';
import { SortedSet, type ZNode } from './memory-sorted-set.js';
import {
  LEX_RANGE_ERROR,
  parseLexRange,
  parseScoreRange,
  rangeNodes,
  rankSpan,
  SCORE_RANGE_ERROR,
  walk,
  type Range,
} from './memory-zset-ranges.js';
import { zsetOpCommands } from './memory-zset-ops.js';

const EMPTY: readonly Reply[] = [];
const NAN_SCORE = new ReplyError('ERR resulting score is not a number (NaN)');
/** zset-max-listpack-entries / -value: below both Redis keeps the set compact. */
const LISTPACK_ENTRIES = 128;
const LISTPACK_VALUE = 64;

/** Replies for nodes: members, or member-score pairs flat (RESP2's WITHSCORES). */
export function nodesReply(nodes: readonly ZNode[], withScores: boolean): Reply[] {
  const out: Reply[] = [];
  for (const n of nodes) {
    out.push(bulk(n.member));
    if (withScores) out.push(scoreReply(n.score));
  }
  return out;
}

/** Stores `z` at `dst` (deleting dst when empty), answering its size, as the *STORE commands do. */
export function storeZSet(ks: Keyspace, dst: string, z: SortedSet): number {
  if (z.size === 0) {
    ks.delete(dst);
    return 0;
  }
  ks.set(dst, z);
  return z.size;
}

const ZADD_NX = 1;
const ZADD_XX = 2;
const ZADD_GT = 4;
const ZADD_LT = 8;
const ZADD_INCR = 16;
const ZADD_CH = 32;

function zadd(ks: Keyspace, a: Args, flags: number, scoreAt: number): Reply {
  for (; scoreAt < a.length; scoreAt++) {
    const opt = a[scoreAt]!;
    if (is(opt, 'nx')) flags |= ZADD_NX;
    else if (is(opt, 'xx')) flags |= ZADD_XX;
    else if (is(opt, 'ch')) flags |= ZADD_CH;
    else if (is(opt, 'incr')) flags |= ZADD_INCR;
    else if (is(opt, 'gt')) flags |= ZADD_GT;
    else if (is(opt, 'lt')) flags |= ZADD_LT;
    else break;
  }
  const elements = a.length - scoreAt;
  if (elements % 2 !== 0 || elements === 0) return SYNTAX;
  const nx = (flags & ZADD_NX) !== 0;
  const xx = (flags & ZADD_XX) !== 0;
  const gt = (flags & ZADD_GT) !== 0;
  const lt = (flags & ZADD_LT) !== 0;
  const incr = (flags & ZADD_INCR) !== 0;
  if (nx && xx) return new ReplyError('ERR XX and NX options at the same time are not compatible');
  if ((gt && nx) || (lt && nx) || (gt && lt)) {
    return new ReplyError('ERR GT, LT, and/or NX options at the same time are not compatible');
  }
  if (incr && elements > 2) return new ReplyError('ERR INCR option supports a single increment-element pair');
  const scores: number[] = [];
  for (let j = scoreAt; j < a.length; j += 2) {
    const s = parseDouble(a[j]!);
    if (s === null) return NOT_FLOAT;
    scores.push(s);
  }
  const key = keyOf(a, 1);
  let z = readZSet(ks, key);
  if (z instanceof ReplyError) return z;
  let added = 0;
  let updated = 0;
  let processed = 0;
  let score = 0;
  if (z !== undefined || !xx) {
    if (z === undefined) {
      z = new SortedSet();
      ks.set(key, z);
    }
    for (let j = 0; j < scores.length; j++) {
      const member = keyOf(a, scoreAt + 1 + j * 2);
      const cur = z.score(member);
      let next = scores[j]!;
      if (cur !== undefined) {
        if (nx) continue;
        if (incr) {
          next = cur + next;
          if (Number.isNaN(next)) {
            if (added + updated > 0) ks.modified(key);
            return NAN_SCORE;
          }
        }
        if ((gt && next <= cur) || (lt && next >= cur)) continue;
        processed++;
        score = next;
        if (next !== cur) {
          z.set(member, next);
          updated++;
        }
      } else {
        if (xx) continue;
        z.set(member, next);
        added++;
        processed++;
        score = next;
      }
    }
    if (z.size === 0) ks.delete(key);
    else if (added + updated > 0) ks.modified(key);
  }
  if (incr) return processed > 0 ? scoreReply(score) : null;
  return flags & ZADD_CH ? added + updated : added;
}

type RangeType = 'auto' | 'rank' | 'score' | 'lex';
type Direction = 'auto' | 'forward' | 'reverse';

/** zrangeGenericCommand: every form of ZRANGE, the legacy ZRANGEBY* and ZREVRANGE*, and ZRANGESTORE. */
function zrange(ks: Keyspace, a: Args, from: number, store: boolean, type: RangeType, dir: Direction): Reply {
  let minAt = from + 1;
  let maxAt = from + 2;
  let withScores = false;
  let offset = 0;
  let limit = -1;
  for (let j = from + 3; j < a.length; j++) {
    const left = a.length - j - 1;
    if (!store && is(a[j], 'withscores')) withScores = true;
    else if (is(a[j], 'limit') && left >= 2) {
      const o = parseLong(a[j + 1]!);
      const l = parseLong(a[j + 2]!);
      if (o === null || l === null) return NOT_INTEGER;
      offset = o;
      limit = l;
      j += 2;
    } else if (dir === 'auto' && is(a[j], 'rev')) dir = 'reverse';
    else if (type === 'auto' && is(a[j], 'bylex')) type = 'lex';
    else if (type === 'auto' && is(a[j], 'byscore')) type = 'score';
    else return SYNTAX;
  }
  if (dir === 'auto') dir = 'forward';
  if (type === 'auto') type = 'rank';
  if (limit !== -1 && type === 'rank') {
    return new ReplyError(
      'ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX',
    );
  }
  if (withScores && type === 'lex') {
    return new ReplyError('ERR syntax error, WITHSCORES not supported in combination with BYLEX');
  }
  const rev = dir === 'reverse';
  if (rev && type !== 'rank') [minAt, maxAt] = [maxAt, minAt];
  let start = 0;
  let stop = 0;
  let range: Range | null = null;
  if (type === 'rank') {
    const s = parseLong(a[minAt]!);
    const e = parseLong(a[maxAt]!);
    if (s === null || e === null) return NOT_INTEGER;
    start = s;
    stop = e;
  } else {
    range = type === 'score' ? parseScoreRange(a[minAt]!, a[maxAt]!) : parseLexRange(a[minAt]!, a[maxAt]!);
    if (range === null) return type === 'score' ? SCORE_RANGE_ERROR : LEX_RANGE_ERROR;
  }
  const z = readZSet(ks, keyOf(a, from));
  if (z instanceof ReplyError) return z;
  let nodes: ZNode[] = [];
  if (z !== undefined) {
    if (range !== null) nodes = walk(z, range, rev, offset, limit);
    else {
      const r = clampRange(start, stop, z.size);
      if (r !== null) {
        const n = r[1] - r[0] + 1;
        let node = z.at(rev ? z.size - 1 - r[0] : r[0]);
        for (let i = 0; i < n && node !== null; i++) {
          nodes.push(node);
          node = rev ? node.backward : node.level[0]!.forward;
        }
      }
    }
  }
  if (!store) return z === undefined ? EMPTY : nodesReply(nodes, withScores);
  const out = new SortedSet();
  for (const n of nodes) out.set(n.member, n.score);
  return storeZSet(ks, keyOf(a, 1), out);
}

/** Pops up to `count` from `z` at `key` (min first, or max first). */
function popNodes(ks: Keyspace, key: string, z: SortedSet, max: boolean, count: number): ZNode[] {
  const out: ZNode[] = [];
  while (out.length < count && z.size > 0) {
    const node = max ? z.tail! : z.at(0)!;
    out.push(node);
    z.remove(node.member);
  }
  if (z.size === 0) ks.delete(key);
  else ks.modified(key);
  return out;
}

function zpop(ks: Keyspace, a: Args, max: boolean): Reply {
  if (a.length > 3) return SYNTAX;
  let count = -1;
  if (a.length === 3) {
    const c = parsePositiveLong(a[2]!);
    if (c instanceof ReplyError) return c;
    count = c;
  }
  const key = keyOf(a, 1);
  const z = readZSet(ks, key);
  if (z === undefined || z instanceof ReplyError) return z ?? EMPTY;
  if (count === 0) return EMPTY;
  return nodesReply(popNodes(ks, key, z, max, count === -1 ? 1 : count), true);
}

/** ZMPOP's reply: [key, [[member, score], ...]]. */
function mpopReply(key: string, nodes: readonly ZNode[]): Reply {
  return [bulk(key), nodes.map((n) => [bulk(n.member), scoreReply(n.score)])];
}

function parseZmpop(
  a: Args,
  numkeysAt: number,
): { keys: string[]; max: boolean; count: number } | ReplyError {
  const numkeys = parseRangeLong(a[numkeysAt]!, 1, LONG_MAX, 'numkeys should be greater than 0');
  if (numkeys instanceof ReplyError) return numkeys;
  const whereAt = numkeysAt + numkeys + 1;
  if (whereAt >= a.length) return SYNTAX;
  const max = is(a[whereAt], 'max');
  if (!max && !is(a[whereAt], 'min')) return SYNTAX;
  let count = -1;
  for (let j = whereAt + 1; j < a.length; j++) {
    if (count === -1 && is(a[j], 'count') && j + 1 < a.length) {
      j++;
      const c = parseRangeLong(a[j]!, 1, LONG_MAX, 'count should be greater than 0');
      if (c instanceof ReplyError) return c;
      count = c;
    } else return SYNTAX;
  }
  const keys: string[] = [];
  for (let i = numkeysAt + 1; i < whereAt; i++) keys.push(keyOf(a, i));
  return { keys, max, count: count === -1 ? 1 : count };
}

/** A blocking zset pop over `keys`; `reply` shapes what one key gave. */
function zpopCall(
  keys: string[],
  max: boolean,
  count: number,
  timeoutMs: number,
  reply: (key: string, nodes: ZNode[]) => Reply,
): BlockingCall {
  const serveKey = (ks: Keyspace, key: string): Reply | undefined => {
    const z = ks.get(key);
    if (!(z instanceof SortedSet) || z.size === 0) return undefined;
    return reply(key, popNodes(ks, key, z, max, count));
  };
  return {
    keys,
    timeoutMs,
    timedOut: NULL_ARRAY,
    cannotBlock: NULL_ARRAY,
    serveKey,
    serve(ks) {
      for (const key of keys) {
        const v = ks.get(key);
        if (v === undefined) continue;
        if (!(v instanceof SortedSet)) return WRONGTYPE;
        const r = serveKey(ks, key);
        if (r !== undefined) return r;
      }
      return undefined;
    },
  };
}

function parseBzpop(max: boolean): BlockingParse {
  return (a) => {
    const timeout = parseTimeout(a[a.length - 1]!);
    if (timeout instanceof ReplyError) return timeout;
    const keys: string[] = [];
    for (let i = 1; i < a.length - 1; i++) keys.push(keyOf(a, i));
    return zpopCall(keys, max, 1, timeout, (key, nodes) => [bulk(key), ...nodesReply(nodes, true)]);
  };
}

const parseBzmpop: BlockingParse = (a) => {
  const parsed = parseZmpop(a, 2);
  if (parsed instanceof ReplyError) return parsed;
  const timeout = parseTimeout(a[1]!);
  if (timeout instanceof ReplyError) return timeout;
  return zpopCall(parsed.keys, parsed.max, parsed.count, timeout, mpopReply);
};

/** The blocking sorted-set commands, by name. */
export const zsetBlocking: Readonly<Record<string, BlockingParse>> = {
  bzpopmin: parseBzpop(false),
  bzpopmax: parseBzpop(true),
  bzmpop: parseBzmpop,
};

function zrank(ks: Keyspace, a: Args, rev: boolean): Reply {
  const z = readZSet(ks, keyOf(a, 1));
  if (z === undefined || z instanceof ReplyError) return z ?? null;
  const r = z.rank(keyOf(a, 2));
  if (r === undefined) return null;
  return rev ? z.size - 1 - r : r;
}

function zcountGeneric(ks: Keyspace, a: Args, lex: boolean): Reply {
  const range = lex ? parseLexRange(a[2]!, a[3]!) : parseScoreRange(a[2]!, a[3]!);
  if (range === null) return lex ? LEX_RANGE_ERROR : SCORE_RANGE_ERROR;
  const z = readZSet(ks, keyOf(a, 1));
  if (z === undefined || z instanceof ReplyError) return z ?? 0;
  if (lex) return rangeNodes(z, range, false).length;
  const span = rankSpan(z, range);
  return span === null ? 0 : span[1] - span[0] + 1;
}

function zremrange(ks: Keyspace, a: Args, type: 'rank' | 'score' | 'lex'): Reply {
  let range: Range | null = null;
  let start = 0;
  let stop = 0;
  if (type === 'rank') {
    const s = parseLong(a[2]!);
    const e = parseLong(a[3]!);
    if (s === null || e === null) return NOT_INTEGER;
    start = s;
    stop = e;
  } else {
    range = type === 'score' ? parseScoreRange(a[2]!, a[3]!) : parseLexRange(a[2]!, a[3]!);
    if (range === null) return type === 'score' ? SCORE_RANGE_ERROR : LEX_RANGE_ERROR;
  }
  const key = keyOf(a, 1);
  const z = readZSet(ks, key);
  if (z === undefined || z instanceof ReplyError) return z ?? 0;
  const doomed: string[] = [];
  if (range !== null) {
    for (const n of rangeNodes(z, range, false)) doomed.push(n.member);
  } else {
    const span = clampRange(start, stop, z.size);
    if (span === null) return 0;
    let node = z.at(span[0]);
    for (let i = span[0]; i <= span[1] && node !== null; i++) {
      doomed.push(node.member);
      node = node.level[0]!.forward;
    }
  }
  for (const m of doomed) z.remove(m);
  if (z.size === 0) ks.delete(key);
  else if (doomed.length > 0) ks.modified(key);
  return doomed.length;
}

function zrandmember(ks: Keyspace, a: Args): Reply {
  if (a.length === 2) {
    const z = readZSet(ks, keyOf(a, 1));
    if (z === undefined || z instanceof ReplyError) return z ?? null;
    return bulk(z.at(Math.floor(ks.random() * z.size))!.member);
  }
  const l = parseRangeLong(a[2]!, -LONG_MAX, LONG_MAX);
  if (l instanceof ReplyError) return l;
  if (a.length > 4 || (a.length === 4 && !is(a[3], 'withscores'))) return SYNTAX;
  const withScores = a.length === 4;
  if (withScores && (l < -LONG_MAX / 2 || l > LONG_MAX / 2))
    return new ReplyError('ERR value is out of range');
  const z = readZSet(ks, keyOf(a, 1));
  if (z === undefined || z instanceof ReplyError) return z ?? EMPTY;
  if (l === 0) return EMPTY;
  const picked: ZNode[] = [];
  if (l < 0) {
    for (let i = 0; i < -l; i++) picked.push(z.at(Math.floor(ks.random() * z.size))!);
  } else if (l >= z.size) {
    picked.push(...z.entries());
  } else {
    const ranks = Array.from({ length: z.size }, (_, i) => i);
    for (let i = 0; i < l; i++) {
      const j = i + Math.floor(ks.random() * (ranks.length - i));
      [ranks[i], ranks[j]] = [ranks[j]!, ranks[i]!];
    }
    for (let i = 0; i < l; i++) picked.push(z.at(ranks[i]!)!);
  }
  return nodesReply(picked, withScores);
}

/** The sorted-set commands, by lower-case name. */
export const zsetCommands: Readonly<Record<string, Spec>> = {
  zadd: { arity: -4, run: (ks, a) => zadd(ks, a, 0, 2) },
  zincrby: {
    arity: 4,
    run: (ks, a) => zadd(ks, a, ZADD_INCR, 2),
  },
  zrem: {
    arity: -3,
    run(ks, a) {
      const key = keyOf(a, 1);
      const z = readZSet(ks, key);
      if (z === undefined || z instanceof ReplyError) return z ?? 0;
      let n = 0;
      for (let i = 2; i < a.length; i++) if (z.remove(keyOf(a, i))) n++;
      if (z.size === 0) ks.delete(key);
      else if (n > 0) ks.modified(key);
      return n;
    },
  },
  zcard: {
    arity: 2,
    run(ks, a) {
      const z = readZSet(ks, keyOf(a, 1));
      return z instanceof ReplyError ? z : (z?.size ?? 0);
    },
  },
  zscore: {
    arity: 3,
    run(ks, a) {
      const z = readZSet(ks, keyOf(a, 1));
      if (z === undefined || z instanceof ReplyError) return z ?? null;
      const s = z.score(keyOf(a, 2));
      return s === undefined ? null : scoreReply(s);
    },
  },
  zmscore: {
    arity: -3,
    run(ks, a) {
      const z = readZSet(ks, keyOf(a, 1));
      if (z instanceof ReplyError) return z;
      const out: Reply[] = [];
      for (let i = 2; i < a.length; i++) {
        const s = z?.score(keyOf(a, i));
        out.push(s === undefined ? null : scoreReply(s));
      }
      return out;
    },
  },
  zrank: { arity: 3, run: (ks, a) => zrank(ks, a, false) },
  zrevrank: { arity: 3, run: (ks, a) => zrank(ks, a, true) },
  zcount: { arity: 4, run: (ks, a) => zcountGeneric(ks, a, false) },
  zlexcount: { arity: 4, run: (ks, a) => zcountGeneric(ks, a, true) },
  zrange: { arity: -4, run: (ks, a) => zrange(ks, a, 1, false, 'auto', 'auto') },
  zrangestore: { arity: -5, run: (ks, a) => zrange(ks, a, 2, true, 'auto', 'auto') },
  zrevrange: { arity: -4, run: (ks, a) => zrange(ks, a, 1, false, 'rank', 'reverse') },
  zrangebyscore: { arity: -4, run: (ks, a) => zrange(ks, a, 1, false, 'score', 'forward') },
  zrevrangebyscore: { arity: -4, run: (ks, a) => zrange(ks, a, 1, false, 'score', 'reverse') },
  zrangebylex: { arity: -4, run: (ks, a) => zrange(ks, a, 1, false, 'lex', 'forward') },
  zrevrangebylex: { arity: -4, run: (ks, a) => zrange(ks, a, 1, false, 'lex', 'reverse') },
  zremrangebyrank: { arity: 4, run: (ks, a) => zremrange(ks, a, 'rank') },
  zremrangebyscore: { arity: 4, run: (ks, a) => zremrange(ks, a, 'score') },
  zremrangebylex: { arity: 4, run: (ks, a) => zremrange(ks, a, 'lex') },
  zpopmin: { arity: -2, run: (ks, a) => zpop(ks, a, false) },
  zpopmax: { arity: -2, run: (ks, a) => zpop(ks, a, true) },
  zmpop: {
    arity: -4,
    run(ks, a) {
      const parsed = parseZmpop(a, 1);
      if (parsed instanceof ReplyError) return parsed;
      return zpopCall(parsed.keys, parsed.max, parsed.count, 0, mpopReply).serve(ks) ?? NULL_ARRAY;
    },
  },
  zrandmember: { arity: -2, run: zrandmember },
  zscan: {
    arity: -3,
    run(ks, a) {
      const cursor = parseCursor(a[2]!);
      if (cursor instanceof ReplyError) return cursor;
      const z = readZSet(ks, keyOf(a, 1));
      if (z === undefined || z instanceof ReplyError) return z ?? EMPTY_SCAN;
      let compact = z.size <= LISTPACK_ENTRIES;
      if (compact) for (const n of z.entries()) if (n.member.length > LISTPACK_VALUE) compact = false;
      return scan(a, cursor, {
        size: z.size,
        compact,
        members: () => Array.from(z.entries(), (n) => n.member),
        reply: (m) => [bulk(m), scoreReply(z.score(m)!)],
      });
    },
  },
  ...zsetOpCommands,
};
