/**
 * Binary format of the heavy-hitter sketches, so routers can ship per-second
 * sketches to the control plane (or to each other) and merge them there.
 *
 * All numbers little-endian. Counts are float64 (exact integers up to 2^53).
 *
 *   header  "HSK" 0x01 | flags u8 (bit 0: conservative update, bit 1: increments
 *           follow each epoch's metrics) | hllPrecision u8 | 0 u16
 *           width u32 | depth u32 | capacity u32 | maxKeyBytes u32 | hash seed u32
 *           epochCount u32
 *   epoch   second f64 | requests f64 | HLL registers (2^hllPrecision bytes)
 *           then for reads, writes, bytes:
 *             total f64
 *             cells: 0 u8 + width·depth × f64            (dense)
 *                 or 1 u8 + n u32 + n × (index u32, f64)  (sparse, when smaller)
 *             entries u32, each: count f64 | lower f64 | hash u32 | length u32
 *                                | stored u16 | stored key bytes
 *           with flags bit 1, the increments: total f64 | cells as above
 *
 * Bit 1 came later: a sketch without it (an older router's) decodes with no
 * increments, and such an epoch merges as none seen.
 * Decoding checks the magic, the version and every length, and throws a
 * HotshardError (HS_ERR_BAD_REQUEST) rather than reading past the end.
 */
import { ErrorCode, HotshardError } from '../../errors.js';
import { SKETCH_SEED } from './key-hash.js';
import type { Summary, SummaryEntry } from './space-saving.js';

const MAGIC = 0x014b5348; // "HSK" then version 1, read as u32 LE
const HEADER_BYTES = 32;
const INCREMENTS_FLAG = 2;

/** Parameters that must agree for two sketches to merge. */
export interface SketchShape {
  readonly width: number;
  readonly depth: number;
  readonly capacity: number;
  readonly maxKeyBytes: number;
  readonly hllPrecision: number;
  readonly conservative: boolean;
}

/** One metric (reads, writes or bytes) of one epoch. */
export interface MetricState {
  readonly total: number;
  readonly cells: Float64Array;
  readonly summary: Summary;
}

/** One second of sketches. */
export interface EpochState {
  readonly second: number;
  /** Keyed requests seen (before sampling). */
  readonly requests: number;
  readonly registers: Uint8Array;
  /** Reads, writes, bytes. */
  readonly metrics: readonly [MetricState, MetricState, MetricState];
  /** The writes that were a counter's increments (Count-Min only); absent from an older router. */
  readonly increments?: { readonly total: number; readonly cells: Float64Array };
}

/** What one export carries. */
export interface SketchState {
  readonly shape: SketchShape;
  readonly epochs: readonly EpochState[];
}

/** Encodes sketches into the binary format. */
export function encodeSketch(state: SketchState): Buffer {
  const { shape } = state;
  const cellCount = shape.width * shape.depth;
  let size = HEADER_BYTES;
  for (const ep of state.epochs) {
    size += 16 + (1 << shape.hllPrecision);
    for (const m of ep.metrics) {
      size += 8 + cellsSize(m.cells, cellCount) + 4;
      for (const e of m.summary.entries) size += 26 + Math.min(e.key.length, shape.maxKeyBytes);
    }
    size += 8 + cellsSize(ep.increments?.cells ?? null, cellCount);
  }
  const out = Buffer.allocUnsafe(size);
  let o = 0;
  o = out.writeUInt32LE(MAGIC, o);
  o = out.writeUInt8((shape.conservative ? 1 : 0) | INCREMENTS_FLAG, o);
  o = out.writeUInt8(shape.hllPrecision, o);
  o = out.writeUInt16LE(0, o);
  o = out.writeUInt32LE(shape.width, o);
  o = out.writeUInt32LE(shape.depth, o);
  o = out.writeUInt32LE(shape.capacity, o);
  o = out.writeUInt32LE(shape.maxKeyBytes, o);
  o = out.writeUInt32LE(SKETCH_SEED, o);
  o = out.writeUInt32LE(state.epochs.length, o);
  for (const ep of state.epochs) {
    o = out.writeDoubleLE(ep.second, o);
    o = out.writeDoubleLE(ep.requests, o);
    out.set(ep.registers, o);
    o += ep.registers.length;
    for (const m of ep.metrics) {
      o = out.writeDoubleLE(m.total, o);
      o = writeCells(out, o, m.cells);
      o = out.writeUInt32LE(m.summary.entries.length, o);
      for (const e of m.summary.entries) {
        const stored = Math.min(e.key.length, shape.maxKeyBytes);
        o = out.writeDoubleLE(e.count, o);
        o = out.writeDoubleLE(e.lower, o);
        o = out.writeUInt32LE(e.hash >>> 0, o);
        o = out.writeUInt32LE(e.length, o);
        o = out.writeUInt16LE(stored, o);
        o += e.key.copy(out, o, 0, stored);
      }
    }
    o = out.writeDoubleLE(ep.increments?.total ?? 0, o);
    o = writeCells(out, o, ep.increments?.cells ?? null);
  }
  return out;
}

/** Decodes the binary format. Throws HS_ERR_BAD_REQUEST on anything malformed. */
export function decodeSketch(buf: Uint8Array): SketchState {
  const r = new Reader(buf);
  if (r.u32() !== MAGIC) throw bad('not a hotshard sketch (bad magic or version)');
  const flags = r.u8();
  const hllPrecision = r.u8();
  r.u16();
  const shape: SketchShape = {
    conservative: (flags & 1) === 1,
    hllPrecision,
    width: r.u32(),
    depth: r.u32(),
    capacity: r.u32(),
    maxKeyBytes: r.u32(),
  };
  if (r.u32() !== SKETCH_SEED) throw bad('sketch hashed with another seed');
  if (hllPrecision < 4 || hllPrecision > 18) throw bad(`hll precision ${hllPrecision}`);
  // Bounded before anything is allocated from them: a corrupt header must not
  // make us allocate gigabytes.
  const { width, depth } = shape;
  if (width < 2 || width > 1 << 24 || (width & (width - 1)) !== 0 || depth < 1 || depth > 16)
    throw bad(`count-min shape ${width}×${depth}`);
  const cellCount = width * depth;
  if (cellCount > 1 << 24) throw bad(`count-min shape ${width}×${depth} is too large`);
  const epochCount = r.u32();
  const epochs: EpochState[] = [];
  for (let i = 0; i < epochCount; i++) {
    const second = r.f64();
    const requests = r.f64();
    const registers = r.bytes(1 << hllPrecision);
    const metrics = [
      readMetric(r, shape, cellCount),
      readMetric(r, shape, cellCount),
      readMetric(r, shape, cellCount),
    ] as const;
    if ((flags & INCREMENTS_FLAG) === 0) epochs.push({ second, requests, registers, metrics });
    else {
      const total = count(r.f64(), 'total');
      epochs.push({
        second,
        requests,
        registers,
        metrics,
        increments: { total, cells: readCells(r, cellCount) },
      });
    }
  }
  if (r.offset !== buf.length) throw bad(`${buf.length - r.offset} trailing bytes`);
  return { shape, epochs };
}

function readMetric(r: Reader, shape: SketchShape, cellCount: number): MetricState {
  const total = count(r.f64(), 'total');
  const cells = readCells(r, cellCount);
  const n = r.u32();
  if (n > shape.capacity) throw bad(`${n} entries exceed capacity ${shape.capacity}`);
  const entries: SummaryEntry[] = [];
  for (let i = 0; i < n; i++) {
    const upper = count(r.f64(), 'count');
    const lower = count(r.f64(), 'lower bound');
    if (lower > upper) throw bad(`lower bound ${lower} above count ${upper}`);
    const hash = r.u32();
    const length = r.u32();
    const stored = r.u16();
    if (stored !== Math.min(length, shape.maxKeyBytes))
      throw bad(`key of ${length} bytes stored as ${stored}`);
    entries.push({ key: Buffer.from(r.bytes(stored)), hash, length, count: upper, lower });
  }
  return {
    total,
    cells,
    summary: { capacity: shape.capacity, maxKeyBytes: shape.maxKeyBytes, total, entries },
  };
}

function readCells(r: Reader, cellCount: number): Float64Array {
  const cells = new Float64Array(cellCount);
  const mode = r.u8();
  if (mode === 0) {
    for (let i = 0; i < cellCount; i++) cells[i] = count(r.f64(), 'cell');
  } else if (mode === 1) {
    const n = r.u32();
    if (n > cellCount) throw bad(`${n} sparse cells in a ${cellCount}-cell sketch`);
    for (let i = 0; i < n; i++) {
      const at = r.u32();
      if (at >= cellCount) throw bad(`cell index ${at} out of range`);
      cells[at] = count(r.f64(), 'cell');
    }
  } else {
    throw bad(`cell encoding ${mode}`);
  }
  return cells;
}

function count(v: number, what: string): number {
  if (!(v >= 0) || v === Infinity) throw bad(`${what} ${v} is not a finite count`);
  return v;
}

// `null`: all cells zero (an epoch without increments), written sparse.
function cellsSize(cells: Float64Array | null, count: number): number {
  let nonzero = 0;
  if (cells !== null) for (let i = 0; i < cells.length; i++) if (cells[i] !== 0) nonzero++;
  return 1 + Math.min(count * 8, 4 + nonzero * 12);
}

function writeCells(out: Buffer, o: number, cells: Float64Array | null): number {
  if (cells === null) {
    o = out.writeUInt8(1, o);
    return out.writeUInt32LE(0, o);
  }
  let nonzero = 0;
  for (let i = 0; i < cells.length; i++) if (cells[i] !== 0) nonzero++;
  if (4 + nonzero * 12 < cells.length * 8) {
    o = out.writeUInt8(1, o);
    o = out.writeUInt32LE(nonzero, o);
    for (let i = 0; i < cells.length; i++) {
      const v = cells[i]!;
      if (v !== 0) {
        o = out.writeUInt32LE(i, o);
        o = out.writeDoubleLE(v, o);
      }
    }
    return o;
  }
  o = out.writeUInt8(0, o);
  for (let i = 0; i < cells.length; i++) o = out.writeDoubleLE(cells[i]!, o);
  return o;
}

function bad(detail: string): HotshardError {
  return new HotshardError(ErrorCode.BadRequest, `invalid sketch: ${detail}`);
}

class Reader {
  offset = 0;
  readonly #view: DataView;
  readonly #buf: Uint8Array;
  constructor(buf: Uint8Array) {
    this.#buf = buf;
    this.#view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  #take(n: number): number {
    const at = this.offset;
    if (at + n > this.#buf.length) throw bad(`truncated at byte ${at} (needs ${n} more)`);
    this.offset = at + n;
    return at;
  }
  u8(): number {
    return this.#view.getUint8(this.#take(1));
  }
  u16(): number {
    return this.#view.getUint16(this.#take(2), true);
  }
  u32(): number {
    return this.#view.getUint32(this.#take(4), true);
  }
  f64(): number {
    return this.#view.getFloat64(this.#take(8), true);
  }
  bytes(n: number): Uint8Array {
    const at = this.#take(n);
    // A copy even when given a Buffer (whose slice() is a view).
    return Uint8Array.prototype.slice.call(this.#buf, at, at + n);
  }
}
