/**
 * Every HTTP error, whoever raises it, is `{"error":{"code","message"}}` with
 * a stable code: our handlers, fastify's own errors (body too large, bad
 * content, schema validation, bad URL), routes that do not exist or do not
 * take the method, and requests Node's parser refuses before fastify sees
 * them (unknown method, request line and headers over 16 KB).
 */
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { classifyRedisError, ERROR_CODES, ErrorCode, type ThrottleScope } from '../errors.js';
import type { ReplyError } from '../protocol/reply.js';

/** The JSON body of every HTTP error; a throttled one also says when to retry and which limit it met. */
export interface HttpErrorBody {
  error: { code: string; message: string; retryAfterMs?: number; scope?: ThrottleScope };
}

/** Sends the documented error body. */
export function sendHttpError(
  res: FastifyReply,
  status: number,
  code: string,
  message: string,
): FastifyReply {
  const body: HttpErrorBody = { error: { code, message } };
  return res.code(status).send(body);
}

/**
 * Answers a RESP error from the pipeline over HTTP. An error hotshard raised
 * carries its code, and the registry gives the status; one in Redis's own
 * words is classified by `classifyRedisError` (docs/errors.md lists both).
 * The message is the RESP error's text, so both front ends say the same.
 */
export function sendReplyError(res: FastifyReply, err: ReplyError): FastifyReply {
  if (err.code === undefined) {
    const { code, http } = classifyRedisError(err.message);
    return sendHttpError(res, http, code, err.message);
  }
  if (err.code === ErrorCode.Throttled) {
    return sendThrottled(res, err.retryAfterMs ?? 1000, err.scope, err.message);
  }
  const status = ERROR_CODES[err.code].http;
  // The node may be back in a moment: tell clients and load balancers to retry.
  if (status === 503) void res.header('retry-after', '1');
  return sendHttpError(res, status, err.code, err.message);
}

/**
 * A 429 for a request over a rate limit: `Retry-After` in whole seconds
 * (rounded up, at least 1, as HTTP allows no less) and the exact wait in the
 * body's `retryAfterMs`, for clients that can wait less than a second.
 */
export function sendThrottled(
  res: FastifyReply,
  retryAfterMs: number,
  scope: ThrottleScope | undefined,
  message: string,
): FastifyReply {
  void res.header('retry-after', String(Math.max(1, Math.ceil(retryAfterMs / 1000))));
  const body: HttpErrorBody = { error: { code: ErrorCode.Throttled, message, retryAfterMs, scope } };
  return res.code(429).send(body);
}

/** The code of an error fastify raised with this status. */
function codeFor(status: number): ErrorCode {
  switch (status) {
    case 401:
      return ErrorCode.NoAuth;
    case 404:
      return ErrorCode.NotFound;
    case 405:
      return ErrorCode.MethodNotAllowed;
    case 413:
      return ErrorCode.ValueTooLarge;
    case 431:
      return ErrorCode.HeadersTooLarge;
    default:
      return status >= 500 ? ErrorCode.Internal : ErrorCode.BadRequest;
  }
}

const METHODS = ['GET', 'PUT', 'POST', 'PATCH', 'DELETE'] as const;

/** Limits the messages name. */
export interface HttpErrorOptions {
  readonly maxValueBytes: number;
}

/** Turns fastify's errors and misses into the documented body (register before the routes). */
export function registerHttpErrors(app: FastifyInstance, options: HttpErrorOptions): void {
  app.setErrorHandler((err: FastifyError, req, res) => {
    const status = err.statusCode !== undefined && err.statusCode >= 400 ? err.statusCode : 500;
    if (status >= 500) {
      // Internal detail stays in the log; the client gets the code to quote.
      req.log.error({ err }, 'http request failed');
      return sendHttpError(res, status, ErrorCode.Internal, `internal error (request ${req.id})`);
    }
    const message =
      err.code === 'FST_ERR_CTP_BODY_TOO_LARGE'
        ? `request body is over the ${options.maxValueBytes}-byte limit (limits.maxBulkBytes)`
        : err.message;
    return sendHttpError(res, status, codeFor(status), message);
  });

  // Node hands CONNECT to this event, and closes the socket unanswered when nobody listens.
  app.server.on('connect', (req: IncomingMessage, socket: Duplex) =>
    answerAndClose(socket, {
      status: 405,
      code: ErrorCode.MethodNotAllowed,
      message: `${req.method} is not supported: hotshard is not an HTTP proxy`,
    }),
  );

  app.setNotFoundHandler((req, res) => {
    const allowed = METHODS.filter((m) => app.findRoute({ method: m, url: req.url }) !== null);
    if (allowed.length === 0)
      return sendHttpError(res, 404, ErrorCode.NotFound, `no route ${req.method} ${req.originalUrl}`);
    void res.header('allow', allowed.join(', '));
    return sendHttpError(
      res,
      405,
      ErrorCode.MethodNotAllowed,
      `${req.method} is not allowed here; use ${allowed.join(', ')}`,
    );
  });
}

/** fastify's `frameworkErrors` option: a URL its router cannot decode, an over-long parameter. */
export function frameworkErrors(err: FastifyError, _req: FastifyRequest, res: FastifyReply): void {
  const status = err.statusCode ?? 400;
  const message = err.code === 'FST_ERR_BAD_URL' ? `${err.message}: malformed percent-encoding` : err.message;
  void sendHttpError(res, status, codeFor(status), message);
}

/** What Node's parser refused, by its error code. */
function clientError(code: string | undefined): { status: number; code: ErrorCode; message: string } {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return {
        status: 431,
        code: ErrorCode.HeadersTooLarge,
        message:
          'request line and headers are over 16 KB; a key over HTTP must fit in them (use RESP for longer keys)',
      };
    case 'HPE_INVALID_METHOD':
      return {
        status: 405,
        code: ErrorCode.MethodNotAllowed,
        message: `unknown HTTP method; the API uses ${METHODS.join(', ')}`,
      };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { status: 408, code: ErrorCode.BadRequest, message: 'the request took too long to arrive' };
    default:
      return {
        status: 400,
        code: ErrorCode.BadRequest,
        message: `malformed HTTP request (${code ?? 'unknown'})`,
      };
  }
}

/** Answers a request fastify never saw in the documented body, then closes, as Node does. */
function answerAndClose(
  socket: Duplex,
  e: { status: number; code: ErrorCode; message: string },
  err?: Error,
): void {
  const body = JSON.stringify({ error: { code: e.code, message: e.message } } satisfies HttpErrorBody);
  const allow = e.status === 405 ? `Allow: ${METHODS.join(', ')}\r\n` : '';
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${e.status} ${STATUS_CODES[e.status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n${allow}Connection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(err);
}

/** fastify's `clientErrorHandler` option: what Node's parser refused. */
export function clientErrorHandler(err: Error & { code?: string }, socket: Socket): void {
  // A reset socket is gone already; there is no one left to answer.
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  answerAndClose(socket, clientError(err.code), err);
}
