/** A minimal pipelined RESP exchange for probing servers in tests and benchmarks. */
import { connect } from 'node:net';
import { decodeReply, scanReply } from '../protocol/reply-decoder.js';
import type { Reply } from '../protocol/reply.js';

/**
 * Sends `commands` pipelined on one connection and resolves with their
 * replies, in order; rejects on a timeout, a closed connection or bytes that
 * are not RESP. A probe for tests and benchmarks, not a client.
 *
 * @example
 * const [pong] = await respRoundTrip('127.0.0.1', port, [['PING']]);
 */
export function respRoundTrip(
  host: string,
  port: number,
  commands: readonly string[][],
  timeoutMs: number,
): Promise<Reply[]> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    let data = Buffer.alloc(0);
    let offset = 0;
    const replies: Reply[] = [];
    const fail = (err: Error): void => {
      socket.destroy();
      reject(err);
    };
    socket.setTimeout(timeoutMs, () =>
      fail(new Error(`no complete answer from ${host}:${port} within ${timeoutMs} ms`)),
    );
    socket.once('error', fail);
    socket.once('close', () => fail(new Error(`${host}:${port} closed the connection`)));
    socket.once('connect', () => socket.write(commands.map(encodeCommand).join('')));
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      try {
        for (;;) {
          const end = scanReply(data, offset);
          if (end === -1) return;
          replies.push(decodeReply(data, offset));
          offset = end;
          if (replies.length === commands.length) {
            socket.removeAllListeners('close');
            socket.destroy();
            resolve(replies);
            return;
          }
        }
      } catch (err) {
        // Not RESP: something else listens on this port.
        fail(err instanceof Error ? err : new Error(String(err)));
      }
    });
  });
}

function encodeCommand(args: readonly string[]): string {
  return `*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('');
}
