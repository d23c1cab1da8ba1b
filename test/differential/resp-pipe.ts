/**
 * A raw RESP2 client for the differential test: sends a batch of commands
 * pipelined and returns each reply's bytes exactly as the server wrote them,
 * so the comparison sees every type byte (a null array is not a null bulk).
 */
import { connect, type Socket } from 'node:net';
import { scanReply } from '../../src/protocol/reply-decoder.js';

/** Encodes one command as a RESP multi-bulk. */
export function encodeCommand(args: readonly (string | Buffer)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = typeof a === 'string' ? Buffer.from(a, 'latin1') : a;
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

/** One connection; `batch` is not reentrant (await each). */
export class RespPipe {
  #socket: Socket;
  #buf: Buffer = Buffer.alloc(0);
  #want = 0;
  #got: Buffer[] = [];
  #resolve: ((replies: Buffer[]) => void) | undefined;
  #reject: ((err: Error) => void) | undefined;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (err) => this.#reject?.(err));
  }

  static open(port: number, host = '127.0.0.1'): Promise<RespPipe> {
    return new Promise((resolve, reject) => {
      const s = connect(port, host, () => resolve(new RespPipe(s)));
      s.once('error', reject);
    });
  }

  batch(commands: readonly (readonly (string | Buffer)[])[]): Promise<Buffer[]> {
    return new Promise((resolve, reject) => {
      this.#want = commands.length;
      this.#got = [];
      this.#resolve = resolve;
      this.#reject = reject;
      this.#socket.write(Buffer.concat(commands.map(encodeCommand)));
      if (commands.length === 0) resolve([]);
    });
  }

  close(): void {
    this.#socket.destroy();
  }

  #onData(chunk: Buffer): void {
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    let pos = 0;
    for (;;) {
      const end = scanReply(this.#buf, pos);
      if (end === -1) break;
      this.#got.push(this.#buf.subarray(pos, end));
      pos = end;
    }
    this.#buf = this.#buf.subarray(pos);
    if (this.#got.length >= this.#want && this.#resolve !== undefined) {
      const r = this.#resolve;
      this.#resolve = undefined;
      r(this.#got);
    }
  }
}
