/**
 * Reading traces: the router's sampled access log (see router/access-log.ts),
 * one JSON record per line. Records are streamed, never loaded whole — an
 * hour of a busy router's log is millions of lines — and a bad line fails with
 * its file and line number rather than being skipped: a replay that silently
 * drops part of an incident is not a replay of that incident. Blank lines
 * (an editor's trailing newline, a concatenation seam) are skipped.
 *
 * It also decides how each record is sent again: the log keeps a command's
 * name, first key and size, which is enough to rebuild GET, SET, INCR and DEL.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { ErrorCode, HotshardError } from '../errors.js';
import { keyFromText, type AccessRecord } from '../router/access-log.js';

/** One trace record: exactly what the access log writes. */
export type TraceRecord = AccessRecord;

/** A record with the line it came from (1-based). */
export interface TraceEntry {
  readonly line: number;
  readonly record: TraceRecord;
}

/** A trace that cannot be read or holds a line that is not an access record. */
export class TraceError extends HotshardError {
  override readonly name = 'TraceError';
  /** 1-based line number; 0 when the file itself could not be read. */
  readonly line: number;
  readonly file: string;
  constructor(file: string, line: number, message: string, options?: ErrorOptions) {
    super(ErrorCode.Config, `${file}${line > 0 ? ` line ${line}` : ''}: ${message}`, options);
    this.file = file;
    this.line = line;
  }
}

/** What a pass over a trace found. */
export interface TraceSummary {
  readonly file: string;
  readonly records: number;
  /** `t` of the first record (ms since the epoch): replay time 0. */
  readonly firstT: number;
  /** Largest `t` in the trace. */
  readonly lastT: number;
  /** lastT - firstT: how long the original traffic took. */
  readonly spanMs: number;
  /** Records whose `t` is earlier than a record before them (logs of several routers concatenated). */
  readonly outOfOrder: number;
  readonly ops: Readonly<Record<string, number>>;
}

/**
 * Parses one line of a trace; `null` for a blank line. Throws TraceError
 * naming the line and the field that is wrong.
 *
 * @example
 * parseTraceLine('{"t":1,"tenant":"a","op":"get","key":"k","bytes":20,"shard":"s0","latencyMs":0.1}', 1, 'x.jsonl');
 */
export function parseTraceLine(text: string, line: number, file = 'trace'): TraceRecord | null {
  if (text.trim() === '') return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new TraceError(file, line, `not JSON (${(err as Error).message}): ${excerpt(text)}`, {
      cause: err,
    });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new TraceError(file, line, `expected a JSON object (an access-log record), got ${excerpt(text)}`);
  const r = value as Record<string, unknown>;
  const bad = (field: string, wanted: string): TraceError =>
    new TraceError(
      file,
      line,
      `"${field}" must be ${wanted}, got ${excerpt(JSON.stringify(r[field]) ?? 'nothing')}`,
    );
  const { t, tenant, op, key, bytes, shard, latencyMs, error } = r;
  if (typeof t !== 'number' || !Number.isFinite(t) || t < 0) throw bad('t', 'a time in ms since the epoch');
  if (typeof tenant !== 'string') throw bad('tenant', 'a string');
  if (typeof op !== 'string' || op === '') throw bad('op', 'a command name');
  if (typeof key !== 'string') throw bad('key', 'a string');
  if (typeof bytes !== 'number' || !Number.isFinite(bytes) || bytes < 0) throw bad('bytes', 'a number ≥ 0');
  if (typeof shard !== 'string') throw bad('shard', 'a string');
  if (typeof latencyMs !== 'number' || !Number.isFinite(latencyMs) || latencyMs < 0)
    throw bad('latencyMs', 'a number ≥ 0');
  if (error !== undefined && typeof error !== 'string') throw bad('error', 'a string when present');
  const record = { t, tenant, op: op.toLowerCase(), key, bytes, shard, latencyMs };
  return error === undefined ? record : { ...record, error };
}

/**
 * Streams the records of a trace file in file order. Rejects with TraceError
 * on an unreadable file or the first bad line.
 *
 * @example
 * for await (const { line, record } of readTrace('access.jsonl')) console.log(line, record.op, record.key);
 */
export async function* readTrace(file: string): AsyncGenerator<TraceEntry, void, undefined> {
  const input = createReadStream(file, { encoding: 'utf8' });
  // Without this the open error would surface only as an unhandled 'error' event.
  const opened = new Promise<void>((resolve, reject) => {
    input.once('ready', resolve);
    input.once('error', reject);
  });
  try {
    await opened;
  } catch (err) {
    throw new TraceError(file, 0, `cannot read the trace: ${(err as Error).message}`, { cause: err });
  }
  const lines = createInterface({ input, crlfDelay: Infinity });
  let n = 0;
  try {
    for await (const text of lines) {
      n++;
      const record = parseTraceLine(text, n, file);
      if (record !== null) yield { line: n, record };
    }
  } catch (err) {
    if (err instanceof TraceError) throw err;
    throw new TraceError(file, n, `cannot read the trace: ${(err as Error).message}`, { cause: err });
  } finally {
    lines.close();
    input.destroy();
  }
}

/**
 * Reads a whole trace once: checks every line and measures its span. A
 * replay runs this first, so a bad line at the end fails before any traffic.
 *
 * @example
 * const { records, spanMs } = await scanTrace('access.jsonl');
 */
export async function scanTrace(file: string): Promise<TraceSummary> {
  let records = 0;
  let firstT = 0;
  let lastT = 0;
  let outOfOrder = 0;
  const ops: Record<string, number> = {};
  for await (const { record } of readTrace(file)) {
    if (records === 0) firstT = lastT = record.t;
    else if (record.t < lastT) outOfOrder++;
    else lastT = record.t;
    records++;
    ops[record.op] = (ops[record.op] ?? 0) + 1;
  }
  return { file, records, firstT, lastT, spanMs: lastT - firstT, outOfOrder, ops };
}

/** Every record of a (small) trace, in file order: for tests and tools, not for replay. */
export async function loadTrace(file: string): Promise<TraceRecord[]> {
  const out: TraceRecord[] = [];
  for await (const { record } of readTrace(file)) out.push(record);
  return out;
}

function excerpt(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** How a record is sent again, or why it cannot be. */
export type ReplayCommand =
  | {
      readonly op: 'get' | 'set' | 'incr' | 'del';
      readonly key: string;
      /** SET: the value's size rebuilt from the logged bytes; else 0. */
      readonly valueSize: number;
      /** An MGET sent as a GET of its first key: the log keeps no other key. */
      readonly fromMget: boolean;
    }
  | { readonly skip: 'unsupported-op' | 'binary-key' };

/** A rebuilt SET value never exceeds this. */
export const MAX_REPLAY_VALUE = 1 << 20;

/**
 * The command that replays `r`: GET, SET, INCR and DEL as logged, MGET as a
 * GET of its first key, anything else skipped as `unsupported-op`; a binary
 * key that is not valid UTF-8 (the load targets send text keys) as `binary-key`.
 *
 * @example
 * replayCommand({ t: 0, tenant: 'a', op: 'mget', key: 'k1', bytes: 40, shard: 's0', latencyMs: 0.1 });
 * // { op: 'get', key: 'k1', valueSize: 0, fromMget: true }
 */
export function replayCommand(r: TraceRecord): ReplayCommand {
  const op = r.op === 'mget' ? 'get' : r.op;
  if (op !== 'get' && op !== 'set' && op !== 'incr' && op !== 'del') return { skip: 'unsupported-op' };
  const key = textKey(r.key);
  if (key === null) return { skip: 'binary-key' };
  return { op, key, valueSize: op === 'set' ? setValueSize(r.bytes, key) : 0, fromMget: r.op === 'mget' };
}

/**
 * A logged SET's value size: its `bytes` are the request frame plus the
 * reply, so take the RESP framing and a `+OK\r\n` off. Exact when the reply
 * came raw from Redis; 3 bytes over behind embedded nodes, whose simple
 * replies the router sizes at 8 bytes; an estimate for HTTP requests, whose
 * frames are not logged.
 *
 * @example setValueSize(42, 'k'); // 10: *3 $3 SET $1 k $10 <10 bytes> +OK
 */
export function setValueSize(bytes: number, key: string): number {
  const k = Buffer.byteLength(key);
  // *3\r\n  $3\r\nSET\r\n  $<k>\r\n<key>\r\n  $<v>\r\n<value>\r\n  +OK\r\n
  const fixed = 4 + 9 + (3 + String(k).length + k + 2) + 3 + 2 + 5;
  const guess = Math.max(0, bytes - fixed - 1);
  return Math.min(MAX_REPLAY_VALUE, Math.max(0, bytes - fixed - String(guess).length));
}

/** The key as a load target sends it (UTF-8 text), or null for a binary key that would not survive that. */
function textKey(text: string): string | null {
  if (!text.startsWith('b64:')) return text;
  const bytes = keyFromText(text);
  const utf8 = bytes.toString('utf8');
  return Buffer.from(utf8, 'utf8').equals(bytes) ? utf8 : null;
}
