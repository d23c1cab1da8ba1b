/**
 * The geo commands of an embedded node, after Redis 7.0's geo.c. A geo set is
 * a sorted set whose scores are 52-bit geohashes (memory-geohash.ts), so the
 * zset commands, TYPE and a dump see what they see on Redis. A search scans
 * the 9 cells Redis scans, in its order, and sorts as it sorts (glibc's
 * stable qsort, or Redis's pqsort when COUNT cuts the result), so even the
 * order Redis leaves unspecified comes out the same.
 */
import { ReplyError, type Reply } from '../protocol/reply.js';
import {
  bulk,
  is,
  keyOf,
  NOT_FLOAT,
  NOT_INTEGER,
  NULL_ARRAY,
  parseDouble,
  parseInt64,
  readZSet,
  SYNTAX,
  type Args,
  type Spec,
} from './memory-args.js';
import {
  decodeScore,
  distance,
  GEO_LAT_MAX,
  GEO_LAT_MIN,
  GEO_LONG_MAX,
  GEO_LONG_MIN,
  geohashString,
  humanDouble,
  pointScore,
  printFixed,
  scoreRange,
  searchAreas,
  withinShape,
  type GeoShape,
} from './memory-geohash.js';
import type { Keyspace } from './memory-keyspace.js';
import { SortedSet } from './memory-sorted-set.js';
import { storeZSet, zsetCommands } from './memory-zsets.js';

const UNIT_ERROR = new ReplyError('ERR unsupported unit provided. please use M, KM, FT, MI');
const NO_MEMBER = new ReplyError('ERR could not decode requested zset member');

/** extractLongLatOrReply: [lon, lat], or the error. */
function parseLonLat(a: Args, i: number): [number, number] | ReplyError {
  const lon = parseDouble(a[i]!);
  if (lon === null) return NOT_FLOAT;
  const lat = parseDouble(a[i + 1]!);
  if (lat === null) return NOT_FLOAT;
  if (lon < GEO_LONG_MIN || lon > GEO_LONG_MAX || lat < GEO_LAT_MIN || lat > GEO_LAT_MAX) {
    return new ReplyError(`ERR invalid longitude,latitude pair ${printFixed(lon, 6)},${printFixed(lat, 6)}`);
  }
  return [lon, lat];
}

/** extractUnitOrReply: metres per unit, or the error. */
function parseUnit(b: Buffer): number | ReplyError {
  if (is(b, 'm')) return 1;
  if (is(b, 'km')) return 1000;
  if (is(b, 'ft')) return 0.3048;
  if (is(b, 'mi')) return 1609.34;
  return UNIT_ERROR;
}

/** addReplyDoubleDistance: "%.4f". */
const distanceReply = (d: number): Buffer => bulk(printFixed(d, 4));

function geoadd(ks: Keyspace, a: Args): Reply {
  let xx = false;
  let nx = false;
  let at = 2;
  for (; at < a.length; at++) {
    if (is(a[at], 'nx')) nx = true;
    else if (is(a[at], 'xx')) xx = true;
    else if (!is(a[at], 'ch')) break;
  }
  if ((a.length - at) % 3 !== 0 || (xx && nx)) return SYNTAX;
  const zargs: Buffer[] = [Buffer.from('zadd'), ...a.slice(1, at)];
  for (let j = at; j < a.length; j += 3) {
    const xy = parseLonLat(a, j);
    if (xy instanceof ReplyError) return xy;
    zargs.push(Buffer.from(String(pointScore(xy[0], xy[1])!)), a[j + 2]!);
  }
  // as Redis, the rest is ZADD's: its options, its type check, its reply
  return zsetCommands.zadd!.run(ks, zargs);
}

function geopos(ks: Keyspace, a: Args): Reply {
  const z = readZSet(ks, keyOf(a, 1));
  if (z instanceof ReplyError) return z;
  const out: Reply[] = [];
  for (let j = 2; j < a.length; j++) {
    const score = z?.score(keyOf(a, j));
    if (score === undefined) out.push(NULL_ARRAY);
    else {
      const [lon, lat] = decodeScore(score);
      out.push([bulk(humanDouble(lon)), bulk(humanDouble(lat))]);
    }
  }
  return out;
}

function geohash(ks: Keyspace, a: Args): Reply {
  const z = readZSet(ks, keyOf(a, 1));
  if (z instanceof ReplyError) return z;
  const out: Reply[] = [];
  for (let j = 2; j < a.length; j++) {
    const score = z?.score(keyOf(a, j));
    out.push(score === undefined ? null : bulk(geohashString(score)));
  }
  return out;
}

function geodist(ks: Keyspace, a: Args): Reply {
  let toMeter = 1;
  if (a.length === 5) {
    const u = parseUnit(a[4]!);
    if (u instanceof ReplyError) return u;
    toMeter = u;
  } else if (a.length > 5) return SYNTAX;
  const z = readZSet(ks, keyOf(a, 1));
  if (z === undefined || z instanceof ReplyError) return z ?? null;
  const s1 = z.score(keyOf(a, 2));
  const s2 = z.score(keyOf(a, 3));
  if (s1 === undefined || s2 === undefined) return null;
  const [x1, y1] = decodeScore(s1);
  const [x2, y2] = decodeScore(s2);
  return distanceReply(distance(x1, y1, x2, y2) / toMeter);
}

// ---------------------------------------------------------------------------
// Searches.

interface GeoPoint {
  readonly member: string;
  readonly score: number;
  readonly lon: number;
  readonly lat: number;
  dist: number;
}

/** geoGetPointsInRange over one cell's scores [min, max), stopping at `limit` points (0: none). */
function pointsInRange(
  z: SortedSet,
  min: number,
  max: number,
  s: GeoShape,
  out: GeoPoint[],
  limit: number,
): void {
  for (let n = z.first((x) => x.score >= min)?.node ?? null; n !== null; n = n.level[0]!.forward) {
    if (n.score >= max) break;
    const [lon, lat] = decodeScore(n.score);
    const dist = withinShape(s, lon, lat);
    if (dist !== null) out.push({ member: n.member, score: n.score, lon, lat, dist });
    if (out.length > 0 && limit > 0 && out.length >= limit) break;
  }
}

/** membersOfAllNeighbors: the cells in order, a cell equal to the last one scanned skipped. */
function membersOfAllNeighbors(z: SortedSet, s: GeoShape, limit: number): GeoPoint[] {
  const cells = searchAreas(s);
  const out: GeoPoint[] = [];
  let last = 0;
  for (let i = 0; i < cells.length; i++) {
    const c = cells[i]!;
    if (c.bits === 0 && c.step === 0) continue;
    // "last" starts at the centre's index 0, which the C reads as "none yet"
    if (last !== 0 && c.bits === cells[last]!.bits && c.step === cells[last]!.step) continue;
    if (out.length > 0 && limit > 0 && out.length >= limit) break;
    const [min, max] = scoreRange(c);
    pointsInRange(z, min, max, s, out, limit);
    last = i;
  }
  return out;
}

type Cmp = (x: GeoPoint, y: GeoPoint) => number;
const asc: Cmp = (x, y) => (x.dist > y.dist ? 1 : x.dist === y.dist ? 0 : -1);
const desc: Cmp = (x, y) => -asc(x, y);

/**
 * Redis 7.0's pqsort (NetBSD's qsort 1.19, without the switch to insertion
 * sort after a partition with no swap; recursing only into the parts that
 * overlap [lrange, rrange]): COUNT's partial sort, whose order among equal
 * distances is its own.
 */
function pqsort(v: GeoPoint[], a: number, n: number, cmp: Cmp, lrange: number, rrange: number): void {
  const swap = (i: number, j: number): void => {
    const t = v[i]!;
    v[i] = v[j]!;
    v[j] = t;
  };
  const vecswap = (i: number, j: number, k: number): void => {
    for (let x = 0; x < k; x++) swap(i + x, j + x);
  };
  const c = (i: number, j: number): number => cmp(v[i]!, v[j]!);
  const med3 = (x: number, y: number, z: number): number =>
    c(x, y) < 0 ? (c(y, z) < 0 ? y : c(x, z) < 0 ? z : x) : c(y, z) > 0 ? y : c(x, z) < 0 ? x : z;
  const insertion = (): void => {
    for (let pm = a + 1; pm < a + n; pm++)
      for (let pl = pm; pl > a && c(pl - 1, pl) > 0; pl--) swap(pl, pl - 1);
  };
  for (;;) {
    if (n < 7) return insertion();
    let pm = a + Math.floor(n / 2);
    if (n > 7) {
      let pl = a;
      let pn = a + n - 1;
      if (n > 40) {
        const d = Math.floor(n / 8);
        pl = med3(pl, pl + d, pl + 2 * d);
        pm = med3(pm - d, pm, pm + d);
        pn = med3(pn - 2 * d, pn - d, pn);
      }
      pm = med3(pl, pm, pn);
    }
    swap(a, pm);
    let pa = a + 1;
    let pb = pa;
    let pc = a + n - 1;
    let pd = pc;
    for (;;) {
      let r: number;
      while (pb <= pc && (r = c(pb, a)) <= 0) {
        if (r === 0) swap(pa++, pb);
        pb++;
      }
      while (pb <= pc && (r = c(pc, a)) >= 0) {
        if (r === 0) swap(pc, pd--);
        pc--;
      }
      if (pb > pc) break;
      swap(pb++, pc--);
    }
    const pn = a + n;
    let r = Math.min(pa - a, pb - pa);
    vecswap(a, pb - r, r);
    r = Math.min(pd - pc, pn - pd - 1);
    vecswap(pb, pn - r, r);
    // a part is sorted only when it overlaps [lrange, rrange]
    const overlaps = (l: number, len: number): boolean =>
      !((lrange < l && rrange < l) || (lrange > l + len - 1 && rrange > l + len - 1));
    if ((r = pb - pa) > 1 && overlaps(a, r)) pqsort(v, a, r, cmp, lrange, rrange);
    if ((r = pd - pc) <= 1) return;
    a = pn - r;
    n = r;
    if (!overlaps(a, r)) return;
  }
}

/** addReplyLongLong(score): the C's (long long) cast, truncating; out of range it gives INT64_MIN on x86-64. */
function scoreAsLongLong(score: number): number | bigint {
  const t = Math.trunc(score);
  if (Number.isSafeInteger(t)) return t;
  return t >= -(2 ** 63) && t < 2 ** 63 ? BigInt(t) : -(2n ** 63n);
}

const RADIUS_COORDS = 1;
const RADIUS_MEMBER = 2;
const RADIUS_NOSTORE = 4;
const GEOSEARCH = 8;
const GEOSEARCHSTORE = 16;

const STORE_WITH = (search: boolean): ReplyError =>
  new ReplyError(
    `ERR ${search ? 'GEOSEARCHSTORE' : 'STORE option in GEORADIUS'} is not compatible with WITHDIST, WITHHASH and WITHCOORD options`,
  );

/** extractDistanceOrReply: [radius, metres per unit]. */
function parseRadius(a: Args, i: number): [number, number] | ReplyError {
  const r = parseDouble(a[i]!);
  if (r === null) return new ReplyError('ERR need numeric radius');
  if (r < 0) return new ReplyError('ERR radius cannot be negative');
  const u = parseUnit(a[i + 1]!);
  return u instanceof ReplyError ? u : [r, u];
}

/** extractBoxOrReply: [width, height, metres per unit]. */
function parseBox(a: Args, i: number): [number, number, number] | ReplyError {
  const w = parseDouble(a[i]!);
  if (w === null) return new ReplyError('ERR need numeric width');
  const h = parseDouble(a[i + 1]!);
  if (h === null) return new ReplyError('ERR need numeric height');
  if (h < 0 || w < 0) return new ReplyError('ERR height or width cannot be negative');
  const u = parseUnit(a[i + 2]!);
  return u instanceof ReplyError ? u : [w, h, u];
}

/** georadiusGeneric, for all six search commands. */
function search(ks: Keyspace, a: Args, srcAt: number, flags: number): Reply {
  const z = readZSet(ks, keyOf(a, srcAt));
  if (z instanceof ReplyError) return z;
  let storeKey: string | undefined;
  let storeDist = false;
  let lon = 0;
  let lat = 0;
  let conversion = 0;
  let radius = 0;
  let box: [number, number] | undefined;
  let base: number;
  if (flags & RADIUS_COORDS) {
    base = 6;
    const xy = parseLonLat(a, 2);
    if (xy instanceof ReplyError) return xy;
    [lon, lat] = xy;
    const r = parseRadius(a, 4);
    if (r instanceof ReplyError) return r;
    [radius, conversion] = r;
  } else if (flags & RADIUS_MEMBER) {
    base = 5;
    // without the key, the centre and radius go unread: only the options decide the reply
    if (z !== undefined) {
      const score = z.score(keyOf(a, 2));
      if (score === undefined) return NO_MEMBER;
      [lon, lat] = decodeScore(score);
      const r = parseRadius(a, 3);
      if (r instanceof ReplyError) return r;
      [radius, conversion] = r;
    }
  } else {
    base = 2;
    if (flags & GEOSEARCHSTORE) {
      base = 3;
      storeKey = keyOf(a, 1);
    }
  }
  let withDist = false;
  let withHash = false;
  let withCoord = false;
  let fromMember = false;
  let fromLoc = false;
  let byRadius = false;
  let byBox = false;
  let sort: 'none' | 'asc' | 'desc' = 'none';
  let any = false;
  let count = 0;
  const search = (flags & GEOSEARCH) !== 0;
  const storable = (flags & (RADIUS_NOSTORE | GEOSEARCH)) === 0;
  for (let i = base; i < a.length; i++) {
    const arg = a[i]!;
    const left = a.length - 1 - i;
    if (is(arg, 'withdist')) withDist = true;
    else if (is(arg, 'withhash')) withHash = true;
    else if (is(arg, 'withcoord')) withCoord = true;
    else if (is(arg, 'any')) any = true;
    else if (is(arg, 'asc')) sort = 'asc';
    else if (is(arg, 'desc')) sort = 'desc';
    else if (is(arg, 'count') && left >= 1) {
      const c = parseInt64(a[++i]!);
      if (c === null) return NOT_INTEGER;
      if (c <= 0) return new ReplyError('ERR COUNT must be > 0');
      count = Number(c);
    } else if (is(arg, 'store') && left >= 1 && storable) {
      storeKey = keyOf(a, ++i);
      storeDist = false;
    } else if (is(arg, 'storedist') && left >= 1 && storable) {
      storeKey = keyOf(a, ++i);
      storeDist = true;
    } else if (is(arg, 'storedist') && search && (flags & GEOSEARCHSTORE) !== 0) {
      storeDist = true;
    } else if (is(arg, 'frommember') && left >= 1 && search && !fromLoc) {
      i++;
      fromMember = true;
      if (z === undefined) continue;
      const score = z.score(keyOf(a, i));
      if (score === undefined) return NO_MEMBER;
      [lon, lat] = decodeScore(score);
    } else if (is(arg, 'fromlonlat') && left >= 2 && search && !fromMember) {
      const xy = parseLonLat(a, i + 1);
      if (xy instanceof ReplyError) return xy;
      [lon, lat] = xy;
      fromLoc = true;
      i += 2;
    } else if (is(arg, 'byradius') && left >= 2 && search && !byBox) {
      const r = parseRadius(a, i + 1);
      if (r instanceof ReplyError) return r;
      [radius, conversion] = r;
      byRadius = true;
      i += 2;
    } else if (is(arg, 'bybox') && left >= 3 && search && !byRadius) {
      const b = parseBox(a, i + 1);
      if (b instanceof ReplyError) return b;
      box = [b[0], b[1]];
      conversion = b[2];
      byBox = true;
      i += 3;
    } else return SYNTAX;
  }
  if (storeKey !== undefined && (withDist || withHash || withCoord)) {
    return STORE_WITH((flags & GEOSEARCHSTORE) !== 0);
  }
  const name = a[0]!.toString('latin1');
  if (search && !(fromMember || fromLoc)) {
    return new ReplyError(`ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for ${name}`);
  }
  if (search && !(byRadius || byBox)) {
    return new ReplyError(`ERR exactly one of BYRADIUS and BYBOX can be specified for ${name}`);
  }
  if (any && count === 0) return new ReplyError('ERR the ANY argument requires COUNT argument');
  if (z === undefined) {
    if (storeKey === undefined) return [];
    ks.delete(storeKey);
    return 0;
  }
  if (count !== 0 && sort === 'none' && !any) sort = 'asc';
  const shape: GeoShape = box
    ? { type: 'box', lon, lat, conversion, width: box[0], height: box[1] }
    : { type: 'radius', lon, lat, conversion, radius };
  const points = membersOfAllNeighbors(z, shape, any ? count : 0);
  if (points.length === 0 && storeKey === undefined) return [];
  const returned = count === 0 || points.length < count ? points.length : count;
  if (sort !== 'none') {
    const cmp = sort === 'asc' ? asc : desc;
    // glibc's qsort is a merge sort: stable, as Array.prototype.sort is
    if (returned === points.length) points.sort(cmp);
    else pqsort(points, 0, points.length, cmp, 0, returned - 1);
  }
  if (storeKey === undefined) {
    const out: Reply[] = [];
    for (let i = 0; i < returned; i++) {
      const p = points[i]!;
      p.dist /= conversion;
      if (!withDist && !withHash && !withCoord) {
        out.push(bulk(p.member));
        continue;
      }
      const item: Reply[] = [bulk(p.member)];
      if (withDist) item.push(distanceReply(p.dist));
      if (withHash) item.push(scoreAsLongLong(p.score));
      if (withCoord) item.push([bulk(humanDouble(p.lon)), bulk(humanDouble(p.lat))]);
      out.push(item);
    }
    return out;
  }
  const dst = new SortedSet();
  for (let i = 0; i < returned; i++) {
    const p = points[i]!;
    p.dist /= conversion;
    dst.set(p.member, storeDist ? p.dist : p.score);
  }
  return storeZSet(ks, storeKey, dst);
}

export const geoCommands: Readonly<Record<string, Spec>> = {
  geoadd: { arity: -5, run: geoadd },
  geopos: { arity: -2, run: geopos },
  geohash: { arity: -2, run: geohash },
  geodist: { arity: -4, run: geodist },
  georadius: { arity: -6, run: (ks, a) => search(ks, a, 1, RADIUS_COORDS) },
  georadius_ro: { arity: -6, run: (ks, a) => search(ks, a, 1, RADIUS_COORDS | RADIUS_NOSTORE) },
  georadiusbymember: { arity: -5, run: (ks, a) => search(ks, a, 1, RADIUS_MEMBER) },
  georadiusbymember_ro: { arity: -5, run: (ks, a) => search(ks, a, 1, RADIUS_MEMBER | RADIUS_NOSTORE) },
  geosearch: { arity: -7, run: (ks, a) => search(ks, a, 1, GEOSEARCH) },
  geosearchstore: { arity: -8, run: (ks, a) => search(ks, a, 2, GEOSEARCH | GEOSEARCHSTORE) },
};
