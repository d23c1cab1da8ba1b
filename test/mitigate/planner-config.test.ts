import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { ConfigError } from '../../src/errors.js';
import { KeyPatterns, patternProblem } from '../../src/mitigate/key-patterns.js';
import { DEFAULT_PLANNER_SETTINGS } from '../../src/mitigate/planner.js';

function fromFile(mitigation: unknown): ReturnType<typeof loadConfig> {
  const dir = mkdtempSync(join(tmpdir(), 'hs-mitigation-'));
  const file = join(dir, 'c.json');
  writeFileSync(file, JSON.stringify({ mitigation }));
  return loadConfig({ file });
}

describe('config - mitigation', () => {
  it('config - mitigation defaults are the planner defaults: no counter or strong patterns, 30 s hysteresis, 5 s verify', () => {
    const m = loadConfig().mitigation;
    expect(m).toEqual({ ...DEFAULT_PLANNER_SETTINGS });
    expect(m).toMatchObject({ counters: [], strong: [], hysteresisMs: 30_000, verifyDelayMs: 5_000 });
  });

  it('config - mitigation patterns and timings come from the config file', () => {
    const m = fromFile({
      counters: ['likes:*'],
      strong: ['balance:*'],
      doNotTouch: ['session:*'],
      hysteresisMs: 60_000,
    });
    expect(m.mitigation).toMatchObject({
      counters: ['likes:*'],
      strong: ['balance:*'],
      doNotTouch: ['session:*'],
      hysteresisMs: 60_000,
      verifyDelayMs: 5_000,
    });
  });

  it('config - a bad mitigation value names the field and what is accepted', () => {
    expect(() => fromFile({ counters: ['likes:[a'] })).toThrow(ConfigError);
    expect(() => fromFile({ counters: ['likes:[a'] })).toThrow(/mitigation\.counters\.0 .*unclosed '\['/);
    expect(() => fromFile({ strong: [''] })).toThrow(/mitigation\.strong\.0 .*empty pattern/);
    expect(() => fromFile({ targetUtilization: 1.5 })).toThrow(/mitigation\.targetUtilization/);
    expect(() => fromFile({ maxActionsPerMinute: 0 })).toThrow(/mitigation\.maxActionsPerMinute/);
    expect(() => fromFile({ impactHoldMs: -1 })).toThrow(/mitigation\.impactHoldMs/);
    expect(fromFile({ impactHoldMs: 0 }).mitigation.impactHoldMs).toBe(0);
    expect(() => fromFile({ hysteresisMs: 4000 })).toThrow(
      /mitigation\.hysteresisMs .*longer than verifyDelayMs \(5000\)/,
    );
    expect(() => fromFile({ counter: ['x'] })).toThrow(
      /mitigation .*unknown field\(s\) counter; known fields: counters, strong/,
    );
  });
});

describe('key patterns', () => {
  it('key patterns - Redis glob: * ? [set] [^set] [a-z] and \\ escapes', () => {
    const p = (pattern: string, key: string): boolean => new KeyPatterns([pattern]).matches(key);
    expect(p('likes:*', 'likes:post-1')).toBe(true);
    expect(p('likes:*', 'likes:')).toBe(true);
    expect(p('likes:*', 'xlikes:1')).toBe(false);
    expect(p('user:?', 'user:7')).toBe(true);
    expect(p('user:?', 'user:77')).toBe(false);
    expect(p('h[ae]llo', 'hallo')).toBe(true);
    expect(p('h[ae]llo', 'hillo')).toBe(false);
    expect(p('h[^e]llo', 'hallo')).toBe(true);
    expect(p('h[^e]llo', 'hello')).toBe(false);
    expect(p('v[0-9]', 'v5')).toBe(true);
    expect(p('v[0-9]', 'vx')).toBe(false);
    expect(p('a\\*b', 'a*b')).toBe(true);
    expect(p('a\\*b', 'axb')).toBe(false);
    expect(p('a.b', 'axb')).toBe(false);
    expect(p('(x)|y', '(x)|y')).toBe(true);
    expect(new KeyPatterns(['a:*', 'b:*']).match('b:1')).toBe('b:*');
    expect(patternProblem('ok:*')).toBeNull();
  });
});
