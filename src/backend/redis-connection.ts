/**
 * One pipelined connection to a redis-server: the proxy's hot path.
 *
 * This file is longer than most because every request and reply goes through
 * it; it was shaped by measurement:
 * - Writes are collected and flushed together, so requests from many clients
 *   share one write syscall (a per-request write costs a syscall each). A
 *   batch is written at the end of the turn of the event loop after the one
 *   that opened it (setImmediate twice), so it holds two poll phases' worth
 *   of requests. Each write to an idle redis-server wakes it, and on a
 *   virtual machine that wake-up was the costliest part of a flush
 *   (spin_unlock_irqrestore under sock_def_readable, perf): under
 *   redis-benchmark -P 1 on two cores, flushing every other turn cut the
 *   proxy's system CPU per request by about a tenth and won 7 of 7
 *   side-by-side GET and SET runs (1-16 %). An idle proxy pays one more
 *   empty turn, microseconds (redis-benchmark -c 1 unchanged).
 *   A batch never waits for replies, though. Holding a small one until the
 *   last flush is answered, as Nagle holds a segment, made LPUSH -P 1 batches
 *   half as large again and cut the node's CPU per request by a fifth, but it
 *   cost ZADD -P 16 with 50 clients a fifth of its throughput when the gate
 *   caught every batch. And when the round trip rather than the CPU is
 *   the limit (a node across a network), the clients would split into two
 *   groups served one per round trip, half the throughput of a full pipeline.
 * - Callbacks wait in a power-of-two ring, not an array with shift(), which
 *   turns O(n) on large queues.
 * - Reads land through `onread` one after another in a 64 KB buffer, each
 *   handed on as the sub-array it landed in: no Readable stream machinery
 *   ('data' event, a nextTick per read), no copy, and a new buffer only once
 *   the last one is nearly full (MIN_READ_ROOM). Under redis-benchmark -P 1
 *   SET reading through `onread` cut the proxy's user-space CPU by about a
 *   tenth (perf, cpu-clock). Buffers are never reused, so a reply stays valid
 *   for as long as anyone holds it; what keeps a reply for long (the cache)
 *   copies it out (`RawReply.owned`), so it does not pin 64 KB. What this
 *   replaced (a fresh 64 KB buffer for every read of 16 KB or more, and a
 *   split array copied into a buffer that doubled) allocated 650-720 MB/s of
 *   ArrayBuffer under redis-benchmark LRANGE_100 -P 1 (7 KB replies), about
 *   17 KB per request, and V8 collected the young generation for "external
 *   memory pressure" about 20 times a second (`node --trace-gc`); now about
 *   the bytes read, 280 MB/s (`process.memoryUsage().arrayBuffers` sampled
 *   every 2 ms).
 * - Replies are located with scanReply and handed on as sub-arrays of the
 *   read (no further copy, no decode). A reply split across reads is handed
 *   on as the list of its pieces (ChunkScan finds its end), so a 50 MB value
 *   is never copied here nor joined for the client's write (bench/bigvalue:
 *   copying it cost 2-3 x redis's own time for 20 clients GETting one 50 MB
 *   value), and an array's complete elements are not scanned again.
 * - Request age is sampled once per flush, not per request, and arriving
 *   bytes are counted per chunk, not timed: the watchdog compares against the
 *   timeout the age of the oldest unanswered flush or (`timeoutOn: 'silence'`)
 *   how long the node has been silent while a request waits, i.e. since the
 *   later of that flush and the last progress it saw: a chunk arriving, or the
 *   kernel taking more of a request that waited in the socket. A node sending
 *   a 50 MB reply, or reading one, is busy, not stalled. Silent is not yet
 *   stalled either: Redis says nothing while one event-loop iteration copies a
 *   pipeline's big replies into its buffers, so a silent node is first asked
 *   PING on another connection (`probe`), which it answers once that iteration
 *   ends; only a node that does not answer is cut, or one that stays silent
 *   here for `maxBusyMs` more while it answers probes.
 *
 * A connection lives once: when it fails (lost, stalled, garbage received) it
 * answers every waiting callback with an error and reports to its owner,
 * which opens a new one. A pipeline cannot be resynchronised after a timeout.
 */
import { Socket, type OnReadOpts, type SocketConstructorOpts } from 'node:net';
import { ErrorCode, HotshardError } from '../errors.js';
import { RawReply, ReplyError, hsError, type Reply } from '../protocol/reply.js';
import { ChunkScan, scanReply } from '../protocol/reply-decoder.js';
import type { ReplyCallback } from './backend.js';

/** Why a connection ended. */
export type ConnectionEnd = 'lost' | 'timeout' | 'protocol' | 'closed';

/** Settings of one connection. */
export interface RedisConnectionOptions {
  readonly host: string;
  readonly port: number;
  readonly password: string | undefined;
  /** Past this, a waiting request ends the connection (see `timeoutOn`). */
  readonly timeoutMs: number;
  /**
   * What must last `timeoutMs` to reset the connection: `age` (default), the
   * oldest unanswered request's wait, which a load generator counts as a
   * timeout; `silence`, a node that neither sends nor takes bytes while
   * requests wait, which a backend counts as stalled (one still sending a
   * 50 MB reply is busy).
   */
  readonly timeoutOn?: 'age' | 'silence';
  /**
   * With `timeoutOn: 'silence'`: asked, after `timeoutMs` of silence, whether
   * the node answers on another connection within `timeoutMs`. An answer means
   * busy, not stalled: the watchdog waits another `timeoutMs` (and asks again),
   * up to `maxBusyMs` past the timeout in all. Runs only after silence.
   */
  readonly probe?: () => Promise<boolean>;
  /** How much longer than `timeoutMs` a silent node that answers probes is waited for; default 0. */
  readonly maxBusyMs?: number;
  readonly connectTimeoutMs: number;
  /** Names the node in error messages: `node n1 (127.0.0.1:7001)`. */
  readonly label: string;
  /** Called once when the connection ends after it was established. */
  readonly onEnd: (end: ConnectionEnd, reason: string) => void;
  /**
   * Shown every reply before it is matched with a request; true takes it as
   * a message the node pushed unasked (pub/sub, RESP3 push), which answers no
   * request. Only a subscriber connection has one: the data path pays a
   * field check for it.
   */
  readonly onPush?: (reply: RawReply) => boolean;
}

const INITIAL_RING = 1024;
/** Above this many pending bytes a flush hands the chunks to writev instead of copying them into one. */
const CONCAT_LIMIT = 64 * 1024;

/** Size of the buffers a connection reads into (`onread`), as Node's own reads. */
const READ_SIZE = 64 * 1024;
/**
 * A connection takes a new read buffer once less than this is left in its
 * current one: a read into a sliver would take a big reply in many pieces.
 * So each buffer carries 48-64 KB of reads, and V8 is charged about the bytes
 * read, not 64 KB per read.
 */
const MIN_READ_ROOM = 16 * 1024;

/**
 * Encodes arguments as a RESP multi-bulk request, for commands that have no
 * frame to forward (inline commands, HTTP requests, rebuilt sub-commands).
 */
export function encodeCommand(args: readonly Buffer[]): Buffer {
  const lengths = new Array<string>(args.length);
  let size = 1 + String(args.length).length + 2;
  for (let i = 0; i < args.length; i++) {
    const len = String(args[i]!.length);
    lengths[i] = len;
    size += 1 + len.length + 2 + args[i]!.length + 2;
  }
  const out = Buffer.allocUnsafe(size);
  let pos = out.write(`*${args.length}\r\n`, 0, 'latin1');
  for (let i = 0; i < args.length; i++) {
    pos += out.write(`$${lengths[i]!}\r\n`, pos, 'latin1');
    pos += args[i]!.copy(out, pos);
    out[pos++] = 0x0d;
    out[pos++] = 0x0a;
  }
  return out;
}

/**
 * A pipelined RESP connection.
 *
 * @example
 * const conn = new RedisConnection({ host, port, password: undefined, timeoutMs: 2000,
 *   connectTimeoutMs: 2000, label: 'node n1 (127.0.0.1:7001)', onEnd: (end, reason) => {} });
 * await conn.connect();
 * conn.send(frame, (reply) => { ... });
 */
export class RedisConnection {
  readonly #opts: RedisConnectionOptions;
  readonly #onPush: ((reply: RawReply) => boolean) | undefined;
  readonly #socket: Socket;
  /** The buffer reads land in, and where in it the next one lands (see MIN_READ_ROOM). */
  #readBuffer = Buffer.allocUnsafeSlow(READ_SIZE);
  #readAt = 0;
  #ended = false;
  #established = false;

  // Callbacks waiting for replies, oldest at #head.
  #ring: Array<ReplyCallback | undefined> = new Array<ReplyCallback | undefined>(INITIAL_RING).fill(
    undefined,
  );
  #mask = INITIAL_RING - 1;
  #head = 0;
  #count = 0;

  // Requests written this turn, flushed together.
  #out: Buffer[] = [];
  #outBytes = 0;
  #flushPending = false;

  // Flush history for the watchdog: after batch i, #queued was #batchEnd[i] at time #batchAt[i].
  #queued = 0;
  #answered = 0;
  #batchEnd: number[] = [];
  #batchAt: number[] = [];
  #batchHead = 0;
  #watchdog: NodeJS.Timeout | undefined;
  /** Chunks received: progress, read by the watchdog (a counter costs the data path no clock read). */
  #chunks = 0;
  #chunksSeen = 0;
  /** Writes completed and bytes of the current write still queued, when the watchdog last looked. */
  #writesDone = 0;
  #writeQueued = 0;
  /** When the watchdog last saw either move. */
  #progressAt = 0;
  #confirming = false;
  /** A probe is out; when the latest one was answered. */
  #probing = false;
  #aliveAt = 0;

  /** The reads a reply that has not fully arrived came in so far (sub-arrays), and the scan that finds its end. */
  #pieces: Buffer[] | null = null;
  readonly #pieceScan = new ChunkScan();

  #endReply: ReplyError | undefined;

  constructor(opts: RedisConnectionOptions) {
    this.#opts = opts;
    this.#onPush = opts.onPush;
    // net.connect hands its options to this constructor, `onread` included;
    // @types/node lists `onread` under connect's options only. Node asks for
    // the buffer again after every read.
    const onread: OnReadOpts = {
      buffer: () => this.#readBuffer.subarray(this.#readAt),
      callback: this.#onRead,
    };
    this.#socket = new Socket({ onread } as SocketConstructorOpts);
  }

  /** Requests sent and not answered yet. */
  get inFlight(): number {
    return this.#count;
  }

  /** Whether the connection has ended; `send` then answers at once with the error it ended with. */
  get ended(): boolean {
    return this.#ended;
  }

  /** Queues one request (complete RESP bytes); `done` gets its reply, or an error when the connection ends. */
  send(frame: Buffer, done: ReplyCallback): void {
    if (this.#endReply !== undefined) return done(this.#endReply);
    if (this.#count === this.#ring.length) this.#grow();
    this.#ring[(this.#head + this.#count) & this.#mask] = done;
    this.#count++;
    this.#queued++;
    this.#out.push(frame);
    this.#outBytes += frame.length;
    if (!this.#flushPending) {
      this.#flushPending = true;
      setImmediate(this.#flushNextTurn);
    }
  }

  /** Ends the connection, answering everything in flight with `reply`; does not call `onEnd`. */
  destroy(reply: ReplyError): Promise<void> {
    const closed = new Promise<void>((resolve) => {
      if (this.#socket.destroyed) resolve();
      else this.#socket.once('close', () => resolve());
    });
    this.#end('closed', 'closed by owner', reply, false);
    return closed;
  }

  /**
   * Connects, authenticates with the password if there is one (before
   * anything else is sent) and waits for the node to answer PING. Rejects with
   * a HotshardError naming the node when it cannot be reached. Call once.
   */
  connect(): Promise<void> {
    const { host, port, connectTimeoutMs, password, label } = this.#opts;
    const socket = this.#socket;
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const fail = (reason: string, cause?: unknown): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.#end('closed', reason, hsError(ErrorCode.ShardUnavailable, `${label} ${reason}`), false);
        const code = /rejected AUTH|NOAUTH/.test(reason) ? ErrorCode.BadAuth : ErrorCode.ShardUnavailable;
        reject(new HotshardError(code, `cannot connect to ${label}: ${reason}`, { cause }));
      };
      const timer = setTimeout(() => fail(`no answer within ${connectTimeoutMs} ms`), connectTimeoutMs);
      timer.unref();
      socket.once('error', (err) => fail(err.message, err));
      socket.once('close', () => fail('connection closed during set-up'));
      socket.once('connect', () => {
        socket.setNoDelay(true);
        socket.setKeepAlive(true, 10_000);
        const ready = (): void => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          socket.removeAllListeners('error');
          socket.removeAllListeners('close');
          socket.on('error', (err) => this.#end('lost', err.message));
          socket.on('close', () => this.#end('lost', 'closed by the node'));
          this.#established = true;
          this.#startWatchdog();
          resolve();
        };
        // AUTH first, then a PING: a node counts as up only once it answers
        // (a stopped process still completes TCP handshakes from its backlog).
        if (password !== undefined) {
          this.send(encodeCommand([Buffer.from('AUTH'), Buffer.from(password)]), (reply) => {
            if (!isSimple(reply, 'OK')) fail(`rejected AUTH: ${describe(reply)}`);
          });
        }
        this.send(PING, (reply) => {
          if (isSimple(reply, 'PONG')) ready();
          else fail(`answered PING with ${describe(reply)}`);
        });
      });
      socket.connect({ host, port });
    });
  }

  /** A batch is written on the turn after the one that opened it (see the file comment). */
  readonly #flushNextTurn = (): void => void setImmediate(this.#flush);

  readonly #flush = (): void => {
    this.#flushPending = false;
    const n = this.#out.length;
    if (n === 0 || this.#ended) return;
    const socket = this.#socket;
    if (n === 1) {
      socket.write(this.#out[0]!);
    } else if (this.#outBytes <= CONCAT_LIMIT) {
      socket.write(Buffer.concat(this.#out, this.#outBytes));
    } else {
      // Large values: let writev gather them rather than copying megabytes.
      socket.cork();
      for (let i = 0; i < n; i++) socket.write(this.#out[i]!);
      socket.uncork();
    }
    this.#out.length = 0; // the socket holds the buffers it still needs
    this.#outBytes = 0;
    this.#batchEnd.push(this.#queued);
    this.#batchAt.push(Date.now());
  };

  readonly #onRead = (length: number): boolean => {
    const start = this.#readAt;
    const chunk = this.#readBuffer.subarray(start, start + length);
    if (READ_SIZE - (start + length) < MIN_READ_ROOM) {
      this.#readBuffer = Buffer.allocUnsafeSlow(READ_SIZE);
      this.#readAt = 0;
    } else {
      this.#readAt = start + length;
    }
    this.#onData(chunk);
    return true;
  };

  #onData(chunk: Buffer): void {
    this.#chunks++;
    try {
      let offset = 0;
      if (this.#pieces !== null) {
        offset = this.#completePart(chunk);
        if (offset < 0) return;
      }
      const length = chunk.length;
      while (offset < length && !this.#ended) {
        const end = scanReply(chunk, offset);
        if (end === -1) {
          this.#keepPart(chunk, offset);
          return;
        }
        this.#deliver(new RawReply(chunk.subarray(offset, end)));
        offset = end;
      }
    } catch (err) {
      // scanReply throws ReplyProtocolError on bytes that are not RESP.
      this.#end('protocol', `sent a reply that is not RESP: ${(err as Error).message}`);
    }
  }

  /** Hands one complete reply to the oldest waiting callback. */
  #deliver(reply: RawReply): void {
    if (this.#onPush !== undefined && this.#onPush(reply)) return;
    if (this.#count === 0) {
      this.#end('protocol', 'sent a reply nobody asked for');
      return;
    }
    const index = this.#head;
    const done = this.#ring[index]!;
    this.#ring[index] = undefined;
    this.#head = (index + 1) & this.#mask;
    this.#count--;
    this.#answered++;
    // The FIFO has moved on before the callback runs, so a throwing callback
    // cannot shift the replies of everyone behind it; the error still surfaces.
    try {
      done(reply);
    } catch (err) {
      process.nextTick(rethrow, err);
    }
  }

  /** Keeps the unfinished reply starting at `offset` until more bytes arrive. */
  #keepPart(chunk: Buffer, offset: number): void {
    const rest = chunk.subarray(offset);
    // scanReply found it unfinished; the scan that takes it from here agrees or throws.
    if (this.#pieceScan.next(rest) !== -1) throw new Error('a split reply was found complete');
    this.#pieces = [rest];
  }

  /**
   * Adds the start of `chunk` to the split reply. Returns the offset in `chunk`
   * where the next reply starts once it is complete, or -1 when `chunk` was
   * absorbed and the reply is still incomplete.
   */
  #completePart(chunk: Buffer): number {
    const pieces = this.#pieces!;
    const end = this.#pieceScan.next(chunk);
    if (end === -1) {
      pieces.push(chunk);
      return -1;
    }
    pieces.push(end === chunk.length ? chunk : chunk.subarray(0, end));
    this.#pieces = null;
    this.#deliver(RawReply.fromChunks(pieces));
    return end;
  }

  #grow(): void {
    const size = this.#ring.length;
    const ring = new Array<ReplyCallback | undefined>(size * 2).fill(undefined);
    for (let i = 0; i < this.#count; i++) ring[i] = this.#ring[(this.#head + i) & this.#mask];
    this.#ring = ring;
    this.#mask = size * 2 - 1;
    this.#head = 0;
  }

  #startWatchdog(): void {
    const { timeoutMs } = this.#opts;
    // Check often enough that a stall is noticed within about a tenth of the timeout.
    const every = Math.max(10, Math.min(250, Math.floor(timeoutMs / 10)));
    this.#watchdog = setInterval(() => this.#checkStall(), every);
    this.#watchdog.unref();
  }

  /**
   * `look`: the timer's check; `confirm`: the same once pending I/O is read;
   * `unanswered`: a probe got no answer, so silence past the timeout is a stall.
   */
  #checkStall(mode: 'look' | 'confirm' | 'unanswered' = 'look'): void {
    const ends = this.#batchEnd;
    let head = this.#batchHead;
    while (head < ends.length && ends[head]! <= this.#answered) head++;
    if (head === ends.length) {
      ends.length = 0;
      this.#batchAt.length = 0;
      this.#batchHead = 0;
      return;
    }
    if (head > 1024) {
      ends.splice(0, head);
      this.#batchAt.splice(0, head);
      head = 0;
    }
    this.#batchHead = head;
    const now = Date.now();
    if (this.#progressed()) this.#progressAt = now;
    const { timeoutMs, probe } = this.#opts;
    const maxBusyMs = this.#opts.maxBusyMs ?? 0;
    const silence = this.#opts.timeoutOn === 'silence';
    const waited = now - (silence ? Math.max(this.#batchAt[head]!, this.#progressAt) : this.#batchAt[head]!);
    if (waited <= timeoutMs) return;
    const busy = silence && probe !== undefined && mode !== 'unanswered' && waited <= timeoutMs + maxBusyMs;
    // Answered a probe within the last timeout (a silence that began later makes aliveAt older still).
    if (busy && now - this.#aliveAt <= timeoutMs) return;
    if (mode === 'look') {
      // After this process could not run for a while (a long GC, a blocking call)
      // timers fire before pending I/O is read: look again once the poll phase
      // has read what arrived meanwhile.
      if (this.#confirming) return;
      this.#confirming = true;
      setImmediate(() => {
        this.#confirming = false;
        if (!this.#ended) this.#checkStall('confirm');
      });
      return;
    }
    if (busy) {
      if (!this.#probing) this.#probe(probe);
      return;
    }
    const how = silence ? `silent for ${waited} ms` : `oldest request waited ${waited} ms`;
    const why =
      mode === 'unanswered'
        ? `, nor answered a probe within ${timeoutMs} ms`
        : this.#aliveAt > now - waited
          ? `, though it answers probes: busy past maxBusyMs ${maxBusyMs}`
          : '';
    this.#end(
      'timeout',
      `did not answer within ${timeoutMs} ms (${how}, ${this.#count} waiting${why}); connection reset`,
    );
  }

  #probe(probe: () => Promise<boolean>): void {
    this.#probing = true;
    const answered = (alive: boolean): void => {
      this.#probing = false;
      if (this.#ended) return;
      if (alive) this.#aliveAt = Date.now();
      // As above: replies may have arrived while this process waited on the probe's timer.
      else setImmediate(() => !this.#ended && this.#checkStall('unanswered'));
    };
    probe().then(answered, () => answered(false));
  }

  /**
   * Whether bytes arrived, or the node took request bytes, since the last
   * look. A big write counts in writableLength until it completes; how much
   * of it the kernel still holds back is only on the handle (writeQueueSize,
   * libuv's count, which node's own stream code reads too).
   */
  #progressed(): boolean {
    const socket = this.#socket;
    const done = socket.bytesWritten - socket.writableLength;
    const queued =
      (socket as unknown as { _handle?: { writeQueueSize?: number } })._handle?.writeQueueSize ?? 0;
    const wrote = done !== this.#writesDone || queued < this.#writeQueued;
    this.#writesDone = done;
    this.#writeQueued = queued;
    if (this.#chunks === this.#chunksSeen && !wrote) return false;
    this.#chunksSeen = this.#chunks;
    return true;
  }

  /** Ends the connection once: answers every waiting callback, then tells the owner. */
  #end(end: ConnectionEnd, reason: string, reply?: ReplyError, notify = true): void {
    if (this.#ended) return;
    this.#ended = true;
    clearInterval(this.#watchdog);
    this.#socket.destroy();
    this.#out.length = 0;
    this.#pieces = null;
    const label = this.#opts.label;
    // One shared error value for everyone: it is immutable.
    reply ??=
      end === 'timeout'
        ? hsError(ErrorCode.BackendTimeout, `${label} ${reason}`)
        : hsError(ErrorCode.ShardUnavailable, `${label} connection lost: ${reason}`);
    this.#endReply = reply;
    // The owner hears first, so a callback below that sends again reaches a
    // backend that already knows the node is down.
    if (notify && this.#established) this.#opts.onEnd(end, reason);
    while (this.#count > 0) {
      const index = this.#head;
      const done = this.#ring[index]!;
      this.#ring[index] = undefined;
      this.#head = (index + 1) & this.#mask;
      this.#count--;
      try {
        done(reply);
      } catch (err) {
        process.nextTick(rethrow, err);
      }
    }
  }
}

const PING = encodeCommand([Buffer.from('PING')]);

function isSimple(reply: Reply, value: string): boolean {
  return reply instanceof RawReply && reply.bytes.toString('latin1') === `+${value}\r\n`;
}

function describe(reply: Reply): string {
  if (reply instanceof ReplyError) return reply.message;
  if (reply instanceof RawReply) {
    const text = reply.bytes.toString('utf8').trim();
    return text.startsWith('-') || text.startsWith('+') ? text.slice(1) : text;
  }
  return 'an unexpected value'; // a connection only ever sees raw replies and its own errors
}

function rethrow(err: unknown): never {
  throw err;
}
