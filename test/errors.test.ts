/**
 * Errors as data: the registry of codes and docs/errors.md agree, the wire
 * format is what the page says (through the real RESP encoder and a real
 * fastify reply), and parseWireError reads back exactly what hsError and
 * throttledError write.
 */
import { readFileSync } from 'node:fs';
import fastify from 'fastify';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  classifyRedisError,
  ERROR_CODES,
  ErrorCode,
  isShedCode,
  parseWireError,
  type ThrottleScope,
} from '../src/errors.js';
import { encodeReply } from '../src/protocol/reply-encoder.js';
import { decodeReply } from '../src/protocol/reply-decoder.js';
import { hsError, ReplyError, throttledError } from '../src/protocol/reply.js';
import { sendReplyError } from '../src/router/http-errors.js';

const DOC = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');

/** The rows of the docs/errors.md table whose first cell is a code: code → [class, status]. */
function documentedCodes(): Map<string, { resp: string; http: number }> {
  const rows = new Map<string, { resp: string; http: number }>();
  for (const line of DOC.split('\n')) {
    const m = /^\|\s*`(HS_ERR_[A-Z_]+)`\s*\|\s*`([A-Z]+)`\s*\|\s*(\d{3})\s*\|/.exec(line);
    if (m !== null) rows.set(m[1]!, { resp: m[2]!, http: Number(m[3]) });
  }
  return rows;
}

/** The rows of the Redis-native table: Redis text prefixes → [code, status]. */
function documentedRedisTexts(): Array<{ prefix: string; code: string; http: number }> {
  const rows: Array<{ prefix: string; code: string; http: number }> = [];
  for (const line of DOC.split('\n')) {
    const m = /^\|\s*(`.+`)\s*\|\s*`(HS_ERR_[A-Z_]+)`\s*\|\s*(\d{3})\s*\|$/.exec(line);
    if (m === null) continue;
    for (const p of m[1]!.matchAll(/`([^`]+)`/g))
      rows.push({ prefix: p[1]!, code: m[2]!, http: Number(m[3]) });
  }
  return rows;
}

describe('errors - the registry and docs/errors.md', () => {
  it('errors - every code is documented with its RESP class and HTTP status, and nothing else is', () => {
    const documented = documentedCodes();
    for (const code of Object.values(ErrorCode)) {
      expect(documented.get(code), `${code} in docs/errors.md`).toEqual({
        resp: ERROR_CODES[code].resp,
        http: ERROR_CODES[code].http,
      });
    }
    expect([...documented.keys()].sort()).toEqual(Object.values(ErrorCode).sort());
  });

  it('errors - every Redis text the page lists is classified as it says', () => {
    const rows = documentedRedisTexts();
    expect(rows.length).toBeGreaterThanOrEqual(9);
    for (const { prefix, code, http } of rows) {
      const message = prefix.endsWith(' ') ? `${prefix}something` : `${prefix} in 'incr' command`;
      expect(classifyRedisError(message), message).toEqual({ code, http });
    }
    expect(classifyRedisError('ERR Unsupported option foo')).toEqual({ code: ErrorCode.Backend, http: 500 });
    expect(classifyRedisError('LOADING Redis is loading the dataset in memory')).toEqual({
      code: ErrorCode.Backend,
      http: 500,
    });
  });

  it('errors - the shed codes are the BUSY ones hotshard raises', () => {
    const shed = Object.values(ErrorCode).filter((c) => isShedCode(c));
    expect(shed.sort()).toEqual([ErrorCode.NodeOverloaded, ErrorCode.Throttled]);
    for (const c of shed) expect(ERROR_CODES[c].resp).toBe('BUSY');
    expect(isShedCode(undefined)).toBe(false);
  });
});

describe('errors - the wire format', () => {
  it('errors - hsError writes -<CLASS> <CODE> <message> through the RESP encoder, both versions', () => {
    const err = hsError(ErrorCode.NoPermission, 'FLUSHALL needs an admin connection');
    expect(err.code).toBe(ErrorCode.NoPermission);
    expect(err.detail).toBe('FLUSHALL needs an admin connection');
    const wire = '-NOPERM HS_ERR_NO_PERMISSION FLUSHALL needs an admin connection\r\n';
    expect(encodeReply(err, 2).toString()).toBe(wire);
    expect(encodeReply(err, 3).toString()).toBe(wire);
    expect(encodeReply(hsError(ErrorCode.NodeOverloaded, 'node n1 is full'), 2).toString()).toBe(
      '-BUSY HS_ERR_NODE_OVERLOADED node n1 is full\r\n',
    );
  });

  it('errors - throttledError writes the documented text exactly, wait rounded up to whole ms', () => {
    const err = throttledError(249.2, 'tenant', 'tenant acme is over its quota');
    expect(encodeReply(err).toString()).toBe(
      '-BUSY HS_ERR_THROTTLED retry-after-ms=250 scope=tenant tenant acme is over its quota\r\n',
    );
    expect(err).toMatchObject({ code: ErrorCode.Throttled, retryAfterMs: 250, scope: 'tenant' });
    expect(err.detail).toBe('tenant acme is over its quota');
    expect(throttledError(-3, 'key', 'k').message).toBe('BUSY HS_ERR_THROTTLED retry-after-ms=0 scope=key k');
  });

  it('errors - a Redis-native error keeps its text and has no code', () => {
    const err = new ReplyError('WRONGTYPE Operation against a key holding the wrong kind of value');
    expect(err.code).toBeUndefined();
    expect(err.detail).toBe(err.message);
    expect(encodeReply(err).toString()).toBe(`-${err.message}\r\n`);
  });

  it('errors - parseWireError reads back what hsError and throttledError write, off the encoded bytes', () => {
    const scopes: ThrottleScope[] = ['key', 'shard', 'node', 'tenant'];
    const text = fc.string().map((s) => s.replace(/[\r\n]/g, ' '));
    const offWire = (err: ReplyError): string => {
      const back = decodeReply(encodeReply(err));
      return (back as ReplyError).message;
    };
    fc.assert(
      fc.property(fc.constantFrom(...Object.values(ErrorCode)), text, (code, message) => {
        const parsed = parseWireError(offWire(hsError(code, message)));
        expect(parsed).toEqual({ class: ERROR_CODES[code].resp, code, message });
      }),
    );
    fc.assert(
      fc.property(fc.nat(10_000_000), fc.constantFrom(...scopes), text, (ms, scope, message) => {
        const parsed = parseWireError(offWire(throttledError(ms, scope, message)));
        expect(parsed).toEqual({
          class: 'BUSY',
          code: ErrorCode.Throttled,
          retryAfterMs: ms,
          scope,
          message,
        });
      }),
    );
  });

  it('errors - parseWireError on errors without a hotshard code', () => {
    expect(parseWireError('WRONGTYPE Operation against a key')).toEqual({
      class: 'WRONGTYPE',
      message: 'Operation against a key',
    });
    expect(parseWireError('ERR HS_ERR_MADE_UP x')).toEqual({ class: 'ERR', message: 'HS_ERR_MADE_UP x' });
    expect(parseWireError('BUSY Redis is busy running a script.')).toEqual({
      class: 'BUSY',
      message: 'Redis is busy running a script.',
    });
    expect(parseWireError('ERR')).toEqual({ class: 'ERR', message: '' });
    expect(parseWireError('ERR HS_ERR_INTERNAL')).toEqual({
      class: 'ERR',
      code: ErrorCode.Internal,
      message: '',
    });
    // Throttled without its fields (an older or foreign sender): the code, the rest as message.
    expect(parseWireError('BUSY HS_ERR_THROTTLED slow down')).toEqual({
      class: 'BUSY',
      code: ErrorCode.Throttled,
      message: 'slow down',
    });
  });
});

describe('errors - HTTP', () => {
  /** A fastify app whose one route answers with `err`, as the /kv routes do. */
  const answer = async (err: ReplyError) => {
    const app = fastify();
    app.get('/', (_req, res) => sendReplyError(res, err));
    try {
      return await app.inject({ method: 'GET', url: '/' });
    } finally {
      await app.close();
    }
  };

  it('errors - a throttled reply is a 429 with Retry-After in whole seconds and retryAfterMs in the body', async () => {
    const res = await answer(throttledError(1_200, 'key', 'key k is over 100 ops/s'));
    expect(res.statusCode).toBe(429);
    expect(res.headers['retry-after']).toBe('2');
    expect(res.json()).toEqual({
      error: {
        code: 'HS_ERR_THROTTLED',
        message: 'BUSY HS_ERR_THROTTLED retry-after-ms=1200 scope=key key k is over 100 ops/s',
        retryAfterMs: 1200,
        scope: 'key',
      },
    });
    const soon = await answer(throttledError(5, 'node', 'n1'));
    expect(soon.headers['retry-after']).toBe('1');
    expect(soon.json<{ error: { retryAfterMs: number } }>().error.retryAfterMs).toBe(5);
  });

  it('errors - a coded reply gets the status from the registry; 503s say retry-after 1', async () => {
    for (const code of Object.values(ErrorCode)) {
      if (code === ErrorCode.Throttled) continue;
      const res = await answer(hsError(code, 'x'));
      expect(res.statusCode, code).toBe(ERROR_CODES[code].http);
      expect(res.json(), code).toEqual({ error: { code, message: `${ERROR_CODES[code].resp} ${code} x` } });
      expect(res.headers['retry-after'], code).toBe(ERROR_CODES[code].http === 503 ? '1' : undefined);
    }
  });

  it('errors - a Redis-native reply is classified by its text', async () => {
    const wrongType = await answer(new ReplyError('WRONGTYPE Operation against a key'));
    expect(wrongType.statusCode).toBe(409);
    expect(wrongType.json()).toEqual({
      error: { code: 'HS_ERR_WRONGTYPE', message: 'WRONGTYPE Operation against a key' },
    });
    const other = await answer(new ReplyError('ERR something unexpected'));
    expect(other.statusCode).toBe(500);
    expect(other.json<{ error: { code: string } }>().error.code).toBe('HS_ERR_BACKEND');
  });
});
