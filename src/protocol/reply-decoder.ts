/**
 * Reads replies coming back from Redis nodes.
 *
 * `scanReply` only finds where a reply ends, without building values: the
 * Redis backend uses it on every reply so a RESP2 client gets the node's bytes
 * forwarded as they are. `decodeReply` builds values for the slower paths
 * (a multi-key command merged across shards, a RESP3 client, admin calls).
 * Both accept RESP2 and the RESP3 types a node may send.
 */
import { DoubleReply, MapReply, ReplyError, SimpleString, type Reply } from './reply.js';

const CR = 0x0d;

/** Thrown when a node sends bytes that are not RESP; the connection cannot be trusted after it. */
export class ReplyProtocolError extends Error {
  override readonly name = 'ReplyProtocolError';
}

/** Finds the CR of the line starting at `from`, or -1 when the line is not complete yet. */
function lineEnd(buf: Buffer, from: number): number {
  const cr = buf.indexOf(CR, from);
  return cr === -1 || cr + 1 >= buf.length ? -1 : cr;
}

/** Parses a signed decimal integer between `from` and `to` (exclusive). */
function parseInteger(buf: Buffer, from: number, to: number): number {
  let i = from;
  let negative = false;
  if (buf[i] === 0x2d) {
    negative = true;
    i++;
  }
  if (i >= to) throw new ReplyProtocolError('empty length in reply');
  let n = 0;
  for (; i < to; i++) {
    const d = buf[i]! - 0x30;
    if (d < 0 || d > 9)
      throw new ReplyProtocolError(`bad integer in reply: ${buf.toString('latin1', from, to)}`);
    n = n * 10 + d;
  }
  return negative ? -n : n;
}

// Value of the last length line read by readLength: a module-level scratch
// slot instead of a returned object, as it is read once per element.
let lengthValue = 0;

/**
 * Reads the length line (`$N`, `*N`, `-1` allowed) whose type byte is at
 * `offset`: sets `lengthValue` and returns the offset just past its CRLF, or
 * -1 when the line has not fully arrived. The digits are read in the same
 * pass that finds the CR: `Buffer#indexOf` is a native call, and an LRANGE
 * reply has a hundred of these short lines (measured in bench:codec, scan).
 */
function readLength(buf: Buffer, offset: number): number {
  const length = buf.length;
  let i = offset + 1;
  const negative = i < length && buf[i] === 0x2d;
  if (negative) i++;
  const digits = i;
  let n = 0;
  for (; i < length; i++) {
    const d = buf[i]! - 0x30;
    if (d >= 0 && d <= 9) n = n * 10 + d;
    else if (d === CR - 0x30) break;
    else throw new ReplyProtocolError(`bad integer in reply: ${lineText(buf, offset + 1)}`);
  }
  if (i + 1 >= length) return -1;
  if (i === digits) throw new ReplyProtocolError('empty length in reply');
  lengthValue = negative ? -n : n;
  return i + 2;
}

/** The start of the line at `from`, for an error message. */
function lineText(buf: Buffer, from: number): string {
  const cr = buf.indexOf(CR, from);
  return buf.toString('latin1', from, Math.min(cr === -1 ? buf.length : cr, from + 40));
}

/**
 * Returns the offset just past the reply that starts at `offset`, or -1 when
 * the buffer does not hold all of it yet.
 */
export function scanReply(buf: Buffer, offset: number): number {
  if (offset >= buf.length) return -1;
  const type = buf[offset]!;
  switch (type) {
    case 0x24: // $ bulk
    case 0x21: // ! blob error
    case 0x3d: // = verbatim
      return bulkEnd(buf, offset);
    case 0x2b: // + simple string
    case 0x2d: // - error
    case 0x3a: // : integer
    case 0x2c: // , double
    case 0x5f: // _ null
    case 0x23: // # boolean
    case 0x28: {
      // ( big number
      const cr = lineEnd(buf, offset + 1);
      return cr === -1 ? -1 : cr + 2;
    }
    case 0x2a: // * array
    case 0x7e: // ~ set
    case 0x3e: // > push
    case 0x25: {
      // % map
      let pos = readLength(buf, offset);
      if (pos === -1) return -1;
      let count = lengthValue;
      if (type === 0x25 && count > 0) count *= 2;
      const length = buf.length;
      for (let i = 0; i < count; i++) {
        // Bulk strings are most elements (LRANGE, HGETALL, ZRANGE): `$<digits>\r`
        // is read here, in one loop with no call, and the body skipped by its
        // length. Anything else (a null, a sign, a cut line, a bad byte, another
        // type) takes the general path, which also raises the errors. A byte
        // past the end reads as undefined, and NaN fails every test below.
        if (buf[pos] === 0x24) {
          let p = pos + 1;
          let n = buf[p]! - 0x30;
          if (n >= 0 && n <= 9) {
            let d = buf[++p]! - 0x30;
            while (d >= 0 && d <= 9) {
              n = n * 10 + d;
              d = buf[++p]! - 0x30;
            }
            if (d === CR - 0x30) {
              pos = p + 4 + n; // CR LF, the body, CR LF
              if (pos > length) return -1;
              continue;
            }
          }
          pos = bulkEnd(buf, pos);
        } else {
          pos = scanReply(buf, pos);
        }
        if (pos === -1) return -1;
      }
      return pos;
    }
    default:
      throw new ReplyProtocolError(`unexpected reply type byte 0x${type.toString(16)}`);
  }
}

/** The offset just past the bulk string at `offset`, or -1 when it has not all arrived. */
function bulkEnd(buf: Buffer, offset: number): number {
  const body = readLength(buf, offset);
  if (body === -1) return -1;
  if (lengthValue < 0) return body;
  const end = body + lengthValue + 2;
  return end <= buf.length ? end : -1;
}

/**
 * Finds the end of one reply that arrives in several reads, taking each read
 * as it is: the reads can then be handed on as the reply's pieces, uncopied.
 * Only a line cut in two by a read's end (a header, a short value: a few
 * bytes) is joined; a bulk string's body is passed over by its length, and a
 * complete element, at any depth of nesting, is never scanned again, so a
 * reply of n bytes costs O(n) however it is cut (an `HSCAN ... COUNT 1000000`
 * reply is an array nested in an array). What this replaced copied the
 * reply into a buffer that doubled as it grew, with the rest of each read:
 * an LRANGE_100 reply (7 KB) cut by a read's end cost about 100 KB of fresh
 * ArrayBuffer, and under redis-benchmark -P 1 V8 marked the whole heap every
 * 70-90 ms for the external memory.
 *
 * @example
 * const scan = new ChunkScan();
 * scan.next(firstRead.subarray(start)); // -1: the reply goes on
 * scan.next(secondRead);                // offset in secondRead just past the reply
 */
export class ChunkScan {
  /** Elements still missing in each open aggregate, outermost first. */
  readonly #left: number[] = [];
  /** Bytes of a bulk string's body and its CRLF still to come. */
  #skip = 0;
  /** Whether the line just read opened an aggregate (so no element is complete yet). */
  #opened = false;
  /** A copy of the start of a line cut by the end of the previous read. */
  #line: Buffer | null = null;

  /**
   * `chunk` holds the reply's next bytes. Returns the offset in `chunk` just
   * past the reply, or -1 when the reply goes on in the next read; after a
   * reply is found the scanner starts over for the next one.
   */
  next(chunk: Buffer): number {
    const length = chunk.length;
    let pos = 0;
    for (;;) {
      if (this.#skip > 0) {
        const take = Math.min(this.#skip, length - pos);
        pos += take;
        this.#skip -= take;
        if (this.#skip > 0) return -1;
        if (this.#completed()) return pos;
      }
      if (pos >= length) return -1;
      if (this.#line !== null) {
        const lf = chunk.indexOf(0x0a, pos);
        const line = Buffer.concat([this.#line, chunk.subarray(pos, lf === -1 ? length : lf + 1)]);
        if (lf === -1) {
          this.#line = line;
          return -1;
        }
        this.#line = null;
        pos = lf + 1;
        if (this.#element(line, 0) !== line.length) {
          throw new ReplyProtocolError(`bad line in reply: ${lineText(line, 0)}`);
        }
      } else {
        const end = this.#element(chunk, pos);
        if (end === -1) {
          this.#line = Buffer.from(chunk.subarray(pos));
          return -1;
        }
        pos = end;
      }
      if (this.#skip === 0 && !this.#opened && this.#completed()) return pos;
    }
  }

  /**
   * Reads the element whose line starts at `at` and returns the offset just
   * past it, or past `buf` when a bulk string's body goes on (#skip holds how
   * much of it, with its CRLF, is still to come), or -1 when its line is cut
   * by the end of `buf`. An aggregate opens in #left.
   */
  #element(buf: Buffer, at: number): number {
    const type = buf[at]!;
    this.#opened = false;
    switch (type) {
      case 0x24: // $ bulk
      case 0x21: // ! blob error
      case 0x3d: {
        // = verbatim
        const body = readLength(buf, at);
        if (body === -1 || lengthValue < 0) return body;
        const end = body + lengthValue + 2;
        if (end <= buf.length) return end;
        this.#skip = end - buf.length;
        return buf.length;
      }
      case 0x2a: // * array
      case 0x7e: // ~ set
      case 0x3e: // > push
      case 0x25: {
        // % map
        const after = readLength(buf, at);
        if (after === -1) return -1;
        let count = lengthValue;
        if (type === 0x25 && count > 0) count *= 2;
        if (count > 0) {
          this.#left.push(count);
          this.#opened = true;
        }
        return after;
      }
      default:
        return scanReply(buf, at); // a one-line type (+ - : , _ # (), or a throw on a bad type byte
    }
  }

  /** Counts one element as complete; returns whether the whole reply is. */
  #completed(): boolean {
    const left = this.#left;
    while (left.length > 0 && --left[left.length - 1]! === 0) left.pop();
    return left.length === 0;
  }
}

/** Decodes the one complete reply in `buf` (from `offset`) into a value. */
export function decodeReply(buf: Buffer, offset = 0): Reply {
  const state = { pos: offset };
  const value = decodeAt(buf, state);
  return value;
}

function decodeAt(buf: Buffer, state: { pos: number }): Reply {
  const start = state.pos;
  const type = buf[start];
  const cr = lineEnd(buf, start + 1);
  if (type === undefined || cr === -1) throw new ReplyProtocolError('incomplete reply');
  state.pos = cr + 2;
  switch (type) {
    case 0x2b:
      return new SimpleString(buf.toString('utf8', start + 1, cr));
    case 0x2d:
      return new ReplyError(buf.toString('utf8', start + 1, cr));
    case 0x3a: {
      const text = buf.toString('latin1', start + 1, cr);
      const n = Number(text);
      return Number.isSafeInteger(n) ? n : BigInt(text);
    }
    case 0x28:
      return BigInt(buf.toString('latin1', start + 1, cr));
    case 0x2c:
      return new DoubleReply(Number(buf.toString('latin1', start + 1, cr).replace('inf', 'Infinity')));
    case 0x5f:
      return null;
    case 0x23:
      return buf[start + 1] === 0x74 ? 1 : 0;
    case 0x24:
    case 0x21:
    case 0x3d: {
      const len = parseInteger(buf, start + 1, cr);
      if (len < 0) return null;
      const body = cr + 2;
      if (body + len + 2 > buf.length) throw new ReplyProtocolError('incomplete reply');
      state.pos = body + len + 2;
      if (type === 0x21) return new ReplyError(buf.toString('utf8', body, body + len));
      // verbatim strings carry a 4-byte "txt:" prefix that is not part of the value
      return type === 0x3d ? buf.subarray(body + 4, body + len) : buf.subarray(body, body + len);
    }
    case 0x2a:
    case 0x7e:
    case 0x3e: {
      const count = parseInteger(buf, start + 1, cr);
      if (count < 0) return null;
      const items: Reply[] = new Array<Reply>(count);
      for (let i = 0; i < count; i++) items[i] = decodeAt(buf, state);
      return items;
    }
    case 0x25: {
      const count = parseInteger(buf, start + 1, cr);
      const entries: Reply[] = new Array<Reply>(count * 2);
      for (let i = 0; i < count * 2; i++) entries[i] = decodeAt(buf, state);
      return new MapReply(entries);
    }
    default:
      throw new ReplyProtocolError(`unexpected reply type byte 0x${type.toString(16)}`);
  }
}
