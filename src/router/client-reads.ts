/**
 * Client connections read through `onread`, not the 'data' event.
 *
 * A socket's 'data' event goes through Node's Readable machinery for every
 * read: push, addChunk, a nextTick (maybeReadMore), a fresh 64 KB backing
 * store cut down to the bytes read. `onread` hands the bytes read to a
 * callback straight from the handle. Under redis-benchmark GET -P 1 a bare
 * forwarding proxy (bench/proxy/node-floor.ts) spent about 8 % less CPU per
 * request reading its clients this way, and at -P 1 the two cores are the
 * limit, so CPU per request is throughput.
 *
 * Node offers `onread` to sockets it connects, not to sockets a server
 * accepts. So the server is created with `pauseOnConnect` (nothing is read
 * yet), and the accepted connection's handle moves into a socket made with
 * `onread`. The accepted socket stays behind as an empty shell, destroyed when
 * the new socket closes: that is what the server counts its connections by
 * (`getConnections`, `close`). If the handle is not what this expects (a
 * future Node), the accepted socket is read through 'data' as before.
 */
import net from 'node:net';

/**
 * One read buffer for every client connection. A read lands here and is
 * copied out before the callback returns; the next read, on any connection,
 * cannot land before that, since reads are delivered one at a time on the
 * event loop. A buffer per connection would cost 64 KB per client.
 */
const READ_BUFFER = Buffer.allocUnsafeSlow(64 * 1024);

/** The part of an accepted socket this moves: Node's stream handle (net.Socket's `_handle`). */
interface Shell {
  _handle: { useUserBuffer?: unknown; readStart?: unknown } | null;
}

/** How a client's reads reach the proxy: which socket to use, and whether reads bypass 'data'. */
export interface ClientReads {
  readonly socket: net.Socket;
  /** False when the handle could not be moved and 'data' is used instead. */
  readonly direct: boolean;
}

/**
 * Makes `accepted` (from a server with `pauseOnConnect: true`) deliver every
 * read to `onChunk` as a buffer of its own, and starts reading. Use the
 * returned socket from then on, for writes too.
 */
export function readClient(accepted: net.Socket, onChunk: (chunk: Buffer) => void): ClientReads {
  const shell = accepted as unknown as Shell;
  const handle = shell._handle;
  if (
    handle === null ||
    typeof handle.useUserBuffer !== 'function' ||
    typeof handle.readStart !== 'function'
  ) {
    accepted.on('data', onChunk);
    accepted.resume();
    return { socket: accepted, direct: false };
  }
  shell._handle = null;
  const onread: net.OnReadOpts = {
    buffer: READ_BUFFER,
    callback: (length: number): boolean => {
      // A backing store of its own, as Node's 'data' reads give: a key or
      // value kept from a request (telemetry, cache) then pins only its read,
      // not a pool slab shared with unrelated buffers. allocUnsafe's pool
      // measured no faster here.
      const chunk = Buffer.allocUnsafeSlow(length);
      READ_BUFFER.copy(chunk, 0, 0, length);
      onChunk(chunk);
      return true;
    },
  };
  // Node's own options for an accepted socket (net.js onconnection), plus onread.
  const socket = new net.Socket({
    handle,
    readable: true,
    writable: true,
    onread,
  } as net.SocketConstructorOpts);
  socket.once('close', () => accepted.destroy());
  return { socket, direct: true };
}
