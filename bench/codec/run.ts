/**
 * The RESP codec in isolation: how long the proxy spends per command decoding
 * requests and per reply encoding answers, next to redis-parser (the parser of
 * ioredis and node-redis v3, the closest npm peer) reading the same bytes.
 *
 * A request is a RESP array of bulk strings, so redis-parser reading the
 * request bytes does the same work a request decoder does. Both get the same
 * chunks, as a socket would deliver them.
 *
 *   node --import tsx bench/codec/run.ts
 *
 * Prints one JSON line, then a table. Takes about 5 s.
 */
import { createRequire } from 'node:module';
import { ReplyWriter } from '../../src/protocol/reply-encoder.js';
import { OK, RawReply, type Reply } from '../../src/protocol/reply.js';
import { scanReply } from '../../src/protocol/reply-decoder.js';
import { RequestDecoder } from '../../src/protocol/request-decoder.js';

interface RedisParser {
  execute(buf: Buffer): void;
}
type RedisParserCtor = new (options: {
  returnReply: (reply: unknown) => void;
  returnError: (err: Error) => void;
  returnBuffers: boolean;
}) => RedisParser;
const RedisParserClass = createRequire(import.meta.url)('redis-parser') as RedisParserCtor;

const COMMANDS = 100_000;
const ROUNDS = 15;
const VALUE_BYTES = 32;

/** Deterministic pseudo-random numbers (mulberry32) so every run measures the same bytes. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function multiBulk(args: readonly string[]): string {
  let out = `*${args.length}\r\n`;
  for (const a of args) out += `$${Buffer.byteLength(a)}\r\n${a}\r\n`;
  return out;
}

/** A pipelined 50/50 GET/SET mix over 10,000 keys, 32-byte values. */
function workload(): { bytes: Buffer; isGet: boolean[] } {
  const rand = random(42);
  const parts: string[] = [];
  const isGet: boolean[] = [];
  const value = 'v'.repeat(VALUE_BYTES);
  for (let i = 0; i < COMMANDS; i++) {
    const key = `key:${String(Math.floor(rand() * 10_000)).padStart(6, '0')}`;
    const get = rand() < 0.5;
    isGet.push(get);
    parts.push(get ? multiBulk(['GET', key]) : multiBulk(['SET', key, value]));
  }
  return { bytes: Buffer.from(parts.join('')), isGet };
}

function chunk(bytes: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.subarray(i, i + size));
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Runs each contender in turn, ROUNDS times after a warm-up, and returns the median ns per operation. */
function race(contenders: Record<string, () => number>, opsPerRound: number): Record<string, number> {
  const times: Record<string, number[]> = {};
  for (const name of Object.keys(contenders)) times[name] = [];
  for (let round = -3; round < ROUNDS; round++) {
    for (const [name, run] of Object.entries(contenders)) {
      const start = process.hrtime.bigint();
      const ops = run();
      const ns = Number(process.hrtime.bigint() - start);
      if (ops !== opsPerRound) throw new Error(`${name} did ${ops} operations instead of ${opsPerRound}`);
      if (round >= 0) times[name]!.push(ns / opsPerRound);
    }
  }
  const out: Record<string, number> = {};
  for (const [name, ts] of Object.entries(times)) out[name] = median(ts);
  return out;
}

/**
 * redis-parser reading `chunks` whole, as a client library does; `seen` gets
 * each reply's element count, so the work cannot be optimised away. Returns
 * how many replies (or commands) it read.
 */
function parseAll(chunks: readonly Buffer[], seen: (items: number) => void): number {
  let n = 0;
  const parser = new RedisParserClass({
    returnReply: (reply) => {
      n++;
      seen((reply as Buffer[]).length);
    },
    returnError: (err) => {
      throw err;
    },
    returnBuffers: true,
  });
  for (const c of chunks) parser.execute(c);
  return n;
}

function decodeBench(chunks: readonly Buffer[]): Record<string, number> {
  let sink = 0;
  const hotshard = (): number => {
    const decoder = new RequestDecoder();
    let n = 0;
    const onCommand = (args: Buffer[]): void => {
      n++;
      sink += args.length;
    };
    for (const c of chunks) decoder.feed(c, onCommand);
    return n;
  };
  const redisParser = (): number => parseAll(chunks, (items) => (sink += items));
  const result = race({ hotshard, redisParser }, COMMANDS);
  if (sink === 0) throw new Error('nothing decoded');
  return result;
}

function encodeBench(isGet: readonly boolean[]): Record<string, number> {
  const value = Buffer.alloc(VALUE_BYTES, 0x76);
  const rawValue = new RawReply(Buffer.from(`$${VALUE_BYTES}\r\n${value.toString()}\r\n`));
  const rawOk = new RawReply(Buffer.from('+OK\r\n'));
  // what the memory backend answers (values), and what the Redis backend forwards (raw bytes); 1 GET in 10 misses
  const values: Reply[] = isGet.map((get, i) => (get ? (i % 10 === 0 ? null : value) : OK));
  const raws: Reply[] = isGet.map((get) => (get ? rawValue : rawOk));
  const BATCH = 64; // replies per socket write
  let sink = 0;
  const encode = (replies: readonly Reply[]) => (): number => {
    const writer = new ReplyWriter();
    for (let i = 0; i < replies.length; i++) {
      writer.write(replies[i]!, 2);
      if (i % BATCH === BATCH - 1) sink += writer.take().length;
    }
    sink += writer.take().length;
    return replies.length;
  };
  // the obvious way, for scale: a Buffer per reply, joined per batch
  const naive = (): number => {
    let batch: Buffer[] = [];
    for (let i = 0; i < values.length; i++) {
      const r = values[i];
      if (r === null) batch.push(Buffer.from('$-1\r\n'));
      else if (r === OK) batch.push(Buffer.from('+OK\r\n'));
      else
        batch.push(
          Buffer.concat([Buffer.from(`$${(r as Buffer).length}\r\n`), r as Buffer, Buffer.from('\r\n')]),
        );
      if (i % BATCH === BATCH - 1) {
        sink += Buffer.concat(batch).length;
        batch = [];
      }
    }
    sink += Buffer.concat(batch).length;
    return values.length;
  };
  const result = race({ values: encode(values), raw: encode(raws), naive }, COMMANDS);
  if (sink === 0) throw new Error('nothing encoded');
  return result;
}

/**
 * What the Redis backend does with every reply: find where it ends, here in
 * what a node sends for pipelined LRANGE key 0 99 (100 elements of 64 bytes,
 * redis-benchmark's lrange_100), 8 replies per read. redis-parser, which
 * builds the values as well, is the peer for scale.
 */
function scanBench(): Record<string, number> {
  const REPLIES = 2_000;
  const one = `*100\r\n${`$64\r\n${'x'.repeat(64)}\r\n`.repeat(100)}`;
  const chunks = chunk(Buffer.from(one.repeat(REPLIES)), one.length * 8);
  const hotshard = (): number => {
    let n = 0;
    for (const c of chunks) {
      for (let offset = 0; offset < c.length; n++) {
        offset = scanReply(c, offset);
        if (offset === -1) throw new Error('scanReply missed a whole reply');
      }
    }
    return n;
  };
  let sink = 0;
  const redisParser = (): number => parseAll(chunks, (items) => (sink += items));
  const result = race({ hotshard, redisParser }, REPLIES);
  if (sink === 0) throw new Error('nothing parsed');
  return result;
}

const started = Date.now();
const { bytes, isGet } = workload();
const big = decodeBench(chunk(bytes, 64 * 1024));
const small = decodeBench(chunk(bytes, 1460));
const enc = encodeBench(isGet);
const scan = scanBench();
const round = (x: number): number => Math.round(x * 10) / 10;
const ratio = (a: number, b: number): number => Math.round((a / b) * 100) / 100;

const result = {
  bench: 'codec',
  node: process.version,
  commands: COMMANDS,
  requestBytes: bytes.length,
  decode: {
    chunk64k: {
      hotshardNsPerCmd: round(big.hotshard!),
      redisParserNsPerCmd: round(big.redisParser!),
      speedup: ratio(big.redisParser!, big.hotshard!),
    },
    chunk1460: {
      hotshardNsPerCmd: round(small.hotshard!),
      redisParserNsPerCmd: round(small.redisParser!),
      speedup: ratio(small.redisParser!, small.hotshard!),
    },
  },
  encode: {
    valuesNsPerReply: round(enc.values!),
    rawNsPerReply: round(enc.raw!),
    naiveNsPerReply: round(enc.naive!),
    speedupVsNaive: ratio(enc.naive!, enc.values!),
  },
  scan: {
    lrange100HotshardNsPerReply: round(scan.hotshard!),
    lrange100RedisParserNsPerReply: round(scan.redisParser!),
    speedup: ratio(scan.redisParser!, scan.hotshard!),
  },
  seconds: round((Date.now() - started) / 1000),
};
console.log(JSON.stringify(result));

const rows: Array<[string, number, number | undefined, string]> = [
  ['decode GET/SET, 64 KiB chunks', big.hotshard!, big.redisParser!, 'redis-parser'],
  ['decode GET/SET, 1460 B chunks', small.hotshard!, small.redisParser!, 'redis-parser'],
  ['encode values (OK/bulk/null)', enc.values!, enc.naive!, 'Buffer per reply'],
  ['encode raw node replies', enc.raw!, undefined, ''],
  ['scan LRANGE 0 99 replies', scan.hotshard!, scan.redisParser!, 'redis-parser'],
];
console.log('');
console.log(
  `${'operation'.padEnd(32)}${'hotshard ns'.padStart(12)}${'peer ns'.padStart(10)}${'speedup'.padStart(9)}  peer`,
);
for (const [name, ours, peer, peerName] of rows) {
  console.log(
    `${name.padEnd(32)}${ours.toFixed(1).padStart(12)}${(peer === undefined ? '-' : peer.toFixed(1)).padStart(10)}${(peer === undefined ? '-' : `${(peer / ours).toFixed(2)}x`).padStart(9)}  ${peerName}`,
  );
}
