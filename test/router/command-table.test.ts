/**
 * The command table as the router's hot path reads it: every spec one shape,
 * so the loads made on every request stay monomorphic under a mix of commands.
 */
import { describe, expect, it } from 'vitest';
import { Route, allCommandSpecs, commandSpec } from '../../src/router/command-table.js';

describe('command table', () => {
  it('command table - every spec has the same fields in the same order, optional ones included', () => {
    const specs = [...allCommandSpecs()];
    expect(specs.length).toBeGreaterThan(50);
    const shape = Object.keys(specs[0]!);
    for (const s of specs) expect(Object.keys(s), s.name).toEqual(shape);
    expect(shape).toEqual(expect.arrayContaining(['merge', 'mapReply', 'refusal', 'write', 'noauth']));
  });

  it('command table - defaults and given values survive the fixed shape', () => {
    expect(commandSpec('get')).toMatchObject({
      route: Route.Key,
      firstKey: 1,
      lastKey: 1,
      step: 1,
      write: false,
    });
    expect(commandSpec('mset')).toMatchObject({
      route: Route.MultiKey,
      step: 2,
      write: true,
      merge: 'all-ok',
    });
    expect(commandSpec('hgetall')).toMatchObject({ mapReply: true });
    expect(commandSpec('auth')).toMatchObject({ noauth: true, route: Route.Local, firstKey: 0 });
    expect(commandSpec('get')!.merge).toBeUndefined();
  });
});
