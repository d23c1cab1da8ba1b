/**
 * RESET, and the protocol a reply is written in when HELLO or RESET switches
 * it while earlier replies are still owed: the same bytes as redis-server,
 * through hotshard on embedded nodes and on Redis nodes (where a forwarded
 * reply is still on its way when the switch is answered).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireBinary } from '../../src/testkit/binaries.js';
import { startTestHotshard, type TestHotshard } from '../../src/testkit/hotshard.js';
import { startComparedTargets, type ComparedTargets } from './differential.js';
import { rawConnect } from './raw-client.js';

const hasRedis = requireBinary('redis-server', 'RESET compared with redis-server');

const wire = (script: readonly string[][]): string =>
  script.map((c) => `*${c.length}\r\n${c.map((a) => `$${a.length}\r\n${a}\r\n`).join('')}`).join('');

/** The bytes `script` gets on one new connection, up to its last command, `ECHO end`. */
async function run(port: number, script: readonly string[][]): Promise<string> {
  const c = await rawConnect(port);
  try {
    c.write(wire([...script, ['ECHO', 'end']]));
    return (await c.until((b) => b.toString().endsWith('$3\r\nend\r\n'))).toString();
  } finally {
    c.close();
  }
}

/** HELLO's reply names the server: a SKIP before it keeps it off the wire. */
const hello = (proto: string): string[][] => [
  ['CLIENT', 'REPLY', 'SKIP'],
  ['HELLO', proto],
];

describe.skipIf(!hasRedis)('RESET - the connection as a new one, as on redis-server', () => {
  let targets: ComparedTargets;
  beforeAll(async () => {
    targets = await startComparedTargets();
  });
  afterAll(async () => {
    await targets?.stop();
  });

  const same = async (script: string[][]): Promise<string> => {
    const expected = await run(targets.redis.port, script);
    expect(await run(targets.embedded.port, script), 'embedded').toBe(expected);
    expect(await run(targets.onRedis.port, script), 'redis nodes').toBe(expected);
    return expected;
  };

  it('RESET - discards MULTI, clears the name, goes back to RESP2 and turns CLIENT REPLY OFF back on', async () => {
    const out = await same([
      ['DEL', '{r}k', '{r}h'],
      ['HSET', '{r}h', 'f', 'v'],
      ...hello('3'),
      ['CLIENT', 'SETNAME', 'before'],
      ['MULTI'],
      ['SET', '{r}k', '1'],
      ['RESET'],
      ['EXEC'],
      ['GET', '{r}k'],
      ['CLIENT', 'GETNAME'],
      ['HGETALL', '{r}h'],
      ['CLIENT', 'REPLY', 'OFF'],
      ['SET', '{r}k', '2'],
      ['RESET'],
      ['GET', '{r}k'],
      // A SKIP still covers the RESET after it.
      ['CLIENT', 'REPLY', 'SKIP'],
      ['RESET'],
      ['PING'],
      ['reset'],
    ]);
    expect(out).toBe(
      ':0\r\n:1\r\n+OK\r\n+OK\r\n+QUEUED\r\n+RESET\r\n-ERR EXEC without MULTI\r\n$-1\r\n$-1\r\n' +
        '*2\r\n$1\r\nf\r\n$1\r\nv\r\n+RESET\r\n$1\r\n2\r\n+PONG\r\n+RESET\r\n$3\r\nend\r\n',
    );
  });

  it('HELLO and RESET - replies owed from before a protocol switch keep the protocol they were asked in', async () => {
    await same([
      ['DEL', '{r}h', '{r}z'],
      ['HSET', '{r}h', 'f', 'v', 'g', 'w'],
      ['ZADD', '{r}z', '1.5', 'a'],
      ...hello('3'),
      ['HGETALL', '{r}h'],
      ['ZSCORE', '{r}z', 'a'],
      ['GET', '{r}nokey'],
      ['RESET'],
      ['HGETALL', '{r}h'],
      ['GET', '{r}nokey'],
      ...hello('3'),
      ['ZRANGE', '{r}z', '0', '-1', 'WITHSCORES'],
      ...hello('2'),
      ['ZRANGE', '{r}z', '0', '-1', 'WITHSCORES'],
      ['HGETALL', '{r}h'],
    ]);
  });
});

describe.skipIf(!hasRedis)('RESET - with a password', () => {
  let t: TestHotshard;
  beforeAll(async () => {
    t = await startTestHotshard({ backend: 'memory', password: 'sesame' });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('RESET - logs the connection out: the next command needs AUTH again', async () => {
    const out = await run(t.port, [['AUTH', 'sesame'], ['PING'], ['RESET'], ['PING'], ['AUTH', 'sesame']]);
    expect(out).toBe('+OK\r\n+PONG\r\n+RESET\r\n-NOAUTH Authentication required.\r\n+OK\r\n$3\r\nend\r\n');
  });
});
