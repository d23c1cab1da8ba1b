/**
 * Client reads through `onread` (src/router/client-reads.ts): the accepted
 * handle really moves on this Node, every chunk is the client's bytes even
 * though all connections share one read buffer, pausing stops the reads, and
 * the server still counts the connection until it closes.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { readClient } from '../../src/router/client-reads.js';
import { waitFor } from '../control/harness.js';

interface Served {
  server: net.Server;
  port: number;
  /** What each accepted connection received, as the chunks it was handed. */
  received: Buffer[][];
  sockets: net.Socket[];
  direct: boolean[];
}

let served: Served | undefined;
const clients: net.Socket[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  if (served !== undefined) {
    for (const s of served.sockets) s.destroy();
    await new Promise((r) => served!.server.close(r));
    served = undefined;
  }
});

async function serve(): Promise<Served> {
  const s: Served = {
    server: net.createServer({ pauseOnConnect: true }),
    port: 0,
    received: [],
    sockets: [],
    direct: [],
  };
  s.server.on('connection', (accepted) => {
    const chunks: Buffer[] = [];
    s.received.push(chunks);
    const reads = readClient(accepted, (chunk) => chunks.push(chunk));
    s.sockets.push(reads.socket);
    s.direct.push(reads.direct);
  });
  await new Promise<void>((r) => s.server.listen(0, '127.0.0.1', r));
  s.port = (s.server.address() as net.AddressInfo).port;
  served = s;
  return s;
}

async function connect(port: number): Promise<net.Socket> {
  const c = net.connect(port, '127.0.0.1');
  clients.push(c);
  await new Promise((r) => c.once('connect', r));
  return c;
}

const connections = (server: net.Server): Promise<number> =>
  new Promise((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n))));

/** Bytes that differ per client and per position, so a chunk from the wrong place shows. */
function pattern(client: number, length: number): Buffer {
  const b = Buffer.alloc(length);
  for (let i = 0; i < length; i++) b[i] = (client * 31 + i * 7 + (i >> 8)) & 0xff;
  return b;
}

describe('client reads', () => {
  it('moves the handle on this Node, so reads bypass the stream machinery', async () => {
    const s = await serve();
    await connect(s.port);
    await waitFor('accepted', () => (s.direct.length === 1 ? true : undefined));
    // A Node that changes net.Socket's handle would land here on the fallback, and every client would pay for it.
    expect(s.direct).toEqual([true]);
  });

  it('hands every connection its own bytes intact, in order, though they share one read buffer', async () => {
    const s = await serve();
    const sizes = [1, 300, 70_000, 1_000_000];
    const cs = await Promise.all(sizes.map(() => connect(s.port)));
    await waitFor('all accepted', () => (s.sockets.length === sizes.length ? true : undefined));
    // Interleaved writes, so reads from different connections alternate in the shared buffer.
    const sent = sizes.map((n, i) => pattern(i, n));
    for (let offset = 0; offset < 1_000_000; offset += 4096)
      cs.forEach((c, i) => offset < sent[i]!.length && c.write(sent[i]!.subarray(offset, offset + 4096)));
    const total = (i: number): number => s.received[i]!.reduce((n, b) => n + b.length, 0);
    await waitFor('all bytes read', () => (sizes.every((n, i) => total(i) === n) ? true : undefined), 10_000);
    // Which connection is which: accepted order is connect order only by luck, so match by first byte and length.
    const got = s.received.map((chunks) => Buffer.concat(chunks));
    for (let i = 0; i < sizes.length; i++) expect(got.some((b) => b.equals(sent[i]!))).toBe(true);
  });

  it('stops reading while paused and takes up again on resume', async () => {
    const s = await serve();
    const c = await connect(s.port);
    await waitFor('accepted', () => (s.sockets.length === 1 ? true : undefined));
    const socket = s.sockets[0]!;
    c.write('before');
    await waitFor('first bytes', () => (s.received[0]!.length > 0 ? true : undefined));
    socket.pause();
    c.write('while paused');
    // The bytes wait in the kernel: a round trip on the same connection proves the write reached it.
    await new Promise<void>((r) => socket.write('ping', () => r()));
    await new Promise((r) => c.once('data', r));
    await new Promise((r) => setTimeout(r, 50));
    expect(Buffer.concat(s.received[0]!).toString()).toBe('before');
    socket.resume();
    await waitFor('paused bytes', () =>
      Buffer.concat(s.received[0]!).toString() === 'beforewhile paused' ? true : undefined,
    );
  });

  it('the server counts the connection until it closes', async () => {
    const s = await serve();
    const c = await connect(s.port);
    await waitFor('accepted', () => (s.sockets.length === 1 ? true : undefined));
    expect(await connections(s.server)).toBe(1);
    const closed = new Promise((r) => s.sockets[0]!.once('close', r));
    c.end();
    await closed;
    await waitFor('connection released', async () =>
      (await connections(s.server)) === 0 ? true : undefined,
    );
  });
});
