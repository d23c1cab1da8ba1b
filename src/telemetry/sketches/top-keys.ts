/**
 * Ranking heavy keys out of merged summaries (read side): each candidate's
 * estimate per metric is the smaller of two upper bounds — its SpaceSaving
 * count (or the summary's base when unmonitored) and the Count-Min estimate —
 * and its error is that minus the SpaceSaving lower bound.
 */
import { remix } from './key-hash.js';
import type { SketchShape } from './codec.js';
import { EntryIndex, byCountDesc, summaryBase, type Summary, type SummaryEntry } from './space-saving.js';

/** What to rank top keys by. */
export type RankBy = 'ops' | 'reads' | 'writes' | 'bytes';

/** A key's estimated weight over a window: upper-bound estimates and their error bounds. */
export interface KeyEstimate {
  /** The key's bytes (a prefix when `truncated`). */
  readonly key: Buffer;
  readonly truncated: boolean;
  /** Upper bounds of the window's reads, writes and bytes. */
  readonly reads: number;
  readonly writes: number;
  readonly bytes: number;
  /** How much each may overcount (estimate − a guaranteed lower bound). */
  readonly readsError: number;
  readonly writesError: number;
  readonly bytesError: number;
}

/**
 * The Count-Min estimate of a key in the sum of several sketches (one per
 * second, the j-th counted `weights[j]` times, default 1): per row the
 * weighted sum of the cells, then the min — tighter than summing each
 * sketch's own estimate.
 */
export function summedEstimate(
  cells: readonly Float64Array[],
  h1: number,
  shape: SketchShape,
  weights?: readonly number[],
): number {
  const h2 = remix(h1);
  const mask = shape.width - 1;
  let min = Infinity;
  for (let i = 0; i < shape.depth; i++) {
    const at = i * shape.width + ((h1 + Math.imul(i, h2)) & mask);
    let sum = 0;
    for (let j = 0; j < cells.length; j++) sum += cells[j]![at]! * (weights === undefined ? 1 : weights[j]!);
    if (sum < min) min = sum;
  }
  return min;
}

/**
 * Candidates ranked per metric for a limit: at least 256, so every limit up to
 * 64 ranks the same candidates and a smaller limit returns the head of a
 * larger one (a candidate's estimate can rank it above keys with larger
 * SpaceSaving counts, so a cut at 4 × a small limit could miss it).
 */
export function candidatesFor(limit: number): number {
  return Math.max(256, 4 * limit);
}

/**
 * Ranks the keys of merged summaries: each candidate's estimate per metric is
 * the smaller of two upper bounds (its SpaceSaving count, or the summary's
 * base when unmonitored; and the Count-Min estimate over `cells[metric]`, the
 * cells of each second in the window, or 0 for a metric with nothing in it),
 * its error that minus the SpaceSaving lower bound. `weights` weigh the
 * seconds of `cells` as the merged summaries were weighted (default 1 each).
 *
 * The loops here call only module-level functions. A closure made inside
 * this function (a comparator, a per-candidate helper) is a new function
 * object every detector tick; once its loop makes it hot, V8 compiles it
 * again for that tick on its compiler thread, 30 to 50 ms of CPU each time,
 * which was most of what the detector cost a loaded proxy (`node
 * --trace-opt` under redis-benchmark: 1.3 s of compiling such closures in
 * 18 s).
 */
export function rankKeys(
  merged: readonly (Summary | null)[],
  cells: readonly (readonly Float64Array[] | null)[],
  shape: SketchShape,
  limit: number,
  by: RankBy,
  weights?: readonly number[],
): KeyEstimate[] {
  const sources = by === 'ops' ? [0, 1] : by === 'reads' ? [0] : by === 'writes' ? [1] : [2];
  // A metric without a summary (null: not merged) is bounded by Count-Min alone.
  const w: Window = { maps: [], bases: [], cells, shape, weights };
  for (const s of merged) {
    const index = new EntryIndex<SummaryEntry>();
    if (s !== null) for (const e of s.entries) index.add(e);
    w.maps.push(index);
    w.bases.push(s === null ? Infinity : summaryBase(s));
  }
  // Candidates: the heaviest entries of each ranked summary. A key outside the
  // top `candidatesFor(limit)` of every ranked metric cannot make the top `limit` by one
  // of them, and for reads + writes only a key near the cut in both could,
  // which the margin covers in practice; it keeps the CMS lookups bounded.
  const candidates = new EntryIndex<SummaryEntry>();
  const most = candidatesFor(limit);
  for (const m of sources) {
    let entries = merged[m]?.entries ?? [];
    // A detector tick's merged summaries hold no more than that already
    // (truncated to candidatesFor(limit) before merging): nothing to cut.
    if (entries.length > most) entries = [...entries].sort(byCountDesc).slice(0, most);
    for (const e of entries) if (candidates.get(e) === undefined) candidates.add(e);
  }
  // Estimates of the ranked metrics first (each a Count-Min lookup, the cost
  // of this call), then the others for the kept keys only.
  const ranked: Ranked[] = [];
  for (const c of candidates.values()) {
    const r: Ranked = { c, est: [0, 0, 0], err: [0, 0, 0], score: 0 };
    for (const m of sources) r.score += estimateInto(w, r, m);
    ranked.push(r);
  }
  ranked.sort(byScoreDesc);
  const out: KeyEstimate[] = [];
  for (const r of ranked.slice(0, limit)) {
    for (let m = 0; m < 3; m++) if (!sources.includes(m)) estimateInto(w, r, m);
    out.push(keyEstimate(r.c.key, r.c.length > shape.maxKeyBytes, r.est, r.err));
  }
  return out;
}

/** What ranking reads per metric: merged entries by identity, their base, and the window's Count-Min cells. */
interface Window {
  readonly maps: EntryIndex<SummaryEntry>[];
  readonly bases: number[];
  readonly cells: readonly (readonly Float64Array[] | null)[];
  readonly shape: SketchShape;
  readonly weights: readonly number[] | undefined;
}

interface Ranked {
  readonly c: SummaryEntry;
  readonly est: number[];
  readonly err: number[];
  score: number;
}

// Fills r's estimate and error for metric m; returns the estimate.
function estimateInto(w: Window, r: Ranked, m: number): number {
  const e = w.maps[m]!.get(r.c);
  const upper = e === undefined ? w.bases[m]! : e.count;
  const cells = w.cells[m];
  const v =
    cells === null || cells === undefined
      ? 0
      : Math.min(upper, summedEstimate(cells, r.c.hash, w.shape, w.weights));
  r.est[m] = v;
  r.err[m] = v - (e?.lower ?? 0);
  return v;
}

// Ties (common among cold keys) go by key hash, then key bytes, not by
// candidate order, so a smaller limit returns the head of a larger one. Hash
// first: under uniform load most candidates tie, and comparing their bytes
// was a third of the ranking.
function byScoreDesc(a: Ranked, b: Ranked): number {
  return b.score - a.score || a.c.hash - b.c.hash || Buffer.compare(a.c.key, b.c.key);
}

/** Packs per-metric estimates and errors (reads, writes, bytes). */
export function keyEstimate(key: Buffer, truncated: boolean, est: number[], err: number[]): KeyEstimate {
  return {
    key,
    truncated,
    reads: est[0]!,
    writes: est[1]!,
    bytes: est[2]!,
    readsError: err[0]!,
    writesError: err[1]!,
    bytesError: err[2]!,
  };
}
