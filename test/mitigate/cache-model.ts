/**
 * The model check of the cache overlay, shared by the embedded and the Redis
 * test files: random interleavings of writes and reads through a Router whose
 * keys have a cache policy, each read checked against DESIGN.md "Semantics" —
 * never older than the newest write acknowledged before it was sent.
 *
 * One write per key is in flight at a time, so a key's writes take effect in
 * the order they were sent and the model's states after each write are the
 * only values a read may see: a read sent when W writes of its key were
 * acknowledged must match one of states W..S, S the writes sent by its reply.
 * Every write sets a value no other write sets (a counter in SET, HSET and
 * APPEND), so an older value is caught.
 */
import { MapReply, RawReply, ReplyError, SimpleString, type Reply } from '../../src/protocol/reply.js';
import { decodeReply } from '../../src/protocol/reply-decoder.js';
import type { Router } from '../../src/router/router.js';
import { Session } from '../../src/router/session.js';
import { mulberry32 } from '../seeded-random.js';

/** A key's value in the model. */
type State =
  | { readonly t: 'none' }
  | { readonly t: 'str'; readonly v: string }
  | { readonly t: 'hash'; readonly f: ReadonlyMap<string, string> };

const NONE: State = { t: 'none' };
const FIELDS = ['a', 'b', 'c'];

/** What Redis replies, normalised: strings, null, numbers, arrays, `!CLASS` for errors. */
export type Plain = string | number | null | Plain[];

/** A reply as plain data, from a Redis node's raw bytes or an embedded node's values. */
export function plain(reply: Reply): Plain {
  if (reply instanceof RawReply) return plain(decodeReply(reply.bytes));
  if (reply instanceof ReplyError) return `!${reply.message.split(' ')[0]!}`;
  if (reply === null) return null;
  if (reply instanceof SimpleString) return reply.value;
  if (reply instanceof MapReply) return reply.entries.map(plain);
  if (Buffer.isBuffer(reply)) return reply.toString('latin1');
  if (typeof reply === 'string') return reply;
  if (typeof reply === 'number' || typeof reply === 'bigint') return Number(reply);
  if (Array.isArray(reply)) return (reply as readonly Reply[]).map(plain);
  return JSON.stringify(reply);
}

/** The model of one write: the state after it. */
function apply(s: State, args: readonly string[]): State {
  const [cmd, , a, b] = args;
  switch (cmd) {
    case 'set':
      return { t: 'str', v: a! };
    case 'del':
      return NONE;
    case 'expire':
      return s; // far in the future: the value stays
    case 'incr': {
      if (s.t === 'hash') return s;
      const n = s.t === 'none' ? 0 : Number(s.v);
      return s.t === 'str' && !/^(0|-?[1-9]\d*)$/.test(s.v) ? s : { t: 'str', v: String(n + 1) };
    }
    case 'append':
      if (s.t === 'hash') return s;
      return { t: 'str', v: (s.t === 'str' ? s.v : '') + a! };
    case 'hset': {
      if (s.t === 'str') return s;
      const f = new Map(s.t === 'hash' ? s.f : []);
      f.set(a!, b!);
      return { t: 'hash', f };
    }
    case 'hdel': {
      if (s.t !== 'hash') return s;
      const f = new Map(s.f);
      f.delete(a!);
      return f.size === 0 ? NONE : { t: 'hash', f };
    }
  }
  throw new Error(`no model for ${cmd}`);
}

/** What a read returns in state `s`, normalised as `plain` (HGETALL as sorted pairs). */
function expected(s: State, args: readonly string[]): Plain {
  const [cmd, , a, b] = args;
  const wrong = '!WRONGTYPE';
  switch (cmd) {
    case 'get':
      return s.t === 'hash' ? wrong : s.t === 'str' ? s.v : null;
    case 'mget':
      return [s.t === 'str' ? s.v : null, null];
    case 'hget':
      return s.t === 'str' ? wrong : s.t === 'hash' ? (s.f.get(a!) ?? null) : null;
    case 'hmget':
      return s.t === 'str' ? wrong : [a!, b!].map((f) => (s.t === 'hash' ? (s.f.get(f) ?? null) : null));
    case 'hgetall':
      return s.t === 'str' ? wrong : s.t === 'hash' ? [...s.f].sort().flat() : [];
  }
  throw new Error(`no model for ${cmd}`);
}

function normalised(args: readonly string[], got: Plain): Plain {
  if (args[0] !== 'hgetall' || !Array.isArray(got)) return got;
  const pairs: [Plain, Plain][] = [];
  for (let i = 0; i < got.length; i += 2) pairs.push([got[i]!, got[i + 1]!]);
  return pairs.sort().flat();
}

/** How a run went. */
export interface ModelRun {
  readonly reads: number;
  readonly writes: number;
  /** Reads that returned a value older than allowed, with what they returned and could have. */
  readonly violations: string[];
}

/** Options of a model run. */
export interface ModelOptions {
  readonly router: Router;
  readonly keys: readonly string[];
  /** A key without a policy, read beside the cached one by MGET. */
  readonly plainKey: string;
  readonly seed: number;
  /** Concurrent clients. */
  readonly clients: number;
  /** Operations per client. */
  readonly ops: number;
  /** Share of reads. */
  readonly readShare: number;
}

/** The load the model checks run: a plain key beside the cached ones, 12 clients, 80 % reads. */
export const USUAL_LOAD = { plainKey: 'plain', clients: 12, readShare: 0.8 } as const;

/** Runs `clients` concurrent random clients through `router`; checks every read against the model. */
export async function runModel(o: ModelOptions): Promise<ModelRun> {
  // Seeded, so a failing interleaving's seed reproduces its choices.
  const rand = mulberry32(o.seed);
  const states = new Map(o.keys.map((k) => [k, [NONE]]));
  const acked = new Map(o.keys.map((k) => [k, 0]));
  const writing = new Set<string>();
  const violations: string[] = [];
  let unique = 1000;
  let reads = 0;
  let writes = 0;
  const session = new Session(1, 'model', false, 0);
  const send = (args: string[]): Promise<Reply> =>
    new Promise((resolve) =>
      o.router.dispatch(
        session,
        args.map((a) => Buffer.from(a)),
        undefined,
        resolve,
      ),
    );
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;

  const write = async (key: string): Promise<void> => {
    const v = String(unique++ * 1000);
    const r = rand();
    const args =
      r < 0.3
        ? ['set', key, v]
        : r < 0.4
          ? ['del', key]
          : r < 0.5
            ? ['expire', key, '1000']
            : r < 0.6
              ? ['incr', key]
              : r < 0.7
                ? ['append', key, `x${v}`]
                : r < 0.9
                  ? ['hset', key, pick(FIELDS), v]
                  : ['hdel', key, pick(FIELDS)];
    writing.add(key);
    const list = states.get(key)!;
    list.push(apply(list[list.length - 1]!, args));
    await send(args);
    acked.set(key, acked.get(key)! + 1);
    writing.delete(key);
    writes++;
  };

  const read = async (key: string): Promise<void> => {
    const r = rand();
    const [f1, f2] = [pick(FIELDS), pick(FIELDS)];
    const args =
      r < 0.35
        ? ['get', key]
        : r < 0.5
          ? ['mget', key, o.plainKey]
          : r < 0.7
            ? ['hget', key, f1]
            : r < 0.85
              ? ['hmget', key, f1, f2]
              : ['hgetall', key];
    const from = acked.get(key)!;
    const got = normalised(args, plain(await send(args)));
    const list = states.get(key)!;
    reads++;
    const allowed = list.slice(from).map((s) => expected(s, args));
    const json = JSON.stringify(got);
    if (!allowed.some((a) => JSON.stringify(a) === json))
      violations.push(
        `${args.join(' ')} sent after ${from} acked writes got ${json}; allowed ${JSON.stringify(allowed)}`,
      );
  };

  const client = async (): Promise<void> => {
    for (let i = 0; i < o.ops; i++) {
      const key = pick(o.keys);
      if (rand() >= o.readShare && !writing.has(key)) await write(key);
      else await read(key);
    }
  };
  await Promise.all(Array.from({ length: o.clients }, client));
  return { reads, writes, violations };
}
