/**
 * The RESP front end: accepts client connections, decodes pipelined commands,
 * dispatches them through the router and writes replies back in request order.
 *
 * Memory per client stays bounded: at most `maxPipeline` commands are in
 * flight before the socket stops being read, and reading also stops while the
 * client is not reading its replies (output above `outputHighWater`).
 * A protocol error answers `-ERR Protocol error: ...` after the replies of the
 * commands that preceded it, then closes that connection only. Every close
 * the server starts (protocol error, QUIT, maxClients, shutdown) lingers:
 * see `linger`.
 */
import net from 'node:net';
import type { Logger } from 'pino';
import { ProtocolError, RequestDecoder, type DecoderLimits } from '../protocol/request-decoder.js';
import { ReplyWriter } from '../protocol/reply-encoder.js';
import { OK, ReplyError, type Reply } from '../protocol/reply.js';
import { readClient } from './client-reads.js';
import { RESERVED_FDS } from './open-files.js';
import { replyTo, type ReplySink } from './reply-to.js';
import type { ClientHandle } from './client-command.js';
import type { Router } from './router.js';
import { Session } from './session.js';

/** RESP listener settings. */
export interface RespServerOptions {
  readonly host: string;
  readonly port: number;
  readonly limits: Partial<DecoderLimits>;
  /** Commands in flight per client before its socket stops being read. */
  readonly maxPipeline: number;
  /** Connections beyond this are told so and closed. */
  readonly maxClients: number;
  /** Close a client idle this long (ms); 0 = never, as Redis's default. */
  readonly idleTimeoutMs: number;
  /** Stop reading a client whose unread replies exceed this many bytes. */
  readonly outputHighWater: number;
  /** A client whose partial command holds more than this is cut off (Redis: client-query-buffer-limit). */
  readonly maxQueryBytes: number;
  /** How long a connection the server has closed may still send before it is destroyed (ms). */
  readonly closeLingerMs: number;
}

/**
 * Ends our side of a connection the server is done with and makes sure it
 * goes away whatever the client does. What the client still sends is read and
 * dropped: a socket that is not read never sees its client hang up (once
 * Node's 16 KB read buffer is full the kernel keeps the rest, and the FIN
 * behind it), and a client blocked in send() would never get to read its
 * error. After `lingerMs` the socket is destroyed, as Redis closes at once;
 * the linger gives a well-behaved client the time to read the last reply.
 */
function linger(socket: net.Socket, lingerMs: number, lastWords?: string): void {
  if (lastWords === undefined) socket.end();
  else socket.end(lastWords);
  socket.resume();
  const timer = setTimeout(() => socket.destroy(), lingerMs);
  socket.once('close', () => clearTimeout(timer));
}

/** Above this many pending reply bytes a flush hands the writer's chunks to writev instead of joining them. */
const WRITEV_ABOVE = 64 * 1024;

const MAX_LINGERING_REFUSALS = RESERVED_FDS / 2;

/** Marks a slot whose reply has not arrived yet. */
const PENDING = Symbol('pending');
type Slot = Reply | typeof PENDING;

const SYNTAX = new ReplyError('ERR syntax error');

/** Whether `a` spells `word` (lower-case ASCII) in any case. */
function spells(a: Buffer, word: string): boolean {
  if (a.length !== word.length) return false;
  for (let i = 0; i < a.length; i++) if ((a[i]! | 0x20) !== word.charCodeAt(i)) return false;
  return true;
}

/** CLIENT REPLY ON|OFF|SKIP. */
const isClientReply = (args: Buffer[]): boolean =>
  args.length === 3 && spells(args[0]!, 'client') && spells(args[1]!, 'reply');

class Connection implements ReplySink, ClientHandle {
  readonly session: Session;
  readonly laddr: string;
  readonly #socket: net.Socket;
  readonly #router: Router;
  readonly #server: RespServer;
  readonly #decoder: RequestDecoder;
  readonly #writer = new ReplyWriter();
  // Replies in request order: slots[head..tail) are not yet written. `base` is
  // the sequence number of slots[0], so callbacks keep valid indexes across
  // compaction. The array is reused once drained, not emptied: emptying drops
  // its storage, and a pipeline of one would allocate it again per request.
  #slots: Slot[] = [];
  #head = 0;
  #tail = 0;
  #base = 0;
  #paused = false;
  #flushScheduled = false;
  /** A chunk of this client's requests is being decoded and dispatched. */
  #feeding = false;
  /** No more commands are accepted (QUIT, protocol error, shutdown). */
  #closing = false;
  /** Our side is ended and the socket lingers (see `linger`). */
  #ended = false;
  #closed = false;
  #lastActivity = Date.now();
  // CLIENT REPLY, as Redis's client flags: replies muted while OFF; SKIP
  // mutes the next command's. Decided in request order, which is the order
  // Redis runs a client's commands in; `#muted` holds the muted sequence
  // numbers not yet reached by #advance (null while there are none).
  #replyOff = false;
  #skip = false;
  #skipNext = false;
  #muted: Set<number> | null = null;
  // HELLO and RESET switch the protocol for their own reply and every later
  // one, but replies owed from before them keep the protocol they were asked
  // in: from reply `seq` on, `proto`. Null while no switch waits behind an
  // unwritten reply; #writeProto is then the session's.
  #switches: Array<{ seq: number; proto: 2 | 3 }> | null = null;
  #writeProto: 2 | 3 = 2;

  /** `accepted` is a socket the server has not started reading (pauseOnConnect). */
  constructor(accepted: net.Socket, router: Router, server: RespServer, id: number) {
    const socket = readClient(accepted, this.#onData).socket;
    this.#socket = socket;
    this.#router = router;
    this.#server = server;
    this.#decoder = new RequestDecoder(server.options.limits);
    this.laddr = `${socket.localAddress}:${socket.localPort}`;
    this.session = new Session(
      id,
      `${socket.remoteAddress}:${socket.remotePort}`,
      router.options.password !== undefined,
      Date.now(),
    );
    socket.setNoDelay(true);
    socket.on('drain', this.#maybeResume);
    socket.on('error', () => {}); // ECONNRESET and friends: 'close' follows and cleans up
    socket.on('close', () => {
      this.#closed = true;
      this.#server.forget(this);
    });
    if (server.options.idleTimeoutMs > 0) {
      socket.setTimeout(server.options.idleTimeoutMs, () => {
        if (this.inFlight === 0) socket.destroy();
      });
    }
  }

  /** Commands accepted whose replies are not yet written. */
  get inFlight(): number {
    return this.#tail - this.#head;
  }

  /** Bytes held for this client: unparsed input, unread input, replies not yet sent. */
  get bufferedBytes(): number {
    const socket = this.#socket;
    return this.#decoder.bufferedBytes + socket.readableLength + socket.writableLength + this.#writer.length;
  }

  /**
   * For shutdown: closes the connection once it has nothing in flight and the
   * client has been quiet for `quietMs`. Commands already on the wire are still
   * read and answered, so a client mid-pipeline does not lose them.
   */
  closeIfIdle(now: number, quietMs: number): void {
    if (this.inFlight === 0 && now - this.#lastActivity >= quietMs && !this.#closed) {
      this.#closing = true;
      this.#end();
    }
  }

  destroy(): void {
    this.#socket.destroy();
  }

  /** When the client last sent anything (CLIENT LIST's idle). */
  get lastActivity(): number {
    return this.#lastActivity;
  }

  /** CLIENT KILL. */
  kill(): void {
    this.#socket.destroy();
  }

  #onData = (chunk: Buffer): void => {
    if (this.#closing) return;
    this.#lastActivity = Date.now();
    this.#feeding = true;
    try {
      this.#decoder.feed(chunk, this.#onCommand);
      if (this.#decoder.bufferedBytes > this.#server.options.maxQueryBytes) {
        this.#refuse(
          `Protocol error: client query buffer exceeds ${this.#server.options.maxQueryBytes} bytes`,
        );
      }
    } catch (err) {
      if (err instanceof ProtocolError) return this.#refuse(err.message);
      // A bug must cost this client its connection, not every client the process.
      this.#server.log.error({ err, client: this.session.remote }, 'internal error while serving a client');
      this.#refuse('internal error (HS_ERR_INTERNAL); the connection is closed, see the server log');
    } finally {
      this.#feeding = false;
    }
  };

  /** Answers an error after the replies already owed, then closes. */
  #refuse(message: string): void {
    // After QUIT the rest of the chunk is still decoded; Redis ignores it, so do we.
    if (this.#closing) return;
    this.#closing = true;
    this.#slots[this.#tail++] = new ReplyError(`ERR ${message}`);
    this.#advance();
  }

  #onCommand = (args: Buffer[], frame: Buffer | undefined): void => {
    if (this.#closing) return;
    const seq = this.#base + this.#tail;
    this.#slots[this.#tail++] = PENDING;
    // RESET turns CLIENT REPLY OFF back on before it answers; a SKIP still covers it (Redis's resetCommand).
    if (this.#muted !== null && args.length === 1 && spells(args[0]!, 'reset'))
      this.#replyOff = this.#skipNext = false;
    if ((this.#muted !== null || isClientReply(args)) && this.#replyControl(args, seq)) return;
    const proto = this.session.proto;
    this.#router.dispatch(this.session, args, frame, replyTo(this, seq));
    if (this.session.proto !== proto && this.#head < this.#tail - 1) {
      if (this.#switches === null) this.#writeProto = proto;
      (this.#switches ??= []).push({ seq, proto: this.session.proto });
    }
    if (this.session.closeAfterReply) this.#closing = true;
    if (this.inFlight >= this.#server.options.maxPipeline) this.#pause();
  };

  /**
   * Mutes the reply of command `seq` if CLIENT REPLY says so, and answers
   * CLIENT REPLY itself (true then). Redis's order: ON clears both flags and
   * is answered; OFF and SKIP are not; the SKIP flag covers one command.
   */
  #replyControl(args: Buffer[], seq: number): boolean {
    // Before AUTH or inside MULTI the router answers it as any command.
    const control = isClientReply(args) && this.session.authenticated && this.session.multi === null;
    let reply: Reply | undefined;
    if (control) {
      const mode = args[2]!;
      if (spells(mode, 'on')) {
        this.#replyOff = this.#skip = false;
        reply = OK;
      } else if (spells(mode, 'off')) this.#replyOff = true;
      else if (spells(mode, 'skip')) this.#skipNext = !this.#replyOff;
      else reply = SYNTAX;
    }
    if (this.#replyOff || this.#skip || (control && reply === undefined))
      (this.#muted ??= new Set()).add(seq);
    this.#skip = this.#skipNext;
    this.#skipNext = false;
    if (control) this.settle(seq, reply ?? OK);
    return control;
  }

  /** A reply arrived for the command numbered `seq` (see replyTo). */
  settle(seq: number, reply: Reply): void {
    if (this.#closed) return;
    const index = seq - this.#base;
    this.#slots[index] = reply;
    if (index === this.#head) this.#advance();
  }

  /** Writes every reply that is next in order. */
  #advance(): void {
    const slots = this.#slots;
    let switches = this.#switches;
    let proto = switches === null ? this.session.proto : this.#writeProto;
    const tail = this.#tail;
    const muted = this.#muted;
    let head = this.#head;
    while (head < tail) {
      const reply = slots[head]!;
      if (reply === PENDING) break;
      if (switches !== null && switches[0]!.seq === this.#base + head) {
        proto = switches.shift()!.proto;
        if (switches.length === 0) this.#switches = switches = null;
      }
      if (muted === null || !muted.delete(this.#base + head)) this.#writer.write(reply, proto);
      slots[head] = null;
      head++;
    }
    this.#writeProto = proto;
    if (muted !== null && muted.size === 0 && !this.#replyOff && !this.#skip) this.#muted = null;
    const drained = head === tail;
    if (drained) {
      this.#base += head;
      this.#head = this.#tail = 0;
      // A deep pipeline's array is let go; a shallow one is kept for the next request.
      if (slots.length > 1024) this.#slots = [];
    } else if (head > 4096 && head * 2 > tail) {
      this.#base += head;
      this.#slots = slots.slice(head, tail);
      this.#head = 0;
      this.#tail = tail - head;
    } else this.#head = head;
    if (this.#flushScheduled || this.#writer.length === 0) return;
    // Nothing more owed and no request of this client being read (a local
    // command or cache hit answers during the read): no other reply can join
    // the write, so it goes now rather than in a microtask; at -P 1 that is
    // every reply. Otherwise the rest of this I/O callback may complete more,
    // and one microtask writes them all.
    if (drained && !this.#feeding) return this.#flush();
    this.#flushScheduled = true;
    queueMicrotask(this.#flush);
  }

  // One socket write per burst of replies: everything completed in the same
  // I/O callback goes out together.
  #flush = (): void => {
    this.#flushScheduled = false;
    if (this.#closed) return;
    const socket = this.#socket;
    const writer = this.#writer;
    if (writer.length > WRITEV_ABOVE) {
      // Big values go out as they are (the node's pieces, a big body): writev
      // gathers them, where joining them would copy megabytes.
      socket.cork();
      for (const chunk of writer.takeChunks()) socket.write(chunk);
      socket.uncork();
    } else if (writer.length > 0) socket.write(writer.take());
    // Nothing left queued in the socket: the kernel has every byte taken.
    if (socket.writableLength === 0) writer.rewind();
    if (this.#closing && this.inFlight === 0) {
      this.#end();
      return;
    }
    if (socket.writableLength > this.#server.options.outputHighWater) this.#pause();
    else this.#maybeResume();
  };

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#paused = false;
    linger(this.#socket, this.#server.options.closeLingerMs);
  }

  #pause(): void {
    if (!this.#paused) {
      this.#paused = true;
      this.#socket.pause();
    }
  }

  #maybeResume = (): void => {
    if (!this.#paused || this.#closing || this.#closed) return;
    const options = this.#server.options;
    if (this.inFlight < options.maxPipeline / 2 && this.#socket.writableLength <= options.outputHighWater) {
      this.#paused = false;
      this.#socket.resume();
    }
  };
}

/** Serves RESP clients on a TCP port. */
export class RespServer {
  readonly options: RespServerOptions;
  readonly #router: Router;
  readonly log: Logger;
  readonly #server: net.Server;
  readonly #connections = new Set<Connection>();
  #nextId = 1;
  /** Clients refused at maxClients that still linger. */
  #refused = 0;

  constructor(router: Router, options: RespServerOptions, log: Logger) {
    this.#router = router;
    this.options = options;
    this.log = log;
    // Paused: a client is read only once it has a Connection (client-reads.ts).
    this.#server = net.createServer({ pauseOnConnect: true }, (socket) => this.#accept(socket));
  }

  /** Starts listening; resolves with the bound port (useful with port 0). */
  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.options.port, this.options.host, () => {
        this.#server.off('error', reject);
        const addr = this.#server.address() as net.AddressInfo;
        resolve(addr.port);
      });
    });
  }

  /** Number of connected clients. */
  get clients(): number {
    return this.#connections.size;
  }

  /** Open sockets: the clients, and clients refused at maxClients while they linger. */
  sockets(): Promise<number> {
    return new Promise((resolve, reject) =>
      this.#server.getConnections((err, count) => (err ? reject(err) : resolve(count))),
    );
  }

  /** Bytes held for all connected clients (memory accounting; walks every connection). */
  get bufferedBytes(): number {
    let bytes = 0;
    for (const conn of this.#connections) bytes += conn.bufferedBytes;
    return bytes;
  }

  #accept(socket: net.Socket): void {
    const stats = this.#router.stats;
    stats.connectionsReceived++;
    if (this.#connections.size >= this.options.maxClients) {
      stats.rejectedConnections++;
      socket.on('error', () => {});
      const error = '-ERR max number of clients reached\r\n';
      // Each lingering refusal holds a descriptor from the few kept aside
      // (RESERVED_FDS): past a handful, close as soon as the error is written,
      // as Redis always does, so a flood cannot use up the rest.
      if (this.#refused >= MAX_LINGERING_REFUSALS) {
        socket.end(error, () => socket.destroy());
        return;
      }
      this.#refused++;
      socket.once('close', () => this.#refused--);
      linger(socket, this.options.closeLingerMs, error);
      return;
    }
    const conn = new Connection(socket, this.#router, this, this.#nextId++);
    this.#connections.add(conn);
    this.#router.clients.set(conn.session.id, conn);
    stats.connectedClients = this.#connections.size;
  }

  /** Called by a connection when its socket closes. */
  forget(conn: Connection): void {
    this.#router.sessionClosed(conn.session);
    this.#connections.delete(conn);
    this.#router.clients.delete(conn.session.id);
    this.#router.stats.connectedClients = this.#connections.size;
  }

  /**
   * Stops accepting clients; each connected client is closed once it has
   * nothing in flight and has been quiet briefly (up to `drainMs` in all),
   * then whatever is left is cut off.
   */
  async close(drainMs = 5000): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    const deadline = Date.now() + drainMs;
    const quietMs = Math.min(100, drainMs / 4);
    while (this.#connections.size > 0 && Date.now() < deadline) {
      const now = Date.now();
      for (const conn of this.#connections) conn.closeIfIdle(now, quietMs);
      await new Promise((r) => setTimeout(r, 10));
    }
    if (this.#connections.size > 0) {
      this.log.warn({ clients: this.#connections.size }, 'closing clients still busy after the drain period');
      for (const conn of this.#connections) conn.destroy();
    }
    await closed;
  }
}
