import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { ConfigError } from '../src/errors.js';
import { DEFAULT_RANGE_PLANNER_SETTINGS } from '../src/rebalance/range-planner-io.js';

function fromFile(rebalance: unknown): ReturnType<typeof loadConfig> {
  const dir = mkdtempSync(join(tmpdir(), 'hs-rebalance-'));
  const file = join(dir, 'c.json');
  writeFileSync(file, JSON.stringify({ rebalance }));
  return loadConfig({ file });
}

describe('config rebalance', () => {
  it('config - rebalance defaults are the range planner defaults: one move at a time, 12 an hour, 70 % target, 80 % max', () => {
    const r = loadConfig().rebalance;
    expect(r).toEqual({
      ...DEFAULT_RANGE_PLANNER_SETTINGS,
      split: { ...DEFAULT_RANGE_PLANNER_SETTINGS.split },
    });
    expect(r).toMatchObject({
      maxConcurrentMoves: 1,
      maxMovesPerHour: 12,
      targetUtilization: 0.7,
      maxUtilization: 0.8,
    });
  });

  it('config - rebalance fields are set in a file, the rest keep their defaults', () => {
    const r = fromFile({
      maxMovesPerHour: 4,
      copyBytesPerSec: 10_000_000,
      split: { maxHotterShare: 0.65 },
    }).rebalance;
    expect(r.maxMovesPerHour).toBe(4);
    expect(r.copyBytesPerSec).toBe(10_000_000);
    expect(r.split).toEqual({ maxHotterShare: 0.65, maxSpanningShare: 0.2, minSamples: 100 });
    expect(r.moveHysteresisMs).toBe(3_600_000);
  });

  it('config - a bad rebalance value names the field and what is accepted', () => {
    expect(() => fromFile({ maxConcurrentMoves: -1 })).toThrow(ConfigError);
    expect(() => fromFile({ maxConcurrentMoves: -1 })).toThrow(/rebalance\.maxConcurrentMoves/);
    expect(() => fromFile({ targetUtilization: 0.9, maxUtilization: 0.8 })).toThrow(
      /rebalance\.targetUtilization.*must be at most maxUtilization \(0\.8\)/,
    );
    expect(() => fromFile({ split: { maxHotterShare: 0.5 } })).toThrow(/rebalance\.split\.maxHotterShare/);
    expect(() => fromFile({ movesPerHour: 3 })).toThrow(/rebalance.*movesPerHour/);
  });
});
