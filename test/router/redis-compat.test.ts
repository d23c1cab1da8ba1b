/**
 * Differential: the same commands sent to a real redis-server 7 and to
 * hotshard get the same replies (connection and server commands answered by
 * the router itself), or, for CLIENT LIST / INFO and COMMAND INFO, replies of
 * the same shape.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireBinary } from '../../src/testkit/binaries.js';
import { startTestHotshard, type TestHotshard } from '../../src/testkit/hotshard.js';
import { startRedis, type RedisProcess } from '../../src/testkit/redis-server.js';
import { exchange } from './differential.js';
import { rawConnect } from './raw-client.js';

const hasRedis = requireBinary('redis-server', 'replies compared with redis-server');

/** The field names of CLIENT LIST / INFO lines, in order. */
const fieldNames = (line: string): string[] => line.split(' ').map((f) => f.slice(0, f.indexOf('=')));

describe.skipIf(!hasRedis)('redis compatibility - replies compared with redis-server 7', () => {
  let t: TestHotshard;
  let redis: RedisProcess;
  beforeAll(async () => {
    [t, redis] = await Promise.all([startTestHotshard({ backend: 'memory' }), startRedis()]);
  });
  afterAll(async () => {
    await Promise.all([t?.stop(), redis?.stop()]);
  });

  const same = async (commands: string[][]): Promise<void> => {
    const expected = await exchange(redis.port, commands);
    const got = await exchange(t.port, commands);
    commands.forEach((c, i) => expect(got[i], c.join(' ')).toEqual(expected[i]));
  };

  it('redis compatibility - CLIENT REPLY OFF / SKIP / ON mute and unmute replies exactly as Redis does', async () => {
    const script = [
      ['CLIENT', 'REPLY', 'OFF'],
      ['SET', 'cr', '1'],
      ['GET', 'cr'],
      ['NOSUCHCMD'],
      ['CLIENT', 'REPLY', 'ON'],
      ['GET', 'cr'],
      ['CLIENT', 'REPLY', 'SKIP'],
      ['GET', 'cr'],
      ['INCR', 'cr'],
      ['CLIENT', 'REPLY', 'SKIP'],
      ['CLIENT', 'REPLY', 'ON'],
      ['client', 'reply', 'off'],
      ['CLIENT', 'REPLY', 'SKIP'],
      ['CLIENT', 'REPLY', 'x'],
      ['CLIENT', 'REPLY', 'ON'],
      ['CLIENT', 'REPLY', 'x'],
      ['CLIENT', 'REPLY', 'SKIP'],
      ['CLIENT', 'REPLY', 'SKIP'],
      ['PING'],
      ['ECHO', 'end'],
    ];
    const wire = script
      .map((c) => `*${c.length}\r\n${c.map((a) => `$${a.length}\r\n${a}\r\n`).join('')}`)
      .join('');
    const run = async (port: number): Promise<string> => {
      const c = await rawConnect(port);
      try {
        c.write(wire);
        return (await c.until((b) => b.toString().endsWith('$3\r\nend\r\n'))).toString();
      } finally {
        c.close();
      }
    };
    const expected = await run(redis.port);
    expect(expected).toBe('+OK\r\n$1\r\n1\r\n:2\r\n+OK\r\n+OK\r\n-ERR syntax error\r\n$3\r\nend\r\n');
    expect(await run(t.port)).toBe(expected);
  });

  it('redis compatibility - HELLO takes only a plain integer protocol version', async () => {
    await same([
      ['HELLO', '3.0'],
      ['HELLO', '0x3'],
      ['HELLO', '03'],
      ['HELLO', ' 3'],
      ['HELLO', '4'],
      ['HELLO', '-3'],
    ]);
  });

  it('redis compatibility - CLIENT GETNAME / ID / INFO / NO-EVICT / SETNAME check their arity; SETNAME refuses spaces and control bytes', async () => {
    await same([
      ['CLIENT', 'GETNAME', 'x'],
      ['CLIENT', 'ID', 'x'],
      ['CLIENT', 'INFO', 'x'],
      ['CLIENT', 'SETNAME'],
      ['CLIENT', 'SETNAME', 'a b'],
      ['CLIENT', 'SETNAME', 'a\x01b'],
      ['CLIENT', 'SETNAME', 'a\x7fb'],
      ['CLIENT', 'SETNAME', 'tab\there'],
      ['CLIENT', 'NO-EVICT', 'on'],
      ['CLIENT', 'NO-EVICT', 'OFF'],
      ['CLIENT', 'NO-EVICT', 'x'],
      ['CLIENT', 'NO-EVICT'],
      ['CLIENT', 'SETNAME', 'fine-name'],
      ['CLIENT', 'GETNAME'],
      ['CLIENT', 'SETNAME', ''],
      ['CLIENT', 'GETNAME'],
      ['CLIENT', 'NOSUCH'],
    ]);
  });

  it('redis compatibility - SELECT, INFO of an unknown section, EXEC and DISCARD without MULTI', async () => {
    await same([
      ['SELECT', 'abc'],
      ['SELECT', '0x0'],
      ['SELECT', '00'],
      ['SELECT', '-1'],
      ['SELECT', '16'],
      ['SELECT', '0'],
      ['INFO', 'bogus'],
      ['EXEC'],
      ['DISCARD'],
      ['PING'],
    ]);
  });

  it('redis compatibility - CLIENT KILL and CLIENT LIST options and their errors', async () => {
    await same([
      ['CLIENT', 'KILL', 'ID', 'abc'],
      ['CLIENT', 'KILL', 'ID', '0'],
      ['CLIENT', 'KILL', 'ID', '999999'],
      ['CLIENT', 'KILL', 'ADDR', '1.2.3.4:5'],
      ['CLIENT', 'KILL', '1.2.3.4:5'],
      ['CLIENT', 'KILL', 'BOGUS', '1'],
      ['CLIENT', 'KILL', 'ID'],
      ['CLIENT', 'KILL', 'SKIPME', 'maybe'],
      ['CLIENT', 'KILL', 'TYPE', 'bogus'],
      ['CLIENT', 'KILL', 'TYPE', 'pubsub'],
      ['CLIENT', 'LIST', 'x'],
      ['CLIENT', 'LIST', 'ID', 'abc'],
      ['CLIENT', 'LIST', 'TYPE', 'bogus'],
      ['CLIENT', 'LIST', 'TYPE', 'pubsub'],
      ['CLIENT', 'LIST', 'ID', '999999'],
    ]);
  });

  it('redis compatibility - CLIENT INFO and CLIENT LIST lines have Redis 7 fields, in order, for every connection', async () => {
    const [redisInfo] = (await exchange(redis.port, [['CLIENT', 'INFO']])) as string[];
    const names = fieldNames(redisInfo!.trimEnd());
    const other = new Redis({ port: t.port, host: '127.0.0.1', connectionName: 'bystander' });
    try {
      const otherId = await other.client('ID');
      const [info, list, myId] = (await exchange(t.port, [
        ['CLIENT', 'INFO'],
        ['CLIENT', 'LIST'],
        ['CLIENT', 'ID'],
      ])) as [string, string, number];
      expect(fieldNames(info.trimEnd())).toEqual(names);
      expect(info).toMatch(
        new RegExp(
          `^id=${myId} addr=127\\.0\\.0\\.1:\\d+ laddr=127\\.0\\.0\\.1:${t.port} .* cmd=client\\|info user=default .*resp=2\\n$`,
        ),
      );
      const lines = list.split('\n').filter((l) => l.length > 0);
      for (const l of lines) expect(fieldNames(l)).toEqual(names);
      expect(lines.find((l) => l.startsWith(`id=${otherId} `))).toMatch(/ name=bystander /);
      expect(lines.find((l) => l.startsWith(`id=${myId} `))).toMatch(/ cmd=client\|list /);
    } finally {
      other.disconnect();
    }
  });

  it('redis compatibility - CLIENT KILL ID, ADDR and the old ip:port form close that connection; SKIPME no closes the caller after its reply', async () => {
    const victims = await Promise.all([rawConnect(t.port), rawConnect(t.port), rawConnect(t.port)]);
    for (const v of victims) v.write('CLIENT ID\r\n');
    await Promise.all(victims.map((v) => v.until((b) => b.toString().endsWith('\r\n'))));
    const ids = victims.map((v) => Number(v.received().toString().slice(1)));
    const addr = (i: number): string => `127.0.0.1:${victims[i]!.socket.localPort}`;
    expect(
      await exchange(t.port, [
        ['CLIENT', 'KILL', 'ID', String(ids[0])],
        ['CLIENT', 'KILL', 'ADDR', addr(1)],
        ['CLIENT', 'KILL', addr(2)],
        ['CLIENT', 'KILL', 'ID', String(ids[0])],
      ]),
    ).toEqual([1, 1, { simple: 'OK' }, 0]);
    await Promise.all(victims.map((v) => v.closed()));
    const self = await rawConnect(t.port);
    self.write('CLIENT KILL ID 999999 SKIPME no\r\nCLIENT KILL TYPE normal SKIPME no\r\nPING\r\n');
    await self.closed();
    // Every client matched, itself included (after its reply); PING after it is never run.
    expect(self.received().toString()).toMatch(/^:0\r\n:[1-9]\d*\r\n$/);
    expect(await exchange(t.port, [['PING']])).toEqual([{ simple: 'PONG' }]);
  });

  it('redis compatibility - CLIENT TRACKING OFF, CACHING, GETREDIR, TRACKINGINFO, UNPAUSE, PAUSE and UNBLOCK of a client that is not blocked answer as Redis does', async () => {
    await same([
      ['CLIENT', 'TRACKING'],
      ['CLIENT', 'TRACKING', 'maybe'],
      ['CLIENT', 'TRACKING', 'OFF'],
      ['CLIENT', 'TRACKING', 'off', 'BCAST', 'NOLOOP', 'optin', 'OPTOUT', 'PREFIX', 'a:'],
      ['CLIENT', 'TRACKING', 'OFF', 'foo'],
      ['CLIENT', 'TRACKING', 'OFF', 'PREFIX'],
      ['CLIENT', 'TRACKING', 'OFF', 'REDIRECT'],
      ['CLIENT', 'TRACKING', 'OFF', 'REDIRECT', 'abc'],
      ['CLIENT', 'TRACKING', 'OFF', 'REDIRECT', '999999'],
      ['CLIENT', 'TRACKING', 'ON', 'foo'],
      ['CLIENT', 'CACHING'],
      ['CLIENT', 'CACHING', 'YES'],
      ['CLIENT', 'CACHING', 'maybe'],
      ['CLIENT', 'GETREDIR'],
      ['CLIENT', 'GETREDIR', 'x'],
      ['CLIENT', 'TRACKINGINFO'],
      ['CLIENT', 'TRACKINGINFO', 'x'],
      ['CLIENT', 'UNPAUSE'],
      ['CLIENT', 'UNPAUSE', 'x'],
      ['CLIENT', 'PAUSE'],
      ['CLIENT', 'PAUSE', 'abc'],
      ['CLIENT', 'PAUSE', '-5'],
      ['CLIENT', 'PAUSE', '10', 'sometimes'],
      ['CLIENT', 'PAUSE', '10', 'ALL', 'x'],
      ['CLIENT', 'UNBLOCK'],
      ['CLIENT', 'UNBLOCK', 'abc'],
      ['CLIENT', 'UNBLOCK', '5', 'later'],
      ['CLIENT', 'UNBLOCK', 'abc', 'later'],
      ['CLIENT', 'UNBLOCK', '999999'],
      ['CLIENT', 'UNBLOCK', '999999', 'ERROR'],
      ['CLIENT', 'UNBLOCK', '1', 'ERROR', 'x'],
      ['CLIENT', 'HELP', 'x'],
      ['PING'],
    ]);
  });

  it('redis compatibility - CLIENT TRACKING ON and PAUSE are refused by name; HELP lists what is served', async () => {
    const [on, pause, help] = (await exchange(t.port, [
      ['CLIENT', 'TRACKING', 'ON'],
      ['CLIENT', 'PAUSE', '10', 'WRITE'],
      ['CLIENT', 'HELP'],
    ])) as [{ error: string }, { error: string }, Array<{ simple: string }>];
    expect(on.error).toMatch(/^ERR HS_ERR_NOT_ALLOWED CLIENT TRACKING ON is not supported by hotshard: /);
    expect(pause.error).toMatch(/^ERR HS_ERR_NOT_ALLOWED CLIENT PAUSE is not supported by hotshard: /);
    const [redisHelp] = (await exchange(redis.port, [['CLIENT', 'HELP']])) as [Array<{ simple: string }>];
    expect(help[0]).toEqual(redisHelp[0]);
    // Every subcommand HELP names gets an answer of its own, not "unknown subcommand".
    const named = help
      .slice(1)
      .filter((l) => /^[A-Z]/.test(l.simple))
      .map((l) => l.simple.split(' ')[0]!);
    expect(named).toEqual(expect.arrayContaining(['GETNAME', 'KILL', 'TRACKING', 'UNBLOCK', 'HELP']));
    const answers = await exchange(
      t.port,
      named.map((sub) => ['CLIENT', sub]),
    );
    for (const [i, a] of answers.entries())
      expect(JSON.stringify(a), named[i]).not.toMatch(/unknown subcommand/);
  });

  it('redis compatibility - COMMAND GETKEYS, GETKEYSANDFLAGS, LIST with its filters and HELP answer as Redis does', async () => {
    const getkeys = [
      ['SET', 'a', 'b'],
      ['MSET', 'a', '1', 'b', '2'],
      ['LMOVE', 'a', 'b', 'LEFT', 'LEFT'],
      ['EVAL', 'return 1', '2', 'k1', 'k2', 'arg'],
      ['ZUNIONSTORE', 'd', '2', 'a', 'b', 'WEIGHTS', '1', '2'],
      ['ZUNIONSTORE', 'd', 'x', 'a'],
      ['SORT', 'k', 'BY', 'w_*', 'GET', '#', 'STORE', 'd'],
      ['SORT_RO', 'k'],
      ['XREAD', 'COUNT', '1', 'STREAMS', 's1', 's2', '0', '0'],
      ['XREADGROUP', 'GROUP', 'g', 'c', 'STREAMS', 's1', '>'],
      ['OBJECT', 'ENCODING', 'k'],
      ['MIGRATE', 'h', '1', '', '0', '5', 'KEYS', 'a', 'b'],
      ['MIGRATE', 'h', '1', 'k', '0', '5'],
      ['MIGRATE', 'h', '1', '', '0', '5', 'COPY', 'AUTH2', 'u', 'p', 'KEYS', 'a'],
      ['MIGRATE', 'h', '1', 'k', '0', '5', 'KEYS', 'a'],
      ['SET', 'a', 'b', 'GET'],
      ['SET', 'a', 'b', 'EX', '10'],
      ['BITFIELD', 'k', 'GET', 'u8', '0', 'OVERFLOW', 'SAT', 'GET', 'i4', '1'],
      ['BITFIELD', 'k', 'GET', 'u8', '0', 'INCRBY', 'u8', '0', '1'],
      ['BITFIELD', 'k', 'GET', 'u8'],
      ['BITFIELD_RO', 'k', 'GET', 'u8', '0'],
      ['GETDEL', 'k'],
      ['GET'],
      ['GET', 'a', 'b'],
      ['PING'],
      ['CONFIG', 'GET', 'x'],
      ['NOSUCH', 'a'],
      ['OBJECT', 'NOSUCH', 'k'],
    ];
    await same([
      ...getkeys.map((c) => ['COMMAND', 'GETKEYS', ...c]),
      ...getkeys.map((c) => ['COMMAND', 'GETKEYSANDFLAGS', ...c]),
      ['COMMAND', 'GETKEYS'],
      ['COMMAND', 'GETKEYS', 'SET'],
      ['COMMAND', 'LIST', 'FILTERBY'],
      ['COMMAND', 'LIST', 'FILTERBY', 'ACLCAT'],
      ['COMMAND', 'LIST', 'FILTERBY', 'NOSUCH', 'x'],
      ['COMMAND', 'LIST', 'x', 'y', 'z'],
      ['COMMAND', 'LIST', 'FILTERBY', 'MODULE', 'x'],
      ['COMMAND', 'LIST', 'FILTERBY', 'ACLCAT', 'nosuch'],
      ['COMMAND', 'HELP'],
      ['COMMAND', 'HELP', 'x'],
      ['COMMAND', 'COUNT', 'x'],
    ]);
    // Names come in the server's own order: compared as sets. (Containers
    // hotshard refuses, CONFIG or ACL, list no subcommands.)
    const sorted = async (port: number, cmd: string[]): Promise<unknown> =>
      ((await exchange(port, [cmd]))[0] as string[]).sort();
    for (const cmd of [
      ['COMMAND', 'LIST', 'FILTERBY', 'ACLCAT', 'hyperloglog'],
      ['COMMAND', 'LIST', 'FILTERBY', 'aclcat', 'STREAM'],
      ['COMMAND', 'LIST', 'FILTERBY', 'PATTERN', 'X*'],
      ['COMMAND', 'LIST', 'FILTERBY', 'PATTERN', 'xinfo|*'],
      ['COMMAND', 'LIST', 'FILTERBY', 'PATTERN', 'OBJECT|[ef]*'],
    ])
      expect(await sorted(t.port, cmd), cmd.join(' ')).toEqual(await sorted(redis.port, cmd));
    const all = (await sorted(t.port, ['COMMAND', 'LIST'])) as string[];
    expect(all).toEqual(expect.arrayContaining(['get', 'object|encoding', 'xinfo|stream', 'xgroup|create']));
    expect(all).toHaveLength(new Set(all).size);
  });

  it("redis compatibility - COMMAND INFO entries have Redis 7's ten fields; GET's key spec is Redis's", async () => {
    const commands = [['COMMAND', 'INFO', 'get', 'mset', 'dbsize', 'nosuch']];
    const [expected] = (await exchange(redis.port, commands)) as unknown[][];
    const [got] = (await exchange(t.port, commands)) as unknown[][];
    expect(got).toHaveLength(4);
    expect(got![3]).toBeNull();
    for (let i = 0; i < 3; i++) {
      const e = expected![i] as unknown[];
      const g = got![i] as unknown[];
      expect(g).toHaveLength(10);
      expect(g.slice(0, 2)).toEqual(e.slice(0, 2)); // name, arity
      expect(g.slice(3, 6)).toEqual(e.slice(3, 6)); // first key, last key, step
      for (const f of [6, 7, 8, 9]) expect(Array.isArray(g[f])).toBe(true);
    }
    expect((got![0] as unknown[])[8]).toEqual((expected![0] as unknown[])[8]);
    expect((got![0] as unknown[])[6]).toEqual(
      expect.arrayContaining([{ simple: '@read' }, { simple: '@string' }]),
    );
  });
});
