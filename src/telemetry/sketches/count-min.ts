/**
 * Count-Min sketch (Cormode & Muthukrishnan 2005) on a Float64Array, with
 * conservative update by default.
 *
 * Bound: with width w and depth d, for every key x and total weight N,
 *   f(x) ≤ estimate(x), and estimate(x) ≤ f(x) + ε·N with probability ≥ 1 − δ,
 *   where ε = e / w and δ = e^−d (defaults w = 4096, d = 4: ε ≈ 0.066 %, δ ≈ 1.8 %).
 * Conservative update (Estan & Varghese 2002) raises a cell only as far as the
 * new estimate needs, so every cell stays ≤ the plain sketch's cell: the same
 * bound holds and skewed streams see far less overcount.
 *
 * Merging is the exact cell-wise sum. For plain (linear) sketches the sum of
 * the sketches of several streams is bit-for-bit the sketch of their union.
 * Conservative update is not linear: the sum of CU sketches is still ≥ every
 * true count (each part is) and ≤ the plain sketch of the union (each part is
 * ≤ its plain sketch), so the merged estimate keeps the ε·N bound — but it is
 * not cell-for-cell the CU sketch one router would have built.
 *
 * Cells are float64 so byte counts summed over many routers never wrap; they
 * stay exact integers up to 2^53.
 */
import { ConfigError } from '../../errors.js';

/** Shape of a Count-Min sketch. */
export interface CountMinOptions {
  /** Columns per row; a power of two (default 4096). */
  readonly width?: number;
  /** Rows (default 4). */
  readonly depth?: number;
  /** Conservative update (default true); false for a plain, linear sketch. */
  readonly conservative?: boolean;
}

/**
 * A Count-Min sketch over pre-hashed keys (see key-hash.ts).
 *
 * @example
 * const cms = new CountMinSketch();
 * const h1 = keyHash(key), h2 = remix(h1);
 * cms.add(h1, h2, 1);
 * cms.estimate(h1, h2) // ≥ 1
 */
export class CountMinSketch {
  readonly width: number;
  readonly depth: number;
  readonly conservative: boolean;
  /** depth × width cells, row-major. */
  readonly cells: Float64Array;
  /** Total weight added (N). */
  total = 0;
  readonly #mask: number;
  /** Scratch cell indexes of the key being added. */
  readonly #at: Int32Array;

  constructor(options: CountMinOptions = {}) {
    const width = options.width ?? 4096;
    const depth = options.depth ?? 4;
    if (!Number.isInteger(width) || width < 2 || (width & (width - 1)) !== 0 || width > 1 << 24)
      throw new ConfigError(`sketch.width must be a power of two in 2..2^24, got ${width}`);
    if (!Number.isInteger(depth) || depth < 1 || depth > 16)
      throw new ConfigError(`sketch.depth must be an integer in 1..16, got ${depth}`);
    this.width = width;
    this.depth = depth;
    this.conservative = options.conservative ?? true;
    this.cells = new Float64Array(width * depth);
    this.#mask = width - 1;
    this.#at = new Int32Array(depth);
  }

  /** ε: the overcount bound as a share of the total weight. */
  get epsilon(): number {
    return Math.E / this.width;
  }

  /** δ: the probability that one estimate exceeds f + ε·N. */
  get delta(): number {
    return Math.exp(-this.depth);
  }

  /**
   * Writes the cell index of each row for (h1, h2) into `at` (length ≥ depth).
   * Sketches of the same shape can share one computation (see `addAt`).
   */
  locate(h1: number, h2: number, at: Int32Array): void {
    const w = this.width;
    const mask = this.#mask;
    for (let i = 0; i < this.depth; i++) at[i] = i * w + ((h1 + Math.imul(i, h2)) & mask);
  }

  /** Adds weight `w` to a key; returns its new estimate. Allocation-free. */
  add(h1: number, h2: number, w: number): number {
    this.locate(h1, h2, this.#at);
    return this.addAt(this.#at, w);
  }

  /** Adds weight `w` at cells found by `locate`; returns the key's new estimate. */
  addAt(at: Int32Array, w: number): number {
    const c = this.cells;
    const d = this.depth;
    this.total += w;
    let min = c[at[0]!]!;
    for (let i = 1; i < d; i++) {
      const v = c[at[i]!]!;
      if (v < min) min = v;
    }
    const target = min + w;
    if (this.conservative) {
      for (let i = 0; i < d; i++) if (c[at[i]!]! < target) c[at[i]!] = target;
    } else {
      for (let i = 0; i < d; i++) c[at[i]!]! += w;
    }
    return target;
  }

  /** Upper bound of a key's weight (see the bound above). */
  estimate(h1: number, h2: number): number {
    const c = this.cells;
    const mask = this.#mask;
    let min = Infinity;
    for (let i = 0; i < this.depth; i++) {
      const v = c[i * this.width + ((h1 + Math.imul(i, h2)) & mask)]!;
      if (v < min) min = v;
    }
    return min;
  }

  /** Adds another sketch of the same shape cell by cell. */
  merge(other: CountMinSketch): void {
    this.mergeCells(other.cells, other.total, other.width, other.depth);
  }

  /** Adds raw cells (e.g. decoded from another router) of the given shape. */
  mergeCells(cells: ArrayLike<number>, total: number, width: number, depth: number): void {
    if (width !== this.width || depth !== this.depth || cells.length !== this.cells.length)
      throw new ConfigError(
        `count-min merge: shape ${width}×${depth} does not match ${this.width}×${this.depth}`,
      );
    const c = this.cells;
    for (let i = 0; i < c.length; i++) c[i]! += cells[i]!;
    this.total += total;
  }

  /** Forgets everything. */
  reset(): void {
    this.cells.fill(0);
    this.total = 0;
  }
}
