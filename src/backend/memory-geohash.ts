/**
 * The geohash arithmetic of an embedded node's geo commands, after Redis
 * 7.0's geohash.c and geohash_helper.c: 52-bit interleaved scores (latitude
 * in the even bits, longitude in the odd), the 9 areas a search scans and the
 * haversine distance. Every step is the same double arithmetic as Redis's C,
 * so the same points fall in the same areas and on the same side of a radius.
 */
import { formatLongDouble } from './memory-args.js';
import { asin, cos, sin } from './memory-geomath.js';

export const GEO_STEP_MAX = 26;
export const GEO_LAT_MIN = -85.05112878;
export const GEO_LAT_MAX = 85.05112878;
export const GEO_LONG_MIN = -180;
export const GEO_LONG_MAX = 180;

const D_R = Math.PI / 180.0;
const EARTH_RADIUS_IN_METERS = 6372797.560856;
const MERCATOR_MAX = 20037726.37;
const TWO32 = 2 ** 32;

const degRad = (ang: number): number => ang * D_R;
const radDeg = (ang: number): number => ang / D_R;

/** A geohash of `step` bits per coordinate; `bits` < 2^53 (a zeroed one has step 0). */
export interface GeoHashBits {
  readonly bits: number;
  readonly step: number;
}

export interface GeoHashArea {
  readonly lonMin: number;
  readonly lonMax: number;
  readonly latMin: number;
  readonly latMax: number;
}

interface Range {
  readonly min: number;
  readonly max: number;
}

const LONG_RANGE: Range = { min: GEO_LONG_MIN, max: GEO_LONG_MAX };
const LAT_RANGE: Range = { min: GEO_LAT_MIN, max: GEO_LAT_MAX };
/** The standard geohash ranges GEOHASH re-encodes with (Redis's own latitude range is narrower). */
const STD_LAT_RANGE: Range = { min: -90, max: 90 };

/** The bits of a 16-bit value spread to the even bits of a 32-bit one. */
function spread16(v: number): number {
  v = (v | (v << 8)) & 0x00ff00ff;
  v = (v | (v << 4)) & 0x0f0f0f0f;
  v = (v | (v << 2)) & 0x33333333;
  v = (v | (v << 1)) & 0x55555555;
  return v >>> 0;
}

/** The even bits of a 32-bit value gathered into 16 bits. */
function gather16(v: number): number {
  v &= 0x55555555;
  v = (v | (v >>> 1)) & 0x33333333;
  v = (v | (v >>> 2)) & 0x0f0f0f0f;
  v = (v | (v >>> 4)) & 0x00ff00ff;
  v = (v | (v >>> 8)) & 0x0000ffff;
  return v;
}

/** interleave64(lat, lon) of two uint32 values, as a number: exact while the result is below 2^53. */
function interleave(lat: number, lon: number): number {
  const lo = (spread16(lat & 0xffff) | (spread16(lon & 0xffff) << 1)) >>> 0;
  const hi = (spread16(lat >>> 16) | (spread16(lon >>> 16) << 1)) >>> 0;
  return hi * TWO32 + lo;
}

/** deinterleave64 of a uint64 given as its two 32-bit halves: [lat, lon] as uint32. */
function deinterleave(hi: number, lo: number): [number, number] {
  const lat = ((gather16(hi) << 16) | gather16(lo)) >>> 0;
  const lon = ((gather16(hi >>> 1) << 16) | gather16(lo >>> 1)) >>> 0;
  return [lat, lon];
}

/**
 * The (uint64_t) cast Redis applies to a score on x86-64: truncation, two's
 * complement for negatives, and the "integer indefinite" value where the
 * conversion fails (-inf, below -2^63; +inf and 2^64 up wrap to 0).
 */
function scoreToUint64(score: number): [number, number] {
  if (score >= 0 && score < 2 ** 53) {
    const t = Math.trunc(score);
    return [Math.floor(t / TWO32), t % TWO32];
  }
  let u: bigint;
  if (score >= 2 ** 63) {
    const r = score - 2 ** 63;
    u = r < 2 ** 63 ? BigInt(Math.trunc(r)) ^ (1n << 63n) : 0n;
  } else if (score > -(2 ** 63)) {
    u = BigInt.asUintN(64, BigInt(Math.trunc(score)));
  } else {
    u = 1n << 63n;
  }
  return [Number(u >> 32n), Number(u & 0xffffffffn)];
}

function encode(
  lonRange: Range,
  latRange: Range,
  lon: number,
  lat: number,
  step: number,
): GeoHashBits | null {
  if (lon > GEO_LONG_MAX || lon < GEO_LONG_MIN || lat > GEO_LAT_MAX || lat < GEO_LAT_MIN) return null;
  if (lat < latRange.min || lat > latRange.max || lon < lonRange.min || lon > lonRange.max) return null;
  const latOffset = ((lat - latRange.min) / (latRange.max - latRange.min)) * 2 ** step;
  const lonOffset = ((lon - lonRange.min) / (lonRange.max - lonRange.min)) * 2 ** step;
  // the C converts these doubles to uint32_t: truncation
  return { bits: interleave(Math.trunc(latOffset) >>> 0, Math.trunc(lonOffset) >>> 0), step };
}

/** geohashEncodeWGS84: null outside Redis's limits. */
export const encodeWGS84 = (lon: number, lat: number, step: number): GeoHashBits | null =>
  encode(LONG_RANGE, LAT_RANGE, lon, lat, step);

function decodeParts(lat: number, lon: number, step: number, lonRange: Range, latRange: Range): GeoHashArea {
  const latScale = latRange.max - latRange.min;
  const lonScale = lonRange.max - lonRange.min;
  const div = 2 ** step;
  // (ilato + 1) is uint32 arithmetic in the C: it wraps at 2^32
  return {
    latMin: latRange.min + (lat / div) * latScale,
    latMax: latRange.min + (((lat + 1) >>> 0) / div) * latScale,
    lonMin: lonRange.min + (lon / div) * lonScale,
    lonMax: lonRange.min + (((lon + 1) >>> 0) / div) * lonScale,
  };
}

/** geohashDecode with Redis's ranges; null for a zeroed hash. */
export function decodeArea(hash: GeoHashBits): GeoHashArea | null {
  if (hash.step === 0 && hash.bits === 0) return null;
  const [lat, lon] = deinterleave(Math.floor(hash.bits / TWO32), hash.bits % TWO32);
  return decodeParts(lat, lon, hash.step, LONG_RANGE, LAT_RANGE);
}

/** decodeGeohash: a score's [longitude, latitude], the centre of its cell clamped into Redis's limits. */
export function decodeScore(score: number): [number, number] {
  const [hi, lo] = scoreToUint64(score);
  const [lat, lon] = deinterleave(hi, lo);
  const a = decodeParts(lat, lon, GEO_STEP_MAX, LONG_RANGE, LAT_RANGE);
  let x = (a.lonMin + a.lonMax) / 2;
  if (x > GEO_LONG_MAX) x = GEO_LONG_MAX;
  if (x < GEO_LONG_MIN) x = GEO_LONG_MIN;
  let y = (a.latMin + a.latMax) / 2;
  if (y > GEO_LAT_MAX) y = GEO_LAT_MAX;
  if (y < GEO_LAT_MIN) y = GEO_LAT_MIN;
  return [x, y];
}

/** The score GEOADD gives a point (geohashAlign52Bits of its step-26 hash); null outside the limits. */
export function pointScore(lon: number, lat: number): number | null {
  const h = encodeWGS84(lon, lat, GEO_STEP_MAX);
  return h === null ? null : h.bits;
}

const GEOALPHABET = '0123456789bcdefghjkmnpqrstuvwxyz';

/** GEOHASH's 11 characters for a score: decoded, re-encoded with latitudes ±90, the last one always '0'. */
export function geohashString(score: number): string {
  const [lon, lat] = decodeScore(score);
  const h = encode(LONG_RANGE, STD_LAT_RANGE, lon, lat, GEO_STEP_MAX);
  // a decoded point is always within the limits, so the encoding succeeds
  const bits = h === null ? 0 : h.bits;
  let out = '';
  for (let i = 0; i < 10; i++) out += GEOALPHABET[Math.floor(bits / 2 ** (52 - (i + 1) * 5)) % 32];
  return `${out}0`;
}

// ---------------------------------------------------------------------------
// The areas of a search.

/**
 * The hash moved by dx cells in longitude and dy in latitude, wrapping around
 * as the C's masks do; a coordinate not moved keeps its bits (a point on the
 * limits has one past the step, which the C's geohash_move_x/y leave there).
 */
function move(hash: GeoHashBits, dx: number, dy: number): GeoHashBits {
  let [lat, lon] = deinterleave(Math.floor(hash.bits / TWO32), hash.bits % TWO32);
  const size = 2 ** hash.step;
  if (dx !== 0) lon = (lon + dx + size) % size;
  if (dy !== 0) lat = (lat + dy + size) % size;
  return { bits: interleave(lat, lon), step: hash.step };
}

const ZERO: GeoHashBits = { bits: 0, step: 0 };

/** A search's shape: a circle of `radius` or a box of `width` x `height`, in units of `conversion` metres. */
export type GeoShape =
  | {
      readonly type: 'radius';
      readonly lon: number;
      readonly lat: number;
      readonly conversion: number;
      readonly radius: number;
    }
  | {
      readonly type: 'box';
      readonly lon: number;
      readonly lat: number;
      readonly conversion: number;
      readonly width: number;
      readonly height: number;
    };

function estimateStepsByRadius(rangeMeters: number, lat: number): number {
  if (rangeMeters === 0) return 26;
  let step = 1;
  while (rangeMeters < MERCATOR_MAX) {
    rangeMeters *= 2;
    step++;
  }
  step -= 2;
  if (lat > 66 || lat < -66) {
    step--;
    if (lat > 80 || lat < -80) step--;
  }
  if (step < 1) step = 1;
  if (step > 26) step = 26;
  return step;
}

/** geohashBoundingBox: [minLon, minLat, maxLon, maxLat]. */
function boundingBox(s: GeoShape): [number, number, number, number] {
  const height = s.conversion * (s.type === 'radius' ? s.radius : s.height / 2);
  const width = s.conversion * (s.type === 'radius' ? s.radius : s.width / 2);
  const latDelta = radDeg(height / EARTH_RADIUS_IN_METERS);
  const longDeltaTop = radDeg(width / EARTH_RADIUS_IN_METERS / cos(degRad(s.lat + latDelta)));
  const longDeltaBottom = radDeg(width / EARTH_RADIUS_IN_METERS / cos(degRad(s.lat - latDelta)));
  // the box is widest at its edge nearer a pole
  const delta = s.lat < 0 ? longDeltaBottom : longDeltaTop;
  return [s.lon - delta, s.lat - latDelta, s.lon + delta, s.lat + latDelta];
}

/**
 * geohashCalculateAreasByShapeWGS84: the centre's cell and its 8 neighbours
 * (zeroed where useless), in membersOfAllNeighbors' order: centre, north,
 * south, east, west, north-east, north-west, south-east, south-west.
 */
export function searchAreas(s: GeoShape): GeoHashBits[] {
  const [minLon, minLat, maxLon, maxLat] = boundingBox(s);
  let radiusMeters =
    s.type === 'radius'
      ? s.radius
      : Math.sqrt((s.width / 2) * (s.width / 2) + (s.height / 2) * (s.height / 2));
  radiusMeters *= s.conversion;
  let steps = estimateStepsByRadius(radiusMeters, s.lat);
  let hash = encodeWGS84(s.lon, s.lat, steps)!;
  const north = decodeArea(move(hash, 0, 1))!;
  const south = decodeArea(move(hash, 0, -1))!;
  const east = decodeArea(move(hash, 1, 0))!;
  const west = decodeArea(move(hash, -1, 0))!;
  // near an edge of its cell the estimated step may leave part of the shape outside the 9 cells
  const decrease =
    north.latMax < maxLat || south.latMin > minLat || east.lonMax < maxLon || west.lonMin > minLon;
  if (steps > 1 && decrease) {
    steps--;
    hash = encodeWGS84(s.lon, s.lat, steps)!;
  }
  const area = decodeArea(hash)!;
  const n = [
    hash,
    move(hash, 0, 1),
    move(hash, 0, -1),
    move(hash, 1, 0),
    move(hash, -1, 0),
    move(hash, 1, 1),
    move(hash, -1, 1),
    move(hash, 1, -1),
    move(hash, -1, -1),
  ];
  if (steps >= 2) {
    const drop = (...idx: number[]): void => idx.forEach((i) => (n[i] = ZERO));
    if (area.latMin < minLat) drop(2, 8, 7);
    if (area.latMax > maxLat) drop(1, 5, 6);
    if (area.lonMin < minLon) drop(4, 8, 6);
    if (area.lonMax > maxLon) drop(3, 7, 5);
  }
  return n;
}

/** scoresOfGeoHashBox: the scores [min, max) of the points in a cell. */
export function scoreRange(hash: GeoHashBits): [number, number] {
  const shift = 2 ** (52 - hash.step * 2);
  return [hash.bits * shift, (hash.bits + 1) * shift];
}

// ---------------------------------------------------------------------------
// Distances.

/** geohashGetDistance: haversine, in metres. */
export function distance(lon1d: number, lat1d: number, lon2d: number, lat2d: number): number {
  const lat1r = degRad(lat1d);
  const lon1r = degRad(lon1d);
  const lat2r = degRad(lat2d);
  const lon2r = degRad(lon2d);
  const u = sin((lat2r - lat1r) / 2);
  const v = sin((lon2r - lon1r) / 2);
  return 2.0 * EARTH_RADIUS_IN_METERS * asin(Math.sqrt(u * u + cos(lat1r) * cos(lat2r) * v * v));
}

/** geoWithinShape: the distance of a point from the shape's centre, or null when outside the shape. */
export function withinShape(s: GeoShape, lon: number, lat: number): number | null {
  if (s.type === 'radius') {
    const d = distance(s.lon, s.lat, lon, lat);
    return d > s.radius * s.conversion ? null : d;
  }
  const lonDistance = distance(lon, lat, s.lon, lat);
  const latDistance = distance(lon, lat, lon, s.lat);
  if (lonDistance > (s.width * s.conversion) / 2 || latDistance > (s.height * s.conversion) / 2) return null;
  return distance(s.lon, s.lat, lon, lat);
}

// ---------------------------------------------------------------------------
// Formatting.

/** The exact binary value of a finite double: sign, significand, exponent. */
function exactParts(x: number): { neg: boolean; m: bigint; e: number } {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const hi = view.getUint32(0);
  const lo = view.getUint32(4);
  const neg = hi >>> 31 === 1;
  const exp = (hi >>> 20) & 0x7ff;
  const frac = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  if (exp === 0) return { neg, m: frac, e: -1074 };
  return { neg, m: frac | (1n << 52n), e: exp - 1075 };
}

/** printf("%.<digits>f") of a double: the exact value rounded half to even, as glibc prints it. */
export function printFixed(x: number, digits: number): string {
  if (Number.isNaN(x)) return x < 0 ? '-nan' : 'nan';
  if (!Number.isFinite(x)) return x < 0 ? '-inf' : 'inf';
  const { neg, m, e } = exactParts(x);
  const scale = 10n ** BigInt(digits);
  let n: bigint;
  if (e >= 0) n = (m << BigInt(e)) * scale;
  else {
    const num = m * scale;
    const den = 1n << BigInt(-e);
    n = num / den;
    const r2 = (num - n * den) * 2n;
    if (r2 > den || (r2 === den && (n & 1n) === 1n)) n++;
  }
  const s = n.toString().padStart(digits + 1, '0');
  const body = digits === 0 ? s : `${s.slice(0, -digits)}.${s.slice(-digits)}`;
  return neg ? `-${body}` : body;
}

/** addReplyHumanLongDouble in RESP2: the double as long double, "%.17Lf" without trailing zeros. */
export function humanDouble(x: number): string {
  const { neg, m, e } = exactParts(x);
  return formatLongDouble({ neg, m, e });
}
