/**
 * Runs `redis-benchmark` against one target and parses its `--csv` output.
 *
 * redis-benchmark is the yardstick both Redis and twemproxy publish numbers
 * with, so the proxy benchmark uses it instead of a Node client (which would
 * measure itself as much as the proxy). It has failure modes a wrapper must
 * catch: an error reply ends it with "Error from server: ..." and exit 1, a
 * dropped connection likewise, but a refused connection at start can leave it
 * waiting forever — hence the timeout. Any of these throws with the output.
 */
import { execFileSync, spawn } from 'node:child_process';

/** One redis-benchmark invocation. */
export interface RedisBenchmarkOptions {
  host?: string;
  port: number;
  /** `-t`: e.g. `['get']`, `['set', 'get']`. */
  tests: readonly string[];
  /** `-n`: total requests per test. */
  requests: number;
  /** `-c`; default 50. */
  clients?: number;
  /** `-P`; default 1. */
  pipeline?: number;
  /** `-r`: random keys `key:000000000000` .. `key:<keyspace-1>`; default 100,000. */
  keyspace?: number;
  /** `-d`: SET value size in bytes; default 64. */
  dataSize?: number;
  /** `--threads`; default unset (one thread). */
  threads?: number;
  /** Kills it and throws when it runs longer; default 120 s. */
  timeoutMs?: number;
  /** Kills it and throws when aborted (Ctrl-C in a benchmark). */
  signal?: AbortSignal;
  /** The executable; default `redis-benchmark` on PATH. */
  binary?: string;
}

/** One CSV row: a test's throughput and, from Redis 7 on, its latency summary. */
export interface RedisBenchmarkResult {
  /** As redis-benchmark names it: `GET`, `SET`, `PING_INLINE`, ... */
  test: string;
  /** Requests per second. */
  rps: number;
  avgMs?: number;
  minMs?: number;
  p50Ms?: number;
  p95Ms?: number;
  p99Ms?: number;
  maxMs?: number;
}

/** redis-benchmark failed, timed out or printed something that is not a result; `output` has what it said. */
export class RedisBenchmarkError extends Error {
  override readonly name = 'RedisBenchmarkError';
  constructor(
    message: string,
    readonly output: string,
    options?: ErrorOptions,
  ) {
    super(`${message}\n--- redis-benchmark output ---\n${output.trim()}`, options);
  }
}

/** Lines that mean the run did not measure what was asked, wherever they appear. */
const FAILURE =
  /error|could not connect|closed the connection|refused|reset by peer|timed? ?out|\bERR\b|OOM/i;
/** Printed when the target rejects CONFIG GET, as every proxy does; harmless. */
const BENIGN = /^WARNING: Could not fetch server CONFIG/;

const COLUMNS: Readonly<Record<string, keyof RedisBenchmarkResult>> = {
  rps: 'rps',
  avg_latency_ms: 'avgMs',
  min_latency_ms: 'minMs',
  p50_latency_ms: 'p50Ms',
  p95_latency_ms: 'p95Ms',
  p99_latency_ms: 'p99Ms',
  max_latency_ms: 'maxMs',
};

/** The arguments for `opts`, without the binary. */
export function redisBenchmarkArgs(opts: RedisBenchmarkOptions): string[] {
  const int = (name: string, v: number, min: number): string => {
    if (!Number.isInteger(v) || v < min)
      throw new RangeError(`redis-benchmark ${name} must be an integer >= ${min}, got ${v}`);
    return String(v);
  };
  if (opts.tests.length === 0) throw new RangeError('redis-benchmark tests must name at least one test');
  const args = [
    '-h',
    opts.host ?? '127.0.0.1',
    '-p',
    int('port', opts.port, 1),
    '-t',
    opts.tests.join(','),
    '-n',
    int('requests', opts.requests, 1),
    '-c',
    int('clients', opts.clients ?? 50, 1),
    '-P',
    int('pipeline', opts.pipeline ?? 1, 1),
    '-r',
    int('keyspace', opts.keyspace ?? 100_000, 1),
    '-d',
    int('dataSize', opts.dataSize ?? 64, 1),
  ];
  if (opts.threads !== undefined) args.push('--threads', int('threads', opts.threads, 1));
  args.push('--csv');
  return args;
}

/**
 * Runs redis-benchmark and returns one result per test, in its output order.
 * Throws RedisBenchmarkError on a non-zero exit, an error line, a timeout,
 * an abort, or a requested test missing from the output.
 *
 * @example
 * const [get] = await runRedisBenchmark({ port: 6380, tests: ['get'], requests: 100_000, pipeline: 16 });
 * console.log(get.rps);
 */
export function runRedisBenchmark(opts: RedisBenchmarkOptions): Promise<RedisBenchmarkResult[]> {
  const binary = opts.binary ?? 'redis-benchmark';
  const args = redisBenchmarkArgs(opts);
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const commandLine = [binary, ...args].join(' ');
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) {
      reject(new RedisBenchmarkError(`aborted before start: ${commandLine}`, ''));
      return;
    }
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let why: string | undefined;
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const stop = (reason: string): void => {
      why ??= reason;
      child.kill('SIGKILL');
    };
    const timer = setTimeout(() => stop(`timed out after ${timeoutMs} ms`), timeoutMs);
    const onAbort = (): void => stop('aborted');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    // Make sure it never outlives us, e.g. on an uncaught error.
    const onExit = (): void => void child.kill('SIGKILL');
    process.once('exit', onExit);
    const settle = (): void => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      process.removeListener('exit', onExit);
    };

    child.once('error', (err) => {
      settle();
      reject(new RedisBenchmarkError(`cannot run ${binary}: ${err.message}`, '', { cause: err }));
    });
    child.once('close', (code, signal) => {
      settle();
      const output = `$ ${commandLine}\n${stdout}${stderr}`;
      if (why !== undefined) return reject(new RedisBenchmarkError(`redis-benchmark ${why}`, output));
      if (code !== 0)
        return reject(
          new RedisBenchmarkError(`redis-benchmark exited with ${signal ?? `code ${code}`}`, output),
        );
      try {
        const bad = stderr.split(/\r?\n/).find((l) => l.trim() !== '' && !BENIGN.test(l) && FAILURE.test(l));
        if (bad !== undefined) throw new Error(`redis-benchmark reported: ${bad.trim()}`);
        resolve(parseRedisBenchmarkCsv(stdout, opts.tests));
      } catch (err) {
        reject(new RedisBenchmarkError((err as Error).message, output, { cause: err }));
      }
    });
  });
}

/**
 * Parses `redis-benchmark --csv` output: the Redis 7 form with a header row and
 * latency columns, or the older two-column `"SET","12345.67"` form. Throws when
 * a line is neither a result nor benign, when a rate is not a positive number,
 * or when one of `expected` (the `-t` names) has no row.
 *
 * @example
 * parseRedisBenchmarkCsv('"test","rps"\n"GET","1000.00"\n', ['get']); // [{ test: 'GET', rps: 1000 }]
 */
export function parseRedisBenchmarkCsv(
  stdout: string,
  expected: readonly string[] = [],
): RedisBenchmarkResult[] {
  let header: string[] | undefined;
  const results: RedisBenchmarkResult[] = [];
  for (const raw of stdout.split(/\r?\n|\r/)) {
    const line = raw.trim();
    if (line === '' || BENIGN.test(line)) continue;
    const fields = parseCsvLine(line);
    if (fields === undefined || fields.length < 2) {
      throw new Error(`unexpected redis-benchmark output line: ${line}`);
    }
    if (fields[0] === 'test') {
      header = fields;
      continue;
    }
    const row: RedisBenchmarkResult = { test: fields[0]!, rps: Number.NaN };
    const columns = header ?? ['test', 'rps'];
    columns.forEach((name, i) => {
      const key = COLUMNS[name];
      if (key === undefined || key === 'test' || i >= fields.length) return;
      const value = Number(fields[i]);
      if (!Number.isFinite(value))
        throw new Error(`redis-benchmark ${name} of ${row.test} is not a number: ${line}`);
      row[key] = value;
    });
    if (!(row.rps > 0)) throw new Error(`redis-benchmark reported no throughput for ${row.test}: ${line}`);
    results.push(row);
  }
  for (const t of expected) {
    const name = t.toUpperCase();
    // `-t ping` yields PING_INLINE and PING_MBULK; `-t lrange` yields LRANGE_100 ...;
    // `-t lrange_100` yields "LRANGE_100 (first 100 elements)".
    const named = (r: RedisBenchmarkResult): boolean => {
      const test = r.test.toUpperCase();
      return test === name || test.startsWith(`${name}_`) || test.startsWith(`${name} `);
    };
    if (!results.some(named)) {
      throw new Error(`redis-benchmark printed no result for ${name}`);
    }
  }
  return results;
}

/** Splits one CSV line of double-quoted (or bare) fields; undefined when it is not CSV. */
function parseCsvLine(line: string): string[] | undefined {
  const fields: string[] = [];
  let i = 0;
  while (i <= line.length) {
    if (line[i] === '"') {
      let value = '';
      i++;
      for (;;) {
        if (i >= line.length) return undefined; // unterminated quote
        if (line[i] === '"') {
          if (line[i + 1] === '"') {
            value += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        value += line[i];
        i++;
      }
      fields.push(value);
    } else {
      const comma = line.indexOf(',', i);
      const end = comma === -1 ? line.length : comma;
      const value = line.slice(i, end);
      if (value.includes('"')) return undefined;
      fields.push(value);
      i = end;
    }
    if (i === line.length) break;
    if (line[i] !== ',') return undefined;
    i++;
  }
  return fields;
}

/** `redis-benchmark --version`, e.g. `redis-benchmark 7.0.15`; undefined when it cannot run. */
export function redisBenchmarkVersion(binary = 'redis-benchmark'): string | undefined {
  try {
    return execFileSync(binary, ['--version'], { encoding: 'utf8', timeout: 5_000 }).trim();
  } catch {
    return undefined;
  }
}
