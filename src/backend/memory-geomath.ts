/**
 * sin, cos and asin rounded correctly, for the geo distances. V8's Math.sin /
 * cos / asin (fdlibm) are within an ulp but not always the nearest double,
 * where glibc's, which redis-server uses, almost always are: a distance then
 * differs in its last bit, which STOREDIST's "%.17g" score shows (and, at a
 * radius's edge, which side a point falls on). Double-double arithmetic
 * (~106 bits) makes the rounding right but for inputs astronomically close to
 * a midpoint between two doubles.
 */

type DD = readonly [number, number];

const SPLIT = 134217729; // 2^27 + 1

function twoSum(a: number, b: number): DD {
  const s = a + b;
  const bb = s - a;
  return [s, a - (s - bb) + (b - bb)];
}

function twoProd(a: number, b: number): DD {
  const p = a * b;
  let t = SPLIT * a;
  const ah = t - (t - a);
  const al = a - ah;
  t = SPLIT * b;
  const bh = t - (t - b);
  const bl = b - bh;
  return [p, ah * bh - p + ah * bl + al * bh + al * bl];
}

function add(x: DD, y: DD): DD {
  const [s, e] = twoSum(x[0], y[0]);
  const [t, f] = twoSum(x[1], y[1]);
  const [s2, e2] = twoSum(s, e + t);
  return twoSum(s2, e2 + f);
}

function mul(x: DD, y: DD): DD {
  const [p, e] = twoProd(x[0], y[0]);
  return twoSum(p, e + (x[0] * y[1] + x[1] * y[0]));
}

const neg = (x: DD): DD => [-x[0], -x[1]];

/** pi/2 in three doubles. */
const P1 = 1.5707963267948966;
const P2 = 6.123233995736766e-17;
const P3 = -1.4973849048591698e-33;

/** sin (quadrant 0) or cos (quadrant 1) of x, as a double-double; null where the reduction is not precise. */
function trig(x: number, cos: boolean): DD | null {
  if (!Number.isFinite(x) || Math.abs(x) > 1e5) return null;
  const k = Math.round(x / P1);
  const r = add(add(add([x, 0], neg(twoProd(k, P1))), neg(twoProd(k, P2))), neg(twoProd(k, P3)));
  const q = (((k + (cos ? 1 : 0)) % 4) + 4) % 4;
  const s = q % 2 === 0 ? taylor(r, true) : taylor(r, false);
  return q >= 2 ? neg(s) : s;
}

/** sin (odd) or cos (even) of a reduced |r| <= pi/4, dividing each term exactly. */
function taylor(r: DD, odd: boolean): DD {
  const r2 = mul(r, r);
  let term: DD = odd ? r : [1, 0];
  let sum = term;
  for (let n = odd ? 3 : 2; n < 44; n += 2) {
    term = div(mul(term, r2), -(n - 1) * n);
    sum = add(sum, term);
    if (Math.abs(term[0]) < 1e-40) break;
  }
  return sum;
}

/** x / d for a small integer d. */
function div(x: DD, d: number): DD {
  const q1 = x[0] / d;
  const [p, e] = twoProd(q1, d);
  const q2 = (x[0] - p - e + x[1]) / d;
  return twoSum(q1, q2);
}

export function sin(x: number): number {
  if (x === 0) return x;
  const r = trig(x, false);
  return r === null ? Math.sin(x) : r[0] + r[1];
}

export function cos(x: number): number {
  const r = trig(x, true);
  return r === null ? Math.cos(x) : r[0] + r[1];
}

/** asin by one Newton step from Math.asin, its residual in double-double. */
export function asin(s: number): number {
  const y = Math.asin(s);
  if (!Number.isFinite(y) || s === 0 || Math.abs(s) >= 1) return y;
  const sy = trig(y, false)!;
  const res = add([s, 0], neg(sy));
  const c = trig(y, true)!;
  const delta = (res[0] + res[1]) / (c[0] + c[1]);
  const [h, l] = twoSum(y, delta);
  return h + l;
}
