/**
 * The conformance suite every ShardBackend runs (memory, Redis). Expected
 * replies and error texts are those of redis-server 7.0, checked against a real
 * one, so a backend passing here is indistinguishable from Redis to a client.
 *
 * `make` is called once per suite (beforeAll) and the harness torn down after
 * it: tests share one node and isolate themselves with a unique key prefix.
 * The FLUSHALL / flushAll / DBSIZE / keyCount tests wipe the whole node, so
 * give each suite a node of its own and do not run its tests concurrently.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ShardBackend } from '../../src/backend/backend.js';
import { makeCommand } from '../../src/protocol/command.js';
import { decodeReply } from '../../src/protocol/reply-decoder.js';
import {
  DoubleReply,
  MapReply,
  SetReply,
  VerbatimReply,
  RawReply,
  ReplyError,
  SimpleString,
  type Reply,
} from '../../src/protocol/reply.js';

/** A backend under test and how to dispose of it. */
export interface BackendHarness {
  backend: ShardBackend;
  teardown(): Promise<void>;
}

/** A reply as RESP2 shows it, with simple strings, errors and doubles told apart from bulk strings. */
type Norm =
  null | number | bigint | Buffer | { simple: string } | { error: string } | { double: number } | Norm[];

/** Brings memory replies and raw Redis bytes to one comparable form. */
function normalize(reply: Reply): Norm {
  if (reply instanceof RawReply) return normalize(decodeReply(reply.bytes));
  if (reply === null || typeof reply === 'number' || typeof reply === 'bigint') return reply;
  if (typeof reply === 'string') return Buffer.from(reply);
  if (Buffer.isBuffer(reply)) return Buffer.from(reply);
  if (reply instanceof SimpleString) return { simple: reply.value };
  if (reply instanceof ReplyError) return { error: reply.message };
  if (reply instanceof MapReply) return reply.entries.map(normalize);
  if (reply instanceof DoubleReply) return { double: reply.value };
  if (reply instanceof SetReply) return reply.items.map(normalize);
  if (reply instanceof VerbatimReply) return Buffer.from(reply.text);
  return reply.map(normalize);
}

const bulk = (s: string | Buffer): Buffer => (typeof s === 'string' ? Buffer.from(s) : s);
const simple = (value: string): Norm => ({ simple: value });
const err = (message: string): Norm => ({ error: message });
const OK = simple('OK');
const WRONGTYPE = err('WRONGTYPE Operation against a key holding the wrong kind of value');
const NOT_INTEGER = err('ERR value is not an integer or out of range');
const NOT_FLOAT = err('ERR value is not a valid float');
const SYNTAX = err('ERR syntax error');
const OVERFLOW = err('ERR increment or decrement would overflow');
const I64_MAX = '9223372036854775807';
const I64_MIN = '-9223372036854775808';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Callbacks that fired more than once; any is a defect of the backend. */
const doubleReplies: string[] = [];

/** Sends one command; rejects if no reply arrives in 5 s rather than hanging the suite. */
function call(backend: ShardBackend, ...args: Array<string | Buffer>): Promise<Reply> {
  const cmd = makeCommand(...args);
  return new Promise<Reply>((resolve, reject) => {
    let replies = 0;
    const timer = setTimeout(() => reject(new Error(`no reply to ${cmd.name} within 5 s`)), 5_000);
    backend.send(cmd, (reply) => {
      if (++replies > 1) doubleReplies.push(cmd.name);
      clearTimeout(timer);
      resolve(reply);
    });
  });
}

/** A normalized reply as text, for messages and order-free comparisons. */
function text(n: Norm): string {
  if (Buffer.isBuffer(n)) return n.toString('latin1');
  return typeof n === 'bigint' ? `${n}n` : JSON.stringify(n);
}

/** Fields and values of an HGETALL reply as sorted [field, value] strings (order is not specified). */
function pairs(reply: Norm): string[][] {
  if (!Array.isArray(reply)) throw new Error(`expected an array, got ${text(reply)}`);
  const out: string[][] = [];
  for (let i = 0; i < reply.length; i += 2) out.push([text(reply[i] ?? null), text(reply[i + 1] ?? null)]);
  return out.sort((x, y) => (x[0]! < y[0]! ? -1 : 1));
}

/** Registers the conformance tests for one backend implementation. */
export function runBackendCases(label: string, make: () => Promise<BackendHarness>): void {
  describe(`${label} backend - conformance`, () => {
    let harness: BackendHarness | undefined;
    let b: ShardBackend;
    const run = { id: randomUUID().slice(0, 8), n: 0 };
    /** A key prefix no other test (or concurrent run) uses. */
    const prefix = (): string => `hs:case:${run.id}:${++run.n}:`;
    /** Sends a command and normalizes its reply. */
    const cmd = async (...args: Array<string | Buffer>): Promise<Norm> => normalize(await call(b, ...args));

    beforeAll(async () => {
      harness = await make();
      b = harness.backend;
    });
    afterAll(async () => {
      await harness?.teardown();
    });
    afterEach(() => {
      expect(doubleReplies, 'reply callbacks called more than once').toEqual([]);
    });

    it('identity - is up, names its node and kind', () => {
      expect(b.status).toBe('up');
      expect(['memory', 'redis']).toContain(b.kind);
      expect(typeof b.node).toBe('string');
    });

    it('health - up, since a time past, no reason; an address only for a Redis node', () => {
      const h = b.health();
      expect(h.status).toBe('up');
      expect(h.reason).toBeNull();
      expect(h.since).toBeLessThanOrEqual(Date.now());
      expect(h.address === null).toBe(b.kind === 'memory');
      expect(h.latencyMs === null || h.latencyMs >= 0).toBe(true);
    });

    it('PING - answers PONG, or echoes its argument as a bulk string', async () => {
      expect(await cmd('PING')).toEqual(simple('PONG'));
      expect(await cmd('PING', 'hello')).toEqual(bulk('hello'));
      expect(await cmd('PING', 'a', 'b')).toEqual(err("ERR wrong number of arguments for 'ping' command"));
    });

    it('GET/SET - stores, overwrites and misses', async () => {
      const p = prefix();
      expect(await cmd('GET', `${p}k`)).toBeNull();
      expect(await cmd('SET', `${p}k`, 'v1')).toEqual(OK);
      expect(await cmd('GET', `${p}k`)).toEqual(bulk('v1'));
      expect(await cmd('SET', `${p}k`, 'v2')).toEqual(OK);
      expect(await cmd('GET', `${p}k`)).toEqual(bulk('v2'));
      expect(await cmd('set', `${p}k`, 'lower')).toEqual(OK);
      expect(await cmd('get', `${p}k`)).toEqual(bulk('lower'));
    });

    it('values - are binary safe (all 256 byte values, empty string, 1 MiB)', async () => {
      const p = prefix();
      const all = Buffer.alloc(256);
      for (let i = 0; i < 256; i++) all[i] = i;
      const key = Buffer.concat([Buffer.from(p), all]);
      expect(await cmd('SET', key, all)).toEqual(OK);
      expect(await cmd('GET', key)).toEqual(all);
      expect(await cmd('EXISTS', Buffer.concat([Buffer.from(p), all.subarray(0, 255)]))).toBe(0);
      expect(await cmd('SET', `${p}empty`, '')).toEqual(OK);
      expect(await cmd('GET', `${p}empty`)).toEqual(Buffer.alloc(0));
      expect(await cmd('STRLEN', `${p}empty`)).toBe(0);
      const big = Buffer.alloc(1024 * 1024, 0xab);
      expect(await cmd('SET', `${p}big`, big)).toEqual(OK);
      const got = await cmd('GET', `${p}big`);
      // compare bytes directly: a deep equality over 1 MiB takes seconds
      expect(Buffer.isBuffer(got) && got.equals(big)).toBe(true);
      expect(await cmd('HSET', `${p}h`, all, all)).toBe(1);
      expect(await cmd('HGET', `${p}h`, all)).toEqual(all);
      expect(await cmd('APPEND', `${p}empty`, all)).toBe(256);
      expect(await cmd('GET', `${p}empty`)).toEqual(all);
    });

    it('SET - NX sets only absent keys, XX only present ones', async () => {
      const p = prefix();
      expect(await cmd('SET', `${p}k`, 'a', 'XX')).toBeNull();
      expect(await cmd('EXISTS', `${p}k`)).toBe(0);
      expect(await cmd('SET', `${p}k`, 'a', 'NX')).toEqual(OK);
      expect(await cmd('SET', `${p}k`, 'b', 'NX')).toBeNull();
      expect(await cmd('GET', `${p}k`)).toEqual(bulk('a'));
      expect(await cmd('SET', `${p}k`, 'c', 'xx')).toEqual(OK);
      expect(await cmd('GET', `${p}k`)).toEqual(bulk('c'));
      expect(await cmd('SET', `${p}k`, 'd', 'NX', 'NX')).toBeNull();
    });

    it('SET - GET returns the old value, also with NX and XX', async () => {
      const p = prefix();
      expect(await cmd('SET', `${p}k`, 'a', 'GET')).toBeNull();
      expect(await cmd('SET', `${p}k`, 'b', 'GET')).toEqual(bulk('a'));
      expect(await cmd('SET', `${p}k`, 'c', 'NX', 'GET')).toEqual(bulk('b'));
      expect(await cmd('GET', `${p}k`)).toEqual(bulk('b'));
      expect(await cmd('SET', `${p}none`, 'c', 'XX', 'GET')).toBeNull();
      expect(await cmd('EXISTS', `${p}none`)).toBe(0);
      expect(await cmd('SET', `${p}k`, 'd', 'GET', 'EX', '100')).toEqual(bulk('b'));
      expect(await cmd('TTL', `${p}k`)).toBe(100);
      expect(await cmd('HSET', `${p}h`, 'f', 'v')).toBe(1);
      expect(await cmd('SET', `${p}h`, 'x', 'GET')).toEqual(WRONGTYPE);
      expect(await cmd('TYPE', `${p}h`)).toEqual(simple('hash'));
      expect(await cmd('SET', `${p}h`, 'x')).toEqual(OK);
      expect(await cmd('TYPE', `${p}h`)).toEqual(simple('string'));
    });

    it('SET - EX, PX, EXAT and PXAT set the expiry; a later EX wins over an earlier one', async () => {
      const p = prefix();
      const nowS = Math.floor(Date.now() / 1000);
      expect(await cmd('SET', `${p}ex`, 'v', 'EX', '100')).toEqual(OK);
      expect(await cmd('TTL', `${p}ex`)).toBe(100);
      expect(await cmd('SET', `${p}px`, 'v', 'PX', '100000')).toEqual(OK);
      const pttl = (await cmd('PTTL', `${p}px`)) as number;
      expect(pttl).toBeGreaterThan(99_000);
      expect(pttl).toBeLessThanOrEqual(100_000);
      expect(await cmd('SET', `${p}exat`, 'v', 'EXAT', String(nowS + 200))).toEqual(OK);
      const ttl = (await cmd('TTL', `${p}exat`)) as number;
      expect(ttl).toBeGreaterThanOrEqual(198);
      expect(ttl).toBeLessThanOrEqual(201);
      expect(await cmd('SET', `${p}pxat`, 'v', 'pxat', String(Date.now() + 300_000))).toEqual(OK);
      const ttl2 = (await cmd('TTL', `${p}pxat`)) as number;
      expect(ttl2).toBeGreaterThanOrEqual(298);
      expect(ttl2).toBeLessThanOrEqual(301);
      expect(await cmd('SET', `${p}twice`, 'v', 'EX', '10', 'EX', '20')).toEqual(OK);
      expect(await cmd('TTL', `${p}twice`)).toBe(20);
    });

    it('SET - without KEEPTTL clears the expiry, with KEEPTTL keeps it', async () => {
      const p = prefix();
      expect(await cmd('SET', `${p}k`, 'a', 'EX', '100')).toEqual(OK);
      expect(await cmd('SET', `${p}k`, 'b', 'KEEPTTL')).toEqual(OK);
      expect(await cmd('TTL', `${p}k`)).toBe(100);
      expect(await cmd('SET', `${p}k`, 'b2', 'KEEPTTL', 'keepttl', 'GET')).toEqual(bulk('b'));
      expect(await cmd('TTL', `${p}k`)).toBe(100);
      expect(await cmd('GET', `${p}k`)).toEqual(bulk('b2'));
      expect(await cmd('SET', `${p}k`, 'c')).toEqual(OK);
      expect(await cmd('TTL', `${p}k`)).toBe(-1);
    });

    it('SET - syntax errors leave the key untouched', async () => {
      const p = prefix();
      const k = `${p}k`;
      expect(await cmd('SET', k, 'orig')).toEqual(OK);
      const bad: string[][] = [
        ['NX', 'XX'],
        ['XX', 'NX'],
        ['EX'],
        ['PX'],
        ['EX', '10', 'PX', '100'],
        ['PX', '10', 'EX', '100'],
        ['EXAT', '10', 'PXAT', '10'],
        ['KEEPTTL', 'EX', '10'],
        ['EX', '10', 'KEEPTTL'],
        ['FOO'],
        ['NX', 'FOO'],
        ['GETX'],
      ];
      for (const opts of bad) expect(await cmd('SET', k, 'new', ...opts), opts.join(' ')).toEqual(SYNTAX);
      expect(await cmd('GET', k)).toEqual(bulk('orig'));
      expect(await cmd('SET', k)).toEqual(err("ERR wrong number of arguments for 'set' command"));
    });

    it('SET, SETEX, PSETEX - invalid expire times name the command', async () => {
      const p = prefix();
      const k = `${p}k`;
      const setErr = err("ERR invalid expire time in 'set' command");
      expect(await cmd('SET', k, 'v', 'EX', '0')).toEqual(setErr);
      expect(await cmd('SET', k, 'v', 'EX', '-1')).toEqual(setErr);
      expect(await cmd('SET', k, 'v', 'PX', '0')).toEqual(setErr);
      expect(await cmd('SET', k, 'v', 'EXAT', '0')).toEqual(setErr);
      expect(await cmd('SET', k, 'v', 'PX', I64_MAX)).toEqual(setErr);
      expect(await cmd('SET', k, 'v', 'EX', '9223372036854776')).toEqual(setErr);
      for (const n of ['abc', '1.5', '+5', '05', ' 5', '', '9223372036854775808']) {
        expect(await cmd('SET', k, 'v', 'EX', n), n).toEqual(NOT_INTEGER);
      }
      expect(await cmd('SETEX', k, '0', 'v')).toEqual(err("ERR invalid expire time in 'setex' command"));
      expect(await cmd('PSETEX', k, '-5', 'v')).toEqual(err("ERR invalid expire time in 'psetex' command"));
      expect(await cmd('SETEX', k, 'abc', 'v')).toEqual(NOT_INTEGER);
      expect(await cmd('EXISTS', k)).toBe(0);
    });

    it('SET - EXAT in the past answers OK and the key is gone', async () => {
      const p = prefix();
      expect(await cmd('SET', `${p}k`, 'v', 'EXAT', '1')).toEqual(OK);
      expect(await cmd('GET', `${p}k`)).toBeNull();
      expect(await cmd('EXISTS', `${p}k`)).toBe(0);
      expect(await cmd('SET', `${p}k2`, 'v', 'PXAT', String(Date.now() - 10_000))).toEqual(OK);
      expect(await cmd('EXISTS', `${p}k2`)).toBe(0);
    });

    it('SETNX, SETEX, PSETEX - set with the documented replies', async () => {
      const p = prefix();
      expect(await cmd('SETNX', `${p}k`, 'a')).toBe(1);
      expect(await cmd('SETNX', `${p}k`, 'b')).toBe(0);
      expect(await cmd('GET', `${p}k`)).toEqual(bulk('a'));
      expect(await cmd('SETEX', `${p}k`, '100', 'c')).toEqual(OK);
      expect(await cmd('GET', `${p}k`)).toEqual(bulk('c'));
      expect(await cmd('TTL', `${p}k`)).toBe(100);
      expect(await cmd('PSETEX', `${p}p`, '50000', 'd')).toEqual(OK);
      const pttl = (await cmd('PTTL', `${p}p`)) as number;
      expect(pttl).toBeGreaterThan(49_000);
      expect(pttl).toBeLessThanOrEqual(50_000);
      expect(await cmd('HSET', `${p}h`, 'f', 'v')).toBe(1);
      expect(await cmd('SETEX', `${p}h`, '100', 'x')).toEqual(OK);
      expect(await cmd('GET', `${p}h`)).toEqual(bulk('x'));
    });

    it('GETSET - returns the old value, stores the new one and clears the expiry', async () => {
      const p = prefix();
      expect(await cmd('GETSET', `${p}k`, 'a')).toBeNull();
      expect(await cmd('SET', `${p}k`, 'b', 'EX', '100')).toEqual(OK);
      expect(await cmd('GETSET', `${p}k`, 'c')).toEqual(bulk('b'));
      expect(await cmd('GET', `${p}k`)).toEqual(bulk('c'));
      expect(await cmd('TTL', `${p}k`)).toBe(-1);
      expect(await cmd('HSET', `${p}h`, 'f', 'v')).toBe(1);
      expect(await cmd('GETSET', `${p}h`, 'x')).toEqual(WRONGTYPE);
    });

    it('GETDEL - returns and deletes', async () => {
      const p = prefix();
      expect(await cmd('GETDEL', `${p}k`)).toBeNull();
      expect(await cmd('SET', `${p}k`, 'v')).toEqual(OK);
      expect(await cmd('GETDEL', `${p}k`)).toEqual(bulk('v'));
      expect(await cmd('EXISTS', `${p}k`)).toBe(0);
      expect(await cmd('HSET', `${p}h`, 'f', 'v')).toBe(1);
      expect(await cmd('GETDEL', `${p}h`)).toEqual(WRONGTYPE);
      expect(await cmd('EXISTS', `${p}h`)).toBe(1);
    });

    it('MGET/MSET - many keys at once; MGET answers nil for missing and non-string keys', async () => {
      const p = prefix();
      expect(await cmd('SET', `${p}b`, 'old', 'EX', '100')).toEqual(OK);
      expect(await cmd('MSET', `${p}a`, '1', `${p}b`, '2', `${p}c`, '3')).toEqual(OK);
      expect(await cmd('TTL', `${p}b`)).toBe(-1);
      expect(await cmd('HSET', `${p}h`, 'f', 'v')).toBe(1);
      expect(await cmd('MGET', `${p}a`, `${p}missing`, `${p}b`, `${p}h`, `${p}c`, `${p}a`)).toEqual([
        bulk('1'),
        null,
        bulk('2'),
        null,
        bulk('3'),
        bulk('1'),
      ]);
      expect(await cmd('MSET', `${p}a`)).toEqual(err("ERR wrong number of arguments for 'mset' command"));
      expect(await cmd('MSET', `${p}a`, '1', `${p}b`)).toEqual(
        err("ERR wrong number of arguments for 'mset' command"),
      );
      expect(await cmd('MGET')).toEqual(err("ERR wrong number of arguments for 'mget' command"));
    });

    it('DEL/UNLINK - count the keys that existed', async () => {
      const p = prefix();
      expect(await cmd('MSET', `${p}a`, '1', `${p}b`, '2', `${p}c`, '3')).toEqual(OK);
      expect(await cmd('HSET', `${p}h`, 'f', 'v')).toBe(1);
      expect(await cmd('DEL', `${p}a`, `${p}missing`, `${p}h`)).toBe(2);
      expect(await cmd('DEL', `${p}b`, `${p}b`)).toBe(1);
      expect(await cmd('UNLINK', `${p}c`, `${p}a`)).toBe(1);
      expect(await cmd('EXISTS', `${p}a`, `${p}b`, `${p}c`, `${p}h`)).toBe(0);
    });

    it('EXISTS - counts a key once per time it is named', async () => {
      const p = prefix();
      expect(await cmd('SET', `${p}a`, '1')).toEqual(OK);
      expect(await cmd('HSET', `${p}h`, 'f', 'v')).toBe(1);
      expect(await cmd('EXISTS', `${p}a`, `${p}a`, `${p}missing`, `${p}a`, `${p}h`)).toBe(4);
      expect(await cmd('EXISTS', `${p}missing`)).toBe(0);
    });

    it('TYPE - string, hash or none as simple strings', async () => {
      const p = prefix();
      expect(await cmd('SET', `${p}s`, 'v')).toEqual(OK);
      expect(await cmd('HSET', `${p}h`, 'f', 'v')).toBe(1);
      expect(await cmd('TYPE', `${p}s`)).toEqual(simple('string'));
      expect(await cmd('TYPE', `${p}h`)).toEqual(simple('hash'));
      expect(await cmd('TYPE', `${p}none`)).toEqual(simple('none'));
    });

    it('EXPIRE/PEXPIRE/TTL/PTTL/PERSIST - set, read and remove expiries', async () => {
      const p = prefix();
      expect(await cmd('TTL', `${p}k`)).toBe(-2);
      expect(await cmd('PTTL', `${p}k`)).toBe(-2);
      expect(await cmd('EXPIRE', `${p}k`, '100')).toBe(0);
      expect(await cmd('SET', `${p}k`, 'v')).toEqual(OK);
      expect(await cmd('TTL', `${p}k`)).toBe(-1);
      expect(await cmd('PTTL', `${p}k`)).toBe(-1);
      expect(await cmd('PERSIST', `${p}k`)).toBe(0);
      expect(await cmd('EXPIRE', `${p}k`, '100')).toBe(1);
      expect(await cmd('TTL', `${p}k`)).toBe(100);
      expect(await cmd('PEXPIRE', `${p}k`, '5000')).toBe(1);
      const pttl = (await cmd('PTTL', `${p}k`)) as number;
      expect(pttl).toBeGreaterThan(4000);
      expect(pttl).toBeLessThanOrEqual(5000);
      expect(await cmd('TTL', `${p}k`)).toBe(5);
      expect(await cmd('PERSIST', `${p}k`)).toBe(1);
      expect(await cmd('TTL', `${p}k`)).toBe(-1);
      expect(await cmd('PERSIST', `${p}missing`)).toBe(0);
      expect(await cmd('HSET', `${p}h`, 'f', 'v')).toBe(1);
      expect(await cmd('EXPIRE', `${p}h`, '100')).toBe(1);
      expect(await cmd('TTL', `${p}h`)).toBe(100);
    });

    it('EXPIRE/PEXPIRE - a time in the past deletes the key at once', async () => {
      const p = prefix();
      expect(await cmd('MSET', `${p}a`, '1', `${p}b`, '2')).toEqual(OK);
      expect(await cmd('EXPIRE', `${p}a`, '-1')).toBe(1);
      expect(await cmd('PEXPIRE', `${p}b`, '0')).toBe(1);
      expect(await cmd('EXISTS', `${p}a`, `${p}b`)).toBe(0);
    });

    it('EXPIRE - NX, XX, GT and LT compare with the current expiry', async () => {
      const p = prefix();
      const k = `${p}k`;
      expect(await cmd('SET', k, 'v')).toEqual(OK);
      expect(await cmd('EXPIRE', k, '100', 'XX')).toBe(0);
      expect(await cmd('EXPIRE', k, '100', 'GT')).toBe(0); // no expiry counts as infinite
      expect(await cmd('TTL', k)).toBe(-1);
      expect(await cmd('EXPIRE', k, '100', 'NX')).toBe(1);
      expect(await cmd('EXPIRE', k, '200', 'NX')).toBe(0);
      expect(await cmd('EXPIRE', k, '50', 'GT')).toBe(0);
      expect(await cmd('EXPIRE', k, '200', 'gt')).toBe(1);
      expect(await cmd('TTL', k)).toBe(200);
      expect(await cmd('EXPIRE', k, '300', 'LT')).toBe(0);
      expect(await cmd('EXPIRE', k, '150', 'LT')).toBe(1);
      expect(await cmd('EXPIRE', k, '120', 'XX', 'LT')).toBe(1);
      expect(await cmd('TTL', k)).toBe(120);
      expect(await cmd('EXPIRE', k, '130', 'XX', 'GT')).toBe(1);
      expect(await cmd('TTL', k)).toBe(130);
      expect(await cmd('PERSIST', k)).toBe(1);
      expect(await cmd('EXPIRE', k, '100', 'LT')).toBe(1); // no expiry counts as infinite
      expect(await cmd('TTL', k)).toBe(100);
      expect(await cmd('PEXPIRE', k, '10000', 'XX')).toBe(1);
      expect(await cmd('TTL', k)).toBe(10);
      expect(await cmd('EXPIRE', `${p}missing`, '100', 'NX')).toBe(0);
      expect(await cmd('EXPIRE', k, '-1', 'LT')).toBe(1);
      expect(await cmd('EXISTS', k)).toBe(0);
    });

    it('EXPIRE/PEXPIRE - option and number errors', async () => {
      const p = prefix();
      const k = `${p}k`;
      expect(await cmd('SET', k, 'v')).toEqual(OK);
      expect(await cmd('EXPIRE', k, '10', 'foo')).toEqual(err('ERR Unsupported option foo'));
      expect(await cmd('EXPIRE', k, 'abc', 'foo')).toEqual(err('ERR Unsupported option foo'));
      const nxErr = err('ERR NX and XX, GT or LT options at the same time are not compatible');
      expect(await cmd('EXPIRE', k, '10', 'NX', 'XX')).toEqual(nxErr);
      expect(await cmd('PEXPIRE', k, '10', 'LT', 'NX')).toEqual(nxErr);
      expect(await cmd('EXPIRE', k, '10', 'GT', 'LT')).toEqual(
        err('ERR GT and LT options at the same time are not compatible'),
      );
      expect(await cmd('EXPIRE', k, 'abc')).toEqual(NOT_INTEGER);
      expect(await cmd('EXPIRE', k, '1.5', 'NX')).toEqual(NOT_INTEGER);
      expect(await cmd('EXPIRE', k, '9223372036854776')).toEqual(
        err("ERR invalid expire time in 'expire' command"),
      );
      expect(await cmd('PEXPIRE', k, I64_MAX)).toEqual(err("ERR invalid expire time in 'pexpire' command"));
      expect(await cmd('EXPIRE', k)).toEqual(err("ERR wrong number of arguments for 'expire' command"));
      expect(await cmd('TTL', k)).toBe(-1);
    });

    it('expiry - keys really expire after their time (PX, PEXPIRE, PXAT, restore) and others stay', async () => {
      const p = prefix();
      expect(await cmd('SET', `${p}px`, 'v', 'PX', '100')).toEqual(OK);
      expect(await cmd('MSET', `${p}pexpire`, 'v', `${p}stay`, 'v', `${p}h`, 'x')).toEqual(OK);
      expect(await cmd('PEXPIRE', `${p}pexpire`, '100')).toBe(1);
      expect(await cmd('SET', `${p}pxat`, 'v', 'PXAT', String(Date.now() + 100))).toEqual(OK);
      expect(await cmd('SET', `${p}ex`, 'v', 'EX', '10')).toEqual(OK);
      expect(await cmd('PSETEX', `${p}psetex`, '100', 'v')).toEqual(OK);
      expect(await cmd('DEL', `${p}h`)).toBe(1);
      expect(await cmd('HSET', `${p}h`, 'f', 'v')).toBe(1);
      expect(await cmd('PEXPIRE', `${p}h`, '100')).toBe(1);
      const dump = await b.dump(Buffer.from(`${p}stay`));
      expect(dump).not.toBeNull();
      expect(
        await b.restoreIfAbsent(Buffer.from(`${p}restored`), { payload: dump!.payload, pttl: 100 }),
      ).toBe(true);
      const pttl = (await cmd('PTTL', `${p}px`)) as number;
      expect(pttl).toBeGreaterThan(0);
      expect(pttl).toBeLessThanOrEqual(100);
      expect(await cmd('GET', `${p}px`)).toEqual(bulk('v'));
      await sleep(250);
      const gone = ['px', 'pexpire', 'pxat', 'psetex', 'h', 'restored'];
      for (const k of gone) expect(await cmd('EXISTS', `${p}${k}`), k).toBe(0);
      expect(await cmd('GET', `${p}px`)).toBeNull();
      expect(await cmd('TTL', `${p}px`)).toBe(-2);
      expect(await cmd('HGETALL', `${p}h`)).toEqual([]);
      expect(await b.dump(Buffer.from(`${p}restored`))).toBeNull();
      expect(await cmd('GET', `${p}stay`)).toEqual(bulk('v'));
      expect(await cmd('TTL', `${p}ex`)).toBeGreaterThanOrEqual(9);
    });

    it('INCR/DECR/INCRBY/DECRBY - count from 0, keep the expiry, reply integers', async () => {
      const p = prefix();
      expect(await cmd('INCR', `${p}n`)).toBe(1);
      expect(await cmd('INCR', `${p}n`)).toBe(2);
      expect(await cmd('INCRBY', `${p}n`, '40')).toBe(42);
      expect(await cmd('DECR', `${p}n`)).toBe(41);
      expect(await cmd('DECRBY', `${p}n`, '50')).toBe(-9);
      expect(await cmd('INCRBY', `${p}n`, '-1')).toBe(-10);
      expect(await cmd('GET', `${p}n`)).toEqual(bulk('-10'));
      expect(await cmd('DECR', `${p}d`)).toBe(-1);
      expect(await cmd('SET', `${p}t`, '5', 'EX', '100')).toEqual(OK);
      expect(await cmd('INCR', `${p}t`)).toBe(6);
      expect(await cmd('TTL', `${p}t`)).toBe(100);
      expect(await cmd('SET', `${p}z`, '0')).toEqual(OK);
      expect(await cmd('INCRBY', `${p}z`, '0')).toBe(0);
      expect(await cmd('SET', `${p}big`, '9007199254740993')).toEqual(OK);
      expect(await cmd('INCR', `${p}big`)).toBe(9007199254740994n);
      expect(await cmd('DECRBY', `${p}big`, '9007199254740994')).toBe(0);
    });

    it('INCR family - values and increments that are not int64 are refused', async () => {
      const p = prefix();
      const k = `${p}n`;
      for (const v of [
        'abc',
        ' 1',
        '1 ',
        '+1',
        '01',
        '-0',
        '1.0',
        '',
        '9223372036854775808',
        '1e3',
        '0x10',
      ]) {
        expect(await cmd('SET', k, v)).toEqual(OK);
        expect(await cmd('INCR', k), JSON.stringify(v)).toEqual(NOT_INTEGER);
        expect(await cmd('GET', k)).toEqual(bulk(v));
      }
      expect(await cmd('SET', k, '5')).toEqual(OK);
      expect(await cmd('INCRBY', k, 'abc')).toEqual(NOT_INTEGER);
      expect(await cmd('INCRBY', k, '9223372036854775808')).toEqual(NOT_INTEGER);
      expect(await cmd('DECRBY', k, '1.5')).toEqual(NOT_INTEGER);
      expect(await cmd('INCRBY', k)).toEqual(err("ERR wrong number of arguments for 'incrby' command"));
      expect(await cmd('GET', k)).toEqual(bulk('5'));
    });

    it('INCR family - signed 64-bit overflow is refused and the value kept', async () => {
      const p = prefix();
      const k = `${p}n`;
      expect(await cmd('SET', k, I64_MAX)).toEqual(OK);
      expect(await cmd('INCR', k)).toEqual(OVERFLOW);
      expect(await cmd('INCRBY', k, '1')).toEqual(OVERFLOW);
      expect(await cmd('GET', k)).toEqual(bulk(I64_MAX));
      expect(await cmd('INCRBY', k, '-1')).toBe(9223372036854775806n);
      expect(await cmd('INCRBY', k, '1')).toBe(9223372036854775807n);
      expect(await cmd('DECRBY', k, '-1')).toEqual(OVERFLOW);
      expect(await cmd('SET', k, I64_MIN)).toEqual(OK);
      expect(await cmd('DECR', k)).toEqual(OVERFLOW);
      expect(await cmd('INCRBY', k, '-1')).toEqual(OVERFLOW);
      expect(await cmd('INCR', k)).toBe(-9223372036854775807n);
      expect(await cmd('DECRBY', k, I64_MIN)).toEqual(err('ERR decrement would overflow'));
      expect(await cmd('INCRBY', k, I64_MAX)).toBe(0);
      expect(await cmd('INCRBY', k, I64_MIN)).toBe(-9223372036854775808n);
      expect(await cmd('GET', k)).toEqual(bulk(I64_MIN));
    });

    it('INCRBYFLOAT - computes and formats like Redis (long double, %.17Lf, no trailing zeros)', async () => {
      const p = prefix();
      const k = `${p}f`;
      // [stored, increment, reply], every reply as redis-server 7.0 gives it
      const cases: Array<[string, string, string]> = [
        ['10.5', '0.1', '10.6'],
        ['0.1', '0.2', '0.3'],
        ['1.1', '2.2', '3.3'],
        ['5.0e3', '2.0e2', '5200'],
        ['1e20', '1', '100000000000000000000'],
        ['3', '-3', '0'],
        ['-0.0', '0', '0'],
        ['1', '1e-20', '1'],
        ['0x10', '1', '17'],
        ['1', '+1.5', '2.5'],
        ['1', '.5', '1.5'],
        ['1', '5.', '6'],
        ['1', '1.5e+2', '151'],
        ['1', '0X1P+1', '3'],
        ['1', '0x.8', '1.5'],
        ['123456789.123456789', '0', '123456789.12345678899873747'],
        ['1', '0.3333333333333333333333', '1.33333333333333333'],
        ['9007199254740993', '0', '9007199254740993'],
        ['1e-17', '0', '0.00000000000000001'],
        ['5e-18', '0', '0'],
        ['15e-18', '0', '0.00000000000000002'],
        ['25e-18', '0', '0.00000000000000002'],
        ['-1e-18', '0', '0'],
        ['1', '1e-4940', '1'],
        ['0.000003814697265625', '0', '0.00000381469726562'],
        ['0.000011444091796875', '0', '0.00001144409179688'],
        ['0e-99999', '1', '1'],
        ['-2.5', '1', '-1.5'],
        [
          '1.7976931348623157e308',
          '1e308',
          '279769313486231570002352240441350078789299929179619934003987695617693370918830364684014944221042050987341155710361544171686148029276505307138777262321877129888036065002204239033812550598509174132739480498569620043582760541189365866551522561741435317031294527744011878159793174665688773926186886103199182225408',
        ],
      ];
      for (const [stored, incr, want] of cases) {
        expect(await cmd('SET', k, stored)).toEqual(OK);
        expect(await cmd('INCRBYFLOAT', k, incr), `${stored} + ${incr}`).toEqual(bulk(want));
        expect(await cmd('GET', k)).toEqual(bulk(want));
      }
      expect(await cmd('INCRBYFLOAT', `${p}new`, '3.0')).toEqual(bulk('3'));
      expect(await cmd('SET', `${p}t`, '1', 'EX', '100')).toEqual(OK);
      expect(await cmd('INCRBYFLOAT', `${p}t`, '0.5')).toEqual(bulk('1.5'));
      expect(await cmd('TTL', `${p}t`)).toBe(100);
    });

    it('INCRBYFLOAT - invalid floats, NaN and infinity are refused', async () => {
      const p = prefix();
      const k = `${p}f`;
      const nanInf = err('ERR increment would produce NaN or Infinity');
      const cases: Array<[string, string, Norm]> = [
        ['inf', '1', nanInf],
        ['1', '-inf', nanInf],
        ['2.5', 'INFINITY', nanInf],
        ['1', 'nan', NOT_FLOAT],
        ['1', ' 1', NOT_FLOAT],
        ['1', '1 ', NOT_FLOAT],
        ['1', '1e4933', NOT_FLOAT],
        ['1', '1e-5000', NOT_FLOAT],
        ['1', '1e99999', NOT_FLOAT],
        ['1', '0x', NOT_FLOAT],
        ['1', '1e', NOT_FLOAT],
        ['1', 'infin', NOT_FLOAT],
        ['1', '', NOT_FLOAT],
        ['1', '-', NOT_FLOAT],
        ['1', '.', NOT_FLOAT],
        ['abc', '1', NOT_FLOAT],
        ['1', 'abc', NOT_FLOAT],
        ['1', '1e-4952', NOT_FLOAT],
      ];
      for (const [stored, incr, want] of cases) {
        expect(await cmd('SET', k, stored)).toEqual(OK);
        expect(await cmd('INCRBYFLOAT', k, incr), `${stored} + ${JSON.stringify(incr)}`).toEqual(want);
        expect(await cmd('GET', k)).toEqual(bulk(stored));
      }
      expect(await cmd('SET', k, '1')).toEqual(OK);
      expect(await cmd('INCRBYFLOAT', k, Buffer.from('1\0abc'))).toEqual(NOT_FLOAT);
    });

    it('APPEND/STRLEN - append bytes, keep the expiry, count lengths', async () => {
      const p = prefix();
      expect(await cmd('STRLEN', `${p}k`)).toBe(0);
      expect(await cmd('APPEND', `${p}k`, 'hello')).toBe(5);
      expect(await cmd('APPEND', `${p}k`, ' world')).toBe(11);
      expect(await cmd('GET', `${p}k`)).toEqual(bulk('hello world'));
      expect(await cmd('STRLEN', `${p}k`)).toBe(11);
      expect(await cmd('EXPIRE', `${p}k`, '100')).toBe(1);
      expect(await cmd('APPEND', `${p}k`, '')).toBe(11);
      expect(await cmd('TTL', `${p}k`)).toBe(100);
      expect(await cmd('SET', `${p}n`, '12')).toEqual(OK);
      expect(await cmd('APPEND', `${p}n`, '3')).toBe(3);
      expect(await cmd('INCR', `${p}n`)).toBe(124);
    });

    it('WRONGTYPE - string commands on a hash and hash commands on a string', async () => {
      const p = prefix();
      const h = `${p}h`;
      const s = `${p}s`;
      expect(await cmd('HSET', h, 'f', '1')).toBe(1);
      expect(await cmd('SET', s, '1')).toEqual(OK);
      const onHash: string[][] = [
        ['GET', h],
        ['APPEND', h, 'x'],
        ['STRLEN', h],
        ['INCR', h],
        ['DECR', h],
        ['INCRBY', h, '1'],
        ['DECRBY', h, '1'],
        ['INCRBYFLOAT', h, '1'],
        ['GETSET', h, 'x'],
        ['GETDEL', h],
        ['SET', h, 'x', 'GET'],
      ];
      const onString: string[][] = [
        ['HGET', s, 'f'],
        ['HSET', s, 'f', 'v'],
        ['HDEL', s, 'f'],
        ['HGETALL', s],
        ['HINCRBY', s, 'f', '1'],
        ['HMGET', s, 'f', 'g'],
      ];
      for (const args of [...onHash, ...onString])
        expect(await cmd(...args), args.join(' ')).toEqual(WRONGTYPE);
      expect(await cmd('INCRBY', h, 'abc')).toEqual(NOT_INTEGER); // the increment is checked first
      expect(await cmd('HINCRBY', s, 'f', 'abc')).toEqual(NOT_INTEGER);
      expect(pairs(await cmd('HGETALL', h))).toEqual([['f', '1']]);
      expect(await cmd('GET', s)).toEqual(bulk('1'));
    });

    it('HSET/HGET/HMGET/HGETALL/HDEL - fields of a hash', async () => {
      const p = prefix();
      const h = `${p}h`;
      expect(await cmd('HGETALL', h)).toEqual([]);
      expect(await cmd('HGET', h, 'a')).toBeNull();
      expect(await cmd('HMGET', h, 'a', 'b')).toEqual([null, null]);
      expect(await cmd('HSET', h, 'a', '1', 'b', '2')).toBe(2);
      expect(await cmd('HSET', h, 'a', '10', 'c', '3')).toBe(1);
      expect(await cmd('HGET', h, 'a')).toEqual(bulk('10'));
      expect(await cmd('HMGET', h, 'c', 'zz', 'a')).toEqual([bulk('3'), null, bulk('10')]);
      expect(pairs(await cmd('HGETALL', h))).toEqual([
        ['a', '10'],
        ['b', '2'],
        ['c', '3'],
      ]);
      expect(await cmd('HSET', h, 'e', '')).toBe(1);
      expect(await cmd('HGET', h, 'e')).toEqual(Buffer.alloc(0));
      expect(await cmd('HDEL', h, 'a', 'zz', 'a', 'e')).toBe(2);
      expect(await cmd('HDEL', `${p}missing`, 'a')).toBe(0);
      expect(await cmd('EXPIRE', h, '100')).toBe(1);
      expect(await cmd('HSET', h, 'd', '4')).toBe(1);
      expect(await cmd('TTL', h)).toBe(100);
      expect(await cmd('HDEL', h, 'b', 'c', 'd')).toBe(3);
      expect(await cmd('EXISTS', h)).toBe(0); // an emptied hash is deleted
      expect(await cmd('TYPE', h)).toEqual(simple('none'));
      expect(await cmd('HSET', h, 'a', '1', 'b')).toEqual(
        err("ERR wrong number of arguments for 'hset' command"),
      );
      expect(await cmd('HSET', h, 'a')).toEqual(err("ERR wrong number of arguments for 'hset' command"));
      expect(await cmd('EXISTS', h)).toBe(0);
    });

    it('HINCRBY - integer fields with overflow and type checks', async () => {
      const p = prefix();
      const h = `${p}h`;
      expect(await cmd('HINCRBY', h, 'n', '5')).toBe(5);
      expect(await cmd('HINCRBY', h, 'n', '-7')).toBe(-2);
      expect(await cmd('HGET', h, 'n')).toEqual(bulk('-2'));
      expect(await cmd('HINCRBY', h, 'n', 'x')).toEqual(NOT_INTEGER);
      expect(await cmd('HSET', h, 's', 'abc', 'max', I64_MAX)).toBe(2);
      expect(await cmd('HINCRBY', h, 's', '1')).toEqual(err('ERR hash value is not an integer'));
      expect(await cmd('HINCRBY', h, 'max', '1')).toEqual(OVERFLOW);
      expect(await cmd('HINCRBY', h, 'max', '-2')).toBe(9223372036854775805n);
      expect(await cmd('HINCRBY', h, 'n')).toEqual(
        err("ERR wrong number of arguments for 'hincrby' command"),
      );
    });

    it('arity - too few or too many arguments name the command in lower case', async () => {
      const p = prefix();
      const cases: string[][] = [
        ['GET'],
        ['GET', `${p}a`, `${p}b`],
        ['SET', `${p}a`],
        ['SETNX', `${p}a`],
        ['SETEX', `${p}a`, '10'],
        ['PSETEX', `${p}a`, '10'],
        ['GETSET', `${p}a`],
        ['GETDEL'],
        ['MGET'],
        ['MSET'],
        ['DEL'],
        ['UNLINK'],
        ['EXISTS'],
        ['TYPE'],
        ['EXPIRE', `${p}a`],
        ['PEXPIRE', `${p}a`],
        ['TTL'],
        ['PTTL'],
        ['PERSIST'],
        ['INCR'],
        ['INCRBY', `${p}a`],
        ['DECR'],
        ['DECRBY', `${p}a`],
        ['INCRBYFLOAT', `${p}a`],
        ['APPEND', `${p}a`],
        ['STRLEN'],
        ['HGET', `${p}a`],
        ['HSET', `${p}a`, 'f'],
        ['HDEL', `${p}a`],
        ['HGETALL'],
        ['HINCRBY', `${p}a`, 'f'],
        ['HMGET', `${p}a`],
        ['DBSIZE', 'x'],
        ['TTL', `${p}a`, 'x'],
      ];
      for (const args of cases) {
        const name = args[0]!.toLowerCase();
        expect(await cmd(...args), args.join(' ')).toEqual(
          err(`ERR wrong number of arguments for '${name}' command`),
        );
      }
      expect(await cmd('EXISTS', `${p}a`)).toBe(0);
    });

    it('unknown commands - Redis text, quoting the first arguments', async () => {
      expect(await cmd('NOSUCHCMD', 'a', 'b')).toEqual(
        err("ERR unknown command 'NOSUCHCMD', with args beginning with: 'a' 'b' "),
      );
      expect(await cmd('nosuchcmd')).toEqual(
        err("ERR unknown command 'nosuchcmd', with args beginning with: "),
      );
      expect(await cmd('nosuch', 'a\r\nb', 'c'.repeat(200))).toEqual(
        err(`ERR unknown command 'nosuch', with args beginning with: 'a  b' '${'c'.repeat(121)}' `),
      );
    });

    it('scanKeys - yields exactly the accepted keys across batches of at most batchSize', async () => {
      const p = prefix();
      const want = new Set<string>();
      for (let i = 0; i < 250; i++) {
        const key = `${p}k${i}`;
        expect(await cmd('SET', key, String(i))).toEqual(OK);
        if (i % 3 === 0) want.add(key);
      }
      expect(await cmd('HSET', `${p}h0`, 'f', 'v')).toBe(1);
      want.add(`${p}h0`);
      const accept = (key: Buffer): boolean => {
        const s = key.toString('latin1');
        if (!s.startsWith(p)) return false;
        const rest = s.slice(p.length);
        return rest === 'h0' || Number(rest.slice(1)) % 3 === 0;
      };
      const seen = new Set<string>();
      let batches = 0;
      for await (const batch of b.scanKeys(accept, 10)) {
        expect(batch.length).toBeLessThanOrEqual(10);
        if (batch.length > 0) batches++;
        for (const key of batch) {
          expect(Buffer.isBuffer(key)).toBe(true);
          seen.add(key.toString('latin1'));
        }
      }
      expect([...seen].sort()).toEqual([...want].sort());
      expect(batches).toBeGreaterThanOrEqual(Math.ceil(want.size / 10));
      let none = 0;
      for await (const batch of b.scanKeys(() => false, 10)) none += batch.length;
      expect(none).toBe(0);
    });

    it('scanKeys - returns binary keys intact and skips expired keys', async () => {
      const p = prefix();
      const binary = Buffer.concat([Buffer.from(p), Buffer.from([0, 1, 0xfe, 0xff, 0x0d, 0x0a])]);
      expect(await cmd('SET', binary, 'v')).toEqual(OK);
      expect(await cmd('SET', `${p}expired`, 'v', 'PXAT', '1')).toEqual(OK);
      const found: Buffer[] = [];
      for await (const batch of b.scanKeys((k) => k.subarray(0, p.length).toString() === p))
        found.push(...batch);
      expect(found).toEqual([binary]);
    });

    it('dump/restoreIfAbsent - round trips strings and hashes with their TTL', async () => {
      const p = prefix();
      const all = Buffer.alloc(256);
      for (let i = 0; i < 256; i++) all[i] = 255 - i;
      expect(await cmd('SET', `${p}s`, all)).toEqual(OK);
      expect(await cmd('SET', `${p}t`, 'ttl', 'PX', '60000')).toEqual(OK);
      expect(await cmd('HSET', `${p}h`, 'a', '1', all, all, 'empty', '')).toBe(3);
      expect(await cmd('EXPIRE', `${p}h`, '300')).toBe(1);
      expect(await cmd('SET', `${p}e`, '')).toEqual(OK);

      const ds = await b.dump(Buffer.from(`${p}s`));
      expect(ds?.pttl).toBe(-1);
      expect(Buffer.isBuffer(ds?.payload)).toBe(true);
      expect(await b.restoreIfAbsent(Buffer.from(`${p}s2`), ds!)).toBe(true);
      expect(await cmd('GET', `${p}s2`)).toEqual(all);
      expect(await cmd('TTL', `${p}s2`)).toBe(-1);

      const dt = await b.dump(Buffer.from(`${p}t`));
      expect(dt!.pttl).toBeGreaterThan(59_000);
      expect(dt!.pttl).toBeLessThanOrEqual(60_000);
      expect(await b.restoreIfAbsent(Buffer.from(`${p}t2`), dt!)).toBe(true);
      expect(await cmd('GET', `${p}t2`)).toEqual(bulk('ttl'));
      const pttl = (await cmd('PTTL', `${p}t2`)) as number;
      expect(pttl).toBeGreaterThan(dt!.pttl - 1000);
      expect(pttl).toBeLessThanOrEqual(dt!.pttl);

      const dh = await b.dump(Buffer.from(`${p}h`));
      expect(await b.restoreIfAbsent(Buffer.from(`${p}h2`), dh!)).toBe(true);
      expect(await cmd('TYPE', `${p}h2`)).toEqual(simple('hash'));
      expect(pairs(await cmd('HGETALL', `${p}h2`))).toEqual(pairs(await cmd('HGETALL', `${p}h`)));
      expect(await cmd('HGET', `${p}h2`, all)).toEqual(all);
      const ttl = (await cmd('TTL', `${p}h2`)) as number;
      expect(ttl).toBeGreaterThanOrEqual(298);
      expect(ttl).toBeLessThanOrEqual(300);

      const de = await b.dump(Buffer.from(`${p}e`));
      expect(await b.restoreIfAbsent(Buffer.from(`${p}e2`), de!)).toBe(true);
      expect(await cmd('GET', `${p}e2`)).toEqual(Buffer.alloc(0));

      expect(await b.restoreIfAbsent(Buffer.from(`${p}n`), { payload: ds!.payload, pttl: 5000 })).toBe(true);
      const npttl = (await cmd('PTTL', `${p}n`)) as number;
      expect(npttl).toBeGreaterThan(4000);
      expect(npttl).toBeLessThanOrEqual(5000);
    });

    it('dumpKeys/restoreKeys - copy a batch with TTLs, replacing; a null dump deletes; absent keys dump as null', async () => {
      const p = prefix();
      expect(await cmd('SET', `${p}a`, 'one')).toEqual(OK);
      expect(await cmd('SET', `${p}b`, 'two', 'PX', '60000')).toEqual(OK);
      expect(await cmd('HSET', `${p}h`, 'f', 'v')).toBe(1);
      const keys = [`${p}a`, `${p}b`, `${p}h`, `${p}missing`].map((k) => Buffer.from(k));
      const dumps = await b.dumpKeys(keys);
      expect(dumps.map((d) => (d === null ? null : d.pttl > 0 ? 'ttl' : d.pttl))).toEqual([
        -1,
        'ttl',
        -1,
        null,
      ]);
      expect(await cmd('SET', `${p}a2`, 'old')).toEqual(OK);
      expect(await cmd('SET', `${p}gone`, 'x')).toEqual(OK);
      await b.restoreKeys([
        { key: Buffer.from(`${p}a2`), dump: dumps[0]! },
        { key: Buffer.from(`${p}b2`), dump: dumps[1]! },
        { key: Buffer.from(`${p}h2`), dump: dumps[2]! },
        { key: Buffer.from(`${p}gone`), dump: null },
      ]);
      expect(await cmd('GET', `${p}a2`)).toEqual(bulk('one'));
      expect(await cmd('TTL', `${p}a2`)).toBe(-1);
      const pttl = (await cmd('PTTL', `${p}b2`)) as number;
      expect(pttl).toBeGreaterThan(50_000);
      expect(pttl).toBeLessThanOrEqual(60_000);
      expect(await cmd('HGET', `${p}h2`, 'f')).toEqual(bulk('v'));
      expect(await cmd('EXISTS', `${p}gone`)).toBe(0);
      expect(await b.dumpKeys([])).toEqual([]);
      await b.restoreKeys([]);
    });

    it('watchWrites - reports every key changed, by anyone, before its barrier resolves; not after close', async () => {
      const p = prefix();
      const seen = new Set<string>();
      let lost: string | null = null;
      const watch = await b.watchWrites({
        changed: (keys) => keys?.forEach((k) => seen.add(k.toString('latin1'))),
        lost: (reason) => (lost = reason),
      });
      expect(watch.live).toBe(true);
      expect(await cmd('SET', `${p}w1`, 'x')).toEqual(OK);
      expect(await cmd('INCR', `${p}w2`)).toBe(1);
      expect(await cmd('SET', `${p}w3`, 'x', 'PX', '1')).toEqual(OK);
      expect(await cmd('DEL', `${p}w1`)).toBe(1);
      await sleep(20);
      expect(await cmd('GET', `${p}w3`)).toBeNull(); // expired: reported too
      await b.barrier();
      await watch.barrier();
      for (const k of ['w1', 'w2', 'w3']) expect(seen.has(`${p}${k}`), k).toBe(true);
      watch.close();
      expect(watch.live).toBe(false);
      seen.clear();
      expect(await cmd('SET', `${p}after`, 'x')).toEqual(OK);
      await b.barrier();
      await sleep(20);
      expect(seen.has(`${p}after`)).toBe(false);
      expect(lost).toBeNull();
      await expect(watch.barrier()).rejects.toThrow();
    });

    it('dump/restoreIfAbsent - a missing key dumps as null, an existing key is not overwritten', async () => {
      const p = prefix();
      expect(await b.dump(Buffer.from(`${p}missing`))).toBeNull();
      expect(await cmd('MSET', `${p}a`, 'from', `${p}b`, 'kept')).toEqual(OK);
      const d = await b.dump(Buffer.from(`${p}a`));
      expect(await b.restoreIfAbsent(Buffer.from(`${p}b`), d!)).toBe(false);
      expect(await cmd('GET', `${p}b`)).toEqual(bulk('kept'));
      expect(await cmd('TTL', `${p}b`)).toBe(-1);
      expect(await cmd('HSET', `${p}h`, 'f', 'v')).toBe(1);
      expect(await b.restoreIfAbsent(Buffer.from(`${p}h`), d!)).toBe(false);
      expect(await cmd('TYPE', `${p}h`)).toEqual(simple('hash'));
    });

    it('deleteKeys - deletes and counts the keys that existed', async () => {
      const p = prefix();
      expect(await cmd('MSET', `${p}a`, '1', `${p}b`, '2', `${p}c`, '3')).toEqual(OK);
      expect(await cmd('HSET', `${p}h`, 'f', 'v')).toBe(1);
      const keys = ['a', 'missing', 'h', 'c'].map((k) => Buffer.from(`${p}${k}`));
      expect(await b.deleteKeys(keys)).toBe(3);
      expect(await cmd('EXISTS', `${p}a`, `${p}h`, `${p}c`)).toBe(0);
      expect(await cmd('GET', `${p}b`)).toEqual(bulk('2'));
      expect(await b.deleteKeys([])).toBe(0);
    });

    it('flushAll/keyCount/DBSIZE - count keys of every type and empty the node', async () => {
      const p = prefix();
      await b.flushAll();
      expect(await b.keyCount()).toBe(0);
      expect(await cmd('DBSIZE')).toBe(0);
      expect(await cmd('MSET', `${p}a`, '1', `${p}b`, '2', `${p}c`, '3')).toEqual(OK);
      expect(await cmd('HSET', `${p}h`, 'f', 'v')).toBe(1);
      expect(await cmd('SET', `${p}t`, 'v', 'EX', '100')).toEqual(OK);
      expect(await b.keyCount()).toBe(5);
      expect(await cmd('DBSIZE')).toBe(5);
      await b.flushAll();
      expect(await b.keyCount()).toBe(0);
      expect(await cmd('GET', `${p}a`)).toBeNull();
      expect(await cmd('TTL', `${p}t`)).toBe(-2);
    });

    it('keyspaceStats - keys and keys with an expiry, as Redis counts them (INFO keyspace)', async () => {
      const p = prefix();
      await b.flushAll();
      const counts = async (): Promise<[number, number]> => {
        const s = await b.keyspaceStats();
        return [s.keys, s.expires];
      };
      expect(await counts()).toEqual([0, 0]);
      expect(await cmd('SET', `${p}a`, 'v', 'EX', '100')).toEqual(OK);
      expect(await cmd('SET', `${p}b`, 'v', 'PX', '100000')).toEqual(OK);
      expect(await cmd('SET', `${p}c`, 'v')).toEqual(OK);
      expect(await cmd('HSET', `${p}h`, 'f', 'v')).toBe(1);
      expect(await counts()).toEqual([4, 2]);
      expect(await cmd('EXPIRE', `${p}c`, '100')).toBe(1);
      expect(await cmd('PEXPIRE', `${p}h`, '100000')).toBe(1);
      expect(await cmd('EXPIRE', `${p}c`, '200')).toBe(1); // a new TTL replaces the old: still one
      expect(await counts()).toEqual([4, 4]);
      expect(await cmd('PERSIST', `${p}c`)).toBe(1);
      expect(await cmd('PERSIST', `${p}c`)).toBe(0);
      expect(await counts()).toEqual([4, 3]);
      expect(await cmd('SET', `${p}a`, 'w', 'KEEPTTL')).toEqual(OK);
      expect(await cmd('INCR', `${p}n`)).toBe(1);
      expect(await cmd('EXPIRE', `${p}n`, '100')).toBe(1);
      expect(await cmd('INCR', `${p}n`)).toBe(2); // INCR keeps the TTL
      expect(await counts()).toEqual([5, 4]);
      expect(await cmd('SET', `${p}b`, 'w')).toEqual(OK); // SET without KEEPTTL drops it
      expect(await counts()).toEqual([5, 3]);
      expect(await cmd('DEL', `${p}a`, `${p}c`)).toBe(2);
      expect(await counts()).toEqual([3, 2]);
      expect(await cmd('EXPIRE', `${p}h`, '-1')).toBe(1); // a past expiry deletes at once
      expect(await counts()).toEqual([2, 1]);
      await b.flushAll();
      expect(await counts()).toEqual([0, 0]);
    });

    it('FLUSHALL - empties the node; SYNC and ASYNC accepted, anything else a syntax error', async () => {
      const p = prefix();
      expect(await cmd('SET', `${p}a`, '1')).toEqual(OK);
      expect(await cmd('FLUSHALL', 'foo')).toEqual(SYNTAX);
      expect(await cmd('FLUSHALL', 'ASYNC', 'SYNC')).toEqual(SYNTAX);
      expect(await cmd('EXISTS', `${p}a`)).toBe(1);
      expect(await cmd('FLUSHALL')).toEqual(OK);
      expect(await cmd('EXISTS', `${p}a`)).toBe(0);
      expect(await cmd('SET', `${p}a`, '1')).toEqual(OK);
      expect(await cmd('FLUSHALL', 'sync')).toEqual(OK);
      expect(await cmd('DBSIZE')).toBe(0);
      expect(await cmd('SET', `${p}a`, '1')).toEqual(OK);
      expect(await cmd('FLUSHALL', 'ASYNC')).toEqual(OK);
      expect(await b.keyCount()).toBe(0);
    });
  });
}
