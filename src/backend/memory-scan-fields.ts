/**
 * SSCAN, HSCAN and ZSCAN on an embedded node (SCAN over keys is not here),
 * and Redis's glob matching (util.c stringmatchlen) for their MATCH.
 *
 * Like Redis, a small collection (what Redis keeps as a listpack or an
 * intset) is returned whole with cursor 0. A larger one is walked in the order
 * of a 32-bit hash of its members, the cursor being where the walk stopped:
 * so, as Redis promises, a member present for the whole scan is returned,
 * whatever is added or removed meanwhile, and the cursor stays an integer.
 */
import { ReplyError, type Reply } from '../protocol/reply.js';
import { parseScanCursor } from '../protocol/scan-cursor.js';
import { is, NOT_INTEGER, parseLong, SYNTAX, type Args } from './memory-args.js';

const INVALID_CURSOR = new ReplyError('ERR invalid cursor');
/** Redis's default COUNT. */
const DEFAULT_COUNT = 10;

/** A collection as a scan sees it: its members (latin1) and what follows each in the reply. */
export interface Scannable {
  /** How many members. */
  readonly size: number;
  /** True when Redis would hold it compact (listpack / intset): one reply, cursor 0. */
  readonly compact: boolean;
  /** Members in the order a compact one is returned. */
  members(): Iterable<string>;
  /** The reply elements of one member: [member] or [member, value]. */
  reply(member: string): Reply[];
}

/** The cursor argument, as parseScanCursorOrReply reads it; past 2^32 (no member's hash) as 2^32. */
export function parseCursor(b: Buffer): number | ReplyError {
  const v = parseScanCursor(b);
  if (v === undefined) return INVALID_CURSOR;
  return v > 0xffffffffn ? 0xffffffff + 1 : Number(v);
}

/** The reply of an empty scan (a missing key): cursor 0, no elements. */
export const EMPTY_SCAN: Reply = [Buffer.from('0'), []];

/** scanGenericCommand from the options on: the page after `cursor`. */
export function scan(a: Args, cursor: number, what: Scannable): Reply {
  let count = DEFAULT_COUNT;
  let pattern: Buffer | null = null;
  for (let i = 3; i < a.length; i += 2) {
    if (is(a[i], 'count') && i + 1 < a.length) {
      const c = parseLong(a[i + 1]!);
      if (c === null) return NOT_INTEGER;
      if (c < 1) return SYNTAX;
      count = c;
    } else if (is(a[i], 'match') && i + 1 < a.length) {
      pattern = a[i + 1]!;
      if (pattern.length === 1 && pattern[0] === 0x2a) pattern = null;
    } else return SYNTAX;
  }
  const out: Reply[] = [];
  const keep = (m: string): void => {
    if (pattern === null || globMatch(pattern, Buffer.from(m, 'latin1'))) out.push(...what.reply(m));
  };
  if (what.compact) {
    for (const m of what.members()) keep(m);
    return [Buffer.from('0'), out];
  }
  const page: [number, string][] = [];
  for (const m of what.members()) {
    const h = hash32(m);
    if (h >= cursor) page.push([h, m]);
  }
  page.sort((x, y) => x[0] - y[0]);
  let end = Math.min(count, page.length);
  // every member of one hash goes in one page, or one could be skipped
  while (end < page.length && page[end]![0] === page[end - 1]![0]) end++;
  for (let i = 0; i < end; i++) keep(page[i]![1]);
  return [Buffer.from(String(end < page.length ? page[end]![0] : 0)), out];
}

/** FNV-1a over the member's bytes, made odd so it is never 0 (a next cursor of 0 reads as "done"). */
function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h | 1) >>> 0;
}

/** Redis's stringmatchlen: `*`, `?`, `[...]` with ranges and `^`, and `\` escapes; byte-wise. */
export function globMatch(p: Buffer, s: Buffer, pi = 0, si = 0): boolean {
  while (pi < p.length) {
    const c = p[pi]!;
    if (c === 0x2a) {
      while (pi + 1 < p.length && p[pi + 1] === 0x2a) pi++;
      if (pi + 1 === p.length) return true;
      for (let k = si; k <= s.length; k++) if (globMatch(p, s, pi + 1, k)) return true;
      return false;
    }
    if (si >= s.length) return false;
    if (c === 0x3f) {
      si++;
    } else if (c === 0x5b) {
      pi++;
      const not = p[pi] === 0x5e;
      if (not) pi++;
      let match = false;
      for (;;) {
        if (pi >= p.length) {
          pi--;
          break;
        }
        const d = p[pi]!;
        if (d === 0x5c && pi + 2 < p.length) {
          pi++;
          if (p[pi] === s[si]) match = true;
        } else if (d === 0x5d) {
          break;
        } else if (pi + 2 < p.length && p[pi + 1] === 0x2d) {
          let lo = d;
          let hi = p[pi + 2]!;
          if (lo > hi) [lo, hi] = [hi, lo];
          if (s[si]! >= lo && s[si]! <= hi) match = true;
          pi += 2;
        } else if (d === s[si]) {
          match = true;
        }
        pi++;
      }
      if (not) match = !match;
      if (!match) return false;
      si++;
    } else {
      if (c === 0x5c && pi + 1 < p.length) pi++;
      if (p[pi] !== s[si]) return false;
      si++;
    }
    pi++;
  }
  return si === s.length;
}
