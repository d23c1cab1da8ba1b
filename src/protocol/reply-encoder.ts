/**
 * Encodes replies for clients, in RESP2 or RESP3.
 *
 * A connection has one ReplyWriter. The router writes the replies to a batch
 * of pipelined commands, then takes the bytes and sends them in one socket
 * write (or one writev). This is a measured hot path (bench/codec): replies
 * are written straight into a slab with direct byte stores — integers and
 * length headers digit by digit, short ASCII strings char by char — and a slab
 * is only replaced when full, so a reply allocates nothing in the common case.
 */
import { ConfigError } from '../errors.js';
import {
  DoubleReply,
  MapReply,
  SetReply,
  VerbatimReply,
  OK,
  PONG,
  QUEUED,
  NULL_ARRAY,
  RawReply,
  ReplyError,
  SimpleString,
  type Reply,
} from './reply.js';

/** The RESP version a client speaks: 2 by default, 3 after `HELLO 3`. */
export type RespVersion = 2 | 3;

/** Options of a ReplyWriter. */
export interface ReplyWriterOptions {
  /** Size of each slab the writer encodes into (default 16 KiB; a batch that needs more spans several). */
  slabBytes?: number;
}

const CR = 0x0d;
const LF = 0x0a;
const SPACE = 0x20;

/** Buffer bodies of at least this size are referenced, not copied. */
const BIG_BODY = 16 * 1024;
/**
 * A node's reply of at least this size is referenced, not copied. It is a
 * sub-array of a read the connection never reuses (redis-connection.ts), or
 * the cache's own copy, which is never changed in place, so it cannot change
 * under the write. Copying LRANGE_100's 7 KB replies into 16 KB slabs
 * doubled the proxy's ArrayBuffer churn. Side by side under redis-benchmark
 * LRANGE_100 -P 16, referencing them cut the scavenges V8 ran for external
 * memory by a third and CPU per request by about 8 %. One reply at -P 1 now
 * goes out as it arrived; several are joined once, or gathered by writev
 * above 64 KB.
 */
const RAW_BY_REFERENCE = 4 * 1024;
// Small enough that thousands of mostly idle connections cost little: a slab
// is only allocated once a connection has something to send.
const DEFAULT_SLAB = 16 * 1024;
const NO_SLAB = Buffer.alloc(0);
/** Room for a type byte, a 20-digit length with sign, and CRLF. */
const HEADER_ROOM = 24;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Formats a double as Redis does in replies: shortest round-trip digits, `inf`, `-inf`, `nan`. */
export function formatDouble(value: number): string {
  if (value === Infinity) return 'inf';
  if (value === -Infinity) return '-inf';
  if (Number.isNaN(value)) return 'nan';
  if (Object.is(value, -0)) return '-0';
  return String(value);
}

/** Number of decimal digits of a non-negative safe integer. */
function digitCount(n: number): number {
  if (n < 10) return 1;
  if (n < 100) return 2;
  if (n < 1000) return 3;
  if (n < 10000) return 4;
  if (n < 100000) return 5;
  let digits = 6;
  for (let t = 1_000_000; t <= n && digits < 16; t *= 10) digits++;
  return digits === 16 ? String(n).length : digits; // 16 digits and up: rare, let V8 count
}

/** Writes the decimal digits of a non-negative safe integer at `pos`; returns the offset after them. */
function writeDigits(buf: Buffer, pos: number, n: number): number {
  if (n < 10) {
    buf[pos] = 0x30 + n;
    return pos + 1;
  }
  const end = pos + digitCount(n);
  let i = end;
  if (n <= 0x7fffffff) {
    // small integer arithmetic while it fits in 31 bits
    while (n >= 10) {
      const q = (n / 10) | 0;
      buf[--i] = 0x30 + (n - q * 10);
      n = q;
    }
  } else {
    while (n >= 10) {
      const q = Math.floor(n / 10);
      buf[--i] = 0x30 + (n - q * 10);
      n = q;
    }
  }
  buf[--i] = 0x30 + n;
  return end;
}

// Per-byte stores beat a call into C++ only for the shortest strings and buffers (measured on Node 20).
const SHORT_TEXT = 16;
const SHORT_BYTES = 8;
/** Above this many characters a string is measured before it is encoded. */
const BIG_TEXT = 64 * 1024;

/**
 * Encodes replies into slabs until `take()` hands the bytes over.
 *
 * - RESP2: null → `$-1`, MapReply → flat array, SetReply → array, DoubleReply → bulk string,
 *   bigint beyond 64 bits → bulk string.
 * - RESP3: null → `_`, MapReply → `%`, SetReply → `~`, DoubleReply → `,`, VerbatimReply → `=`,
 *   bigint beyond 64 bits → `(`.
 * - A `number` that is not an integer is written as a double.
 * - RawReply bytes are written as they are, whatever the protocol: they are
 *   whatever the node sent (decode them first to re-encode for RESP3).
 * - Simple strings and errors cannot break the framing: CR and LF in them become spaces.
 *
 * The protocol is chosen per reply, so a HELLO between two pipelined commands
 * switches it at the right reply. Bytes handed out by `take()` or
 * `takeChunks()` are never written again. Buffer and RawReply bodies of
 * 16 KiB or more are referenced rather than copied (`takeChunks()` returns
 * them as their own chunks, for a writev), so they must not be changed until
 * the taken bytes have been written to the socket.
 *
 * @example
 * const out = new ReplyWriter();
 * out.write(OK, 2);
 * out.write([Buffer.from('v'), null, 42], 2);
 * out.write(new MapReply(['proto', 3]), 3); // after HELLO 3
 * socket.write(out.take());
 */
export class ReplyWriter {
  readonly #slabBytes: number;
  /** Protocol of the reply being written. */
  #proto: RespVersion = 2;
  #slab: Buffer;
  /** Start of the slab bytes not yet in #chunks. */
  #start = 0;
  #pos = 0;
  /** Finished chunks, in order, not yet taken. */
  #chunks: Buffer[] = [];
  #chunkBytes = 0;

  constructor(options: ReplyWriterOptions = {}) {
    const slabBytes = options.slabBytes ?? DEFAULT_SLAB;
    if (!Number.isInteger(slabBytes) || slabBytes < 64) {
      throw new ConfigError(`ReplyWriter slabBytes must be an integer of at least 64, got ${slabBytes}`);
    }
    this.#slabBytes = slabBytes;
    this.#slab = NO_SLAB;
  }

  /** Bytes written and not yet taken. */
  get length(): number {
    return this.#chunkBytes + this.#pos - this.#start;
  }

  /**
   * Hands over everything written so far as one buffer: a subarray of the slab
   * when it fits there (the common case), else the chunks joined.
   */
  take(): Buffer {
    if (this.#chunkBytes === 0) {
      const out = this.#slab.subarray(this.#start, this.#pos);
      this.#start = this.#pos;
      return out;
    }
    const chunks = this.takeChunks();
    return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
  }

  /** Hands over everything written so far as chunks to write in order, big bodies uncopied (empty when nothing is pending). */
  takeChunks(): Buffer[] {
    this.#seal();
    const chunks = this.#chunks;
    this.#chunks = [];
    this.#chunkBytes = 0;
    return chunks;
  }

  /**
   * Writes the next replies over the slab bytes already taken, once the
   * caller knows nothing holds them any more (the socket handed them to the
   * kernel in the same call). Without it every 16 KB of replies costs a new
   * slab, and a client reading 7 KB LRANGE replies churned one per two
   * requests: external memory that forced a scavenge every few thousand
   * requests and promoted live buffers to the old generation.
   */
  rewind(): void {
    if (this.#chunkBytes === 0 && this.#start === this.#pos) {
      this.#start = 0;
      this.#pos = 0;
    }
  }

  /** Appends one reply, encoded for a client speaking `proto`. */
  write(reply: Reply, proto: RespVersion): void {
    this.#proto = proto;
    this.#write(reply);
  }

  #write(reply: Reply): void {
    if (reply === null) {
      this.#null();
    } else if (reply instanceof RawReply) {
      if (reply === NULL_ARRAY && this.#proto === 3) return this.#null();
      const chunks = reply.chunks;
      if (chunks === undefined) this.#bytes(reply.bytes, RAW_BY_REFERENCE);
      else for (const chunk of chunks) this.#bytes(chunk, RAW_BY_REFERENCE);
    } else if (reply instanceof Buffer) {
      this.#bulk(reply);
    } else if (typeof reply === 'number') {
      this.#number(reply);
    } else if (reply instanceof SimpleString) {
      this.#simple(reply);
    } else if (typeof reply === 'string') {
      this.#bulkString(reply);
    } else if (reply instanceof ReplyError) {
      this.#line(0x2d, reply.message);
    } else if (reply instanceof MapReply) {
      this.#map(reply.entries);
    } else if (reply instanceof DoubleReply) {
      this.#double(reply.value, reply.text);
    } else if (reply instanceof VerbatimReply) {
      if (this.#proto === 3) this.#bulk(Buffer.from(`${reply.format}:${reply.text}`), 0x3d);
      else this.#bulkString(reply.text);
    } else if (reply instanceof SetReply) {
      this.#header(this.#proto === 3 ? 0x7e : 0x2a, reply.items.length);
      for (const item of reply.items) this.#write(item);
    } else if (typeof reply === 'bigint') {
      this.#bigint(reply);
    } else {
      this.#header(0x2a, reply.length);
      for (const item of reply) this.#write(item);
    }
  }

  /** Makes room for `n` more bytes in the slab, starting a new one when it is full. */
  #reserve(n: number): void {
    if (this.#pos + n <= this.#slab.length) return;
    this.#seal();
    this.#slab = Buffer.allocUnsafe(Math.max(this.#slabBytes, n));
    this.#start = 0;
    this.#pos = 0;
  }

  /** Moves the slab bytes written so far to #chunks; later writes go after them. */
  #seal(): void {
    if (this.#pos === this.#start) return;
    this.#chunks.push(this.#slab.subarray(this.#start, this.#pos));
    this.#chunkBytes += this.#pos - this.#start;
    this.#start = this.#pos;
  }

  #crlf(): void {
    this.#slab[this.#pos] = CR;
    this.#slab[this.#pos + 1] = LF;
    this.#pos += 2;
  }

  /** Writes `<type><n>\r\n` for a length or a safe integer. */
  #header(type: number, n: number): void {
    this.#reserve(HEADER_ROOM);
    const slab = this.#slab;
    let pos = this.#pos;
    slab[pos++] = type;
    if (n < 0) {
      slab[pos++] = 0x2d;
      n = -n;
    }
    pos = writeDigits(slab, pos, n);
    slab[pos] = CR;
    slab[pos + 1] = LF;
    this.#pos = pos + 2;
  }

  #null(): void {
    this.#reserve(5);
    const slab = this.#slab;
    const pos = this.#pos;
    if (this.#proto === 3) {
      slab[pos] = 0x5f; // _
      slab[pos + 1] = CR;
      slab[pos + 2] = LF;
      this.#pos = pos + 3;
    } else {
      slab[pos] = 0x24; // $-1
      slab[pos + 1] = 0x2d;
      slab[pos + 2] = 0x31;
      slab[pos + 3] = CR;
      slab[pos + 4] = LF;
      this.#pos = pos + 5;
    }
  }

  #number(n: number): void {
    if (Number.isSafeInteger(n)) this.#header(0x3a, n);
    else if (Number.isInteger(n)) this.#bigint(BigInt(n));
    else this.#double(n);
  }

  #bigint(n: bigint): void {
    if (n >= INT64_MIN && n <= INT64_MAX) this.#line(0x3a, n.toString());
    else if (this.#proto === 3)
      this.#line(0x28, n.toString()); // ( big number
    else this.#bulkString(n.toString());
  }

  #double(value: number, text = formatDouble(value)): void {
    if (this.#proto === 3) this.#line(0x2c, text);
    else this.#bulkString(text);
  }

  #map(entries: readonly Reply[]): void {
    const pairs = Math.ceil(entries.length / 2);
    if (this.#proto === 3) this.#header(0x25, pairs);
    else this.#header(0x2a, pairs * 2);
    for (const entry of entries) this.#write(entry);
    if (entries.length % 2 === 1) this.#null(); // a key without its value: keep the framing whole
  }

  #simple(reply: SimpleString): void {
    // the replies sent most often, written without looking at their text
    if (reply === OK) this.#constant(OK_BYTES);
    else if (reply === QUEUED) this.#constant(QUEUED_BYTES);
    else if (reply === PONG) this.#constant(PONG_BYTES);
    else this.#line(0x2b, reply.value);
  }

  #constant(bytes: Buffer): void {
    this.#reserve(bytes.length);
    const slab = this.#slab;
    let pos = this.#pos;
    for (let i = 0; i < bytes.length; i++) slab[pos++] = bytes[i]!;
    this.#pos = pos;
  }

  /** Writes `<type><text>\r\n` with CR and LF in `text` turned into spaces. */
  #line(type: number, text: string): void {
    const n = text.length;
    this.#reserve(n * 3 + 3);
    const slab = this.#slab;
    const start = this.#pos + 1;
    slab[this.#pos] = type;
    let pos = start;
    if (n > SHORT_TEXT) {
      pos += slab.write(NEWLINES.test(text) ? text.replace(NEWLINES_ALL, ' ') : text, start, 'utf8');
    } else {
      for (let i = 0; i < n; i++) {
        const c = text.charCodeAt(i);
        if (c >= 0x80) {
          pos = start + slab.write(text.replace(NEWLINES_ALL, ' '), start, 'utf8');
          break;
        }
        slab[pos++] = c === CR || c === LF ? SPACE : c;
      }
    }
    slab[pos] = CR;
    slab[pos + 1] = LF;
    this.#pos = pos + 2;
  }

  #bulkString(text: string): void {
    const n = text.length;
    if (n <= SHORT_TEXT && this.#shortAscii(text)) return;
    if (n <= BIG_TEXT) {
      // Encode right after a header sized for n bytes (exact for ASCII), then
      // shift the body if its UTF-8 length has more digits: one pass over the text.
      this.#reserve(n * 3 + HEADER_ROOM);
      const slab = this.#slab;
      const start = this.#pos;
      const guess = start + digitCount(n) + 3;
      const bytes = slab.write(text, guess, 'utf8');
      const body = start + digitCount(bytes) + 3;
      if (body !== guess) slab.copyWithin(body, guess, guess + bytes);
      this.#header(0x24, bytes);
      this.#pos = body + bytes;
    } else {
      // big text: measure first rather than reserve three bytes per character
      const bytes = Buffer.byteLength(text, 'utf8');
      this.#reserve(bytes + HEADER_ROOM);
      this.#header(0x24, bytes);
      this.#pos += this.#slab.write(text, this.#pos, 'utf8');
    }
    this.#crlf();
  }

  /** Writes a short string as a bulk with per-char stores; false (nothing written) when it is not ASCII. */
  #shortAscii(text: string): boolean {
    const n = text.length;
    this.#reserve(n + HEADER_ROOM);
    const mark = this.#pos;
    this.#header(0x24, n);
    const slab = this.#slab;
    let pos = this.#pos;
    for (let i = 0; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c >= 0x80) {
        this.#pos = mark;
        return false;
      }
      slab[pos++] = c;
    }
    slab[pos] = CR;
    slab[pos + 1] = LF;
    this.#pos = pos + 2;
    return true;
  }

  /** A bulk string, or another length-prefixed type (`=` verbatim). */
  #bulk(body: Buffer, type = 0x24): void {
    this.#header(type, body.length);
    this.#bytes(body);
    this.#reserve(2);
    this.#crlf();
  }

  /** Appends bytes verbatim: copied when small, referenced as their own chunk from `byReference` bytes on. */
  #bytes(bytes: Buffer, byReference = BIG_BODY): void {
    const n = bytes.length;
    if (n >= byReference) {
      this.#seal();
      this.#chunks.push(bytes);
      this.#chunkBytes += n;
      return;
    }
    this.#reserve(n);
    const slab = this.#slab;
    if (n <= SHORT_BYTES) {
      let pos = this.#pos;
      for (let i = 0; i < n; i++) slab[pos++] = bytes[i]!;
      this.#pos = pos;
    } else {
      slab.set(bytes, this.#pos);
      this.#pos += n;
    }
  }
}

const NEWLINES = /[\r\n]/;
const NEWLINES_ALL = /[\r\n]/g;
const OK_BYTES = Buffer.from('+OK\r\n');
const QUEUED_BYTES = Buffer.from('+QUEUED\r\n');
const PONG_BYTES = Buffer.from('+PONG\r\n');

/**
 * Encodes one reply into a standalone buffer — for tests, HTTP and one-off
 * writes; a connection should reuse a ReplyWriter.
 *
 * @example
 * encodeReply([Buffer.from('a'), null], 3).toString(); // '*2\r\n$1\r\na\r\n_\r\n'
 */
export function encodeReply(reply: Reply, proto: RespVersion = 2): Buffer {
  const writer = new ReplyWriter({ slabBytes: 256 });
  writer.write(reply, proto);
  return writer.take();
}
