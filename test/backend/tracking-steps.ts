/**
 * Random commands for the invalidation properties: the embedded node's model
 * check (memory-tracking.test.ts) and the differential run against Redis
 * (redis-tracking.test.ts). Few keys, so reads and writes meet often.
 */
import fc from 'fast-check';
import { isBlockingCommand, memoryCommandNames } from '../../src/backend/memory-commands.js';

/** Commands whose reply is a random pick. */
const RANDOM = new Set(['spop', 'srandmember', 'hrandfield', 'zrandmember']);

/** The keys commands and reads use; a test reads the state over these. */
export const TRACKING_KEYS: readonly string[] = ['k0', 'k1', 'f0'];

/** Tracked reads over the keys, of every kind readTracked takes. */
const READS: readonly string[][] = [
  ['GET', 'k0'],
  ['GET', 'k1'],
  ['GET', 'f0'],
  ['MGET', 'k0', 'k1', 'f0'],
  ['HGET', 'k1', 'f0'],
  ['HMGET', 'k0', 'f0', 'f1'],
  ['HGETALL', 'k0'],
  ['HGETALL', 'f0'],
];

/**
 * Commands and tracked reads. `numbers` are the counts, increments and times
 * to live used: a test on the wall clock gives only times that cannot run out
 * during the test (or that are already past: 0, -1). A test comparing two
 * servers' replies sets `deterministic`, which leaves out the random picks.
 */
export function trackingSteps(
  numbers: readonly string[],
  { deterministic = false }: { deterministic?: boolean } = {},
): {
  command: fc.Arbitrary<string[]>;
  read: fc.Arbitrary<string[]>;
} {
  const key = fc.constantFrom(...TRACKING_KEYS);
  const field = fc.constantFrom('f0', 'f1');
  const num = fc.constantFrom(...numbers);
  const value = fc.constantFrom('v', 'w', '1', '10');
  const words = [
    ...TRACKING_KEYS,
    'f1',
    'v',
    ...numbers,
    'NX',
    'XX',
    'GT',
    'LT',
    'EX',
    'PX',
    'KEEPTTL',
    'GET',
  ];
  /** Commands shaped as the table wants them, so most of them succeed and change something. */
  const shaped: fc.Arbitrary<string[]> = fc.oneof(
    fc
      .tuple(
        key,
        value,
        fc.subarray(['NX', 'XX', 'GET', 'KEEPTTL'], { maxLength: 1 }),
        fc.option(fc.tuple(fc.constantFrom('EX', 'PX'), num)),
      )
      .map(([k, v, flags, ttl]) => ['SET', k, v, ...flags, ...(ttl ?? [])]),
    fc.tuple(fc.constantFrom('SETNX', 'GETSET', 'APPEND'), key, value).map(([c, k, v]) => [c, k, v]),
    fc.tuple(fc.constantFrom('SETEX', 'PSETEX'), key, num, value).map(([c, k, n, v]) => [c, k, n, v]),
    fc
      .tuple(fc.constantFrom('GETDEL', 'DEL', 'UNLINK', 'PERSIST', 'INCR', 'DECR'), key)
      .map(([c, k]) => [c, k]),
    fc.tuple(fc.constantFrom('INCRBY', 'DECRBY', 'INCRBYFLOAT'), key, num).map(([c, k, n]) => [c, k, n]),
    fc
      .tuple(
        fc.constantFrom('EXPIRE', 'PEXPIRE'),
        key,
        num,
        fc.subarray(['NX', 'XX', 'GT', 'LT'], { maxLength: 1 }),
      )
      .map(([c, k, n, flags]) => [c, k, n, ...flags]),
    fc.tuple(key, value, key, value).map(([a, v, b, w]) => ['MSET', a, v, b, w]),
    fc
      .tuple(key, field, value, fc.option(fc.tuple(field, value)))
      .map(([k, f, v, more]) => ['HSET', k, f, v, ...(more ?? [])]),
    fc.tuple(key, field, fc.option(field)).map(([k, f, g]) => ['HDEL', k, f, ...(g === null ? [] : [g])]),
    fc.tuple(key, field, num).map(([k, f, n]) => ['HINCRBY', k, f, n]),
    fc.constant<string[]>(['FLUSHALL']),
  );
  /**
   * Any command of the table with any words: a command added later is
   * exercised without editing a test. Not the blocking pops: on Redis one
   * with a long timeout holds the connection the next steps are sent on
   * (test/differential covers them).
   */
  const names = [...memoryCommandNames].filter(
    (name) => !isBlockingCommand(name) && !(deterministic && RANDOM.has(name)),
  );
  const anyCommand: fc.Arbitrary<string[]> = fc
    .tuple(fc.constantFrom(...names), key, fc.array(fc.constantFrom(...words), { maxLength: 5 }))
    .map(([name, k, rest]) => [name, k, ...rest]);
  return {
    command: fc.oneof({ weight: 2, arbitrary: shaped }, { weight: 1, arbitrary: anyCommand }),
    read: fc.constantFrom(...READS),
  };
}
