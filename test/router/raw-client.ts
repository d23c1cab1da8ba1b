/** A bare TCP client for tests that must control every byte on the wire. */
import net from 'node:net';

export interface RawClient {
  readonly socket: net.Socket;
  /** Everything received so far. */
  received(): Buffer;
  write(data: string | Buffer): void;
  /** Resolves once the received bytes satisfy `done`, rejects after `timeoutMs`. */
  until(done: (all: Buffer) => boolean, timeoutMs?: number): Promise<Buffer>;
  /** Resolves when the server closes the connection. */
  closed(timeoutMs?: number): Promise<void>;
  close(): void;
}

export async function rawConnect(port: number): Promise<RawClient> {
  const socket = net.connect({ port, host: '127.0.0.1' });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const chunks: Buffer[] = [];
  let size = 0;
  let isClosed = false;
  const waiters = new Set<() => void>();
  socket.on('data', (c: Buffer) => {
    chunks.push(c);
    size += c.length;
    for (const w of waiters) w();
  });
  socket.on('error', () => {});
  socket.on('close', () => {
    isClosed = true;
    for (const w of waiters) w();
  });
  const received = (): Buffer => (chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
  return {
    socket,
    received,
    write: (data) => socket.write(data),
    until(done, timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const all = received();
          if (done(all)) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(all);
          } else if (isClosed) {
            waiters.delete(check);
            clearTimeout(timer);
            reject(new Error(`connection closed; received: ${all.toString('latin1').slice(0, 300)}`));
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out; received: ${received().toString('latin1').slice(0, 300)}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    closed(timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        if (isClosed) return resolve();
        const timer = setTimeout(() => reject(new Error('connection still open')), timeoutMs);
        socket.once('close', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
    close: () => socket.destroy(),
  };
}

/** Counts complete top-level replies in RESP2 bytes made only of simple lines and bulk strings. */
export function countSimpleReplies(buf: Buffer): number {
  let n = 0;
  let pos = 0;
  while (pos < buf.length) {
    const cr = buf.indexOf('\r\n', pos);
    if (cr === -1) break;
    if (buf[pos] === 0x24) {
      const len = Number(buf.toString('latin1', pos + 1, cr));
      const end = len < 0 ? cr + 2 : cr + 2 + len + 2;
      if (end > buf.length) break;
      pos = end;
    } else {
      pos = cr + 2;
    }
    n++;
  }
  return n;
}
