/**
 * Where the load goes: a Redis-protocol endpoint (hotshard, twemproxy, plain
 * Redis) or hotshard's HTTP data API. Both are split into *lanes*: a lane is
 * one connection that answers its requests in order — a pipelined RESP
 * connection (the proxy's own RedisConnection, reused because it is measured
 * fast), or a keep-alive HTTP socket that carries one request at a time. The
 * generator sends every write to a key through the same lane when it keeps a
 * write ledger, which is what gives each key a defined write order.
 *
 * A lane whose connection ended fails its requests at once (`connection`,
 * never sent) while it reconnects in the background: an open-loop run counts
 * them as errors rather than stalling.
 */
import { Agent, request } from 'node:http';
import { RedisConnection, type ConnectionEnd } from '../backend/redis-connection.js';
import { ConfigError, ErrorCode, HotshardError, isShedCode, parseWireError } from '../errors.js';
import { RawReply, ReplyError } from '../protocol/reply.js';
import type { OpName } from './workload.js';

/** A Redis-protocol endpoint. */
export interface RespTargetSpec {
  readonly kind: 'resp';
  readonly host: string;
  readonly port: number;
  readonly password?: string;
  /** Connections (lanes); default 50. */
  readonly connections?: number;
}

/** hotshard's HTTP data API (`/kv/{key}`). */
export interface HttpTargetSpec {
  readonly kind: 'http';
  /** Base URL, e.g. `http://127.0.0.1:8080`. */
  readonly url: string;
  /** Keep-alive sockets (lanes); default 50. */
  readonly connections?: number;
  /** Header naming the tenant; default `x-tenant` (hotshard's default). */
  readonly tenantHeader?: string;
  /**
   * hotshard's `--password`, sent as `Authorization: Bearer`: with the tenant
   * header beside it, that is exactly `AUTH <tenant> <password>` (docs/http.md).
   */
  readonly password?: string;
}

/** A load target as JSON. */
export type TargetSpec = RespTargetSpec | HttpTargetSpec;

/** One command as a target sends it. */
export interface TargetCommand {
  readonly op: OpName;
  /** The tenant name ('' for none): the HTTP target sends it as a header. */
  readonly tenant: string;
  readonly keys: readonly string[];
  /** SET's value. */
  readonly value?: Buffer;
}

/** Why a request failed. */
export interface RequestError {
  /** `HS_ERR_...` when the message carries one, else the error's first word (`ERR`, `BUSY`), `http-<status>`, `timeout` or `connection`. */
  readonly kind: string;
  readonly message: string;
  /** False when the request never left the generator (so a write cannot have happened). */
  readonly sent: boolean;
  /** Refused with an explicit retry-later: hotshard's throttled or node-overloaded code, or HTTP 429. */
  readonly shed: boolean;
  /** How long the target asked to wait before retrying, when it said (HS_ERR_THROTTLED). */
  readonly retryAfterMs?: number;
}

/** A reply, reduced to what the generator needs: a GET's value, an integer, or null. */
export type ReplyValue = Buffer | number | null;
/** Receives a request's outcome, exactly once. */
export type TargetCallback = (err: RequestError | null, value: ReplyValue) => void;

/** An open target. */
export interface Target {
  readonly lanes: number;
  /** For messages: `resp 127.0.0.1:6379`. */
  readonly label: string;
  /** Sends `cmd` on lane `lane` (0 ≤ lane < lanes). `done` may be called synchronously when the lane is down. */
  send(lane: number, cmd: TargetCommand, done: TargetCallback): void;
  /** Closes every lane; requests still in flight fail with kind `timeout`. */
  close(): Promise<void>;
}

/** How long a request may stay unanswered, and how long connecting may take. */
export interface TargetOptions {
  readonly timeoutMs: number;
  readonly connectTimeoutMs?: number;
}

const DEFAULT_LANES = 50;
const RECONNECT_MS = 250;

/**
 * Connects to a target; rejects with a HotshardError naming it when it cannot be reached.
 *
 * @example
 * const t = await openTarget({ kind: 'resp', host: '127.0.0.1', port: 6380 }, { timeoutMs: 5000 });
 * t.send(0, { op: 'get', tenant: '', keys: ['key:1'] }, (err, value) => {});
 */
export async function openTarget(spec: TargetSpec, opts: TargetOptions): Promise<Target> {
  const lanes = spec.connections ?? DEFAULT_LANES;
  if (!(Number.isSafeInteger(lanes) && lanes >= 1 && lanes <= 10_000))
    throw new ConfigError(`target.connections must be an integer in [1, 10000], got ${String(lanes)}`);
  if (spec.kind === 'resp') {
    const t = new RespTarget(spec, lanes, opts);
    await t.open();
    return t;
  }
  if (spec.kind === 'http') return new HttpTarget(spec, lanes, opts);
  throw new ConfigError(
    `target.kind must be resp or http, got ${JSON.stringify((spec as { kind: unknown }).kind)}`,
  );
}

/** `host:port` → a RESP target spec; throws ConfigError on anything else. */
export function parseRespAddress(text: string): { host: string; port: number } {
  const m = /^(.+):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[2]) : NaN;
  if (m === null || port < 1 || port > 65535)
    throw new ConfigError(`--resp must be host:port with a port in 1..65535, got ${JSON.stringify(text)}`);
  return { host: m[1]!.replace(/^\[(.*)\]$/, '$1'), port };
}

/**
 * A RESP error as the generator counts it, from its text (without the
 * leading `-`), read by the one documented parser (`parseWireError`).
 */
export function respError(text: string): RequestError {
  const wire = parseWireError(text);
  return {
    kind: wire.code ?? wire.class,
    message: text,
    sent: true,
    shed: isShedCode(wire.code),
    ...(wire.retryAfterMs === undefined ? {} : { retryAfterMs: wire.retryAfterMs }),
  };
}

/** The error kind of a RESP error message (without the leading `-`): its code, else its class. */
export function errorKind(message: string): string {
  return respError(message).kind;
}

// ---------------------------------------------------------------- RESP

const COMMAND_HEAD: Readonly<Record<OpName, string>> = {
  get: '$3\r\nGET\r\n',
  set: '$3\r\nSET\r\n',
  incr: '$4\r\nINCR\r\n',
  mget: '$4\r\nMGET\r\n',
  del: '$3\r\nDEL\r\n',
};

/** The RESP bytes of a command. */
export function encodeRequest(cmd: TargetCommand): Buffer {
  const { keys, value } = cmd;
  let head = `*${1 + keys.length + (value === undefined ? 0 : 1)}\r\n${COMMAND_HEAD[cmd.op]}`;
  for (const k of keys) head += `$${Buffer.byteLength(k)}\r\n${k}\r\n`;
  if (value !== undefined) head += `$${value.length}\r\n`;
  const headLength = Buffer.byteLength(head);
  const out = Buffer.allocUnsafe(headLength + (value === undefined ? 0 : value.length + 2));
  out.write(head, 0);
  if (value !== undefined) {
    value.copy(out, headLength);
    out[out.length - 2] = 0x0d;
    out[out.length - 1] = 0x0a;
  }
  return out;
}

/** Reads a raw RESP reply down to what the generator needs. */
function readReply(bytes: Buffer): RequestError | ReplyValue {
  switch (bytes[0]) {
    case 0x2d: {
      // '-'
      return respError(bytes.toString('utf8', 1, bytes.length - 2));
    }
    case 0x3a: // ':'
      return Number(bytes.toString('latin1', 1, bytes.length - 2));
    case 0x24: {
      // '$'
      if (bytes[1] === 0x2d) return null; // $-1
      const cr = bytes.indexOf(0x0d, 1);
      return bytes.subarray(cr + 2, bytes.length - 2);
    }
    default:
      return null; // +OK, arrays (MGET), RESP3 null
  }
}

class RespTarget implements Target {
  readonly lanes: number;
  readonly label: string;
  readonly #spec: RespTargetSpec;
  readonly #opts: TargetOptions;
  readonly #conns: Array<RedisConnection | null>;
  /** How each lane's last connection ended: its in-flight requests fail with this kind. */
  readonly #endKind: string[];
  readonly #timers = new Set<NodeJS.Timeout>();
  #closing = false;

  constructor(spec: RespTargetSpec, lanes: number, opts: TargetOptions) {
    this.#spec = spec;
    this.#opts = opts;
    this.lanes = lanes;
    this.label = `resp ${spec.host}:${spec.port}`;
    this.#conns = new Array<RedisConnection | null>(lanes).fill(null);
    this.#endKind = new Array<string>(lanes).fill('connection');
  }

  async open(): Promise<void> {
    const results = await Promise.allSettled(this.#conns.map((_, i) => this.#connect(i)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) {
      await this.close();
      const reason = failed.reason instanceof Error ? failed.reason.message : String(failed.reason);
      throw new HotshardError(ErrorCode.ShardUnavailable, `load target ${this.label}: ${reason}`, {
        cause: failed.reason,
      });
    }
  }

  async #connect(lane: number): Promise<void> {
    const conn = new RedisConnection({
      host: this.#spec.host,
      port: this.#spec.port,
      password: this.#spec.password,
      timeoutMs: this.#opts.timeoutMs,
      connectTimeoutMs: this.#opts.connectTimeoutMs ?? 5_000,
      label: `${this.label} (connection ${lane})`,
      onEnd: (end: ConnectionEnd) => {
        this.#endKind[lane] = end === 'timeout' ? 'timeout' : 'connection';
        this.#conns[lane] = null;
        this.#reconnectLater(lane);
      },
    });
    await conn.connect();
    if (this.#closing) {
      await conn.destroy(new ReplyError('ERR load target closed'));
      return;
    }
    this.#conns[lane] = conn;
  }

  #reconnectLater(lane: number): void {
    if (this.#closing) return;
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      this.#connect(lane).catch(() => this.#reconnectLater(lane));
    }, RECONNECT_MS);
    this.#timers.add(timer);
  }

  send(lane: number, cmd: TargetCommand, done: TargetCallback): void {
    const conn = this.#conns[lane];
    if (conn == null) {
      done(
        {
          kind: 'connection',
          message: `${this.label}: connection ${lane} is down`,
          sent: false,
          shed: false,
        },
        null,
      );
      return;
    }
    conn.send(encodeRequest(cmd), (reply) => {
      if (reply instanceof RawReply) {
        const r = readReply(reply.bytes);
        if (r !== null && typeof r === 'object' && !Buffer.isBuffer(r)) done(r, null);
        else done(null, r);
      } else {
        // Only the connection itself answers with a ReplyError: it ended.
        const message = reply instanceof ReplyError ? reply.message : 'unexpected reply';
        done({ kind: this.#endKind[lane]!, message, sent: true, shed: false }, null);
      }
    });
  }

  async close(): Promise<void> {
    this.#closing = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    this.#endKind.fill('timeout');
    const closing = this.#conns.flatMap((c) =>
      c === null ? [] : [c.destroy(new ReplyError('ERR no answer before the load run ended'))],
    );
    this.#conns.fill(null);
    await Promise.all(closing);
  }
}

// ---------------------------------------------------------------- HTTP

const METHOD: Readonly<Record<OpName, string>> = {
  get: 'GET',
  set: 'PUT',
  del: 'DELETE',
  incr: 'POST',
  mget: 'GET',
};

class HttpTarget implements Target {
  readonly lanes: number;
  readonly label: string;
  readonly #agents: Agent[];
  readonly #host: string;
  readonly #port: number;
  readonly #base: string;
  readonly #tenantHeader: string;
  readonly #authorization: string | undefined;
  readonly #timeoutMs: number;
  readonly #inFlight = new Set<ReturnType<typeof request>>();

  constructor(spec: HttpTargetSpec, lanes: number, opts: TargetOptions) {
    let url: URL;
    try {
      url = new URL(spec.url);
    } catch {
      throw new ConfigError(
        `--http must be a URL like http://127.0.0.1:8080, got ${JSON.stringify(spec.url)}`,
      );
    }
    if (url.protocol !== 'http:')
      throw new ConfigError(`--http supports http:// URLs only, got ${JSON.stringify(spec.url)}`);
    this.lanes = lanes;
    this.label = `http ${url.host}`;
    this.#host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    this.#port = url.port === '' ? 80 : Number(url.port);
    this.#base = url.pathname.replace(/\/$/, '');
    this.#tenantHeader = spec.tenantHeader ?? 'x-tenant';
    this.#authorization = spec.password === undefined ? undefined : `Bearer ${spec.password}`;
    this.#timeoutMs = opts.timeoutMs;
    // One socket per lane: a lane's requests go out one after another, in order.
    this.#agents = Array.from({ length: lanes }, () => new Agent({ keepAlive: true, maxSockets: 1 }));
  }

  send(lane: number, cmd: TargetCommand, done: TargetCallback): void {
    const key = cmd.keys[0];
    if (cmd.op === 'mget' || key === undefined || cmd.keys.length !== 1) {
      done({ kind: 'unsupported', message: 'the HTTP API has no MGET', sent: false, shed: false }, null);
      return;
    }
    const path = `${this.#base}/kv/${encodeURIComponent(key).replace(/%3A/gi, ':')}${cmd.op === 'incr' ? ':incr' : ''}`;
    const headers: Record<string, string | number> = {};
    if (cmd.tenant !== '') headers[this.#tenantHeader] = cmd.tenant;
    if (this.#authorization !== undefined) headers.authorization = this.#authorization;
    const body = cmd.op === 'set' ? (cmd.value ?? Buffer.alloc(0)) : undefined;
    if (body !== undefined) {
      headers['content-type'] = 'application/octet-stream';
      headers['content-length'] = body.length;
    }
    let settled = false;
    const finish = (err: RequestError | null, value: ReplyValue): void => {
      if (settled) return;
      settled = true;
      this.#inFlight.delete(req);
      done(err, value);
    };
    const req = request(
      {
        host: this.#host,
        port: this.#port,
        method: METHOD[cmd.op],
        path,
        headers,
        agent: this.#agents[lane],
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => finish(connectionError(err, true), null));
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          const data = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
          if (status === 200) return finish(null, httpValue(cmd.op, data));
          if (status === 404 && cmd.op === 'get') return finish(null, null);
          finish(httpError(status, data), null);
        });
      },
    );
    this.#inFlight.add(req);
    // Node starts this timer once the request has its socket, so time queued
    // behind the lane's earlier requests does not count toward it.
    req.setTimeout(this.#timeoutMs, () =>
      req.destroy(Object.assign(new Error(`no answer within ${this.#timeoutMs} ms`), { code: 'HS_TIMEOUT' })),
    );
    req.on('error', (err: NodeJS.ErrnoException) => finish(connectionError(err, true), null));
    req.end(body);
  }

  close(): Promise<void> {
    for (const req of this.#inFlight)
      req.destroy(Object.assign(new Error('no answer before the load run ended'), { code: 'HS_TIMEOUT' }));
    for (const a of this.#agents) a.destroy();
    return Promise.resolve();
  }
}

function connectionError(err: NodeJS.ErrnoException, sent: boolean): RequestError {
  const kind = err.code === 'HS_TIMEOUT' ? 'timeout' : 'connection';
  return { kind, message: err.message, sent, shed: false };
}

function httpValue(op: OpName, data: Buffer): ReplyValue {
  if (op === 'get') return data;
  if (op === 'set') return null;
  try {
    const json = JSON.parse(data.toString('utf8')) as { value?: unknown; deleted?: unknown };
    const v = op === 'incr' ? json.value : json.deleted;
    return typeof v === 'number' || typeof v === 'string' ? Number(v) : null;
  } catch {
    return null;
  }
}

function httpError(status: number, data: Buffer): RequestError {
  let code: string | undefined;
  let retryAfterMs: number | undefined;
  let message = data.toString('utf8');
  try {
    const json = JSON.parse(message) as {
      error?: { code?: unknown; message?: unknown; retryAfterMs?: unknown };
    };
    if (typeof json.error?.code === 'string') code = json.error.code;
    if (typeof json.error?.message === 'string') message = json.error.message;
    if (typeof json.error?.retryAfterMs === 'number') retryAfterMs = json.error.retryAfterMs;
  } catch {
    // not JSON: keep the body as the message
  }
  const kind = code ?? `http-${status}`;
  return {
    kind,
    message: `${status}: ${message.slice(0, 200)}`,
    sent: true,
    shed: status === 429 || isShedCode(code),
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  };
}
