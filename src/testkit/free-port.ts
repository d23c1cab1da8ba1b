import { createServer } from 'node:net';

/**
 * Ports picked from below Linux's ephemeral range (32768–60999), which the
 * kernel draws from for port 0 and for every outgoing connection: a port it
 * handed out could be taken by any connect() (a load test opens thousands)
 * before its user binds it, and a second suite running beside this one saw
 * EADDRINUSE that way.
 */
const LOW = 20_000;
const HIGH = 32_767;

/**
 * A TCP port that is free on 127.0.0.1 right now.
 *
 * Another process can take the port between this call and its use; callers that
 * bind it later (startRedis) retry on EADDRINUSE.
 *
 * @example
 * const port = await freePort();
 */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW + 1));
    if ((await listenOnce(port)) !== 0) return port;
  }
  const port = await listenOnce(0);
  if (port === 0) throw new Error('freePort: no free port found');
  return port;
}

/** Binds `port` (0: the kernel's pick) on 127.0.0.1 and closes it: the port bound, or 0 when it was taken. */
function listenOnce(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', (err: NodeJS.ErrnoException) =>
      err.code === 'EADDRINUSE' || err.code === 'EACCES' ? resolve(0) : reject(err),
    );
    server.listen(port, '127.0.0.1', () => {
      const address = server.address();
      const bound = typeof address === 'object' && address !== null ? address.port : 0;
      server.close((err) => (err ? reject(err) : resolve(bound)));
    });
  });
}
