/**
 * A deliberately slow RESP server for the coordinated-omission tests: it
 * answers every command after a fixed service time, one command at a time
 * across all connections, like a single-threaded node at capacity.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { decodeReply, scanReply } from '../../src/protocol/reply-decoder.js';

export interface SlowServer {
  readonly port: number;
  /** Commands answered so far. */
  answered(): number;
  /** Destroys every client connection (the server keeps listening). */
  dropConnections(): void;
  close(): Promise<void>;
}

export async function startSlowServer(serviceMs: number): Promise<SlowServer> {
  const queue: { socket: Socket; name: string }[] = [];
  let busy = false;
  let answered = 0;
  const serveNext = (): void => {
    const job = queue.shift();
    if (job === undefined) {
      busy = false;
      return;
    }
    busy = true;
    setTimeout(() => {
      answered++;
      const reply =
        job.name === 'PING'
          ? '+PONG\r\n'
          : job.name === 'GET'
            ? '$-1\r\n'
            : job.name === 'INCR'
              ? ':1\r\n'
              : '+OK\r\n';
      if (!job.socket.destroyed) job.socket.write(reply);
      serveNext();
    }, serviceMs);
  };
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buf: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      let offset = 0;
      for (;;) {
        const end = scanReply(buf, offset);
        if (end === -1) break;
        const args = decodeReply(buf, offset) as Buffer[];
        queue.push({ socket, name: args[0]!.toString('latin1').toUpperCase() });
        offset = end;
      }
      buf = buf.subarray(offset);
      if (!busy) serveNext();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    port,
    answered: () => answered,
    dropConnections: () => {
      for (const s of sockets) s.destroy();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
