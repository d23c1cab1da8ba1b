import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseScanCursor } from '../../src/protocol/scan-cursor.js';
import { isErrorReply } from '../../src/protocol/reply.js';
import { requireBinary, startRedis, type RedisProcess } from '../../src/testkit/index.js';
import { respRoundTrip } from '../../src/testkit/round-trip.js';

const MAX = (1n << 64n) - 1n;

/** Cursor texts and the unsigned value strtoul gives them (undefined: "ERR invalid cursor"). */
const CASES: Array<[string, bigint | undefined]> = [
  ['0', 0n],
  ['00', 0n],
  ['', 0n],
  ['+0', 0n],
  ['-0', 0n],
  ['+5', 5n],
  ['-1', MAX],
  ['-18446744073709551615', 1n],
  ['18446744073709551615', MAX],
  ['18446744073709551616', undefined],
  ['-18446744073709551616', undefined],
  ['1\0junk', 1n],
  ['-', undefined],
  ['+', undefined],
  [' 1', undefined],
  ['1 ', undefined],
  ['0x1', undefined],
  ['1.0', undefined],
  ['+-1', undefined],
];

describe('scan cursor', () => {
  it('reads a cursor as strtoul does: signs wrap modulo 2^64, empty is 0, a NUL ends it', () => {
    for (const [text, want] of CASES)
      expect(parseScanCursor(Buffer.from(text, 'latin1')), JSON.stringify(text)).toBe(want);
  });

  const hasRedis = requireBinary('redis-server', 'the scan cursor differential');
  describe.skipIf(!hasRedis)('against redis-server', () => {
    let redis: RedisProcess;
    beforeAll(async () => {
      redis = await startRedis();
    });
    afterAll(async () => {
      await redis.stop();
    });

    it('refuses exactly the cursors redis-server refuses, for SCAN and SSCAN', async () => {
      const commands = CASES.flatMap(([text]) => [
        ['SCAN', text],
        ['SSCAN', 'missing', text],
      ]);
      const replies = await respRoundTrip(redis.host, redis.port, commands, 5_000);
      CASES.forEach(([text, want], i) => {
        for (const reply of [replies[2 * i], replies[2 * i + 1]])
          expect(isErrorReply(reply!), JSON.stringify(text)).toBe(want === undefined);
      });
    });
  });
});
