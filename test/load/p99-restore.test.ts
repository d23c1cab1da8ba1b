/** Time to p99 restore, as scenario reports judge it. */
import { describe, expect, it } from 'vitest';
import { p99RestoreSeconds } from '../../src/load/scenario-runner.js';

const timing = { durationSeconds: 10, onsetSecond: 4, endSecond: null, onsetOffsetMs: 500 };
const run = (p99s: number[]) => p99s.map((p99, t) => ({ t, p99, ops: 100 }));

describe('p99 restore', () => {
  it('is the end of the last second over the SLO after the onset, less the onset offset', () => {
    expect(p99RestoreSeconds(run([1, 1, 1, 1, 9, 9, 1, 9, 1, 1]), timing, 5)).toBe(8 - 4.5);
  });
  it('is 0 when p99 never went over, and null when it never came back', () => {
    expect(p99RestoreSeconds(run([9, 1, 1, 1, 1, 1, 1, 1, 1, 1]), timing, 5)).toBe(0);
    expect(p99RestoreSeconds(run([1, 1, 1, 1, 9, 1, 1, 1, 1, 9]), timing, 5)).toBeNull();
  });
  it('ignores seconds after the skew ended and seconds without requests', () => {
    expect(p99RestoreSeconds(run([1, 1, 1, 1, 9, 1, 1, 1, 9, 9]), { ...timing, endSecond: 8 }, 5)).toBe(
      5 - 4.5,
    );
    const idle = run([1, 1, 1, 1, 9, 1, 1, 1, 1, 1]).map((s) => (s.t === 9 ? { ...s, ops: 0, p99: 99 } : s));
    expect(p99RestoreSeconds(idle, timing, 5)).toBe(5 - 4.5);
  });
});
