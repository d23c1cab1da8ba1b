import { createServer } from 'node:net';

/**
 * Asks the kernel for a TCP port that is free on 127.0.0.1 right now.
 *
 * Another process can take the port between this call and its use; callers that
 * bind it later (startRedis) retry on EADDRINUSE.
 *
 * @example
 * const port = await freePort();
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close((err) => {
        if (err) reject(err);
        else if (port === 0) reject(new Error('freePort: the kernel did not report a port'));
        else resolve(port);
      });
    });
  });
}
