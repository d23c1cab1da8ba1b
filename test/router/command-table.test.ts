/**
 * The command table as the router's hot path reads it: every spec one shape,
 * so the loads made on every request stay monomorphic under a mix of commands.
 */
import { describe, expect, it } from 'vitest';
import {
  Route,
  allCommandSpecs,
  commandSpec,
  keysOf,
  learnCommands,
  lookupCommand,
} from '../../src/router/command-table.js';
import { parseCommandInfo } from '../../src/router/key-specs.js';
import { REDIS_COMMANDS } from '../../src/router/redis-commands.generated.js';

describe('command table', () => {
  it('command table - every spec has the same fields in the same order, optional ones included', () => {
    const specs = [...allCommandSpecs()];
    expect(specs.length).toBeGreaterThan(50);
    const shape = Object.keys(specs[0]!);
    for (const s of specs) expect(Object.keys(s), s.name).toEqual(shape);
    expect(shape).toEqual(expect.arrayContaining(['merge', 'refusal', 'write', 'noauth']));
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
    expect(commandSpec('hgetall')).toMatchObject({ route: Route.Key, write: false });
    expect(commandSpec('auth')).toMatchObject({ noauth: true, route: Route.Local, firstKey: 0 });
    expect(commandSpec('get')!.merge).toBeUndefined();
  });

  it('command table - every spelling of every name finds its spec, however many names share a cache slot', () => {
    const names = [...allCommandSpecs()].map((s) => s.name);
    const spell = (name: string, i: number): string =>
      [...name].map((c, j) => ((i + j) % 3 === 0 ? c.toUpperCase() : c)).join('');
    // Several rounds in different orders: each lookup may evict another name's slot.
    for (let round = 0; round < 3; round++) {
      for (const [i, name] of names.entries()) {
        const sent = Buffer.from(spell(name, i + round));
        expect(lookupCommand(sent)?.name, sent.toString()).toBe(name);
      }
      names.reverse();
    }
    for (const unknown of ['gett', 'ge', 'xget', 'GET ', '', 'a'.repeat(33)])
      expect(lookupCommand(Buffer.from(unknown)), unknown).toBeUndefined();
    // The cache keeps its own copy: the client's buffer is reused for the next read.
    const sent = Buffer.from('hget');
    expect(lookupCommand(sent)?.name).toBe('hget');
    sent.write('hset');
    expect(lookupCommand(sent)?.name).toBe('hset');
    expect(lookupCommand(Buffer.from('hget'))?.name).toBe('hget');
  });
});

describe('command table - Redis 7 commands and their keys', () => {
  const keysOfCall = (...words: string[]): string[] => {
    const args = words.map((w) => Buffer.from(w));
    const spec = commandSpec(words[0]!.toLowerCase())!;
    return keysOf(spec, args).map((i) => words[i]!);
  };

  it('command table - every Redis 7.0 command is in the table, routed by its keys or refused with a reason', () => {
    for (const info of REDIS_COMMANDS) {
      const spec = commandSpec(info.name);
      expect(spec, info.name).toBeDefined();
      expect(spec!.arity, info.name).toBe(info.arity);
      if (spec!.route === Route.Refused) expect(spec!.refusal, info.name).toMatch(/\w+/);
    }
    expect(commandSpec('lpush')).toMatchObject({ route: Route.Key, write: true, group: 'list' });
    expect(commandSpec('zrange')).toMatchObject({ route: Route.Key, write: false, group: 'sorted-set' });
    expect(commandSpec('xadd')).toMatchObject({ route: Route.Key, write: true, group: 'stream' });
    expect(commandSpec('lmove')).toMatchObject({ route: Route.OneShard, write: true });
    expect(commandSpec('zunion')).toMatchObject({ route: Route.Gather, write: false });
    expect(commandSpec('xread')).toMatchObject({ route: Route.Special, blocking: true });
    expect(commandSpec('blpop')).toMatchObject({ route: Route.Special, blocking: true });
    expect(commandSpec('config')).toMatchObject({ route: Route.Refused });
  });

  it('command table - movable keys are found by the key specs, as Redis finds them', () => {
    expect(keysOfCall('ZUNION', '2', 'a', 'b', 'WEIGHTS', '1', '2')).toEqual(['a', 'b']);
    expect(keysOfCall('ZUNIONSTORE', 'dst', '2', 'a', 'b')).toEqual(['dst', 'a', 'b']);
    expect(keysOfCall('SINTERCARD', '3', 'a', 'b', 'c', 'LIMIT', '1')).toEqual(['a', 'b', 'c']);
    expect(keysOfCall('LMPOP', '2', 'a', 'b', 'LEFT')).toEqual(['a', 'b']);
    expect(keysOfCall('ZMPOP', '1', 'a', 'MIN')).toEqual(['a']);
    expect(keysOfCall('SORT', 'a', 'LIMIT', '0', '1', 'BY', 'nosort', 'STORE', 'dst')).toEqual(['a', 'dst']);
    expect(keysOfCall('SORT', 'a', 'ALPHA')).toEqual(['a']);
    expect(keysOfCall('GEORADIUS', 'g', '1', '2', '3', 'km', 'STORE', 'dst')).toEqual(['g', 'dst']);
    expect(keysOfCall('GEORADIUS', 'g', '1', '2', '3', 'km', 'STOREDIST', 'dst')).toEqual(['g', 'dst']);
    expect(keysOfCall('XREAD', 'COUNT', '2', 'STREAMS', 's1', 's2', '0', '0')).toEqual(['s1', 's2']);
    expect(keysOfCall('XREADGROUP', 'GROUP', 'g', 'c', 'STREAMS', 's1', '>')).toEqual(['s1']);
    expect(keysOfCall('MSETNX', 'a', '1', 'b', '2')).toEqual(['a', 'b']);
    expect(keysOfCall('XINFO', 'STREAM', 's')).toEqual(['s']);
    expect(keysOfCall('OBJECT', 'ENCODING', 'k')).toEqual(['k']);
    expect(keysOfCall('BITOP', 'AND', 'dst', 'a', 'b')).toEqual(['dst', 'a', 'b']);
    // No sources: Redis's key specs find no key (COMMAND GETKEYS fails) though the
    // command is valid; routed by its destination, or it would land on any node.
    expect(keysOfCall('PFMERGE', 'dst')).toEqual(['dst']);
    expect(keysOfCall('PFMERGE', 'dst', 'a')).toEqual(['dst', 'a']);
    // Arguments Redis rejects itself: no keys to route by.
    expect(keysOfCall('ZUNION', 'x', 'a')).toEqual([]);
    expect(keysOfCall('ZUNION', '3', 'a')).toEqual([]);
    expect(keysOfCall('XREAD', 'COUNT', '2')).toEqual([]);
  });

  it("command table - a newer server's commands are learned from its COMMAND INFO; the router's own list wins", () => {
    const entry = (name: string, flags: string[]): unknown[] => [
      name,
      -2,
      flags,
      1,
      1,
      1,
      ['@write'],
      [],
      [
        [
          'flags',
          ['RW', 'update'],
          'begin_search',
          ['type', 'index', 'spec', ['index', 1]],
          'find_keys',
          ['type', 'range', 'spec', ['lastkey', 0, 'keystep', 1, 'limit', 0]],
        ],
      ],
      [],
    ];
    expect(lookupCommand(Buffer.from('HNEWFIELDCMD'))).toBeUndefined();
    const added = learnCommands([
      parseCommandInfo(entry('hnewfieldcmd', ['write'])),
      parseCommandInfo(entry('keys', ['readonly'])),
      parseCommandInfo(entry('get', ['write'])),
    ]);
    expect(added).toEqual(['hnewfieldcmd']);
    // A spelling seen as unknown before is known now.
    expect(lookupCommand(Buffer.from('HNEWFIELDCMD'))).toMatchObject({
      route: Route.Key,
      write: true,
      learned: true,
    });
    expect(commandSpec('keys')!.route).toBe(Route.Special);
    expect(commandSpec('get')!.write).toBe(false);
    expect(() => parseCommandInfo(['x'])).toThrow(/COMMAND INFO/);
  });
});
