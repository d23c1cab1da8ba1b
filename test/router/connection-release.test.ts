/**
 * A connection the server closes (protocol error, maxClients, shutdown) goes
 * away within `limits.closeLingerMs` whatever the client does: hangs up,
 * keeps sending, or never reads. Each case checks that a bystander is served.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireBinary } from '../../src/testkit/binaries.js';
import { startTestHotshard, type TestHotshard } from '../../src/testkit/hotshard.js';
import { sleep, waitFor } from '../control/harness.js';
import { rawConnect, type RawClient } from './raw-client.js';

const MEGABYTE = Buffer.alloc(1024 * 1024, 'x');
const OVER_LIMIT_BULK = `*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$${1024 * 1024 * 1024}\r\n`;

const waitForClients = (t: TestHotshard, n: number): Promise<true> =>
  waitFor(
    `connected_clients back to ${n}`,
    () => (t.hs.router.stats.connectedClients === n ? true : undefined),
    10_000,
  );

/** A client that sends a protocol error and 1 MB after it, then neither reads nor hangs up. */
async function ghost(port: number): Promise<RawClient> {
  const c = await rawConnect(port);
  c.socket.pause();
  c.write(OVER_LIMIT_BULK);
  c.write(MEGABYTE);
  return c;
}

describe('connection release - short linger', () => {
  let t: TestHotshard;
  let bystander: Redis;
  beforeAll(async () => {
    t = await startTestHotshard({
      backend: 'memory',
      limits: { closeLingerMs: 100, maxClients: 101, maxBulkBytes: 1024 * 1024 },
    });
    bystander = new Redis({ port: t.port, host: '127.0.0.1', maxRetriesPerRequest: 0 });
    await bystander.ping();
  });
  afterAll(async () => {
    bystander?.disconnect();
    await t?.stop();
  });

  it('connection release - waves of clients that never hang up after a protocol error never fill maxClients', async () => {
    for (let wave = 0; wave < 3; wave++) {
      const ghosts = await Promise.all(Array.from({ length: 100 }, () => ghost(t.port)));
      await waitForClients(t, 1);
      expect(await t.hs.resp.sockets()).toBe(1);
      for (const g of ghosts) g.close();
    }
    const late = new Redis({ port: t.port, host: '127.0.0.1', maxRetriesPerRequest: 0 });
    try {
      expect(await late.ping()).toBe('PONG');
    } finally {
      late.disconnect();
    }
    await bystander.set('release:by', 'ok');
    expect(await bystander.get('release:by')).toBe('ok');
  });

  const hasRedisCli = requireBinary('redis-cli', 'the blocking-socket writer test');
  it.skipIf(!hasRedisCli)(
    'connection release - a blocking writer of a SET over the bulk limit gets the error, not a hang',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'hs-bulk-'));
      try {
        const file = join(dir, 'value');
        writeFileSync(file, Buffer.alloc(8 * 1024 * 1024, 'v'));
        // redis-cli (hiredis, blocking) writes the whole command before it reads.
        const cli = spawn('sh', ['-c', `exec redis-cli -p ${t.port} -x set big < ${file}`], {
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let out = '';
        cli.stdout.on('data', (d: Buffer) => (out += d.toString()));
        cli.stderr.on('data', (d: Buffer) => (out += d.toString()));
        const exited = new Promise<'exited'>((resolve) => cli.on('exit', () => resolve('exited')));
        const outcome = await Promise.race([exited, sleep(20_000).then(() => 'hung' as const)]);
        if (outcome === 'hung') cli.kill('SIGKILL');
        expect(outcome).toBe('exited');
        // Either the error (it finished sending within the linger) or a reset
        // (it did not); never silence.
        expect(out).toMatch(/ERR Protocol error: invalid bulk length|Connection reset|Broken pipe/);
        await waitForClients(t, 1);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});

describe('connection release - long linger', () => {
  let t: TestHotshard;
  let bystander: Redis;
  let neighbour: Redis;
  beforeAll(async () => {
    t = await startTestHotshard({
      backend: 'memory',
      limits: { closeLingerMs: 600_000, maxClients: 2 },
    });
    bystander = new Redis({ port: t.port, host: '127.0.0.1', maxRetriesPerRequest: 0 });
    neighbour = new Redis({ port: t.port, host: '127.0.0.1', maxRetriesPerRequest: 0 });
    await Promise.all([bystander.ping(), neighbour.ping()]);
  });
  afterAll(async () => {
    bystander?.disconnect();
    neighbour?.disconnect();
    await t?.stop();
  });

  it('connection release - a client refused at maxClients with 1 MB in flight is released when it hangs up', async () => {
    const c = await rawConnect(t.port);
    c.write(MEGABYTE);
    await c.until((b) => b.toString() === '-ERR max number of clients reached\r\n');
    c.close();
    // The kernel holds the megabyte and the hang-up behind it: only a server
    // that reads what it will drop sees the client go.
    await waitFor('the refused socket closed', async () =>
      (await t.hs.resp.sockets()) === 2 ? true : undefined,
    );
    expect(await bystander.ping()).toBe('PONG');
  });
});

describe('connection release - graceful shutdown', () => {
  it('connection release - shutdown does not wait its drain window for connections refused for a protocol error', async () => {
    const t = await startTestHotshard({
      backend: 'memory',
      shutdownDrainMs: 60_000,
      limits: { closeLingerMs: 100 },
    });
    const ghosts = await Promise.all(Array.from({ length: 20 }, () => ghost(t.port)));
    const bystander = new Redis({ port: t.port, host: '127.0.0.1', maxRetriesPerRequest: 0 });
    try {
      expect(await bystander.ping()).toBe('PONG');
    } finally {
      bystander.disconnect();
    }
    const stopped = t.stop().then(() => 'stopped' as const);
    expect(await Promise.race([stopped, sleep(20_000).then(() => 'still draining' as const)])).toBe(
      'stopped',
    );
    for (const g of ghosts) g.close();
  });
});
