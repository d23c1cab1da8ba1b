/**
 * The floor under any proxy built on Node's net streams: bench:proxy's
 * `node-floor` leg (`--target twemproxy,hotshard,node-floor`).
 *
 * It forwards and does nothing else: hotshard's own request decoder and reply
 * scanner; clients read as hotshard reads them (src/router/client-reads.ts);
 * one connection per node, written once per two turns of the event loop and read
 * through `onread` (as hotshard's, except that here every read is copied out
 * of one shared buffer, where hotshard hands each read on in place, in a
 * 64 KB buffer it does not reuse); replies back in order through one write
 * per burst. None of hotshard's work (command table, routing table,
 * telemetry, admission, cache, transactions). Whatever hotshard/twemproxy
 * misses at -P 1 that this misses too is the cost of Node's sockets on that
 * machine, not of hotshard.
 *
 * Keys go to node FNV-1a(key) mod N; a command without a key to the first
 * node. A bench tool, not a proxy: a split reply is joined by copying (fine
 * for the bench's values, quadratic for a 50 MB one), and an inline command
 * is answered with an error.
 *
 *   node --import tsx bench/proxy/node-floor.ts <port> <host:port>,<host:port>...
 */
import net from 'node:net';
import { scanReply } from '../../src/protocol/reply-decoder.js';
import { RequestDecoder } from '../../src/protocol/request-decoder.js';
import { readClient } from '../../src/router/client-reads.js';

type Done = (reply: Buffer) => void;

const READ_BUFFER = Buffer.allocUnsafeSlow(64 * 1024);

/** One pipelined connection to a node. */
class NodeLink {
  readonly #socket: net.Socket;
  #waiting: Array<Done | undefined> = [];
  #head = 0;
  #out: Buffer[] = [];
  #flushPending = false;
  #carry: Buffer | null = null;

  constructor(address: string) {
    const [host, port] = address.split(':');
    const onread = {
      buffer: READ_BUFFER,
      callback: (length: number): boolean => {
        const chunk = Buffer.allocUnsafeSlow(length);
        READ_BUFFER.copy(chunk, 0, 0, length);
        this.#onData(chunk);
        return true;
      },
    };
    this.#socket = net.connect({ host, port: Number(port), onread });
    this.#socket.setNoDelay(true);
    this.#socket.on('error', (err) => fail(`node ${address}: ${err.message}`));
    this.#socket.on('close', () => fail(`node ${address} closed the connection`));
  }

  send(frame: Buffer, done: Done): void {
    this.#waiting.push(done);
    this.#out.push(frame);
    if (!this.#flushPending) {
      this.#flushPending = true;
      // On the next turn, as hotshard's (src/backend/redis-connection.ts).
      setImmediate(() => setImmediate(this.#flush));
    }
  }

  readonly #flush = (): void => {
    this.#flushPending = false;
    const out = this.#out;
    this.#out = [];
    this.#socket.write(out.length === 1 ? out[0]! : Buffer.concat(out));
  };

  #onData(chunk: Buffer): void {
    const buf = this.#carry === null ? chunk : Buffer.concat([this.#carry, chunk]);
    let offset = 0;
    for (let end = scanReply(buf, offset); end !== -1; end = scanReply(buf, offset)) {
      const done = this.#waiting[this.#head]!;
      this.#waiting[this.#head++] = undefined;
      done(buf.subarray(offset, end));
      offset = end;
    }
    this.#carry = offset < buf.length ? buf.subarray(offset) : null;
    if (this.#head > 4096 && this.#head * 2 > this.#waiting.length) {
      this.#waiting = this.#waiting.slice(this.#head);
      this.#head = 0;
    }
  }
}

function fail(message: string): never {
  process.stderr.write(`node-floor: ${message}\n`);
  process.exit(1);
}

function fnv1a(key: Buffer): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key[i]!, 0x01000193);
  return h >>> 0;
}

const INLINE_REFUSED = Buffer.from('-ERR node-floor forwards multi-bulk commands only\r\n');

function serve(accepted: net.Socket, nodes: readonly NodeLink[]): void {
  const decoder = new RequestDecoder();
  // Replies in request order: replies[head..] are not yet written; base numbers replies[0].
  const replies: Array<Buffer | undefined> = [];
  let head = 0;
  let base = 0;
  const out: Buffer[] = [];
  let flushPending = false;
  const flush = (): void => {
    flushPending = false;
    socket.write(out.length === 1 ? out[0]! : Buffer.concat(out));
    out.length = 0;
  };
  const settle = (seq: number, reply: Buffer): void => {
    replies[seq - base] = reply;
    while (head < replies.length && replies[head] !== undefined) out.push(replies[head++]!);
    if (head > 1024 || head === replies.length) {
      replies.splice(0, head);
      base += head;
      head = 0;
    }
    if (!flushPending && out.length > 0) {
      flushPending = true;
      queueMicrotask(flush);
    }
  };
  const onCommand = (args: Buffer[], frame: Buffer | undefined): void => {
    const seq = base + replies.length;
    replies.push(undefined);
    if (frame === undefined) return settle(seq, INLINE_REFUSED);
    const key = args[1];
    const node = nodes[key === undefined ? 0 : fnv1a(key) % nodes.length]!;
    node.send(frame, (reply) => settle(seq, reply));
  };
  const socket = readClient(accepted, (chunk) => {
    try {
      decoder.feed(chunk, onCommand);
    } catch (err) {
      socket.end(`-ERR ${(err as Error).message}\r\n`);
    }
  }).socket;
  socket.setNoDelay(true);
  socket.on('error', () => {});
}

const [portText, addresses] = process.argv.slice(2);
const port = Number(portText);
if (!Number.isInteger(port) || addresses === undefined)
  fail('usage: node --import tsx bench/proxy/node-floor.ts <port> <host:port>,<host:port>...');
const nodes = addresses.split(',').map((a) => new NodeLink(a));
net
  .createServer({ pauseOnConnect: true }, (socket) => serve(socket, nodes))
  .on('error', (err) => fail(err.message))
  .listen(port, '127.0.0.1');
