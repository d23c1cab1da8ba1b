/**
 * The RESP protocol layer: client requests in, replies out, and node replies
 * read back. Everything here is synchronous and allocation-conscious; see
 * bench/codec for its numbers.
 */
export { makeCommand, type Command } from './command.js';
export { parseScanCursor } from './scan-cursor.js';
export { decodeReply, ReplyProtocolError, scanReply } from './reply-decoder.js';
export {
  encodeReply,
  formatDouble,
  ReplyWriter,
  type ReplyWriterOptions,
  type RespVersion,
} from './reply-encoder.js';
export {
  DoubleReply,
  hsError,
  isErrorReply,
  MapReply,
  OK,
  PONG,
  QUEUED,
  RawReply,
  ReplyError,
  SetReply,
  SimpleString,
  throttledError,
  VerbatimReply,
  type Reply,
  type ReplyErrorFields,
} from './reply.js';
export {
  DEFAULT_DECODER_LIMITS,
  ProtocolError,
  RequestDecoder,
  type CommandHandler,
  type DecoderLimits,
} from './request-decoder.js';
