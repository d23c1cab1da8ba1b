/** Requests queued in a hotshard before a test stops it (the CLI tests' shared helper). */
import { Redis } from 'ioredis';

/**
 * Sends `count` SETs on one connection and resolves once the server has
 * received every one of them (INFO's total_commands_processed, read on a
 * second connection), with their settling (a promise of its own, not awaited). A stop signal sent next finds all
 * of them in flight, which a drain must answer. Sending and signalling 50 ms
 * later, as these tests did, left a client on a loaded machine still writing
 * when the drain closed its idle connection, and the rest were rejected.
 * Keep `count` under limits.maxPipeline (1024), past which the server stops
 * reading a client until replies go out.
 */
export async function queuedBurst(
  port: number,
  count: number,
  prefix: string,
): Promise<{ settled: Promise<PromiseSettledResult<unknown>[]> }> {
  const options = { port, host: '127.0.0.1', maxRetriesPerRequest: 0, enableReadyCheck: false };
  const probe = new Redis(options);
  let polls = 0;
  // INFO counts itself: each poll adds one
  const processed = async (): Promise<number> => {
    polls++;
    const info = await probe.info('stats');
    return Number(/total_commands_processed:(\d+)/.exec(info)?.[1]);
  };
  try {
    const before = (await processed()) - polls;
    const client = new Redis(options);
    client.on('error', () => undefined);
    const sent = Array.from({ length: count }, (_, i) => client.set(`${prefix}:${i}`, 'x'));
    const burst = Promise.allSettled(sent).finally(() => client.disconnect());
    const deadline = Date.now() + 20_000;
    while ((await processed()) - polls - before < count) {
      if (Date.now() > deadline) throw new Error(`the server did not receive ${count} requests in 20 s`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return { settled: burst };
  } finally {
    probe.disconnect();
  }
}
