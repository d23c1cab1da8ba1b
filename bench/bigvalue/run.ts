/**
 * Big values: `--clients` concurrent clients each GET one big value, through
 * hotshard's redis backend and straight to the same redis-server, with
 * ioredis clients and with raw sockets (which only count the reply's bytes,
 * so the client's own parsing stays out of the figure). The reference is
 * redis-server itself: the proxy's share is hotshard's time over redis's.
 *
 *   npm run bench:bigvalue -- [--sizes 1,10,50] [--kinds ioredis,raw] [--clients 20]
 *                             [--repeats 3] [--hotshard-args="--cpu-prof --cpu-prof-dir=/tmp/p"]
 *
 * hotshard runs as its own process (`node bin/hotshard.js start --backend
 * redis`, the launcher's V8 flags given directly, as bench/proxy does) in
 * front of one redis-server; the clients run here. Runs are interleaved (for
 * each repeat, size and client kind: redis and hotshard, alternating which
 * goes first). Figures are medians of the repeats: seconds until the last
 * client has its reply, and the CPU seconds the server processes spent in the
 * run, which a busy machine moves much less than the seconds. Replies that
 * came back as errors are counted, not fatal: Redis is silent while it copies
 * the replies of the 20 GETs it read at once into its output buffer (1-2 s
 * for 50 MB values, more on a loaded machine); past `backendTimeoutMs` (2 s)
 * hotshard probes the node, which answers once the copy is done, and an
 * iteration longer than two timeouts is taken for a stall
 * (docs/ARCHITECTURE.md; `HOTSHARD_BACKEND_MAX_BUSY_MS=0` shows the watchdog
 * without the probe). Prints the table,
 * then one JSON line. Exits non-zero when a run fails otherwise or a reply
 * has the wrong length.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Redis, ReplyError } from 'ioredis';
import { SERVER_NODE_FLAGS } from '../../src/cli/node-flags.js';
import { freePort, startRedis } from '../../src/testkit/index.js';
import { routesToAllNodes } from '../../src/testkit/nutcracker.js';
import { processCpuSeconds } from '../lib/process-cpu.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const MB = 1024 * 1024;
const KINDS = ['ioredis', 'raw'] as const;
type Kind = (typeof KINDS)[number];

const { values: flags } = parseArgs({
  options: {
    sizes: { type: 'string', default: '1,10,50' },
    kinds: { type: 'string', default: KINDS.join(',') },
    clients: { type: 'string', default: '20' },
    repeats: { type: 'string', default: '3' },
    'hotshard-args': { type: 'string', default: '' },
    help: { type: 'boolean', default: false },
  },
});
if (flags.help) {
  console.log(
    'npm run bench:bigvalue -- [--sizes 1,10,50 (MB)] [--kinds ioredis,raw] [--clients 20] [--repeats 3] [--hotshard-args="..."]',
  );
  process.exit(0);
}
const sizes = flags.sizes.split(',').map((s) => Number(s) * MB);
const clients = Number(flags.clients);
const repeats = Number(flags.repeats);
const kinds = flags.kinds.split(',').filter((k): k is Kind => (KINDS as readonly string[]).includes(k));
const extra = flags['hotshard-args'].split(' ').filter((a) => a !== '');

interface Proxy {
  readonly port: number;
  readonly pid: number;
  stop(): Promise<void>;
}

/** Spawns `hotshard start` in front of `redis`; resolves once it routes there. */
async function startHotshard(redis: string): Promise<Proxy> {
  if (!existsSync(join(REPO, 'dist', 'cli', 'main.js'))) throw new Error('run `npm run build` first');
  const [port, httpPort] = [await freePort(), await freePort()];
  const dataDir = mkdtempSync(join(tmpdir(), 'hotshard-bench-'));
  const nodeFlags = extra.filter((a) => a.startsWith('--cpu-prof'));
  const args = [
    ...SERVER_NODE_FLAGS,
    ...nodeFlags,
    join(REPO, 'bin', 'hotshard.js'),
    'start',
    ...['--backend', 'redis', '--redis', redis, '--resp-port', String(port)],
    ...['--http-port', String(httpPort), '--log-level', 'warn', '--data-dir', dataDir],
    ...extra.filter((a) => !a.startsWith('--cpu-prof')),
  ];
  const child = spawn(process.execPath, args, { cwd: REPO, stdio: ['ignore', 'inherit', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    child.kill('SIGTERM');
    await exited;
    rmSync(dataDir, { recursive: true, force: true });
  };
  for (const deadline = Date.now() + 30_000; Date.now() < deadline;) {
    if (await routesToAllNodes(port, 1, 1_000).catch(() => false)) return { port, pid: child.pid!, stop };
    await new Promise((r) => setTimeout(r, 100));
  }
  await stop();
  throw new Error('hotshard did not start within 30 s');
}

/**
 * One raw-socket GET of `key`: resolves once `expected` reply bytes have
 * arrived (undefined), or with the error line when the reply is an error.
 */
function rawGet(port: number, key: string, expected: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let got = 0;
    socket.on('data', (chunk: Buffer) => {
      if (got === 0 && chunk[0] === 0x2d) {
        socket.destroy();
        resolve(chunk.toString('latin1', 1, chunk.indexOf(0x0d)));
        return;
      }
      got += chunk.length;
      if (got >= expected) {
        socket.destroy();
        if (got === expected) resolve(undefined);
        else reject(new Error(`raw GET got ${got} bytes, expected ${expected}`));
      }
    });
    socket.on('error', reject);
    socket.on('close', () => reject(new Error(`closed after ${got} of ${expected} bytes`)));
    socket.write(`*2\r\n$3\r\nGET\r\n$${key.length}\r\n${key}\r\n`);
  });
}

/** One run: seconds until all clients have their reply, and the error replies some got instead. */
interface Run {
  seconds: number;
  errors: string[];
  /** CPU seconds: [redis] straight to redis, [hotshard, redis] through hotshard. */
  cpu?: number[];
}

/** `clients` clients of `kind` each GET `key` (`size` bytes). */
async function run(port: number, kind: Kind, key: string, size: number): Promise<Run> {
  const expected = `$${size}\r\n`.length + size + 2;
  if (kind === 'raw') {
    const start = performance.now();
    const got = await Promise.all(Array.from({ length: clients }, () => rawGet(port, key, expected)));
    const seconds = (performance.now() - start) / 1000;
    return { seconds, errors: got.filter((e) => e !== undefined) };
  }
  const conns = Array.from(
    { length: clients },
    () =>
      new Redis({
        port,
        host: '127.0.0.1',
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        commandTimeout: 120_000,
      }),
  );
  await Promise.all(conns.map((c) => c.connect()));
  try {
    const start = performance.now();
    const settled = await Promise.allSettled(conns.map((c) => c.getBuffer(key)));
    const seconds = (performance.now() - start) / 1000;
    const errors: string[] = [];
    for (const s of settled) {
      if (s.status === 'rejected') {
        const err: unknown = s.reason;
        if (!(err instanceof ReplyError)) throw err;
        errors.push((err as Error).message);
      } else if (s.value?.length !== size) throw new Error(`ioredis GET returned ${s.value?.length} bytes`);
    }
    return { seconds, errors };
  } finally {
    conns.forEach((c) => c.disconnect());
  }
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

async function main(): Promise<void> {
  const redis = await startRedis({ args: ['--save', '', '--appendonly', 'no'] });
  let hotshard: Proxy | undefined;
  try {
    hotshard = await startHotshard(redis.address);
    const setter = new Redis({ port: redis.port, host: '127.0.0.1' });
    for (const size of sizes) await setter.set(`big:${size}`, Buffer.alloc(size, 0x61));
    setter.disconnect();
    const runs = new Map<string, Run[]>();
    let k = 0;
    for (let r = 0; r < repeats; r++) {
      for (const size of sizes) {
        for (const kind of kinds) {
          const order = k++ % 2 === 0 ? ['redis', 'hotshard'] : ['hotshard', 'redis'];
          for (const target of order) {
            const port = target === 'redis' ? redis.port : hotshard.port;
            // CPU seconds of the server processes in the run: redis's alone, or hotshard's and redis's.
            const pids = target === 'redis' ? [redis.pid] : [hotshard.pid, redis.pid];
            const cpu = (): number[] => pids.map((pid) => processCpuSeconds(pid) ?? NaN);
            const before = cpu();
            const one = await run(port, kind, `big:${size}`, size);
            one.cpu = cpu().map((c, i) => c - before[i]!);
            const failed = one.errors.length === 0 ? '' : `, ${one.errors.length} failed: ${one.errors[0]}`;
            const cpuText = one.cpu.map((c) => c.toFixed(2)).join('+');
            console.error(
              `  ${size / MB} MB ${kind} ${target}: ${one.seconds.toFixed(2)} s, CPU ${cpuText} s${failed}`,
            );
            const cell = `${size}/${kind}/${target}`;
            runs.set(cell, [...(runs.get(cell) ?? []), one]);
          }
        }
      }
    }
    const rows: object[] = [];
    const errors = new Set<string>();
    console.log(
      `${clients} clients each GET one value; seconds until the last has its reply, median of ${repeats}`,
    );
    console.log(
      'size    client    redis    hotshard  hotshard/redis  hotshard CPU  redis CPU (direct, behind hotshard)  failed replies (redis, hotshard)',
    );
    for (const size of sizes) {
      for (const kind of kinds) {
        const of = (target: string): Run[] => runs.get(`${size}/${kind}/${target}`)!;
        const direct = median(of('redis').map((x) => x.seconds));
        const proxied = median(of('hotshard').map((x) => x.seconds));
        const cpu = (target: string, i: number): number => median(of(target).map((x) => x.cpu![i]!));
        const failed = (target: string): number => of(target).reduce((n, x) => n + x.errors.length, 0);
        for (const x of [...of('redis'), ...of('hotshard')]) for (const e of x.errors) errors.add(e);
        const row = {
          sizeMB: size / MB,
          client: kind,
          redis: direct,
          hotshard: proxied,
          ratio: proxied / direct,
          hotshardCpu: cpu('hotshard', 0),
          redisCpuDirect: cpu('redis', 0),
          redisCpuBehind: cpu('hotshard', 1),
          failedRedis: failed('redis'),
          failedHotshard: failed('hotshard'),
        };
        rows.push(row);
        console.log(
          `${`${size / MB} MB`.padEnd(8)}${kind.padEnd(10)}${direct.toFixed(2).padStart(5)} s ${proxied.toFixed(2).padStart(7)} s ${(proxied / direct).toFixed(2).padStart(10)}  ${cpu('hotshard', 0).toFixed(2).padStart(10)} s  ${cpu('redis', 0).toFixed(2)} s, ${cpu('hotshard', 1).toFixed(2)} s${' '.repeat(21)}${failed('redis')}, ${failed('hotshard')} of ${clients * repeats}`,
        );
      }
    }
    for (const e of errors) console.log(`failed with: ${e}`);
    console.log(JSON.stringify({ bench: 'bigvalue', clients, repeats, rows }));
  } finally {
    await hotshard?.stop();
    await redis.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
