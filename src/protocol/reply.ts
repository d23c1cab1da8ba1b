/**
 * Reply values as the router and backends produce them. The encoder turns them
 * into RESP2 or RESP3 bytes depending on what the client negotiated (HELLO).
 *
 * Plain JS values stand for the common cases so the hot path allocates little:
 * `null` is a null bulk string, `number`/`bigint` an integer, `Buffer` or
 * `string` a bulk string, an array a RESP array.
 */

/** A RESP simple string (`+OK`). */
export class SimpleString {
  constructor(readonly value: string) {}
}

/**
 * A RESP error. `message` is what follows the `-`, starting with the error
 * class as Redis does: `ERR ...`, `WRONGTYPE ...`, `BUSY ...`, `NOAUTH ...`.
 */
export class ReplyError {
  constructor(readonly message: string) {}
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
}

const EMPTY = Buffer.alloc(0);

/** A map: RESP3 `%`, RESP2 a flat array of alternating keys and values. */
export class MapReply {
  constructor(readonly entries: readonly Reply[]) {}
}

/** A double: RESP3 `,`, RESP2 a bulk string. */
export class DoubleReply {
  constructor(readonly value: number) {}
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
  | DoubleReply
  | readonly Reply[];

/** Shared instances for the replies sent most often. */
export const OK = new SimpleString('OK');
export const PONG = new SimpleString('PONG');
export const QUEUED = new SimpleString('QUEUED');

/** Builds a RESP error reply carrying a stable hotshard code: `-<prefix> <code> <message>`. */
export function errorReply(prefix: string, code: string, message: string): ReplyError {
  return new ReplyError(`${prefix} ${code} ${message}`);
}

/** True when a reply is an error (including an error passed through raw from Redis). */
export function isErrorReply(reply: Reply): boolean {
  if (reply instanceof ReplyError) return true;
  if (reply instanceof RawReply) return reply.type === 0x2d; // '-'
  return false;
}
