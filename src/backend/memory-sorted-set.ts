/**
 * The sorted-set value of an embedded node: a port of Redis's zskiplist
 * (t_zset.c) with spans, so insert, delete, rank and the start of a score or
 * lex range are O(log n), beside a map of member to score for ZSCORE in O(1).
 * Members are latin1-decoded bytes, whose string order is Redis's memcmp order.
 */

const MAX_LEVEL = 32;

/** One element; `level[i]` is its forward link and span at level i. */
export interface ZNode {
  readonly member: string;
  readonly score: number;
  backward: ZNode | null;
  readonly level: { forward: ZNode | null; span: number }[];
}

const before = (score: number, member: string, node: ZNode): boolean =>
  node.score < score || (node.score === score && node.member < member);

/** A skip list ordered by (score, member), with member lookup. */
export class SortedSet {
  readonly #header: ZNode = makeNode(MAX_LEVEL, '', 0);
  #tail: ZNode | null = null;
  #level = 1;
  readonly #scores = new Map<string, number>();
  // skip-list levels only decide speed, never results: a fixed-seed xorshift keeps runs repeatable
  #seed = 0x2545f491;

  get size(): number {
    return this.#scores.size;
  }

  score(member: string): number | undefined {
    return this.#scores.get(member);
  }

  /** Inserts or moves `member` to `score` (-0 stored as 0 unless kept). */
  set(member: string, score: number, keepNegativeZero = false): void {
    // a listpack (how Redis holds small sorted sets) keeps -0 as 0; ZINCRBY's reply still says -0,
    // and so does ZUNION's, computed apart from any stored set (keepNegativeZero)
    if (score === 0 && !keepNegativeZero) score = 0;
    const old = this.#scores.get(member);
    if (old !== undefined) {
      if (old === score) return;
      this.#delete(member, old);
    }
    this.#insert(member, score);
    this.#scores.set(member, score);
  }

  /** Removes `member`; false when absent. */
  remove(member: string): boolean {
    const old = this.#scores.get(member);
    if (old === undefined) return false;
    this.#delete(member, old);
    this.#scores.delete(member);
    return true;
  }

  /** 0-based rank of `member` in ascending order, or undefined. */
  rank(member: string): number | undefined {
    const score = this.#scores.get(member);
    if (score === undefined) return undefined;
    let x = this.#header;
    let rank = 0;
    for (let i = this.#level - 1; i >= 0; i--) {
      for (;;) {
        const next = x.level[i]!.forward;
        if (next === null || !(before(score, member, next) || next.member === member)) break;
        rank += x.level[i]!.span;
        x = next;
        if (x.member === member && x.score === score) return rank - 1;
      }
    }
    return undefined;
  }

  /** The node at 0-based `rank`, or null when out of range. */
  at(rank: number): ZNode | null {
    if (rank < 0 || rank >= this.size) return null;
    let x = this.#header;
    let traversed = 0;
    const target = rank + 1;
    for (let i = this.#level - 1; i >= 0; i--) {
      while (x.level[i]!.forward !== null && traversed + x.level[i]!.span <= target) {
        traversed += x.level[i]!.span;
        x = x.level[i]!.forward!;
      }
      if (traversed === target) return x;
    }
    return null;
  }

  /** The first node for which `atOrAfter` holds (it must be false then true along the order), with its rank. */
  first(atOrAfter: (n: ZNode) => boolean): { node: ZNode; rank: number } | null {
    let x = this.#header;
    let rank = 0;
    for (let i = this.#level - 1; i >= 0; i--) {
      while (x.level[i]!.forward !== null && !atOrAfter(x.level[i]!.forward!)) {
        rank += x.level[i]!.span;
        x = x.level[i]!.forward!;
      }
    }
    const node = x.level[0]!.forward;
    return node === null ? null : { node, rank };
  }

  /** The last node for which `upTo` holds (true then false along the order), with its rank. */
  last(upTo: (n: ZNode) => boolean): { node: ZNode; rank: number } | null {
    let x = this.#header;
    let rank = 0;
    for (let i = this.#level - 1; i >= 0; i--) {
      while (x.level[i]!.forward !== null && upTo(x.level[i]!.forward!)) {
        rank += x.level[i]!.span;
        x = x.level[i]!.forward!;
      }
    }
    return x === this.#header ? null : { node: x, rank: rank - 1 };
  }

  /** Members and scores in ascending order. */
  *entries(): IterableIterator<ZNode> {
    for (let x = this.#header.level[0]!.forward; x !== null; x = x.level[0]!.forward) yield x;
  }

  /** The last node, or null when empty. */
  get tail(): ZNode | null {
    return this.#tail;
  }

  #randomLevel(): number {
    let level = 1;
    for (;;) {
      let s = this.#seed;
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      this.#seed = s >>> 0;
      // p = 1/4 per level, as ZSKIPLIST_P
      if ((this.#seed & 3) !== 0 || level >= MAX_LEVEL) return level;
      level++;
    }
  }

  #insert(member: string, score: number): void {
    const update: ZNode[] = new Array<ZNode>(MAX_LEVEL);
    const rank: number[] = new Array<number>(MAX_LEVEL);
    let x = this.#header;
    for (let i = this.#level - 1; i >= 0; i--) {
      rank[i] = i === this.#level - 1 ? 0 : rank[i + 1]!;
      while (x.level[i]!.forward !== null && before(score, member, x.level[i]!.forward!)) {
        rank[i]! += x.level[i]!.span;
        x = x.level[i]!.forward!;
      }
      update[i] = x;
    }
    const level = this.#randomLevel();
    if (level > this.#level) {
      for (let i = this.#level; i < level; i++) {
        rank[i] = 0;
        update[i] = this.#header;
        this.#header.level[i]!.span = this.size;
      }
      this.#level = level;
    }
    const node = makeNode(level, member, score);
    for (let i = 0; i < level; i++) {
      const u = update[i]!;
      node.level[i]!.forward = u.level[i]!.forward;
      u.level[i]!.forward = node;
      node.level[i]!.span = u.level[i]!.span - (rank[0]! - rank[i]!);
      u.level[i]!.span = rank[0]! - rank[i]! + 1;
    }
    for (let i = level; i < this.#level; i++) update[i]!.level[i]!.span++;
    node.backward = update[0] === this.#header ? null : update[0]!;
    if (node.level[0]!.forward !== null) node.level[0]!.forward.backward = node;
    else this.#tail = node;
  }

  #delete(member: string, score: number): void {
    const update: ZNode[] = new Array<ZNode>(MAX_LEVEL);
    let x = this.#header;
    for (let i = this.#level - 1; i >= 0; i--) {
      while (x.level[i]!.forward !== null && before(score, member, x.level[i]!.forward!)) {
        x = x.level[i]!.forward!;
      }
      update[i] = x;
    }
    const node = x.level[0]!.forward!;
    for (let i = 0; i < this.#level; i++) {
      const u = update[i]!;
      if (u.level[i]!.forward === node) {
        u.level[i]!.span += node.level[i]!.span - 1;
        u.level[i]!.forward = node.level[i]!.forward;
      } else {
        u.level[i]!.span--;
      }
    }
    if (node.level[0]!.forward !== null) node.level[0]!.forward.backward = node.backward;
    else this.#tail = node.backward;
    while (this.#level > 1 && this.#header.level[this.#level - 1]!.forward === null) this.#level--;
  }
}

function makeNode(level: number, member: string, score: number): ZNode {
  const links: { forward: ZNode | null; span: number }[] = [];
  for (let i = 0; i < level; i++) links.push({ forward: null, span: 0 });
  return { member, score, backward: null, level: links };
}
