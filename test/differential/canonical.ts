/**
 * Replies in a comparable form: the RESP2 bytes parsed into a tree that keeps
 * every type (null bulk `$-1` and null array `*-1` differ), with the element
 * order dropped where Redis does not define one (SMEMBERS, HKEYS, a whole
 * SRANDMEMBER ...), so two correct servers always give equal forms.
 */
export type Node = string | Node[];

/** Parses one RESP2 reply into a tree of tagged strings. */
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
    if (type === '$') {
      const len = Number(head);
      if (len < 0) return '$nil';
      const s = buf.toString('latin1', pos, pos + len);
      pos += len + 2;
      return `$${s}`;
    }
    if (type === '*') {
      const n = Number(head);
      if (n < 0) return '*nil';
      const out: Node[] = [];
      for (let i = 0; i < n; i++) out.push(one());
      return out;
    }
    return `${type}${head}`;
  };
  return one();
}

const key = (n: Node): string => JSON.stringify(n);

/** How a command's reply is compared. */
export type Order = 'ordered' | 'unordered' | 'pairs' | 'scan1' | 'scan2';

/** Sorts what has no defined order, so equal sets compare equal. */
export function canonical(n: Node, order: Order): Node {
  if (typeof n === 'string' || order === 'ordered') return n;
  if (order === 'unordered') return [...n].sort((a, b) => (key(a) < key(b) ? -1 : 1));
  if (order === 'pairs') {
    const pairs: Node[] = [];
    for (let i = 0; i < n.length; i += 2) pairs.push([n[i]!, n[i + 1]!]);
    return pairs.sort((a, b) => (key(a) < key(b) ? -1 : 1));
  }
  const [cursor, elements] = n;
  if (elements === undefined || typeof elements === 'string') return n;
  return [cursor!, canonical(elements, order === 'scan1' ? 'unordered' : 'pairs')];
}
