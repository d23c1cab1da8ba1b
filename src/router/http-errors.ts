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
import { ErrorCode } from '../errors.js';

/** The JSON body of every HTTP error. */
export interface HttpErrorBody {
  error: { code: string; message: string };
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

const METHODS = ['GET', 'PUT', 'POST', 'DELETE'] as const;

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
