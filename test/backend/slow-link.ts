/** A slow link between a test and a real redis-server, for the watchdog's tests. */
import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP relay in front of a node that passes bytes at a fixed pace (`bytes`
 * every `everyMs`) in each direction, reading no faster than it passes on, as
 * a slow link does; `halt()` stops passing replies, as a node that freezes
 * mid-reply.
 */
export interface SlowLink {
  readonly port: number;
  /** Reply bytes passed on so far. */
  readonly bytesSent: number;
  /** Reply pieces passed on so far. */
  readonly pieces: number;
  halt(): void;
  close(): Promise<void>;
}

export async function slowLink(targetPort: number, bytes: number, everyMs: number): Promise<SlowLink> {
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let halted = false;
  const stats = { bytesSent: 0, pieces: 0 };
  const pump = (from: Socket, to: Socket, replies: boolean): void => {
    let queue: Buffer[] = [];
    let queued = 0;
    from.on('data', (chunk: Buffer) => {
      queue.push(chunk);
      queued += chunk.length;
      if (queued > 2 * bytes) from.pause();
    });
    const timer = setInterval(() => {
      if ((replies && halted) || queued === 0) return;
      const all = Buffer.concat(queue);
      const piece = all.subarray(0, bytes);
      queue = all.length > bytes ? [all.subarray(bytes)] : [];
      queued = all.length - piece.length;
      if (replies) {
        stats.bytesSent += piece.length;
        stats.pieces++;
      }
      to.write(piece);
      if (queued <= 2 * bytes) from.resume();
    }, everyMs);
    timers.add(timer);
  };
  const server: Server = createServer((client) => {
    const upstream = connect({ host: '127.0.0.1', port: targetPort });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    pump(client, upstream, false);
    pump(upstream, client, true);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    get bytesSent() {
      return stats.bytesSent;
    },
    get pieces() {
      return stats.pieces;
    },
    halt: () => {
      halted = true;
    },
    close: () =>
      new Promise((resolve) => {
        for (const t of timers) clearInterval(t);
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
