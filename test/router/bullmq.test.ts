/**
 * BullMQ, a job queue many Node applications run on Redis, through hotshard
 * as it would be deployed: every queue key under one hash tag (BullMQ's
 * documented setting for Redis Cluster), so each Lua script, MULTI and
 * blocking BZPOPMIN meets one shard. Jobs with retries and delays all finish,
 * each exactly once, and QueueEvents (XREAD BLOCK on the events stream) sees
 * every completion. A queue whose keys do not share a hash tag, and a queue on
 * embedded nodes (no Lua there), get an error the application sees at once,
 * never a hang.
 */
import { Queue, QueueEvents, Worker, type ConnectionOptions } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireBinary } from '../../src/testkit/binaries.js';
import { startTestHotshard, type TestHotshard } from '../../src/testkit/hotshard.js';

const hasRedis = requireBinary('redis-server', 'BullMQ through hotshard');

const JOBS = 200;
/** Jobs whose first attempt throws: each must finish on its second. */
const failsFirst = (i: number): boolean => i % 10 === 0;
/** Jobs added with a delay, so they go through the delayed set first. */
const delayed = (i: number): boolean => i % 7 === 0;

/**
 * Polls `check` until it returns true. Fails at once with the first error
 * the worker reported, or after `ms` if the queue stalls without one: the
 * deadline only bounds a broken run, it is not a speed check.
 */
async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  errors: readonly Error[],
  ms = 60_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (errors.length > 0) throw new Error(`BullMQ: the worker failed before ${what}: ${errors[0]?.message}`);
    if (Date.now() > deadline) throw new Error(`BullMQ: ${what} did not happen within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const connectionTo = (port: number): ConnectionOptions => ({
  host: '127.0.0.1',
  port,
  // BullMQ requires this for its blocking connection; a request then waits
  // for a reconnect rather than failing after a fixed number of retries.
  maxRetriesPerRequest: null,
});

describe.skipIf(!hasRedis)('BullMQ through hotshard on 4 redis-server nodes', () => {
  let t: TestHotshard;
  beforeAll(async () => {
    t = await startTestHotshard({ backend: 'redis', redisNodes: 4 });
  }, 60_000);
  afterAll(async () => {
    await t?.stop();
  });

  it('a queue under one hash tag runs every job once, retries and delays included', async () => {
    const connection = connectionTo(t.port);
    const prefix = '{orders}';
    const queue = new Queue<{ i: number }, number>('work', { connection, prefix });
    const events = new QueueEvents('work', { connection, prefix });
    const ran = new Map<number, number>(); // job number → attempts that ran
    const completedEvents = new Set<string>();
    events.on('completed', ({ jobId }) => completedEvents.add(jobId));
    const worker = new Worker<{ i: number }, number>(
      'work',
      (job) => {
        const i = job.data.i;
        ran.set(i, (ran.get(i) ?? 0) + 1);
        if (failsFirst(i) && job.attemptsMade === 0) {
          return Promise.reject(new Error(`job ${i}: first attempt fails`));
        }
        return Promise.resolve(i * 2);
      },
      { connection, prefix, concurrency: 8 },
    );
    const workerErrors: Error[] = [];
    worker.on('error', (err) => workerErrors.push(err));
    try {
      await events.waitUntilReady();
      await worker.waitUntilReady();
      const added = await queue.addBulk(
        Array.from({ length: JOBS }, (_, i) => ({
          name: 'job',
          data: { i },
          opts: { attempts: 3, backoff: { type: 'fixed', delay: 20 }, delay: delayed(i) ? 100 : 0 },
        })),
      );
      expect(added).toHaveLength(JOBS);

      await until(
        async () => (await queue.getJobCounts('completed')).completed === JOBS,
        'every job completing',
        workerErrors,
      );
      const counts = await queue.getJobCounts('completed', 'failed', 'waiting', 'delayed', 'active');
      expect(counts).toEqual({ completed: JOBS, failed: 0, waiting: 0, delayed: 0, active: 0 });

      const completed = await queue.getCompleted(0, JOBS);
      expect(completed).toHaveLength(JOBS);
      for (const job of completed) {
        const i = job.data.i;
        expect(job.returnvalue, `job ${i}`).toBe(i * 2);
        expect(job.attemptsMade, `job ${i}`).toBe(failsFirst(i) ? 2 : 1);
      }
      // Each job ran as often as its attempts say: none lost, none run twice.
      expect([...ran.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: JOBS }, (_, i) => i));
      for (const [i, attempts] of ran) expect(attempts, `job ${i}`).toBe(failsFirst(i) ? 2 : 1);

      await until(() => completedEvents.size === JOBS, 'a completed event for every job', workerErrors);
      expect(workerErrors).toEqual([]);
    } finally {
      await worker.close();
      await events.close();
      await queue.obliterate({ force: true });
      await queue.close();
    }
  }, 120_000);

  it('a queue whose keys span shards is refused at once, naming the hash-tag fix', async () => {
    // 'bull:spread:*' hashes its keys as they are: they land on different shards.
    const queue = new Queue('spread', { connection: connectionTo(t.port) });
    try {
      await expect(queue.add('job', { i: 1 })).rejects.toThrow(/HS_ERR_CROSS_SHARD[\s\S]*hash tag/);
    } finally {
      await queue.close();
    }
  }, 30_000);
});

describe('BullMQ through hotshard on embedded nodes', () => {
  let t: TestHotshard;
  beforeAll(async () => {
    t = await startTestHotshard({ backend: 'memory' });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('adding a job is refused at once: embedded nodes run no Lua, and the error says to use Redis nodes', async () => {
    const queue = new Queue('work', { connection: connectionTo(t.port), prefix: '{orders}' });
    try {
      await expect(queue.add('job', { i: 1 })).rejects.toThrow(/no Lua interpreter; use Redis nodes/);
    } finally {
      await queue.close();
    }
  }, 30_000);
});
