/**
 * Reply values as the router and backends produce them. The encoder turns them
 * into RESP2 or RESP3 bytes depending on what the client negotiated (HELLO).
 *
 * Plain JS values stand for the common cases so the hot path allocates little:
 * `null` is a null bulk string, `number`/`bigint` an integer, `Buffer` or
 * `string` a bulk string, an array a RESP array.
 */
import { ERROR_CODES, ErrorCode, type ThrottleScope } from '../errors.js';

/** A RESP simple string (`+OK`). */
export class SimpleString {
  constructor(readonly value: string) {}
}

/** What an error hotshard raises carries beside its text (see `hsError`, `throttledError`). */
export interface ReplyErrorFields {
  readonly code: ErrorCode;
  readonly retryAfterMs?: number;
  readonly scope?: ThrottleScope;
}

/**
 * A RESP error. `message` is what follows the `-`, starting with the error
 * class as Redis does: `ERR ...`, `WRONGTYPE ...`, `BUSY ...`, `NOAUTH ...`.
 *
 * An error hotshard raises also carries its code as a field (`hsError`), so
 * nothing downstream (HTTP status, telemetry, the Redis backend's control
 * calls) reads it back out of the text. An error in Redis's own words, built
 * with `new ReplyError(message)` or decoded from a node, has no code.
 */
export class ReplyError {
  /** The stable hotshard code, or undefined for an error in Redis's own words. */
  readonly code: ErrorCode | undefined;
  /** For HS_ERR_THROTTLED: how long the client should wait before retrying. */
  readonly retryAfterMs: number | undefined;
  /** For HS_ERR_THROTTLED: which limit was met. */
  readonly scope: ThrottleScope | undefined;

  constructor(
    readonly message: string,
    fields?: ReplyErrorFields,
  ) {
    // Every field assigned, present or not, so all ReplyErrors share one shape.
    this.code = fields?.code;
    this.retryAfterMs = fields?.retryAfterMs;
    this.scope = fields?.scope;
  }

  /** The text after the class and code (and throttle fields): the part written for people. */
  get detail(): string {
    if (this.code === undefined) return this.message;
    const head = ERROR_CODES[this.code].resp.length + 1 + this.code.length + 1;
    const throttle =
      this.retryAfterMs === undefined ? 0 : `retry-after-ms=${this.retryAfterMs} scope=${this.scope} `.length;
    return this.message.slice(head + throttle);
  }
}

/**
 * A reply already encoded as RESP2 by a Redis node. RESP2 clients get these
 * bytes as they are; that is what keeps the Redis hot path free of re-encoding.
 *
 * A big reply that spanned many socket reads is kept as those reads
 * (`fromChunks`), so forwarding it copies nothing: the encoder hands the
 * chunks to the client's writev. `bytes` joins them, once, for the paths that
 * decode.
 */
export class RawReply {
  #bytes: Buffer | undefined;
  #chunks: readonly Buffer[] | undefined = undefined;

  constructor(bytes: Buffer) {
    this.#bytes = bytes;
  }

  /** A reply made of `chunks` in order (together one complete reply), not joined until `bytes` is read. */
  static fromChunks(chunks: readonly Buffer[]): RawReply {
    const reply = new RawReply(EMPTY);
    reply.#bytes = undefined;
    reply.#chunks = chunks;
    return reply;
  }

  /** The reply's bytes in one buffer (joins the chunks the first time). */
  get bytes(): Buffer {
    return (this.#bytes ??= Buffer.concat(this.#chunks!));
  }

  /** The pieces the reply arrived in, or undefined when it is one buffer (`bytes`). */
  get chunks(): readonly Buffer[] | undefined {
    return this.#bytes === undefined ? this.#chunks : undefined;
  }

  /** Length in bytes. */
  get length(): number {
    if (this.#bytes !== undefined) return this.#bytes.length;
    let n = 0;
    for (const chunk of this.#chunks!) n += chunk.length;
    return n;
  }

  /** The type byte (`-` for an error). */
  get type(): number {
    return this.#bytes !== undefined ? this.#bytes[0]! : this.#chunks![0]![0]!;
  }

  /**
   * This reply, or a copy whose bytes have a buffer of their own. A reply from
   * a Redis node shares its connection's 64 KB read buffer with the replies
   * read with it; what keeps a reply for long copies it with this, so that a
   * 100-byte value does not pin 64 KB.
   */
  owned(): RawReply {
    if (this.#bytes !== undefined && this.#bytes.length === this.#bytes.buffer.byteLength) return this;
    return new RawReply(ownedCopy(this.bytes));
  }
}

/**
 * RESP2's null array (`*-1`), which Redis sends where an array is missing
 * (LPOP with a count, BLPOP timing out, XPENDING's consumers when none): a
 * null bulk string would be a different reply. RESP2 clients get these bytes;
 * a RESP3 client gets `_`, nested in an array or not (the encoder knows this
 * instance).
 */
export const NULL_ARRAY = new RawReply(Buffer.from('*-1\r\n', 'latin1'));

/** `bytes` itself when it fills its buffer, else a copy in a buffer of its own (never Node's shared pool). */
export function ownedCopy(bytes: Buffer): Buffer {
  if (bytes.length === bytes.buffer.byteLength) return bytes;
  const copy = Buffer.allocUnsafeSlow(bytes.length);
  bytes.copy(copy);
  return copy;
}

const EMPTY = Buffer.alloc(0);

/** A map: RESP3 `%`, RESP2 a flat array of alternating keys and values. */
export class MapReply {
  constructor(readonly entries: readonly Reply[]) {}
}

/**
 * A double: RESP3 `,`, RESP2 a bulk string. `text`, when given, is written as
 * it is: a node's score passed on keeps the node's own formatting (Redis 7.0
 * prints %.17g, 7.2 the shortest form).
 */
export class DoubleReply {
  constructor(
    readonly value: number,
    readonly text?: string,
  ) {}
}

/** A verbatim string (INFO, CLIENT LIST): RESP3 `=` with its format, RESP2 a bulk string. */
export class VerbatimReply {
  constructor(
    readonly text: string,
    readonly format = 'txt',
  ) {}
}

/** A set: RESP3 `~`, RESP2 an array. */
export class SetReply {
  constructor(readonly items: readonly Reply[]) {}
}

/** Any reply value. */
export type Reply =
  | null
  | number
  | bigint
  | string
  | Buffer
  | SimpleString
  | ReplyError
  | RawReply
  | MapReply
  | SetReply
  | VerbatimReply
  | DoubleReply
  | readonly Reply[];

/** Shared instances for the replies sent most often. */
export const OK = new SimpleString('OK');
export const PONG = new SimpleString('PONG');
export const QUEUED = new SimpleString('QUEUED');

/**
 * An error hotshard raises: `-<CLASS> <CODE> <message>` on the wire, the class
 * from the registry (docs/errors.md), the code also a field.
 *
 * @example
 * hsError(ErrorCode.ShardUnavailable, 'node n1 is down') // -ERR HS_ERR_SHARD_UNAVAILABLE node n1 is down
 */
export function hsError(code: ErrorCode, message: string): ReplyError {
  return new ReplyError(`${ERROR_CODES[code].resp} ${code} ${message}`, { code });
}

/**
 * A request refused by a rate limit, with when to retry:
 * `-BUSY HS_ERR_THROTTLED retry-after-ms=<n> scope=<key|shard|node|tenant> <message>`.
 * `retryAfterMs` is rounded up to a whole millisecond so the text is exact.
 */
export function throttledError(retryAfterMs: number, scope: ThrottleScope, message: string): ReplyError {
  const ms = retryAfterMs > 0 ? Math.ceil(retryAfterMs) : 0;
  const code = ErrorCode.Throttled;
  return new ReplyError(`${ERROR_CODES[code].resp} ${code} retry-after-ms=${ms} scope=${scope} ${message}`, {
    code,
    retryAfterMs: ms,
    scope,
  });
}

/** True when a reply is an error (including an error passed through raw from Redis). */
export function isErrorReply(reply: Reply): boolean {
  if (reply instanceof ReplyError) return true;
  if (reply instanceof RawReply) return reply.type === 0x2d; // '-'
  return false;
}
