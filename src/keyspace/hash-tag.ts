/**
 * Redis Cluster hash tags: `{user1000}.following` and `{user1000}.followers` hash alike, so
 * multi-key commands and transactions over them land on one shard.
 *
 * The rule, verbatim from the Redis Cluster specification
 * (https://redis.io/docs/latest/operate/oss_and_stack/reference/cluster-spec/#hash-tags):
 * if the key contains a `{`, and a `}` to the right of that first `{`, with at least one
 * byte between them, only the bytes between the first `{` and the first `}` after it are
 * hashed. Otherwise the whole key is. So `foo{}{bar}` hashes the whole key and
 * `foo{{bar}}zap` hashes `{bar`.
 */

const OPEN = 0x7b; // '{'
const CLOSE = 0x7d; // '}'

/** A byte range `[start, end)` of a key; mutable so one can be reused across calls. */
export interface KeySpan {
  start: number;
  end: number;
}

/**
 * Sets `out` to the bytes of `key` that are hashed — the hash tag's content, or the whole
 * key — and returns it. Allocates nothing: the hot path passes the same span every call.
 *
 * @example
 * const span = { start: 0, end: 0 };
 * hashedSpan(Buffer.from('{user1000}.following'), span); // { start: 1, end: 9 }
 */
export function hashedSpan(key: Uint8Array, out: KeySpan): KeySpan {
  const len = key.length;
  // A plain loop rather than Buffer#indexOf: keys are short, and the native call costs more
  // than scanning a few dozen bytes.
  let open = 0;
  while (open < len && key[open] !== OPEN) open++;
  if (open < len) {
    let close = open + 1;
    while (close < len && key[close] !== CLOSE) close++;
    if (close < len && close > open + 1) {
      out.start = open + 1;
      out.end = close;
      return out;
    }
  }
  out.start = 0;
  out.end = len;
  return out;
}

/**
 * The hash tag's content as a view into `key` (no copy), or null when the whole key is
 * hashed. For tools and tests; the router uses {@link hashedSpan}.
 *
 * @example
 * hashTag(Buffer.from('foo{{bar}}zap'))?.toString(); // '{bar'
 * hashTag(Buffer.from('foo{}{bar}')); // null
 */
export function hashTag(key: Buffer): Buffer | null {
  const span = hashedSpan(key, { start: 0, end: 0 });
  // A tag's content starts after its `{`, so offset 0 means the whole key is hashed.
  return span.start === 0 ? null : key.subarray(span.start, span.end);
}
