/**
 * Replies in a comparable form: the RESP bytes parsed into a tree that keeps
 * every type (null bulk `$-1` and null array `*-1` differ; in RESP3 a set, a
 * map and a double are told from an array and a bulk string), with the
 * element order dropped where Redis does not define one (SMEMBERS, HKEYS, a
 * whole SRANDMEMBER ...), so two correct servers always give equal forms.
 */
export type Node = string | Node[];

/** Marks a RESP3 set or map (or push): the first element of its node, never a reply element's form. */
const AGGREGATE_TAGS = new Set(['~', '%', '>']);

/** Parses one RESP2 or RESP3 reply into a tree of tagged strings. */
export function parseResp(buf: Buffer): Node {
  let pos = 0;
  const line = (): string => {
    const cr = buf.indexOf('\r\n', pos, 'latin1');
    const s = buf.toString('latin1', pos, cr);
    pos = cr + 2;
    return s;
  };
  const one = (): Node => {
    const type = String.fromCharCode(buf[pos]!);
    pos++;
    const head = line();
    if (type === '$' || type === '=' || type === '!') {
      const len = Number(head);
      if (len < 0) return `${type}nil`;
      const s = buf.toString('latin1', pos, pos + len);
      pos += len + 2;
      return `${type}${s}`;
    }
    if (type === '*' || AGGREGATE_TAGS.has(type)) {
      const n = Number(head);
      if (n < 0) return `${type}nil`;
      const out: Node[] = type === '*' ? [] : [type];
      for (let i = 0; i < (type === '%' ? 2 * n : n); i++) out.push(one());
      return out;
    }
    return `${type}${head}`;
  };
  return one();
}

const key = (n: Node): string => JSON.stringify(n);

/** How a command's reply is compared. */
/**
 * `clock`: an integer read off the clock (EXPIRETIME after a relative expiry),
 * which two servers handed the same command a moment apart may round to
 * neighbouring seconds; compared within one.
 */
export type Order = 'ordered' | 'unordered' | 'pairs' | 'scan1' | 'scan2' | 'clock';

/**
 * Sorts what has no defined order, so equal sets compare equal. A RESP3 map
 * is a list of pairs and a set a list of members, whatever the command; a
 * RESP3 list of [member, score] pairs sorts as pairs.
 */
export function canonical(n: Node, order: Order): Node {
  if (typeof n === 'string') return n;
  const tag = typeof n[0] === 'string' && AGGREGATE_TAGS.has(n[0]) ? n[0] : null;
  if (tag !== null) {
    const body = n.slice(1);
    if (tag === '%') return [tag, ...canonical(body, 'pairs')];
    if (tag === '~') return [tag, ...canonical(body, 'unordered')];
    return n;
  }
  if (order === 'ordered' || order === 'clock') return n;
  const sorted = (xs: Node[]): Node[] => xs.sort((a, b) => (key(a) < key(b) ? -1 : 1));
  if (order === 'unordered') return sorted([...n]);
  if (order === 'pairs') {
    if (n.every((x) => Array.isArray(x))) return sorted([...n]);
    // flat pairs (RESP2) are told from nested ones (RESP3) by a mark a reply element never has
    const pairs: Node[] = [];
    for (let i = 0; i < n.length; i += 2) pairs.push(['flat', n[i]!, n[i + 1]!]);
    return sorted(pairs);
  }
  const [cursor, elements] = n;
  if (elements === undefined || typeof elements === 'string') return n;
  return [cursor!, canonical(elements, order === 'scan1' ? 'unordered' : 'pairs')];
}
