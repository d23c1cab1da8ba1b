/** Sends the same commands to redis-server and to hotshard, for tests that compare their replies. */
import {
  DoubleReply,
  MapReply,
  SetReply,
  VerbatimReply,
  SimpleString,
  ReplyError,
  type Reply,
} from '../../src/protocol/reply.js';
import { startTestHotshard, type TestHotshard } from '../../src/testkit/hotshard.js';
import { startRedis, type RedisProcess } from '../../src/testkit/redis-server.js';
import { respRoundTrip } from '../../src/testkit/round-trip.js';

/** A reply as plain data, so toEqual compares errors by their text. */
export function plain(r: Reply): unknown {
  if (r instanceof ReplyError) return { error: r.message };
  if (r instanceof SimpleString) return { simple: r.value };
  if (r instanceof DoubleReply) return r.value;
  if (r instanceof MapReply) return { map: r.entries.map(plain) };
  if (r instanceof SetReply) return { set: r.items.map(plain) };
  if (r instanceof VerbatimReply) return r.text;
  if (Buffer.isBuffer(r)) return r.toString('latin1');
  if (Array.isArray(r)) return (r as readonly Reply[]).map(plain);
  return r;
}

/** The replies to `commands`, pipelined on one new connection, as plain data. */
export async function exchange(port: number, commands: readonly string[][]): Promise<unknown[]> {
  return (await respRoundTrip('127.0.0.1', port, commands, 10_000)).map(plain);
}

/** A redis-server beside hotshard on embedded nodes and on Redis nodes, for tests that compare all three. */
export interface ComparedTargets {
  readonly redis: RedisProcess;
  readonly embedded: TestHotshard;
  readonly onRedis: TestHotshard;
  stop(): Promise<void>;
}

export async function startComparedTargets(): Promise<ComparedTargets> {
  const [redis, embedded, onRedis] = await Promise.all([
    startRedis(),
    startTestHotshard({ backend: 'memory' }),
    startTestHotshard({ backend: 'redis' }),
  ]);
  return {
    redis,
    embedded,
    onRedis,
    stop: async () => {
      await Promise.all([redis.stop(), embedded.stop(), onRedis.stop()]);
    },
  };
}
