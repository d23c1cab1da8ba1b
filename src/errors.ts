/**
 * Every error hotshard raises carries a stable `code` so operators can alert on
 * it and clients can branch on it without parsing prose.
 *
 * The code travels as data: a `HotshardError` and a RESP `ReplyError` carry it
 * as a field, and `ERROR_CODES` is the one table that says which RESP class
 * and HTTP status go with it. Text is read back only where it arrives as text:
 * Redis's own error replies (`classifyRedisError`) and errors off the wire in
 * a client such as the load generator (`parseWireError`). docs/errors.md lists
 * all of it; test/errors.test.ts keeps that page and this table in step.
 */

/** The stable error codes, one per failure a caller can act on. */
export const ErrorCode = {
  Config: 'HS_ERR_CONFIG',
  Protocol: 'HS_ERR_PROTOCOL',
  UnknownCommand: 'HS_ERR_UNKNOWN_COMMAND',
  WrongArity: 'HS_ERR_WRONG_ARITY',
  Syntax: 'HS_ERR_SYNTAX',
  WrongType: 'HS_ERR_WRONGTYPE',
  NotInteger: 'HS_ERR_NOT_INTEGER',
  NotFloat: 'HS_ERR_NOT_FLOAT',
  ValueTooLarge: 'HS_ERR_VALUE_TOO_LARGE',
  NoAuth: 'HS_ERR_NOAUTH',
  BadAuth: 'HS_ERR_BAD_AUTH',
  NotAllowed: 'HS_ERR_NOT_ALLOWED',
  ShardUnavailable: 'HS_ERR_SHARD_UNAVAILABLE',
  BackendTimeout: 'HS_ERR_BACKEND_TIMEOUT',
  NodeOverloaded: 'HS_ERR_NODE_OVERLOADED',
  ShuttingDown: 'HS_ERR_SHUTTING_DOWN',
  NotFound: 'HS_ERR_NOT_FOUND',
  BadRequest: 'HS_ERR_BAD_REQUEST',
  MethodNotAllowed: 'HS_ERR_METHOD_NOT_ALLOWED',
  HeadersTooLarge: 'HS_ERR_HEADERS_TOO_LARGE',
  Backend: 'HS_ERR_BACKEND',
  Internal: 'HS_ERR_INTERNAL',
  Routing: 'HS_ERR_ROUTING',
  Throttled: 'HS_ERR_THROTTLED',
  NoPermission: 'HS_ERR_NO_PERMISSION',
  CrossShard: 'HS_ERR_CROSS_SHARD',
  StoreUnavailable: 'HS_ERR_STORE_UNAVAILABLE',
  VersionConflict: 'HS_ERR_VERSION_CONFLICT',
} as const;
/** One of the stable error codes. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Base class of every error hotshard throws. */
export class HotshardError extends Error {
  override readonly name: string = 'HotshardError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Invalid configuration; the message names the field and the accepted values. */
export class ConfigError extends HotshardError {
  override readonly name = 'ConfigError';
  constructor(message: string, options?: ErrorOptions) {
    super(ErrorCode.Config, message, options);
  }
}

/** What goes with a code: its RESP error class, its HTTP status, and what it means. */
export interface ErrorCodeInfo {
  /** The first word of the RESP error (`-<resp> <code> <message>`), as Redis uses them. */
  readonly resp: string;
  /** The HTTP status of the JSON error carrying this code. */
  readonly http: number;
  /** One line: what happened. */
  readonly summary: string;
}

/** The registry of codes: every code's RESP class, HTTP status and meaning (docs/errors.md). */
export const ERROR_CODES: Readonly<Record<ErrorCode, ErrorCodeInfo>> = {
  HS_ERR_CONFIG: { resp: 'ERR', http: 400, summary: 'invalid configuration; the message names the field' },
  HS_ERR_PROTOCOL: { resp: 'ERR', http: 400, summary: 'the request is not valid RESP or HTTP framing' },
  HS_ERR_UNKNOWN_COMMAND: { resp: 'ERR', http: 400, summary: 'no such command' },
  HS_ERR_WRONG_ARITY: { resp: 'ERR', http: 400, summary: 'wrong number of arguments for the command' },
  HS_ERR_SYNTAX: { resp: 'ERR', http: 400, summary: 'the arguments do not parse' },
  HS_ERR_WRONGTYPE: { resp: 'WRONGTYPE', http: 409, summary: 'the key holds a value of another type' },
  HS_ERR_NOT_INTEGER: {
    resp: 'ERR',
    http: 409,
    summary: 'the value is not an integer, or the result would overflow 64 bits',
  },
  HS_ERR_NOT_FLOAT: { resp: 'ERR', http: 409, summary: 'the value is not a valid float' },
  HS_ERR_VALUE_TOO_LARGE: { resp: 'ERR', http: 413, summary: 'a value over limits.maxBulkBytes' },
  HS_ERR_NOAUTH: { resp: 'NOAUTH', http: 401, summary: 'no credentials where they are required' },
  HS_ERR_BAD_AUTH: { resp: 'WRONGPASS', http: 401, summary: 'wrong or malformed credentials' },
  HS_ERR_NOT_ALLOWED: {
    resp: 'ERR',
    http: 400,
    summary: 'a command hotshard refuses (WAIT, pub/sub, scripts on embedded nodes ...)',
  },
  HS_ERR_NO_PERMISSION: {
    resp: 'NOPERM',
    http: 403,
    summary: 'the connection or token lacks the admin right the command needs',
  },
  HS_ERR_SHARD_UNAVAILABLE: {
    resp: 'ERR',
    http: 503,
    summary: "the key's node is down or its connection was lost",
  },
  HS_ERR_BACKEND_TIMEOUT: { resp: 'ERR', http: 503, summary: "the key's node did not answer in time" },
  HS_ERR_NODE_OVERLOADED: {
    resp: 'BUSY',
    http: 503,
    summary:
      "the key's node is over capacity and its queue is full, or its dedicated connections are all in use",
  },
  HS_ERR_SHUTTING_DOWN: { resp: 'ERR', http: 503, summary: 'the node or router is shutting down' },
  HS_ERR_NOT_FOUND: { resp: 'ERR', http: 404, summary: 'no such key or route' },
  HS_ERR_BAD_REQUEST: {
    resp: 'ERR',
    http: 400,
    summary: 'a bad parameter, key encoding, tenant, URL or body',
  },
  HS_ERR_METHOD_NOT_ALLOWED: { resp: 'ERR', http: 405, summary: 'the HTTP method is not taken here' },
  HS_ERR_HEADERS_TOO_LARGE: { resp: 'ERR', http: 431, summary: 'request line and headers over 16 KB' },
  HS_ERR_BACKEND: {
    resp: 'ERR',
    http: 500,
    summary: 'a node answered with an error hotshard did not expect',
  },
  HS_ERR_INTERNAL: { resp: 'ERR', http: 500, summary: 'a bug in hotshard; the detail is in its log' },
  HS_ERR_ROUTING: {
    resp: 'ERR',
    http: 400,
    summary: 'a routing table places a shard on a node with no backend',
  },
  HS_ERR_THROTTLED: {
    resp: 'BUSY',
    http: 429,
    summary: 'over a key, shard, node or tenant rate limit; retry after retry-after-ms',
  },
  HS_ERR_CROSS_SHARD: { resp: 'ERR', http: 400, summary: 'the keys of one command live on different shards' },
  HS_ERR_STORE_UNAVAILABLE: {
    resp: 'ERR',
    http: 503,
    summary: 'the config store cannot be opened or reached, or is closed',
  },
  HS_ERR_VERSION_CONFLICT: {
    resp: 'ERR',
    http: 409,
    summary: 'a routing table was saved against a version that is no longer the latest',
  },
};

/** True for the codes that mean "refused now, retry later": the request was shed, not failed. */
export function isShedCode(code: string | undefined): boolean {
  return code === ErrorCode.Throttled || code === ErrorCode.NodeOverloaded;
}

/** Which limit a throttled request met. */
export type ThrottleScope = 'key' | 'shard' | 'node' | 'tenant';

/** A code with the HTTP status to answer it with. */
export interface HttpClassification {
  readonly code: ErrorCode;
  readonly http: number;
}

/**
 * Redis's own error texts that hotshard answers with a specific code over
 * HTTP. Redis errors carry no code, only a class word and prose; these few are
 * about the key's value or the request, not a node failure, so they get a 4xx.
 * Everything else from a node is HS_ERR_BACKEND, 500. Listed in docs/errors.md.
 */
const REDIS_ERRORS: ReadonlyArray<{ readonly prefix: string; readonly code: ErrorCode }> = [
  { prefix: 'WRONGTYPE ', code: ErrorCode.WrongType },
  { prefix: 'NOAUTH ', code: ErrorCode.NoAuth },
  { prefix: 'WRONGPASS ', code: ErrorCode.NoAuth },
  { prefix: 'ERR value is not an integer or out of range', code: ErrorCode.NotInteger },
  { prefix: 'ERR hash value is not an integer', code: ErrorCode.NotInteger },
  { prefix: 'ERR increment or decrement would overflow', code: ErrorCode.NotInteger },
  { prefix: 'ERR decrement would overflow', code: ErrorCode.NotInteger },
  { prefix: 'ERR value is not a valid float', code: ErrorCode.NotFloat },
  // Checked before sending too; this covers a node whose clock puts the bound elsewhere.
  { prefix: 'ERR invalid expire time', code: ErrorCode.BadRequest },
];

/** The code and HTTP status for an error in Redis's own words (a reply with no hotshard code). */
export function classifyRedisError(message: string): HttpClassification {
  for (const e of REDIS_ERRORS) {
    if (message.startsWith(e.prefix)) return { code: e.code, http: ERROR_CODES[e.code].http };
  }
  return { code: ErrorCode.Backend, http: ERROR_CODES[ErrorCode.Backend].http };
}

/** An error reply as read off the wire. */
export interface WireError {
  /** The first word: `ERR`, `BUSY`, `WRONGTYPE`, ... */
  readonly class: string;
  /** The hotshard code when the error carries one. */
  readonly code?: ErrorCode;
  /** For HS_ERR_THROTTLED: how long to wait before retrying. */
  readonly retryAfterMs?: number;
  /** For HS_ERR_THROTTLED: which limit was met. */
  readonly scope?: ThrottleScope;
  /** The human text after the class, code and throttle fields. */
  readonly message: string;
}

const KNOWN_CODES: ReadonlySet<string> = new Set(Object.values(ErrorCode));
const THROTTLE_FIELDS = /^retry-after-ms=(\d+) scope=(key|shard|node|tenant)(?: |$)/;

/**
 * Reads a RESP error (the text after `-`, without CRLF) in the documented
 * format `<CLASS> [<HS_ERR_CODE> [retry-after-ms=<n> scope=<s>]] <message>`.
 * For clients of hotshard (the load generator); inside hotshard the code is a
 * field of the ReplyError and is never read back from text.
 *
 * @example
 * parseWireError('BUSY HS_ERR_THROTTLED retry-after-ms=250 scope=key key k is over 1000 ops/s')
 * // { class: 'BUSY', code: 'HS_ERR_THROTTLED', retryAfterMs: 250, scope: 'key', message: 'key k is over 1000 ops/s' }
 */
export function parseWireError(text: string): WireError {
  const space = text.indexOf(' ');
  const cls = space < 0 ? text : text.slice(0, space);
  if (space < 0) return { class: cls, message: '' };
  const rest = text.slice(space + 1);
  const end = rest.indexOf(' ');
  const word = end < 0 ? rest : rest.slice(0, end);
  if (!KNOWN_CODES.has(word)) return { class: cls, message: rest };
  const code = word as ErrorCode;
  const after = end < 0 ? '' : rest.slice(end + 1);
  if (code === ErrorCode.Throttled) {
    const fields = THROTTLE_FIELDS.exec(after);
    if (fields !== null) {
      return {
        class: cls,
        code,
        retryAfterMs: Number(fields[1]),
        scope: fields[2] as ThrottleScope,
        message: after.slice(fields[0].length),
      };
    }
  }
  return { class: cls, code, message: after };
}
