/**
 * The client writer reuses its slab once the socket has handed every byte to
 * the kernel. A client that stops reading makes the socket hold replies
 * instead, and those must come out exactly as written when it reads again.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { requireBinary } from '../../src/testkit/binaries.js';
import { startTestHotshard, type TestHotshard } from '../../src/testkit/hotshard.js';
import { rawConnect } from './raw-client.js';

let t: TestHotshard | undefined;
afterEach(async () => {
  await t?.stop();
  t = undefined;
});

const KEYS = 400;
/**
 * Below the writer's 16 KB threshold, so an embedded node's value is copied
 * into its slab; a Redis node's reply is above 4 KB, so it is written as the
 * sub-array of the read it arrived in.
 */
const VALUE_BYTES = 12_000;
const ROUNDS = 5;

function command(...args: string[]): string {
  return `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
}

function value(i: number): string {
  return `${i}:`.padEnd(VALUE_BYTES, String.fromCharCode(97 + (i % 26)));
}

const hasRedis = requireBinary('redis-server', 'a slow reader on Redis nodes');
const BACKENDS = [
  ['embedded nodes', () => startTestHotshard({ shards: 4 })],
  ...(hasRedis
    ? [['redis-server nodes', () => startTestHotshard({ backend: 'redis', redisNodes: 2 })] as const]
    : []),
] as const;

describe.each(BACKENDS)('a client that stops reading, on %s', (_name, start) => {
  it('gets every reply intact once it reads again, though the proxy wrote more meanwhile', async () => {
    t = await start();
    const setter = await rawConnect(t.port);
    setter.write(Array.from({ length: KEYS }, (_, i) => command('SET', `v:${i}`, value(i))).join(''));
    await setter.until((all) => all.length === KEYS * 5, 20_000);
    setter.close();

    const reader = await rawConnect(t.port);
    reader.socket.pause();
    const expected: Buffer[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      // Separate writes, so the proxy flushes many times while nothing is read.
      reader.write(Array.from({ length: KEYS }, (_, i) => command('GET', `v:${i}`)).join(''));
      for (let i = 0; i < KEYS; i++) expected.push(Buffer.from(`$${VALUE_BYTES}\r\n${value(i)}\r\n`));
      await new Promise((r) => setTimeout(r, 50));
    }
    const want = Buffer.concat(expected);
    reader.socket.resume();
    const got = await reader.until((all) => all.length >= want.length, 30_000);
    reader.close();
    expect(got.length).toBe(want.length);
    // Compare without printing 24 MB on failure.
    const firstDiff = got.findIndex((b, i) => b !== want[i]);
    expect(firstDiff).toBe(-1);
  });
});
