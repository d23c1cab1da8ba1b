/**
 * Decodes client requests — RESP multi-bulk frames and inline commands — from
 * the bytes of one client connection.
 *
 * Every request the proxy serves passes through `feed`, so this is a measured
 * hot path (bench/codec) and longer than most files. It is written for V8:
 * lengths are parsed by hand while scanning, arguments are zero-copy subarrays
 * of the chunk, a frame lying within one chunk is a subarray too, and a frame
 * cut by a chunk boundary keeps only its unparsed tail, joined once when the
 * bytes it waits for have arrived (never once per chunk).
 *
 * The rules and error messages follow Redis's networking.c
 * (processMultibulkBuffer, processInlineBuffer, sdssplitargs) so a client gets
 * the same protocol errors from hotshard as from Redis, with three deliberate
 * differences that make a proxy safer:
 * - the CRLF after a bulk argument and after a length line is checked (Redis
 *   skips two bytes unchecked) — a frame forwarded to a node is always well formed;
 * - a malformed or over-limit length fails at the first bad byte instead of
 *   when its line ends, so a bad header never buffers anything;
 * - an inline line longer than `maxInlineBytes` always fails, whatever the
 *   chunking (Redis only notices while the line is incomplete).
 */
import { ConfigError, ErrorCode, HotshardError } from '../errors.js';

/** Bounds on what one client may send; anything beyond them is a protocol error. */
export interface DecoderLimits {
  /** Largest bulk argument, in bytes (Redis: proto-max-bulk-len). */
  maxBulkBytes: number;
  /** Most arguments in one multi-bulk command. */
  maxArgs: number;
  /** Longest inline command line, in bytes (Redis: PROTO_INLINE_MAX_SIZE). */
  maxInlineBytes: number;
}

/**
 * Default limits. Redis accepts 512 MiB bulks; a proxy holds a whole frame in
 * memory before forwarding it, so it accepts less.
 */
export const DEFAULT_DECODER_LIMITS: Readonly<DecoderLimits> = Object.freeze({
  maxBulkBytes: 64 * 1024 * 1024,
  maxArgs: 1024 * 1024,
  maxInlineBytes: 64 * 1024,
});

/**
 * Malformed client input. The message is worded as Redis words it; the server
 * replies `-ERR <message>` and closes the connection.
 */
export class ProtocolError extends HotshardError {
  override readonly name = 'ProtocolError';
  constructor(message: string, options?: ErrorOptions) {
    super(ErrorCode.Protocol, message, options);
  }
}

/** Receives one decoded command: its arguments, and its exact bytes for a multi-bulk frame. */
export type CommandHandler = (args: Buffer[], frame: Buffer | undefined) => void;

const CR = 0x0d;
const LF = 0x0a;
const STAR = 0x2a;
const DOLLAR = 0x24;
const MINUS = 0x2d;
const DIGIT_0 = 0x30;

/** Returned by the readers when the bytes needed have not arrived yet. */
const INCOMPLETE = -1;

/**
 * While waiting for a bulk body, a parsed frame prefix up to this size stays
 * in the held tail so the finished frame is one view of one joined buffer (a
 * big SET value is copied once, not twice). Larger prefixes are set aside: a
 * kept prefix is copied again at each resume, so it must stay small.
 */
const KEEP_PREFIX = 4 * 1024;

/**
 * Argument and frame views. `Buffer#subarray` costs ~3x more than this (45 vs
 * 15 ns): it looks up Buffer[Symbol.species] and goes through the Buffer
 * constructor, and views are most of what the decoder allocates. This is the
 * trick of Node's internal FastBuffer: a Uint8Array subclass whose prototype
 * chain runs through Buffer.prototype and whose `constructor` is Buffer, so a
 * view is a Buffer to everything (`Buffer.isBuffer`, `instanceof`, deep
 * equality in tests, every Buffer method).
 *
 * The class is deliberately anonymous: tools that keep names (tsx, esbuild
 * `keepNames`) redefine a named class's `name`, and V8 then constructs it
 * through a slow path, 10x slower than subarray.
 */
const BufferView = [class extends Uint8Array {}][0]!;
Object.setPrototypeOf(BufferView.prototype, Buffer.prototype as object);
Object.defineProperty(BufferView.prototype, 'constructor', {
  value: Buffer,
  writable: true,
  configurable: true,
});

/** A Buffer over `length` bytes of `memory` from `offset`, sharing them. */
function view(memory: ArrayBufferLike, offset: number, length: number): Buffer {
  return new BufferView(memory as ArrayBuffer, offset, length) as unknown as Buffer;
}

// Upper bounds accepted for the limits: lengths are parsed with plain number
// arithmetic, exact only while n * 10 + 9 stays below 2^53.
const MAX_LIMIT = { maxBulkBytes: 2 ** 32, maxArgs: 2 ** 31 - 1, maxInlineBytes: 2 ** 30 } as const;

// Value of the last length line read by readLength. A module-level scratch
// slot instead of a returned object: this runs twice per argument.
let lengthValue = 0;

function invalidLength(bulk: boolean): ProtocolError {
  return new ProtocolError(
    bulk ? 'Protocol error: invalid bulk length' : 'Protocol error: invalid multibulk length',
  );
}

/**
 * Reads the length line (`*N\r\n` or `$N\r\n`) whose type byte is at `pos`.
 * Returns the offset just past its CRLF with the value in `lengthValue`, or
 * INCOMPLETE. Accepts exactly what Redis's string2ll accepts: no sign, no
 * leading zeros, `-N` only for a multi-bulk count (which Redis then skips).
 */
function readLength(buf: Buffer, pos: number, max: number, bulk: boolean): number {
  const len = buf.length;
  let i = pos + 1;
  if (i >= len) return INCOMPLETE;
  let n = buf[i]! - DIGIT_0;
  if (n >= 1 && n <= 9) {
    for (i++; i < len; i++) {
      const d = buf[i]! - DIGIT_0;
      if (d < 0 || d > 9) break;
      n = n * 10 + d;
    }
    // checked before the line ends: an over-long length fails before anything is buffered
    if (n > max) throw invalidLength(bulk);
  } else if (n === 0) {
    i++;
  } else if (buf[i] === MINUS && !bulk) {
    return readNegativeCount(buf, i);
  } else {
    throw invalidLength(bulk);
  }
  if (i >= len) return INCOMPLETE;
  if (buf[i] !== CR) throw invalidLength(bulk);
  if (i + 1 >= len) return INCOMPLETE;
  if (buf[i + 1] !== LF) throw invalidLength(bulk);
  lengthValue = n;
  return i + 2;
}

/** `*-N\r\n`: Redis skips a frame with a negative count that fits in a signed 64-bit integer. */
function readNegativeCount(buf: Buffer, minus: number): number {
  const len = buf.length;
  let i = minus + 1;
  if (i >= len) return INCOMPLETE;
  const first = buf[i]!;
  if (first < DIGIT_0 + 1 || first > DIGIT_0 + 9) throw invalidLength(false);
  for (i++; i < len; i++) {
    const c = buf[i]!;
    if (c < DIGIT_0 || c > DIGIT_0 + 9) break;
    if (i - minus > 19) throw invalidLength(false);
  }
  if (i - minus - 1 === 19 && buf.toString('latin1', minus + 1, i) > '9223372036854775808') {
    throw invalidLength(false);
  }
  if (i >= len) return INCOMPLETE;
  if (buf[i] !== CR) throw invalidLength(false);
  if (i + 1 >= len) return INCOMPLETE;
  if (buf[i + 1] !== LF) throw invalidLength(false);
  lengthValue = -1;
  return i + 2;
}

/** Checks a limit and names it when it is out of range. */
function limit(limits: Partial<DecoderLimits> | undefined, name: keyof DecoderLimits): number {
  const value = limits?.[name] ?? DEFAULT_DECODER_LIMITS[name];
  const max = MAX_LIMIT[name];
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new ConfigError(`decoder limit ${name} must be an integer from 1 to ${max}, got ${String(value)}`);
  }
  return value;
}

/**
 * Turns a client's byte stream into commands. One decoder per connection.
 *
 * Arguments handed to `onCommand` are subarrays of the chunks passed to `feed`
 * (or of a buffer the decoder joined): they stay valid and unchanged forever,
 * but a 3-byte argument keeps its whole chunk alive, so copy
 * (`Buffer.from(arg)`) what is stored long-term.
 *
 * @example
 * const decoder = new RequestDecoder({ maxBulkBytes: 16 * 1024 * 1024 });
 * socket.on('data', (chunk: Buffer) => {
 *   try {
 *     decoder.feed(chunk, (args, frame) => router.dispatch(args, frame));
 *   } catch (err) {
 *     if (err instanceof ProtocolError) socket.end(`-ERR ${err.message}\r\n`);
 *     else throw err;
 *   }
 * });
 */
export class RequestDecoder {
  readonly #maxBulk: number;
  readonly #maxArgs: number;
  readonly #maxInline: number;

  // Unparsed bytes held until the rest of a length line, bulk body or inline
  // line arrives: the chunks as they came, joined once enough is there.
  #tail: Buffer[] = [];
  #tailBytes = 0;
  /** Tail bytes needed before parsing can progress. */
  #need = 0;
  /** Where parsing resumes within the joined tail (bytes before it belong to the current frame). */
  #resume = 0;
  /** The tail is an inline line still missing its LF. */
  #inlineWait = false;

  // The multi-bulk frame a chunk ended in.
  #args: Buffer[] | null = null;
  #remaining = 0;
  /** Parsed bytes of that frame set aside (large prefixes only; see KEEP_PREFIX). */
  #frameParts: Buffer[] = [];
  #frameBytes = 0;

  #failure: Error | undefined = undefined;

  /** Limits left out take their DEFAULT_DECODER_LIMITS value; out-of-range ones throw a ConfigError. */
  constructor(limits?: Partial<DecoderLimits>) {
    this.#maxBulk = limit(limits, 'maxBulkBytes');
    this.#maxArgs = limit(limits, 'maxArgs');
    this.#maxInline = limit(limits, 'maxInlineBytes');
  }

  /**
   * Decodes every complete command in `chunk` (plus what was held from earlier
   * chunks), calling `onCommand` in order. `frame` is the command's exact
   * multi-bulk bytes (for forwarding unchanged), undefined for an inline
   * command. Throws a ProtocolError on malformed input after delivering the
   * commands that preceded the bad bytes. After any throw — including one from
   * `onCommand` — the decoder is unusable and every later call throws the same
   * error (a non-Error thrown by `onCommand` is wrapped, as `cause`). `onCommand`
   * must not call `feed` on the same decoder.
   */
  feed(chunk: Buffer, onCommand: CommandHandler): void {
    if (this.#failure !== undefined) throw this.#failure;
    if (chunk.length === 0) return;
    try {
      this.#feed(chunk, onCommand);
    } catch (err) {
      this.#failure =
        err instanceof Error ? err : new Error('onCommand threw a non-Error value', { cause: err });
      this.#tail = [];
      this.#frameParts = [];
      this.#args = null;
      this.#tailBytes = this.#frameBytes = 0;
      throw err;
    }
  }

  /** Bytes held waiting for the rest of a frame (for memory accounting). */
  get bufferedBytes(): number {
    return this.#tailBytes + this.#frameBytes;
  }

  #feed(chunk: Buffer, onCommand: CommandHandler): void {
    if (this.#tailBytes === 0) {
      // Nothing held (at most a frame cut between two arguments): parse the chunk itself.
      this.#parse(chunk, 0, onCommand);
      return;
    }
    if (this.#inlineWait) {
      // Search only the new bytes: a line dribbled in byte by byte stays linear.
      const lf = chunk.indexOf(LF);
      if (lf === -1) {
        this.#hold(chunk);
        if (this.#tailBytes > this.#maxInline)
          throw new ProtocolError('Protocol error: too big inline request');
        return;
      }
      this.#need = 0; // the line is whole
    }
    this.#hold(chunk);
    if (this.#tailBytes < this.#need) return;
    const tail = this.#tail;
    const buf = tail.length === 1 ? tail[0]! : Buffer.concat(tail, this.#tailBytes);
    const pos = this.#resume;
    this.#tail = [];
    this.#tailBytes = 0;
    this.#resume = 0;
    this.#inlineWait = false;
    this.#parse(buf, pos, onCommand);
  }

  #hold(chunk: Buffer): void {
    this.#tail.push(chunk);
    this.#tailBytes += chunk.length;
  }

  /**
   * Parses `buf` from `pos`. When resuming a frame, its bytes in `buf` start
   * at 0 (any earlier ones are in #frameParts).
   */
  #parse(buf: Buffer, pos: number, onCommand: CommandHandler): void {
    const len = buf.length;
    const memory = buf.buffer;
    const base = buf.byteOffset;
    const maxBulk = this.#maxBulk;
    let args = this.#args;
    let remaining = this.#remaining;
    let frameStart = 0;
    this.#args = null;
    for (;;) {
      if (args === null) {
        if (pos >= len) return;
        frameStart = pos;
        if (buf[pos] !== STAR) {
          const next = this.#inline(buf, pos, onCommand);
          if (next === INCOMPLETE) {
            this.#tail = [buf.subarray(pos)];
            this.#tailBytes = len - pos;
            this.#inlineWait = true;
            return;
          }
          pos = next;
          continue;
        }
        const next = readLength(buf, pos, this.#maxArgs, false);
        if (next === INCOMPLETE) {
          this.#suspend(buf, pos, pos, len - pos + 1, false, null, 0);
          return;
        }
        pos = next;
        if (lengthValue <= 0) continue; // Redis ignores `*0` and `*-1`
        args = [];
        remaining = lengthValue;
      }
      while (remaining > 0) {
        if (pos >= len) {
          this.#suspend(buf, frameStart, pos, 1, false, args, remaining);
          return;
        }
        if (buf[pos] !== DOLLAR) {
          throw new ProtocolError(`Protocol error: expected '$', got '${String.fromCharCode(buf[pos]!)}'`);
        }
        const body = readLength(buf, pos, maxBulk, true);
        if (body === INCOMPLETE) {
          this.#suspend(buf, frameStart, pos, len - pos + 1, false, args, remaining);
          return;
        }
        const end = body + lengthValue;
        if (end + 2 > len) {
          // Wait for the body without allocating it: a 10 MB header alone holds a few bytes.
          this.#suspend(buf, frameStart, pos, end + 2 - pos, true, args, remaining);
          return;
        }
        if (buf[end] !== CR || buf[end + 1] !== LF) throw invalidLength(true);
        args.push(view(memory, base + body, end - body));
        pos = end + 2;
        remaining--;
      }
      let frame: Buffer;
      if (this.#frameBytes === 0) {
        frame = view(memory, base + frameStart, pos - frameStart);
      } else {
        this.#frameParts.push(buf.subarray(0, pos));
        frame = Buffer.concat(this.#frameParts, this.#frameBytes + pos);
        this.#frameParts = [];
        this.#frameBytes = 0;
      }
      const command = args;
      args = null;
      onCommand(command, frame);
    }
  }

  /**
   * Holds what is left of `buf` from `token` (a length line or bulk not yet
   * whole) until `need` bytes from `token` have arrived. The parsed part of
   * the frame, `frameStart..token`, stays in the tail when a body is awaited
   * and it is small. Otherwise it is set aside: a length line resumes after a
   * byte or two, and re-copying the prefix each time would be quadratic.
   */
  #suspend(
    buf: Buffer,
    frameStart: number,
    token: number,
    need: number,
    awaitingBody: boolean,
    args: Buffer[] | null,
    remaining: number,
  ): void {
    let keepFrom = frameStart;
    if (args !== null && (!awaitingBody || token - frameStart > KEEP_PREFIX)) {
      if (token > frameStart) {
        this.#frameParts.push(buf.subarray(frameStart, token));
        this.#frameBytes += token - frameStart;
      }
      keepFrom = token;
    }
    if (keepFrom < buf.length) {
      this.#tail = [buf.subarray(keepFrom)];
      this.#tailBytes = buf.length - keepFrom;
    }
    this.#resume = token - keepFrom;
    this.#need = this.#resume + need;
    this.#args = args;
    this.#remaining = remaining;
  }

  /** Decodes the inline command at `pos`; returns the offset after its line, or INCOMPLETE. */
  #inline(buf: Buffer, pos: number, onCommand: CommandHandler): number {
    const lf = buf.indexOf(LF, pos);
    if (lf === -1) {
      if (buf.length - pos > this.#maxInline)
        throw new ProtocolError('Protocol error: too big inline request');
      return INCOMPLETE;
    }
    const end = lf > pos && buf[lf - 1] === CR ? lf - 1 : lf;
    if (end - pos > this.#maxInline) throw new ProtocolError('Protocol error: too big inline request');
    const args = splitInlineArgs(buf, pos, end);
    if (args === null) throw new ProtocolError('Protocol error: unbalanced quotes in request');
    if (args.length > 0) onCommand(args, undefined); // Redis ignores blank lines
    return lf + 1;
  }
}

const SPACE = 0x20;
const TAB = 0x09;
const DQUOTE = 0x22;
const SQUOTE = 0x27;
const BACKSLASH = 0x5c;

/** C isspace in the C locale. */
function isSpace(c: number): boolean {
  return c === SPACE || (c >= TAB && c <= CR);
}

function hexValue(c: number): number {
  if (c >= DIGIT_0 && c <= DIGIT_0 + 9) return c - DIGIT_0;
  const lower = c | 0x20;
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x61 + 10 : -1;
}

const ESCAPES: Readonly<Record<number, number>> = { 0x6e: LF, 0x72: CR, 0x74: TAB, 0x62: 0x08, 0x61: 0x07 };

/**
 * Splits an inline line (`buf[start..end)`) into arguments exactly as Redis's
 * sdssplitargs does, or returns null for unbalanced quotes. The line is a C
 * string there, so a NUL byte ends it. Unquoted arguments are subarrays.
 */
function splitInlineArgs(buf: Buffer, start: number, end: number): Buffer[] | null {
  const at = (i: number): number => (i < end ? buf[i]! : 0);
  const args: Buffer[] = [];
  let p = start;
  for (;;) {
    while (at(p) !== 0 && isSpace(at(p))) p++;
    if (at(p) === 0) return args;
    const tokenStart = p;
    let tokenEnd = p;
    let bytes: number[] | null = null; // set once the argument has quotes
    let inDouble = false;
    let inSingle = false;
    let done = false;
    while (!done) {
      const c = at(p);
      if (inDouble) {
        const h1 = hexValue(at(p + 2));
        const h2 = hexValue(at(p + 3));
        if (c === BACKSLASH && at(p + 1) === 0x78 && h1 >= 0 && h2 >= 0) {
          bytes!.push(h1 * 16 + h2);
          p += 3;
        } else if (c === BACKSLASH && at(p + 1) !== 0) {
          p++;
          bytes!.push(ESCAPES[at(p)] ?? at(p));
        } else if (c === DQUOTE) {
          // a closing quote must be followed by a space or nothing at all
          if (at(p + 1) !== 0 && !isSpace(at(p + 1))) return null;
          done = true;
        } else if (c === 0) {
          return null;
        } else {
          bytes!.push(c);
        }
      } else if (inSingle) {
        if (c === BACKSLASH && at(p + 1) === SQUOTE) {
          p++;
          bytes!.push(SQUOTE);
        } else if (c === SQUOTE) {
          if (at(p + 1) !== 0 && !isSpace(at(p + 1))) return null;
          done = true;
        } else if (c === 0) {
          return null;
        } else {
          bytes!.push(c);
        }
      } else if (c === SPACE || c === LF || c === CR || c === TAB || c === 0) {
        tokenEnd = p;
        done = true;
      } else if (c === DQUOTE || c === SQUOTE) {
        inDouble = c === DQUOTE;
        inSingle = c === SQUOTE;
        bytes ??= Array.from(buf.subarray(tokenStart, p));
      } else if (bytes !== null) {
        bytes.push(c);
      }
      if (at(p) !== 0) p++;
    }
    args.push(bytes === null ? buf.subarray(tokenStart, tokenEnd) : Buffer.from(bytes));
  }
}
