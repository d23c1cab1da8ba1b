/**
 * The list value of an embedded node: a ring buffer of elements, so pushes and
 * pops at both ends are O(1) (an array's unshift is O(n)) and LINDEX / LSET by
 * position are O(1) where Redis's quicklist walks. Middle edits (LINSERT,
 * LREM) rebuild in O(n), as Redis's are O(n) too.
 */
export class Deque {
  #buf: (Buffer | undefined)[] = [];
  #head = 0;
  #size = 0;

  constructor(items: readonly Buffer[] = []) {
    this.replace(items);
  }

  get length(): number {
    return this.#size;
  }

  /** The element at `i` (0 the head), or undefined when out of range. */
  at(i: number): Buffer | undefined {
    if (i < 0 || i >= this.#size) return undefined;
    return this.#buf[(this.#head + i) & (this.#buf.length - 1)];
  }

  /** Replaces the element at `i`, which must be in range. */
  setAt(i: number, v: Buffer): void {
    this.#buf[(this.#head + i) & (this.#buf.length - 1)] = v;
  }

  pushHead(v: Buffer): void {
    if (this.#size === this.#buf.length) this.#grow();
    this.#head = (this.#head - 1) & (this.#buf.length - 1);
    this.#buf[this.#head] = v;
    this.#size++;
  }

  pushTail(v: Buffer): void {
    if (this.#size === this.#buf.length) this.#grow();
    this.#buf[(this.#head + this.#size) & (this.#buf.length - 1)] = v;
    this.#size++;
  }

  popHead(): Buffer | undefined {
    if (this.#size === 0) return undefined;
    const v = this.#buf[this.#head];
    this.#buf[this.#head] = undefined;
    this.#head = (this.#head + 1) & (this.#buf.length - 1);
    this.#size--;
    return v;
  }

  popTail(): Buffer | undefined {
    if (this.#size === 0) return undefined;
    const at = (this.#head + this.#size - 1) & (this.#buf.length - 1);
    const v = this.#buf[at];
    this.#buf[at] = undefined;
    this.#size--;
    return v;
  }

  /** Elements from `start` to `stop` inclusive (both already clamped into range). */
  slice(start: number, stop: number): Buffer[] {
    const out: Buffer[] = [];
    for (let i = start; i <= stop; i++) out.push(this.at(i)!);
    return out;
  }

  /** Every element, head first. */
  toArray(): Buffer[] {
    return this.slice(0, this.#size - 1);
  }

  /** Replaces the content (middle edits rebuild the ring). */
  replace(items: readonly Buffer[]): void {
    let cap = 8;
    while (cap < items.length * 2) cap *= 2;
    this.#buf = new Array<Buffer | undefined>(cap);
    this.#head = 0;
    this.#size = 0;
    for (const item of items) this.pushTail(item);
  }

  // the capacity stays a power of two so positions wrap with a mask
  #grow(): void {
    const old = this.#buf;
    const next = new Array<Buffer | undefined>(old.length * 2);
    for (let i = 0; i < this.#size; i++) next[i] = old[(this.#head + i) & (old.length - 1)];
    this.#buf = next;
    this.#head = 0;
  }
}
