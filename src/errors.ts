/**
 * Every error hotshard raises carries a stable `code` so operators can alert on
 * it and clients can branch on it without parsing prose.
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
