/**
 * `hotshard start` under an open-files limit below maxClients: it lowers
 * maxClients to fit and says so, so a client past the limit is told
 * `max number of clients reached` instead of being reset by the kernel.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../src/testkit/free-port.js';
import { waitForOutput } from '../cli/wait-for-output.js';
import { rawConnect } from './raw-client.js';

const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;

type Outcome = 'served' | 'refused' | 'reset';

/** Connects, sends PING and keeps a served connection open (it holds a slot). */
async function tryClient(port: number): Promise<Outcome> {
  try {
    const c = await rawConnect(port);
    c.write('PING\r\n');
    const reply = await c.until((b) => b.includes('\r\n')).catch(() => c.received());
    if (reply.toString() === '+PONG\r\n') return 'served';
    c.close();
    return reply.toString() === '-ERR max number of clients reached\r\n' ? 'refused' : 'reset';
  } catch {
    return 'reset';
  }
}

describe.skipIf(process.platform === 'win32')('open files limit', () => {
  let child: ChildProcess | undefined;
  afterEach(() => {
    if (child?.exitCode === null) child.kill('SIGKILL');
  });

  it('open files limit - under ulimit -n 256 maxClients is lowered, said so and shown by INFO, and client 257+ is refused, not reset', async () => {
    const [resp, http] = [await freePort(), await freePort()];
    const command = `ulimit -n 256 && exec "${process.execPath}" --import tsx "${MAIN}" start --resp-port ${resp} --http-port ${http}`;
    child = spawn('sh', ['-c', command], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const printing = { child, output: () => out };
    await waitForOutput(printing, /hotshard ready/);
    // INFO reports the maxclients in force; this client keeps its slot.
    const first = await rawConnect(resp);
    first.write('INFO clients\r\n');
    const info = (await first.until((b) => /blocked_clients:\d+\r\n\r\n$/.test(b.toString()))).toString();

    const outcomes: Outcome[] = [];
    for (let i = 0; i < 300; i++) outcomes.push(await tryClient(resp));
    const count = (o: Outcome): number => outcomes.filter((x) => x === o).length;
    expect(count('reset')).toBe(0);
    expect(count('refused')).toBeGreaterThan(300 - 256);

    const lowered = out.split('\n').find((line) => line.includes('maxClients lowered'));
    expect(lowered).toBeDefined();
    const entry = JSON.parse(lowered!) as { maxClients: number; requested: number; openFilesLimit: number };
    expect(entry).toMatchObject({ requested: 10_000, openFilesLimit: 256 });
    expect(info).toContain(`\r\nmaxclients:${entry.maxClients}\r\n`);
    // And counts the clients it refused, as Redis's rejected_connections.
    const before = first.received().length;
    first.write('INFO stats\r\n');
    const stats = (await first.until((b) => /\r\n\r\n$/.test(b.subarray(before).toString()))).subarray(
      before,
    );
    expect(stats.toString()).toContain(`\r\nrejected_connections:${count('refused')}\r\n`);
    expect(count('served')).toBe(entry.maxClients - 1);
    // Served first, then refused: the slots fill in order.
    expect(outcomes.indexOf('refused')).toBe(entry.maxClients - 1);

    // A flood of refused clients that keep sending and never hang up must not
    // use up the descriptors kept aside: the next clients are still told.
    const flood = await Promise.all(
      Array.from({ length: 100 }, async () => {
        const c = await rawConnect(resp).catch(() => undefined);
        c?.socket.pause();
        c?.write(Buffer.alloc(1024 * 1024));
        return c;
      }),
    );
    const after: Outcome[] = [];
    for (let i = 0; i < 10; i++) after.push(await tryClient(resp));
    expect(after).toEqual(Array.from({ length: 10 }, () => 'refused'));
    for (const c of flood) c?.close();
    first.close();
  });
});
