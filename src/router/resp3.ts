/**
 * RESP3 replies made from RESP2 ones. A node connection carries every
 * client's requests, so it speaks RESP2 whatever each client said in HELLO;
 * for a client that said HELLO 3, the reply is given the shape Redis 7 gives
 * it: a set (`~`), a map (`%`), a double (`,`), [member, score] pairs. A
 * score keeps the text the node wrote (Redis 7.0 prints %.17g, 7.2 the
 * shortest form). The same holds for what the router computes (gathered
 * SINTER, ZUNION ... WITHSCORES) and what an embedded node answers, which
 * are RESP2-shaped too.
 *
 * The table covers the commands whose RESP3 reply differs in type on Redis
 * 7.0 (checked by test/differential/router.test.ts against redis-server with
 * HELLO 3); a command not listed is passed on as the node sent it.
 */
import { decodeReply } from '../protocol/reply-decoder.js';
import { DoubleReply, MapReply, RawReply, SetReply, isErrorReply, type Reply } from '../protocol/reply.js';

/** Turns one command's RESP2 reply (decoded) into its RESP3 form. */
type Convert = (args: readonly Buffer[], reply: readonly Reply[] | Buffer) => Reply;

const word = (a: Buffer | undefined): string =>
  a === undefined || a.length > 16 ? '' : a.toString('latin1').toLowerCase();

/** A score as the node wrote it, as a double. */
function double(r: Reply): Reply {
  if (!(r instanceof Buffer)) return r;
  const text = r.toString('latin1');
  const lower = text.toLowerCase();
  const value = lower === 'inf' || lower === '+inf' ? Infinity : lower === '-inf' ? -Infinity : Number(text);
  return new DoubleReply(value, text);
}

/** [a, b, a, b, ...] → [[a, b], ...], each b a double when `scores`. */
function pairs(flat: readonly Reply[], scores: boolean): Reply {
  const out: Reply[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2)
    out.push([flat[i]!, scores ? double(flat[i + 1]!) : flat[i + 1]!]);
  return out;
}

const asArray = (r: readonly Reply[] | Buffer): readonly Reply[] | null => (Array.isArray(r) ? r : null);

const toSet: Convert = (_, r) => (Array.isArray(r) ? new SetReply(r) : r);
const toMap: Convert = (_, r) => (Array.isArray(r) ? new MapReply(r) : r);
const toDouble: Convert = (_, r) => double(r);

/** Pairs of member and score when WITHSCORES is among the arguments from `from` on. */
const scoredFrom =
  (from: (args: readonly Buffer[]) => number): Convert =>
  (args, r) => {
    const flat = asArray(r);
    if (flat === null) return r;
    for (let i = from(args); i < args.length; i++)
      if (word(args[i]) === 'withscores') return pairs(flat, true);
    return flat;
  };
/** ZUNION/ZINTER/ZDIFF: options follow numkeys keys. */
const afterKeys = (args: readonly Buffer[]): number => 2 + Math.max(0, Number(word(args[1])) || 0);

/** ZPOPMIN/ZPOPMAX: with a count, pairs; without, one flat [member, score]. */
const zpop: Convert = (args, r) => {
  const flat = asArray(r);
  if (flat === null) return r;
  if (args.length > 2) return pairs(flat, true);
  return flat.length === 2 ? [flat[0]!, double(flat[1]!)] : flat;
};

/** BZPOPMIN/BZPOPMAX: [key, member, score]. */
const bzpop: Convert = (_, r) => {
  const flat = asArray(r);
  return flat !== null && flat.length === 3 ? [flat[0]!, flat[1]!, double(flat[2]!)] : r;
};

/** ZMPOP/BZMPOP: [key, [[member, score], ...]] (nested in RESP2 already): the scores become doubles. */
const zmpop: Convert = (_, r) => {
  const flat = asArray(r);
  if (flat === null || flat.length !== 2 || !Array.isArray(flat[1])) return r;
  const popped = (flat[1] as readonly Reply[]).map((pair) =>
    Array.isArray(pair) && pair.length === 2 ? [pair[0] as Reply, double(pair[1] as Reply)] : pair,
  );
  return [flat[0]!, popped];
};

/** ZADD ... INCR answers the new score. */
const ZADD_FLAGS = new Set(['nx', 'xx', 'gt', 'lt', 'ch', 'incr']);
const zadd: Convert = (args, r) => {
  for (let i = 2; i < args.length && ZADD_FLAGS.has(word(args[i])); i++)
    if (word(args[i]) === 'incr') return double(r);
  return r;
};

/** XREAD/XREADGROUP: a map of stream to entries, where RESP2 sends [stream, entries] pairs. */
const streams: Convert = (_, r) => {
  const list = asArray(r);
  if (list === null) return r;
  const flat: Reply[] = [];
  for (const pair of list) {
    if (!Array.isArray(pair)) return r;
    flat.push(...(pair as readonly Reply[]));
  }
  return new MapReply(flat);
};

/** Each element of a list that is a flat [field, value, ...] array as a map, its `nested` fields' lists too. */
function mapsOf(list: Reply, nested: readonly string[] = []): Reply {
  if (!Array.isArray(list)) return list;
  return (list as readonly Reply[]).map((entry) => (Array.isArray(entry) ? fieldsMap(entry, nested) : entry));
}

/** A flat [field, value, ...] array as a map; the values of the first of `nested` as maps, and so on down. */
function fieldsMap(flat: readonly Reply[], nested: readonly string[]): MapReply {
  if (nested.length === 0) return new MapReply(flat);
  const out = [...flat];
  for (let i = 0; i + 1 < out.length; i += 2)
    if (out[i] instanceof Buffer && (out[i] as Buffer).toString('latin1') === nested[0])
      out[i + 1] = mapsOf(out[i + 1]!, nested.slice(1));
  return new MapReply(out);
}

/** XINFO STREAM [FULL] / GROUPS / CONSUMERS: maps, arrays of maps; FULL's groups and their consumers maps too. */
const xinfo: Convert = (args, r) => {
  const list = asArray(r);
  if (list === null) return r;
  const sub = word(args[1]);
  if (sub === 'stream') return fieldsMap(list, args.length > 3 ? ['groups', 'consumers'] : []);
  if (sub === 'groups' || sub === 'consumers') return mapsOf(list);
  return r;
};

/** A [longitude, latitude] pair as doubles (addReplyHumanLongDouble); anything else as it is. */
const coords = (pair: Reply): Reply =>
  Array.isArray(pair) && pair.length === 2 ? [double(pair[0] as Reply), double(pair[1] as Reply)] : pair;

/** GEOPOS: each position's coordinates are doubles (a missing member stays null). */
const geopos: Convert = (_, r) => (Array.isArray(r) ? r.map(coords) : r);

/**
 * GEOSEARCH / GEORADIUS with WITHCOORD: each item ends with its coordinates,
 * which become doubles; a distance (WITHDIST) stays a bulk string, as Redis
 * writes it with four decimals in RESP3 too.
 */
const geoSearch: Convert = (args, r) => {
  const items = asArray(r);
  if (items === null || !args.some((a) => word(a) === 'withcoord')) return r;
  return items.map((item): Reply => {
    if (!Array.isArray(item) || item.length < 2) return item;
    const list = item as readonly Reply[];
    return [...list.slice(0, -1), coords(list[list.length - 1]!)];
  });
};

const CONVERT: ReadonlyMap<string, Convert> = new Map<string, Convert>([
  ['hgetall', toMap],
  ['smembers', toSet],
  ['sinter', toSet],
  ['sunion', toSet],
  ['sdiff', toSet],
  ['spop', (args, r) => (args.length > 2 ? toSet(args, r) : r)],
  ['zscore', toDouble],
  ['zincrby', toDouble],
  ['zadd', zadd],
  ['zmscore', (_, r) => (Array.isArray(r) ? r.map(double) : r)],
  ['zrange', scoredFrom(() => 4)],
  ['zrevrange', scoredFrom(() => 4)],
  ['zrangebyscore', scoredFrom(() => 4)],
  ['zrevrangebyscore', scoredFrom(() => 4)],
  ['zunion', scoredFrom(afterKeys)],
  ['zinter', scoredFrom(afterKeys)],
  ['zdiff', scoredFrom(afterKeys)],
  ['zrandmember', scoredFrom(() => 3)],
  ['zpopmin', zpop],
  ['zpopmax', zpop],
  ['bzpopmin', bzpop],
  ['bzpopmax', bzpop],
  ['zmpop', zmpop],
  ['bzmpop', zmpop],
  ['hrandfield', (args, r) => (Array.isArray(r) && word(args[3]) === 'withvalues' ? pairs(r, false) : r)],
  ['lcs', (args, r) => (args.slice(3).some((a) => word(a) === 'idx') ? toMap(args, r) : r)],
  ['xread', streams],
  ['xreadgroup', streams],
  ['xinfo', xinfo],
  ['geopos', geopos],
  ['geosearch', geoSearch],
  ['georadius', geoSearch],
  ['georadius_ro', geoSearch],
  ['georadiusbymember', geoSearch],
  ['georadiusbymember_ro', geoSearch],
]);

/**
 * The RESP3 form of `reply` to command `args` (named `name`). A RawReply is
 * decoded first: it carries RESP2 framing, and the writer re-encodes the
 * values for the client's protocol (null as `_`).
 */
export function toResp3(name: string, args: readonly Buffer[], reply: Reply): Reply {
  const value = reply instanceof RawReply ? decodeReply(reply.bytes) : reply;
  if (value === null || isErrorReply(value)) return value;
  const convert = CONVERT.get(name);
  if (convert === undefined || !(Array.isArray(value) || value instanceof Buffer)) return value;
  return convert(args, value as readonly Reply[] | Buffer);
}
