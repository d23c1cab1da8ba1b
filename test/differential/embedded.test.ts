import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isBlockingCommand } from '../../src/backend/memory-commands.js';
import { MemoryBackend } from '../../src/backend/memory.js';
import { nodeId } from '../../src/keyspace/ids.js';
import { makeCommand } from '../../src/protocol/command.js';
import type { Reply } from '../../src/protocol/reply.js';
import { startRedis, type RedisProcess } from '../../src/testkit/redis-server.js';
import { anyCommand, bitmaps, blocking, hashes, keys, lists, sets, strings, zsets } from './commands.js';
import { compareSequence, replyTarget, type Target } from './harness.js';
import { RespPipe } from './resp-pipe.js';

// Sequences per group and their length: together over 100k commands, seeded,
// so a failure names its seed and fast-check shrinks it to a short sequence.
const SEED = Number(process.env.DIFF_SEED ?? 1616);
const SCALE = Number(process.env.DIFF_SCALE ?? 1);

let redis: RedisProcess;
let pipe: RespPipe;
let node: MemoryBackend;
let embedded: Target;
/** Commands compared so far (shrinking included), to hold the suite to its 100k. */
let sent = 0;

beforeAll(async () => {
  redis = await startRedis();
  pipe = await RespPipe.open(redis.port);
  node = new MemoryBackend({ node: nodeId('diff-mem') });
  embedded = replyTarget((text) => {
    // latin1, as RespPipe sends them to redis-server: one byte per character
    const args = text.map((a) => Buffer.from(a, 'latin1'));
    const cmd = makeCommand(...args);
    if (isBlockingCommand(cmd.name)) return new Promise<Reply>((resolve) => node.sendBlocking(cmd, resolve));
    let out: Reply | undefined;
    node.send(cmd, (r) => (out = r));
    if (out === undefined) throw new Error(`no synchronous reply to ${text.join(' ')}`);
    return out;
  });
});

afterAll(async () => {
  pipe.close();
  await node.close();
  await redis.stop();
});

const groups = { strings, bitmaps, keys, hashes, lists, sets, zsets, blocking, mixed: anyCommand };
const RUNS: Record<keyof typeof groups, number> = {
  strings: 40,
  bitmaps: 60,
  keys: 60,
  hashes: 60,
  lists: 120,
  sets: 120,
  zsets: 200,
  blocking: 10,
  mixed: 200,
};

describe('differential - an embedded node answers as redis-server 7.0 does', () => {
  for (const [name, arb] of Object.entries(groups) as [keyof typeof groups, typeof anyCommand][]) {
    it(`${name}: seeded random sequences give the same replies`, async () => {
      const seq =
        name === 'blocking'
          ? fc.array(fc.oneof(lists, zsets, blocking), { minLength: 1, maxLength: 60, size: 'max' })
          : fc.array(arb, { minLength: 1, maxLength: 400, size: 'max' });
      await fc.assert(
        fc.asyncProperty(seq, (cmds) => {
          sent += cmds.length;
          return compareSequence((c) => pipe.batch(c), embedded, cmds);
        }),
        { seed: SEED, numRuns: Math.round(RUNS[name] * SCALE), endOnFailure: false },
      );
    }, 120_000);
  }

  it('compared at least 100k commands in all', () => {
    expect(sent).toBeGreaterThanOrEqual(100_000 * Math.min(1, SCALE));
  });
});
