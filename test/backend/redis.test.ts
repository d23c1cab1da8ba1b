import fc from 'fast-check';
import { randomUUID } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { inspect } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { RedisBackend, type RedisBackendOptions } from '../../src/backend/redis.js';
import { encodeCommand } from '../../src/backend/redis-connection.js';
import { ConfigError, ErrorCode, HotshardError } from '../../src/errors.js';
import { nodeId } from '../../src/keyspace/ids.js';
import { makeCommand, type Command } from '../../src/protocol/command.js';
import { decodeReply, scanReply } from '../../src/protocol/reply-decoder.js';
import { RawReply, ReplyError, type Reply } from '../../src/protocol/reply.js';
import { freePort, requireBinary, startRedis, type RedisProcess } from '../../src/testkit/index.js';
import { respRoundTrip } from '../../src/testkit/round-trip.js';
import { runBackendCases } from './backend.case.js';
import { slowLink } from './slow-link.js';

const hasRedis = requireBinary('redis-server', 'Redis backend tests');

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Sends one command; resolves its reply. */
function request(b: RedisBackend, cmd: Command): Promise<Reply> {
  return new Promise((resolve) => b.send(cmd, resolve));
}

/** The reply as text: raw bytes as Redis sent them, or `-message` for hotshard's own errors. */
function show(reply: Reply): string {
  if (reply instanceof RawReply) return reply.bytes.toString('latin1');
  if (reply instanceof ReplyError) return `-${reply.message}`;
  return inspect(reply);
}

/** Resolves `what`, or fails the test if it takes longer than `ms` (a hang is the defect under test). */
async function within<T>(ms: number, what: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([what, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function waitFor(cond: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await sleep(10);
  }
}

/** Sends one command on a connection of its own (after AUTH when the node has a password); resolves its reply. */
async function ask(server: RedisProcess, command: string[], timeoutMs = 2_000): Promise<Reply> {
  const auth = server.password === undefined ? [] : [['AUTH', server.password]];
  const replies = await respRoundTrip(server.host, server.port, [...auth, command], timeoutMs);
  return replies[replies.length - 1]!;
}

/** Waits until the node lists `n` clients (the asker included); fails with the list when it does not. */
async function clientsSettle(server: RedisProcess, n: number): Promise<void> {
  const deadline = Date.now() + 3_000;
  for (;;) {
    const list = await ask(server, ['CLIENT', 'LIST']);
    const lines = (list as Buffer).toString().trim().split('\n');
    if (lines.length === n) return;
    if (Date.now() > deadline) expect(lines).toHaveLength(n);
    await sleep(20);
  }
}

/** Answers synchronously-called callbacks: the reply, or undefined when the callback did not run before send returned. */
function sendSync(b: RedisBackend, cmd: Command): Reply | undefined {
  let out: Reply | undefined;
  b.send(cmd, (r) => {
    out = r;
  });
  return out;
}

const backends: RedisBackend[] = [];
const servers: RedisProcess[] = [];
function backend(opts: Partial<RedisBackendOptions> & { port: number }): RedisBackend {
  const b = new RedisBackend({ node: nodeId('n1'), host: '127.0.0.1', ...opts });
  backends.push(b);
  return b;
}
async function redis(opts: Parameters<typeof startRedis>[0] = {}): Promise<RedisProcess> {
  const r = await startRedis(opts);
  servers.push(r);
  return r;
}
afterEach(async () => {
  await Promise.all(backends.splice(0).map((b) => b.close()));
  await Promise.all(servers.splice(0).map((r) => r.stop()));
});

// --- A scripted stand-in for Redis, for what a real server will not do on demand -----------

interface FakeRedis {
  readonly port: number;
  /** Called for every request but PING (answered +PONG); `socket` is the client connection. */
  onRequest: (args: string[], socket: Socket) => void;
  close(): Promise<void>;
}

async function fakeRedis(): Promise<FakeRedis> {
  const sockets = new Set<Socket>();
  const fake: FakeRedis = {
    port: 0,
    onRequest: () => undefined,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      let offset = 0;
      for (let end = scanReply(buf, 0); end !== -1; end = scanReply(buf, offset)) {
        const args = (decodeReply(buf, offset) as Buffer[]).map((a) => a.toString('latin1'));
        offset = end;
        if (args[0]?.toUpperCase() === 'PING') socket.write('+PONG\r\n');
        else fake.onRequest(args, socket);
      }
      buf = buf.subarray(offset);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return Object.assign(fake, { port: typeof address === 'object' && address !== null ? address.port : 0 });
}

/** Writes `bytes` in pieces cut at `cuts`, each piece in its own turn so they arrive as separate chunks. */
async function writeInPieces(socket: Socket, bytes: Buffer, cuts: readonly number[]): Promise<void> {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  let from = 0;
  for (const to of [...points, bytes.length]) {
    if (to <= from) continue;
    socket.write(bytes.subarray(from, to));
    from = to;
    await sleep(1);
  }
}

/** RESP replies of every shape a node may send, as bytes. */
const respReply: fc.Arbitrary<Buffer> = fc.letrec<{ reply: Buffer }>((tie) => ({
  reply: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.string({ unit: 'grapheme-ascii' }).map((s) => Buffer.from(`+${s.replace(/[\r\n]/g, '')}\r\n`)),
    fc.string({ unit: 'grapheme-ascii' }).map((s) => Buffer.from(`-ERR ${s.replace(/[\r\n]/g, '')}\r\n`)),
    fc.integer().map((n) => Buffer.from(`:${n}\r\n`)),
    fc.constant(Buffer.from('$-1\r\n')),
    fc.constant(Buffer.from('*-1\r\n')),
    fc
      .uint8Array({ maxLength: 3000 })
      .map((b) => Buffer.concat([Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n')])),
    fc
      .array(tie('reply'), { maxLength: 5 })
      .map((items) => Buffer.concat([Buffer.from(`*${items.length}\r\n`), ...items])),
  ),
})).reply;

describe('redis backend - reply framing (scripted node)', () => {
  let fake: FakeRedis;
  beforeAll(async () => {
    fake = await fakeRedis();
  });
  afterAll(async () => {
    await fake.close();
  });

  it('hands every reply to its own callback, in order, however the bytes are chunked', async () => {
    const b = backend({ learnCommands: false, port: fake.port });
    await b.connect();
    let script: { count: number; replies: Buffer; cuts: number[] } = {
      count: 0,
      replies: Buffer.alloc(0),
      cuts: [],
    };
    let received = 0;
    fake.onRequest = (_args, socket) => {
      if (++received === script.count) void writeInPieces(socket, script.replies, script.cuts);
    };
    await fc.assert(
      fc.asyncProperty(
        fc.array(respReply, { minLength: 1, maxLength: 12 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        async (replies, cuts) => {
          received = 0;
          script = { count: replies.length, replies: Buffer.concat(replies), cuts };
          const got = await within(
            5_000,
            Promise.all(replies.map(() => request(b, makeCommand('GET', 'k')))),
          );
          expect(got.map(show)).toEqual(replies.map((r) => r.toString('latin1')));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('reassembles replies fed one byte at a time', async () => {
    const b = backend({ learnCommands: false, port: fake.port });
    await b.connect();
    const replies = [
      '+OK\r\n',
      ':-42\r\n',
      '$5\r\nh\r\nlo\r\n',
      '$-1\r\n',
      '*2\r\n$1\r\na\r\n*1\r\n:1\r\n',
      '-ERR x\r\n',
    ];
    const bytes = Buffer.from(replies.join(''));
    let received = 0;
    fake.onRequest = (_args, socket) => {
      if (++received === replies.length) void writeInPieces(socket, bytes, Array.from(bytes.keys()));
    };
    const got = await within(5_000, Promise.all(replies.map(() => request(b, makeCommand('GET', 'k')))));
    expect(got.map(show)).toEqual(replies);
  });

  it('reassembles a large array reply that arrives in many pieces', async () => {
    const b = backend({ learnCommands: false, port: fake.port });
    await b.connect();
    const items = Array.from({ length: 20_000 }, (_, i) => `$${String(i).length}\r\n${i}\r\n`);
    const array = Buffer.from(`*${items.length}\r\n${items.join('')}`);
    const after = '+AFTER\r\n';
    const cuts = Array.from({ length: 60 }, (_, i) => Math.floor((array.length * (i + 1)) / 61) + (i % 7));
    let received = 0;
    fake.onRequest = (_args, socket) => {
      if (++received === 2) void writeInPieces(socket, Buffer.concat([array, Buffer.from(after)]), cuts);
    };
    const [big, small] = await within(
      5_000,
      Promise.all([request(b, makeCommand('MGET')), request(b, makeCommand('GET'))]),
    );
    expect((big as RawReply).bytes.equals(array)).toBe(true);
    expect(show(small)).toBe(after);
  });

  it('a reply that is not RESP fails everything in flight and the backend reconnects', async () => {
    const statuses: string[] = [];
    const b = backend({
      learnCommands: false,
      port: fake.port,
      node: nodeId('garbled'),
      onStatusChange: (s) => statuses.push(s),
    });
    await b.connect();
    let received = 0;
    fake.onRequest = (_args, socket) => {
      if (++received === 5) socket.write('+OK\r\n?garbage\r\n');
    };
    const got = await within(
      2_000,
      Promise.all(Array.from({ length: 5 }, () => request(b, makeCommand('GET', 'k')))),
    );
    expect(show(got[0]!)).toBe('+OK\r\n');
    for (const r of got.slice(1)) {
      expect(show(r)).toMatch(
        /^-ERR HS_ERR_SHARD_UNAVAILABLE node garbled \(127\.0\.0\.1:\d+\) connection lost: sent a reply that is not RESP/,
      );
    }
    expect(b.status).toBe('down');
    await waitFor(() => b.status === 'up', 2_000);
    expect(statuses).toEqual(['up', 'down', 'up']);
    fake.onRequest = (_args, socket) => socket.write('+BACK\r\n');
    expect(show(await request(b, makeCommand('GET', 'k')))).toBe('+BACK\r\n');
  });

  it('a reply nobody asked for resets the connection', async () => {
    const b = backend({ learnCommands: false, port: fake.port });
    await b.connect();
    fake.onRequest = (_args, socket) => socket.write('+ONE\r\n+TWO\r\n');
    expect(show(await request(b, makeCommand('GET', 'k')))).toBe('+ONE\r\n');
    await waitFor(() => b.status === 'down', 1_000);
  });

  it('a node that never answers times out with HS_ERR_BACKEND_TIMEOUT', async () => {
    // The fake answers PING on any connection, so it answers the probe: busy, for maxBusyMs.
    const b = backend({
      learnCommands: false,
      port: fake.port,
      node: nodeId('mute'),
      timeoutMs: 200,
      maxBusyMs: 200,
    });
    await b.connect();
    fake.onRequest = () => undefined;
    const started = Date.now();
    const got = await within(
      3_000,
      Promise.all(Array.from({ length: 3 }, () => request(b, makeCommand('GET', 'k')))),
    );
    const elapsed = Date.now() - started;
    for (const r of got) {
      expect(show(r)).toMatch(
        /^-ERR HS_ERR_BACKEND_TIMEOUT node mute \(127\.0\.0\.1:\d+\) did not answer within 200 ms/,
      );
    }
    expect(elapsed).toBeGreaterThanOrEqual(390);
    expect(elapsed).toBeLessThan(1_400);
  });

  it('connect fails clearly when the node accepts but does not answer PING', async () => {
    const accepted: Socket[] = [];
    const silent = createServer((socket) => {
      accepted.push(socket);
      socket.resume();
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    try {
      const b = backend({ port, node: nodeId('silent'), connectTimeoutMs: 150 });
      const err = await b.connect().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(HotshardError);
      expect((err as HotshardError).code).toBe(ErrorCode.ShardUnavailable);
      expect((err as HotshardError).message).toBe(
        `cannot connect to node silent (127.0.0.1:${port}): no answer within 150 ms`,
      );
      await b.close();
    } finally {
      for (const socket of accepted) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});

describe('redis backend - encoding', () => {
  it('encodes arguments as a RESP multi-bulk request, binary safe', () => {
    const frame = encodeCommand([Buffer.from('SET'), Buffer.from('k'), Buffer.from('a\r\nb\0')]);
    expect(frame.toString('latin1')).toBe('*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\na\r\nb\0\r\n');
    expect(encodeCommand([Buffer.from('PING')]).toString()).toBe('*1\r\n$4\r\nPING\r\n');
    expect(encodeCommand([Buffer.from('SET'), Buffer.alloc(0), Buffer.alloc(0)]).toString()).toBe(
      '*3\r\n$3\r\nSET\r\n$0\r\n\r\n$0\r\n\r\n',
    );
  });

  it('rejects invalid timeouts at construction, naming the field', () => {
    expect(() => new RedisBackend({ node: nodeId('x'), host: '127.0.0.1', port: 1, timeoutMs: 0 })).toThrow(
      ConfigError,
    );
    expect(() => new RedisBackend({ node: nodeId('x'), host: '127.0.0.1', port: 1, timeoutMs: 0 })).toThrow(
      /timeoutMs must be a positive number of milliseconds, got 0/,
    );
    expect(
      () => new RedisBackend({ node: nodeId('x'), host: '127.0.0.1', port: 1, connectTimeoutMs: -5 }),
    ).toThrow(/connectTimeoutMs must be a positive/);
  });
});

describe('redis backend - connecting', () => {
  it('connect to a closed port fails clearly; while down, send fails at once', async () => {
    const port = await freePort();
    const b = backend({ port, node: nodeId('nowhere') });
    const err = await b.connect().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(HotshardError);
    expect((err as HotshardError).code).toBe(ErrorCode.ShardUnavailable);
    expect((err as HotshardError).message).toMatch(
      new RegExp(`^cannot connect to node nowhere \\(127\\.0\\.0\\.1:${port}\\): connect ECONNREFUSED`),
    );
    expect(b.status).toBe('down');
    const reply = sendSync(b, makeCommand('GET', 'k'));
    expect(show(reply!)).toMatch(
      new RegExp(`^-ERR HS_ERR_SHARD_UNAVAILABLE node nowhere \\(127\\.0\\.0\\.1:${port}\\) is down`),
    );
    await expect(b.keyCount()).rejects.toMatchObject({ code: ErrorCode.ShardUnavailable });
  });
});

describe.skipIf(!hasRedis)('redis backend', () => {
  runBackendCases('redis', async () => {
    const server = await startRedis();
    const b = new RedisBackend({ node: nodeId('redis-conformance'), host: server.host, port: server.port });
    await b.connect();
    return {
      backend: b,
      teardown: async () => {
        await b.close();
        await server.stop();
      },
    };
  });

  describe('redis backend - data path', () => {
    let server: RedisProcess;
    let b: RedisBackend;
    const prefix = (): string => `hs:redis:${randomUUID().slice(0, 8)}:`;
    beforeAll(async () => {
      server = await startRedis();
      b = new RedisBackend({ node: nodeId('data'), host: server.host, port: server.port });
      await b.connect();
    });
    afterAll(async () => {
      await b.close();
      await server.stop();
    });

    it('is up, of kind redis, with its address', () => {
      expect(b.status).toBe('up');
      expect(b.kind).toBe('redis');
      expect(b.address).toBe(server.address);
    });

    it('forwards the frame verbatim: a pipelined burst of 10k SET/GET gets ordered replies', async () => {
      const p = prefix();
      const n = 5_000;
      const value = (i: number): string => `${i}:`.padEnd((i % 13) * 37 + 3, 'v');
      const pending: Promise<Reply>[] = [];
      for (let i = 0; i < n; i++) {
        // args disagree with the frame: only forwarding the frame as-is gives the right answers
        const set: Command = {
          name: 'set',
          args: [Buffer.from('BOGUS')],
          frame: encodeCommand(['SET', `${p}${i}`, value(i)].map((s) => Buffer.from(s))),
        };
        const get: Command = {
          name: 'get',
          args: [Buffer.from('BOGUS')],
          frame: encodeCommand([Buffer.from('GET'), Buffer.from(`${p}${i}`)]),
        };
        pending.push(request(b, set), request(b, get));
      }
      const replies = await within(10_000, Promise.all(pending));
      for (let i = 0; i < n; i++) {
        expect(show(replies[2 * i]!)).toBe('+OK\r\n');
        const v = value(i);
        const got = show(replies[2 * i + 1]!);
        if (got !== `$${v.length}\r\n${v}\r\n`) expect(got, `GET #${i}`).toBe(`$${v.length}\r\n${v}\r\n`);
      }
    });

    it('encodes args when a command has no frame, binary safe', async () => {
      const p = prefix();
      const value = Buffer.from([0, 13, 10, 36, 42, 255]);
      expect(show(await request(b, makeCommand('SET', `${p}bin`, value)))).toBe('+OK\r\n');
      const got = await request(b, makeCommand('GET', `${p}bin`));
      expect(decodeReply((got as RawReply).bytes)).toEqual(value);
    });

    it('large replies split over many chunks arrive whole, followed by small ones', async () => {
      const p = prefix();
      const big = Buffer.alloc(4 * 1024 * 1024, 0x61);
      big.write('start', 0);
      big.write('end', big.length - 3);
      expect(show(await request(b, makeCommand('SET', `${p}big`, big)))).toBe('+OK\r\n');
      const keys: string[] = [];
      for (let i = 0; i < 500; i++) keys.push(`${p}m${i}`);
      const mset = keys.flatMap((k, i) => [k, `${i}`.padEnd(1_000, 'x')]);
      expect(show(await request(b, makeCommand('MSET', ...mset)))).toBe('+OK\r\n');
      const [bigReply, mget, tail] = await Promise.all([
        request(b, makeCommand('GET', `${p}big`)),
        request(b, makeCommand('MGET', ...keys)),
        request(b, makeCommand('PING')),
      ]);
      expect((decodeReply((bigReply as RawReply).bytes) as Buffer).equals(big)).toBe(true);
      const values = decodeReply((mget as RawReply).bytes) as Buffer[];
      expect(values).toHaveLength(500);
      values.forEach((v, i) => expect(v.toString().startsWith(`${i}x`)).toBe(true));
      expect(show(tail)).toBe('+PONG\r\n');
    });

    it('an empty command is refused, not sent (Redis would not answer it)', async () => {
      const reply = sendSync(b, { name: '', args: [], frame: undefined });
      expect(show(reply!)).toBe('-ERR HS_ERR_PROTOCOL empty command');
      expect(show(await request(b, makeCommand('PING')))).toBe('+PONG\r\n');
    });

    it('counts requests in flight', async () => {
      expect(b.inFlight).toBe(0);
      const pending = [request(b, makeCommand('PING')), request(b, makeCommand('PING'))];
      expect(b.inFlight).toBe(2);
      await Promise.all(pending);
      expect(b.inFlight).toBe(0);
    });

    it('Redis errors pass through as raw replies', async () => {
      const got = await request(b, makeCommand('NOSUCHCOMMAND'));
      expect(got).toBeInstanceOf(RawReply);
      expect(show(got)).toMatch(/^-ERR unknown command 'NOSUCHCOMMAND'/);
    });

    it('live-move calls: a key moves to another node with its TTL; UNLINK in chunks; SCAN over thousands', async () => {
      const p = prefix();
      const other = await redis();
      const target = backend({ port: other.port, node: nodeId('target') });
      await target.connect();
      expect(show(await request(b, makeCommand('SET', `${p}moving`, 'payload', 'PX', '50000')))).toBe(
        '+OK\r\n',
      );
      const dump = await b.dump(Buffer.from(`${p}moving`));
      expect(dump).not.toBeNull();
      expect(await target.restoreIfAbsent(Buffer.from(`${p}moving`), dump!)).toBe(true);
      expect(await target.restoreIfAbsent(Buffer.from(`${p}moving`), dump!)).toBe(false);
      expect(show(await request(target, makeCommand('GET', `${p}moving`)))).toBe('$7\r\npayload\r\n');
      const pttl = decodeReply(
        ((await request(target, makeCommand('PTTL', `${p}moving`))) as RawReply).bytes,
      ) as number;
      expect(pttl).toBeGreaterThan(45_000);
      expect(pttl).toBeLessThanOrEqual(50_000);

      const keys = Array.from({ length: 2_500 }, (_, i) => `${p}d${i}`);
      for (let i = 0; i < keys.length; i += 500) {
        const slice = keys.slice(i, i + 500).flatMap((k) => [k, 'v']);
        expect(show(await request(target, makeCommand('MSET', ...slice)))).toBe('+OK\r\n');
      }
      const seen = new Set<string>();
      for await (const batch of target.scanKeys((k) => k.toString().startsWith(`${p}d`), 700)) {
        expect(batch.length).toBeLessThanOrEqual(700);
        for (const k of batch) seen.add(k.toString());
      }
      expect(seen.size).toBe(2_500);
      expect(await target.keyCount()).toBe(2_501);
      const extra = Buffer.from(`${p}missing`);
      expect(await target.deleteKeys([...keys.map((k) => Buffer.from(k)), extra])).toBe(2_500);
      expect(await target.keyCount()).toBe(1);
    });

    it('a big nested reply that arrives over many reads is scanned once: HSCAN of 100,000 fields', async () => {
      const key = `${prefix()}h`;
      const fields = 100_000;
      for (let i = 0; i < fields; i += 10_000) {
        const args = Array.from({ length: 10_000 }, (_, j) => [`f${i + j}`, `v${i + j}`]).flat();
        expect(show(await request(b, makeCommand('HSET', key, ...args)))).toBe(':10000\r\n');
      }
      // `*2 <cursor> *200000 ...`: an array inside an array, about 2.6 MB, read
      // in ~40 chunks. Each element scan finds one CR: count those lookups.
      let lookups = 0;
      type IndexOf = (this: Buffer, ...args: Parameters<Buffer['indexOf']>) => number;
      const proto = Buffer.prototype as unknown as { indexOf: IndexOf };
      const indexOf = proto.indexOf;
      const spy = vi.spyOn(proto, 'indexOf').mockImplementation(function (this: Buffer, ...args) {
        lookups++;
        return indexOf.apply(this, args);
      });
      let reply: Reply;
      try {
        reply = await within(20_000, request(b, makeCommand('HSCAN', key, '0', 'COUNT', '1000000')));
      } finally {
        spy.mockRestore();
      }
      const [cursor, entries] = decodeReply((reply as RawReply).bytes) as [Buffer, Buffer[]];
      expect(cursor.toString()).toBe('0');
      expect(entries.length).toBe(2 * fields);
      // Once per element, plus a retry of the cut element per read; rescanning the
      // inner array from its start on every read took millions.
      expect(lookups).toBeLessThan(2 * entries.length + 10_000);
    });

    it('restoreIfAbsent rejects a corrupt payload with the node named', async () => {
      const p = prefix();
      await expect(
        b.restoreIfAbsent(Buffer.from(`${p}x`), { payload: Buffer.from('junk'), pttl: -1 }),
      ).rejects.toThrow(
        /node data \(127\.0\.0\.1:\d+\) answered RESTORE with ERR DUMP payload version or checksum are wrong/,
      );
    });
  });

  describe('redis backend - failures', () => {
    it('node killed with 1000 requests in flight: every callback gets HS_ERR_SHARD_UNAVAILABLE; it recovers on restart', async () => {
      const server = await redis();
      const statuses: string[] = [];
      const b = backend({
        port: server.port,
        node: nodeId('crash'),
        onStatusChange: (s) => statuses.push(s),
      });
      await b.connect();
      expect(show(await request(b, makeCommand('SET', 'k', 'v')))).toBe('+OK\r\n');

      server.kill('SIGSTOP'); // hold the requests in flight: written, never answered
      const pending = Array.from({ length: 1_000 }, () => request(b, makeCommand('GET', 'k')));
      await sleep(50);
      server.kill('SIGKILL');
      const replies = await within(3_000, Promise.all(pending));
      const wanted = new RegExp(
        `^-ERR HS_ERR_SHARD_UNAVAILABLE node crash \\(${server.address}\\) connection lost: `,
      );
      expect(replies.filter((r) => !wanted.test(show(r))).map(show)).toEqual([]);
      expect(b.status).toBe('down');

      // Fail fast while down: the answer arrives before send returns.
      expect(show(sendSync(b, makeCommand('GET', 'k'))!)).toMatch(
        /^-ERR HS_ERR_SHARD_UNAVAILABLE node crash .* is down/,
      );
      await expect(b.dump(Buffer.from('k'))).rejects.toMatchObject({ code: ErrorCode.ShardUnavailable });

      await server.exited;
      await redis({ port: server.port });
      await waitFor(() => b.status === 'up', 5_000);
      expect(show(await request(b, makeCommand('SET', 'k', 'again')))).toBe('+OK\r\n');
      expect(show(await request(b, makeCommand('GET', 'k')))).toBe('$5\r\nagain\r\n');
      expect(statuses).toEqual(['up', 'down', 'up']);
    });

    it('node stalled with SIGSTOP: HS_ERR_BACKEND_TIMEOUT within the timeout, then back after SIGCONT', async () => {
      const server = await redis();
      const b = backend({ port: server.port, node: nodeId('stall'), timeoutMs: 300, connectTimeoutMs: 200 });
      await b.connect();
      server.kill('SIGSTOP');
      const started = Date.now();
      const replies = await within(
        3_000,
        Promise.all(Array.from({ length: 100 }, () => request(b, makeCommand('PING')))),
      );
      const elapsed = Date.now() - started;
      for (const r of replies) {
        expect(show(r)).toMatch(
          new RegExp(
            `^-ERR HS_ERR_BACKEND_TIMEOUT node stall \\(${server.address}\\) did not answer within 300 ms`,
          ),
        );
      }
      for (const r of replies)
        expect(show(r)).toMatch(/nor answered a probe within 300 ms\); connection reset/);
      // The timeout of silence, then the probe's own.
      expect(elapsed).toBeGreaterThanOrEqual(590);
      expect(elapsed).toBeLessThan(2 * 300 + 900);
      expect(b.status).toBe('down');
      await sleep(300); // reconnect attempts reach the kernel's backlog but get no PONG: still down
      expect(b.status).toBe('down');
      server.kill('SIGCONT');
      await waitFor(() => b.status === 'up', 4_000);
      expect(show(await request(b, makeCommand('PING')))).toBe('+PONG\r\n');
      // The probe and the failed attempts leave nothing on the node: the backend's connection and the asker.
      await clientsSettle(server, 2);
    });

    it('close fails in-flight requests with HS_ERR_SHUTTING_DOWN and stops reconnecting', async () => {
      const server = await redis();
      const b = backend({ port: server.port, node: nodeId('closing') });
      await b.connect();
      server.kill('SIGSTOP');
      const pending = Array.from({ length: 10 }, () => request(b, makeCommand('GET', 'k')));
      await sleep(20);
      await b.close();
      const replies = await within(1_000, Promise.all(pending));
      for (const r of replies)
        expect(show(r)).toMatch(/^-ERR HS_ERR_SHUTTING_DOWN node closing \(.*\) is shutting down/);
      expect(show(sendSync(b, makeCommand('GET', 'k'))!)).toMatch(/^-ERR HS_ERR_SHUTTING_DOWN/);
      expect(b.status).toBe('down');
      await b.close(); // idempotent
      server.kill('SIGCONT');
      await sleep(200);
      expect(b.status).toBe('down');
      await expect(b.connect()).rejects.toMatchObject({ code: ErrorCode.ShuttingDown });
    });
  });

  describe('redis backend - health', () => {
    it('a node down from the start is reported once with the reason, then up when it starts', async () => {
      const port = await freePort();
      const reports: string[] = [];
      const b = backend({
        port,
        node: nodeId(`127.0.0.1:${port}`),
        healthCheckMs: 20,
        onStatusChange: (s, reason) => reports.push(`${s}: ${reason}`),
      });
      await expect(b.connect()).rejects.toMatchObject({ code: ErrorCode.ShardUnavailable });
      expect(reports).toEqual([
        `down: cannot connect to node 127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}`,
      ]);
      const down = b.health();
      expect(down).toMatchObject({ status: 'down', latencyMs: null, address: `127.0.0.1:${port}` });
      expect(down.reason).toMatch(/ECONNREFUSED/);
      await sleep(300); // several more attempts fail: no news
      expect(reports).toHaveLength(1);
      await redis({ port });
      await waitFor(() => b.status === 'up', 5_000);
      expect(reports.slice(1)).toEqual(['up: connected']);
      await waitFor(() => b.health().latencyMs !== null, 2_000);
      const up = b.health();
      expect(up.reason).toBeNull();
      expect(up.since).toBeGreaterThanOrEqual(down.since);
      expect(up.latencyMs).toBeGreaterThanOrEqual(0);
      await b.close();
      expect(reports).toHaveLength(2); // closing is the owner's doing: not reported
      expect(b.health()).toMatchObject({ status: 'down', reason: 'closed' });
    });

    it('an idle node that stops answering is found by the health check, not by the next client', async () => {
      const server = await redis();
      const reports: string[] = [];
      const b = backend({
        port: server.port,
        node: nodeId('idle'),
        timeoutMs: 200,
        connectTimeoutMs: 200,
        healthCheckMs: 20,
        onStatusChange: (s) => reports.push(s),
      });
      await b.connect();
      server.kill('SIGSTOP');
      try {
        await waitFor(() => b.status === 'down', 5_000);
        expect(reports).toEqual(['up', 'down']);
        expect(b.health().reason).toMatch(/did not answer within 200 ms/);
        expect(b.inFlight).toBe(0);
      } finally {
        server.kill('SIGCONT');
      }
      await waitFor(() => b.status === 'up', 5_000);
    });
  });

  describe('redis backend - watchdog: sending is not stalling', () => {
    /** Stores a value straight on the node, not through the link. */
    const setDirect = async (server: RedisProcess, key: string, value: Buffer): Promise<void> => {
      const direct = backend({ port: server.port, node: nodeId('direct') });
      await direct.connect();
      expect(show(await request(direct, makeCommand('SET', key, value)))).toBe('+OK\r\n');
      await direct.close();
    };

    it('big replies that take many timeouts to arrive are not a stall; a small request behind them is answered', async () => {
      const server = await redis();
      // 128 KB per 10 ms: the three 4 MB replies take ≈ 1 s of sending, 3 × the timeout,
      // while pieces arrive 30 × more often than the timeout.
      const link = await slowLink(server.port, 128 * 1024, 10);
      const b = backend({ port: link.port, node: nodeId('busy'), timeoutMs: 300 });
      await b.connect();
      const value = Buffer.alloc(4 * 1024 * 1024, 0x62);
      await setDirect(server, 'big', value);
      const sentAt = link.bytesSent;
      const replies = await within(
        20_000,
        Promise.all([
          request(b, makeCommand('GET', 'big')),
          request(b, makeCommand('GET', 'big')),
          request(b, makeCommand('GET', 'big')),
          request(b, makeCommand('PING')),
        ]),
      );
      for (const r of replies.slice(0, 3)) {
        expect(r, show(r).slice(0, 200)).toBeInstanceOf(RawReply);
        expect((decodeReply((r as RawReply).bytes) as Buffer).equals(value)).toBe(true);
      }
      expect(show(replies[3])).toBe('+PONG\r\n');
      expect(link.bytesSent - sentAt).toBeGreaterThan(3 * value.length);
      expect(link.pieces).toBeGreaterThan(90); // the link really trickled
      expect(b.status).toBe('up');
      await link.close();
    });

    it('a big request that takes many timeouts to reach the node is not a stall', async () => {
      const server = await redis();
      // 256 KB per 5 ms: ≈ 0.8 s to pass on 40 MB, while the node says nothing until it
      // has read it all. The last few MB wait in kernel buffers, where progress cannot be
      // seen: at this pace they pass well within the timeout.
      const link = await slowLink(server.port, 256 * 1024, 5);
      const b = backend({ port: link.port, node: nodeId('upload'), timeoutMs: 500 });
      await b.connect();
      const value = Buffer.alloc(40 * 1024 * 1024, 0x75);
      const [set, ping] = await within(
        20_000,
        Promise.all([request(b, makeCommand('SET', 'up', value)), request(b, makeCommand('PING'))]),
      );
      expect(show(set)).toBe('+OK\r\n');
      expect(show(ping)).toBe('+PONG\r\n');
      expect(b.status).toBe('up');
      await link.close();
    });

    it('a node that goes silent in the middle of a big reply times out', async () => {
      const server = await redis();
      const link = await slowLink(server.port, 64 * 1024, 10);
      const b = backend({ port: link.port, node: nodeId('halt'), timeoutMs: 200 });
      await b.connect();
      await setDirect(server, 'big', Buffer.alloc(4 * 1024 * 1024));
      const pending = Promise.all([request(b, makeCommand('GET', 'big')), request(b, makeCommand('PING'))]);
      const before = link.bytesSent;
      await waitFor(() => link.bytesSent - before > 512 * 1024, 10_000);
      link.halt(); // the rest of the reply never comes
      const replies = await within(5_000, pending);
      for (const r of replies) {
        expect(show(r)).toMatch(
          /^-ERR HS_ERR_BACKEND_TIMEOUT node halt \(127\.0\.0\.1:\d+\) did not answer within 200 ms/,
        );
      }
      await link.close();
    });

    it('a proxy too busy to read for longer than the timeout does not take the node for stalled', async () => {
      const server = await redis();
      const b = backend({ port: server.port, node: nodeId('patient'), timeoutMs: 100 });
      await b.connect();
      const reply = request(b, makeCommand('PING'));
      // The answer waits in the socket while this process cannot run (a long GC, a blocking call):
      // when it runs again, timers run before I/O is read.
      await new Promise<void>((resolve) => setImmediate(resolve));
      const until = Date.now() + 400;
      while (Date.now() < until) {
        // busy
      }
      expect(show(await within(2_000, reply))).toBe('+PONG\r\n');
      expect(b.status).toBe('up');
    });

    it('a redis-server stopped (SIGSTOP) while it sends a 64 MB reply times out', async () => {
      const server = await redis();
      const b = backend({ port: server.port, node: nodeId('stopped'), timeoutMs: 200 });
      await b.connect();
      expect(show(await request(b, makeCommand('SET', 'k', Buffer.alloc(64 * 1024 * 1024))))).toBe('+OK\r\n');
      const pending = Promise.all([request(b, makeCommand('GET', 'k')), request(b, makeCommand('PING'))]);
      await sleep(5); // the GET is written; the node has sent what fits in the socket buffers
      server.kill('SIGSTOP');
      try {
        for (const r of await within(5_000, pending)) {
          expect(show(r)).toMatch(
            /^-ERR HS_ERR_BACKEND_TIMEOUT node stopped \(127\.0\.0\.1:\d+\) did not answer within 200 ms/,
          );
        }
      } finally {
        server.kill('SIGCONT');
      }
    });
  });

  describe('redis backend - watchdog: busy is not stalled (the probe)', () => {
    // DEBUG SLEEP blocks the server as one long event-loop iteration does (copying 20
    // replies of 50 MB into its buffers): silent everywhere, then it answers.
    const debugRedis = (password?: string): Promise<RedisProcess> =>
      redis({ password, args: ['--enable-debug-command', 'local'] });
    const connectionsReceived = async (server: RedisProcess): Promise<number> => {
      const info = await ask(server, ['INFO', 'stats']);
      return Number(/total_connections_received:(\d+)/.exec((info as Buffer).toString())![1]);
    };

    it('a node silent past the timeout in one long iteration answers the probe (with AUTH): its requests get their replies', async () => {
      const server = await debugRedis('probe-secret');
      const reports: string[] = [];
      const b = backend({
        port: server.port,
        password: 'probe-secret',
        node: nodeId('busy-loop'),
        timeoutMs: 500,
        onStatusChange: (s) => reports.push(s),
      });
      await b.connect();
      expect(show(await request(b, makeCommand('SET', 'k', 'v')))).toBe('+OK\r\n');
      const before = await connectionsReceived(server);
      const sleeping = ask(server, ['DEBUG', 'SLEEP', '0.8'], 10_000);
      await sleep(100); // the server is asleep before the requests arrive
      const started = Date.now();
      const replies = await within(
        10_000,
        Promise.all([
          ...Array.from({ length: 20 }, () => request(b, makeCommand('GET', 'k'))),
          request(b, makeCommand('PING')),
        ]),
      );
      // Silent past the timeout: the watchdog had to tell busy from stalled.
      expect(Date.now() - started).toBeGreaterThan(500);
      expect(replies.slice(0, 20).map(show)).toEqual(Array.from({ length: 20 }, () => '$1\r\nv\r\n'));
      expect(show(replies[20]!)).toBe('+PONG\r\n');
      expect(await sleeping).toMatchObject({ value: 'OK' });
      expect(reports).toEqual(['up']); // never cut
      expect(show(await request(b, makeCommand('GET', 'k')))).toBe('$1\r\nv\r\n'); // a bystander after
      // The sleeper, one probe and the asker of INFO; the probe is gone: the backend and the asker remain.
      expect(await connectionsReceived(server)).toBe(before + 3);
      await clientsSettle(server, 2);
    });

    it('a node that answers probes but not this connection is cut once maxBusyMs has passed', async () => {
      const server = await debugRedis();
      const b = backend({ port: server.port, node: nodeId('never'), timeoutMs: 200, maxBusyMs: 600 });
      await b.connect();
      const before = await connectionsReceived(server);
      const started = Date.now();
      // BLPOP holds this connection's pipeline while the node serves every other: busy forever.
      const replies = await within(
        5_000,
        Promise.all([request(b, makeCommand('BLPOP', 'nothing', '0')), request(b, makeCommand('PING'))]),
      );
      const elapsed = Date.now() - started;
      for (const r of replies) {
        expect(show(r)).toMatch(
          /^-ERR HS_ERR_BACKEND_TIMEOUT node never \(127\.0\.0\.1:\d+\) did not answer within 200 ms \(silent for \d+ ms, 2 waiting, though it answers probes: busy past maxBusyMs 600\); connection reset$/,
        );
      }
      expect(elapsed).toBeGreaterThanOrEqual(200 + 600);
      // Probed at least once before the bound (each probe a connection of its own), then cut.
      expect(await connectionsReceived(server)).toBeGreaterThanOrEqual(before + 2);
      await waitFor(() => b.status === 'up', 4_000);
      await clientsSettle(server, 2);
    });

    it('maxBusyMs 0: no probe, silence past the timeout is a stall', async () => {
      const server = await debugRedis();
      const b = backend({ port: server.port, node: nodeId('strict'), timeoutMs: 200, maxBusyMs: 0 });
      await b.connect();
      const before = await connectionsReceived(server);
      const [reply] = await within(5_000, Promise.all([request(b, makeCommand('BLPOP', 'nothing', '0'))]));
      expect(show(reply)).toMatch(
        /did not answer within 200 ms \(silent for \d+ ms, 1 waiting\); connection reset$/,
      );
      await waitFor(() => b.status === 'up', 4_000);
      expect(await connectionsReceived(server)).toBe(before + 2); // the asker and the reconnect: no probe
    });
  });

  describe('redis backend - password', () => {
    it('authenticates before anything else, also after a reconnect', async () => {
      const server = await redis({ password: 'pa55' });
      const statuses: string[] = [];
      const b = backend({ port: server.port, password: 'pa55', onStatusChange: (s) => statuses.push(s) });
      await b.connect();
      expect(show(await request(b, makeCommand('SET', 'k', 'v')))).toBe('+OK\r\n');
      // Kill every client connection, ours included: the backend must AUTH again.
      await request(b, makeCommand('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'no'));
      await waitFor(() => statuses.join() === 'up,down,up', 3_000);
      expect(show(await request(b, makeCommand('GET', 'k')))).toBe('$1\r\nv\r\n');
    });

    it('a wrong or missing password fails connect with HS_ERR_BAD_AUTH', async () => {
      const server = await redis({ password: 'pa55' });
      const wrong = backend({ port: server.port, password: 'nope', node: nodeId('wrong') });
      await expect(wrong.connect()).rejects.toMatchObject({
        code: ErrorCode.BadAuth,
        message: expect.stringMatching(
          /^cannot connect to node wrong \(127\.0\.0\.1:\d+\): rejected AUTH: WRONGPASS/,
        ) as unknown,
      });
      const missing = backend({ port: server.port, node: nodeId('missing') });
      await expect(missing.connect()).rejects.toMatchObject({
        code: ErrorCode.BadAuth,
        message: expect.stringMatching(/answered PING with NOAUTH/) as unknown,
      });
    });
  });
});
