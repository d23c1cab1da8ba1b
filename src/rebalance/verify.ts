/**
 * The verify step of a live move, after Vitess's VDiff: the range on the
 * source and on the target compared key by key (counts, and per key the DUMP
 * payload byte for byte plus whether it has a TTL), while writes go on. The
 * caller tells the differences that writes made meanwhile explain (the dirty
 * set) from those that are the copy's own fault, repairs the latter and
 * checks them again.
 */
import type { KeyDump, ShardBackend } from '../backend/backend.js';

/** What one comparison found. */
export interface RangeDiff {
  /** Keys of the range on the source and on the target. */
  readonly sourceKeys: number;
  readonly targetKeys: number;
  /** Keys whose copy differs, or that one side lacks. */
  readonly mismatched: Buffer[];
}

/** Whether two dumps hold the same thing: both absent, or equal payloads and both with or both without a TTL. */
export function sameKey(a: KeyDump | null, b: KeyDump | null): boolean {
  if (a === null || b === null) return a === b;
  return (a.pttl === -1) === (b.pttl === -1) && a.payload.equals(b.payload);
}

/** Compares `keys` on both nodes; the ones that differ. */
export async function diffKeys(
  source: ShardBackend,
  target: ShardBackend,
  keys: readonly Buffer[],
  batch = 500,
): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (let i = 0; i < keys.length; i += batch) {
    const part = keys.slice(i, i + batch);
    const [a, b] = await Promise.all([source.dumpKeys(part), target.dumpKeys(part)]);
    part.forEach((key, j) => {
      if (!sameKey(a[j] ?? null, b[j] ?? null)) out.push(key);
    });
  }
  return out;
}

/** Compares the whole range: every key either node holds in it. `check` may throw to stop. */
export async function diffRange(
  source: ShardBackend,
  target: ShardBackend,
  inRange: (key: Buffer) => boolean,
  check: () => void,
  batch = 500,
): Promise<RangeDiff> {
  const seen = new Set<string>();
  const mismatched: Buffer[] = [];
  let sourceKeys = 0;
  for await (const keys of source.scanKeys(inRange, batch)) {
    check();
    sourceKeys += keys.length;
    for (const k of keys) seen.add(k.toString('latin1'));
    mismatched.push(...(await diffKeys(source, target, keys, batch)));
  }
  let targetKeys = 0;
  const onlyTarget: Buffer[] = [];
  for await (const keys of target.scanKeys(inRange, batch)) {
    check();
    targetKeys += keys.length;
    for (const k of keys) if (!seen.has(k.toString('latin1'))) onlyTarget.push(k);
  }
  // A key the source's scan missed may have been written since: compare rather than assume.
  mismatched.push(...(await diffKeys(source, target, onlyTarget, batch)));
  return { sourceKeys, targetKeys, mismatched };
}
