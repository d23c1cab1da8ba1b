/**
 * What the live-move tests share: a mixed load through the router whose every
 * reply is checked as it arrives (a GET must see the last acknowledged write,
 * an INCR must answer one more than the last, an APPEND the new length), a
 * writer that bypasses the router and writes straight to the source node,
 * and the final check that every key holds exactly what its acknowledged
 * writes say, TTLs included, on exactly one node.
 *
 * Each key belongs to one lane and a lane waits for each reply before its
 * next request, so the expected state of every key is exact.
 */
import type { ShardBackend } from '../../src/backend/backend.js';
import type { ShardId } from '../../src/keyspace/ids.js';
import { makeCommand } from '../../src/protocol/command.js';
import { decodeReply } from '../../src/protocol/reply-decoder.js';
import { RawReply, ReplyError, SimpleString, type Reply } from '../../src/protocol/reply.js';
import type { Router } from '../../src/router/router.js';
import { Session } from '../../src/router/session.js';
import { mulberry32 } from '../seeded-random.js';

/** A reply decoded to values (RawReply from a Redis node, values from an embedded one). */
export function value(r: Reply): Reply {
  return r instanceof RawReply ? decodeReply(r.bytes) : r;
}

/** A reply as text (simple strings, bulk strings, numbers; errors as `ERR:<message>`). */
export const text = (r: Reply): string | null => {
  const v = value(r);
  if (v === null) return null;
  if (Buffer.isBuffer(v)) return v.toString('latin1');
  if (v instanceof SimpleString) return v.value;
  if (v instanceof ReplyError) return `ERR:${v.message}`;
  return typeof v === 'number' || typeof v === 'bigint' ? String(v) : JSON.stringify(v);
};

/** Sends one command through the router as `session`. */
export function via(router: Router, session: Session, ...args: (string | Buffer)[]): Promise<Reply> {
  return new Promise((resolve) =>
    router.dispatch(
      session,
      args.map((a) => (typeof a === 'string' ? Buffer.from(a) : a)),
      undefined,
      resolve,
    ),
  );
}

/** Sends one command straight to a node. */
export function direct(node: ShardBackend, ...args: (string | Buffer)[]): Promise<Reply> {
  return new Promise((resolve) => node.send(makeCommand(...args), resolve));
}

type Kind = 'string' | 'counter' | 'append' | 'short';
interface Expect {
  readonly kind: Kind;
  /** The value, or null for absent. */
  value: string | null;
  /** Whether it has a (long) TTL. */
  ttl: boolean;
  /** For short-lived keys: when the last one written has certainly expired (ms, Date.now). */
  expiredBy: number;
}

/** Names of `n` keys that the table in force places in `shard`. */
export function keysIn(router: Router, shard: ShardId, prefix: string, n: number): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < n; i++) {
    const k = `${prefix}${i}`;
    if (router.table.shardFor(Buffer.from(k)).id === shard) out.push(k);
  }
  return out;
}

/** The mixed, checked load. */
export class CheckedLoad {
  readonly failures: string[] = [];
  readonly expected = new Map<string, Expect>();
  ops = 0;
  #running = false;
  #lanes: Promise<void>[] = [];
  readonly #router: Router;
  readonly #keysByLane: string[][];
  readonly #yieldEvery: number;

  constructor(
    router: Router,
    keys: { string: string[]; counter: string[]; append: string[]; short: string[] },
    lanes = 16,
    yieldEvery = 1,
  ) {
    this.#router = router;
    this.#yieldEvery = yieldEvery;
    this.#keysByLane = Array.from({ length: lanes }, () => []);
    let i = 0;
    for (const kind of ['string', 'counter', 'append', 'short'] as const) {
      for (const k of keys[kind]) {
        this.expected.set(k, { kind, value: null, ttl: false, expiredBy: 0 });
        this.#keysByLane[i++ % lanes]!.push(k);
      }
    }
  }

  /** Writes a first value to every key (through the router), so the move has something to copy. */
  async fill(): Promise<void> {
    const session = new Session(9_999, 'fill', false, 0);
    await Promise.all(
      [...this.expected].map(async ([k, e]) => {
        if (e.kind === 'short') return;
        const v = e.kind === 'counter' ? '0' : `${k}=init;`;
        const r = await via(this.#router, session, 'SET', k, v, 'PX', '600000');
        if (text(r) !== 'OK') this.failures.push(`fill ${k}: ${text(r)}`);
        e.value = v;
        e.ttl = true;
      }),
    );
  }

  start(seed = 1): void {
    this.#running = true;
    this.#lanes = this.#keysByLane.map((keys, i) => this.#lane(keys, i, mulberry32(seed * 1000 + i)));
  }

  async stop(): Promise<void> {
    this.#running = false;
    await Promise.all(this.#lanes);
  }

  async #lane(keys: string[], lane: number, rnd: () => number): Promise<void> {
    if (keys.length === 0) return;
    const session = new Session(1_000 + lane, `lane${lane}`, false, 0);
    let seq = 0;
    while (this.#running) {
      const k = keys[Math.floor(rnd() * keys.length)]!;
      await this.#one(session, k, this.expected.get(k)!, rnd, `${lane}.${seq++}`);
      this.ops++;
      if (this.ops % this.#yieldEvery === 0) await new Promise((r) => setImmediate(r));
    }
  }

  async #one(session: Session, k: string, e: Expect, rnd: () => number, tag: string): Promise<void> {
    const r = this.#router;
    const fail = (what: string, got: Reply): void => {
      this.failures.push(`${what} ${k}: got ${text(got)}, expected ${e.value}`);
    };
    const dice = rnd();
    switch (e.kind) {
      case 'counter': {
        if (dice < 0.8) {
          const got = await via(r, session, 'INCR', k);
          const want = String(Number(e.value ?? '0') + 1);
          if (text(got) !== want) return fail('INCR', got);
          e.value = want;
        } else {
          const got = await via(r, session, 'GET', k);
          if (text(got) !== e.value) fail('GET', got);
        }
        return;
      }
      case 'append': {
        if (dice < 0.7) {
          const piece = `${tag};`;
          const got = await via(r, session, 'APPEND', k, piece);
          const next = (e.value ?? '') + piece;
          if (text(got) !== String(next.length)) return fail('APPEND', got);
          e.value = next;
        } else {
          const got = await via(r, session, 'GET', k);
          if (text(got) !== e.value) fail('GET', got);
        }
        return;
      }
      case 'short': {
        const got = await via(r, session, 'SET', k, tag, 'PX', '40');
        if (text(got) !== 'OK') return fail('SET PX', got);
        e.value = tag;
        e.expiredBy = Date.now() + 41;
        return;
      }
      case 'string': {
        if (dice < 0.35) {
          const v = `${k}=${tag}`;
          const got = await via(r, session, 'SET', k, v);
          if (text(got) !== 'OK') return fail('SET', got);
          e.value = v;
          e.ttl = false;
        } else if (dice < 0.45) {
          const got = await via(r, session, 'DEL', k);
          if (text(got) !== (e.value === null ? '0' : '1')) return fail('DEL', got);
          e.value = null;
          e.ttl = false;
        } else if (dice < 0.55) {
          const got = await via(r, session, 'EXPIRE', k, '600');
          if (text(got) !== (e.value === null ? '0' : '1')) return fail('EXPIRE', got);
          if (e.value !== null) e.ttl = true;
        } else if (dice < 0.6) {
          // a multi-key command spanning the moving range and others
          const other = [...this.expected.keys()][Math.floor(rnd() * this.expected.size)]!;
          const got = await via(r, session, 'EXISTS', k, other);
          if (value(got) instanceof ReplyError) return fail('EXISTS', got);
        } else {
          const got = await via(r, session, 'GET', k);
          if (text(got) !== e.value) fail('GET', got);
        }
      }
    }
  }

  /**
   * Reads every key back through the router: its value as expected, a TTL
   * exactly where one was set, short-lived keys gone. Returns the problems.
   */
  async check(): Promise<string[]> {
    const problems: string[] = [];
    const session = new Session(8_888, 'check', false, 0);
    const latest = Math.max(0, ...[...this.expected.values()].map((e) => e.expiredBy));
    if (latest > Date.now()) await new Promise((r) => setTimeout(r, latest - Date.now() + 5));
    for (const [k, e] of this.expected) {
      const got = text(await via(this.#router, session, 'GET', k));
      const want = e.kind === 'short' ? null : e.value;
      if (got !== want) problems.push(`${k} (${e.kind}): ${got} != ${want}`);
      if (e.kind === 'short' || want === null) continue;
      const pttl = Number(text(await via(this.#router, session, 'PTTL', k)));
      if (e.ttl !== pttl > 0) problems.push(`${k}: PTTL ${pttl}, expected ${e.ttl ? 'a TTL' : 'none'}`);
    }
    return problems;
  }
}

/** Writes straight to a node (bypassing the router) until stopped; what it last wrote is acknowledged. */
export class DirectWriter {
  readonly written = new Map<string, string>();
  readonly failures: string[] = [];
  #running = false;
  #loop: Promise<void> = Promise.resolve();

  constructor(
    readonly node: ShardBackend,
    readonly keys: readonly string[],
  ) {}

  start(): void {
    this.#running = true;
    this.#loop = (async () => {
      for (let seq = 0; this.#running; seq++) {
        const k = this.keys[seq % this.keys.length]!;
        const v = `direct-${seq}`;
        const got = await direct(this.node, 'SET', k, v);
        if (text(got) === 'OK') this.written.set(k, v);
        else this.failures.push(`${k}: ${text(got)}`);
        await new Promise((r) => setImmediate(r));
      }
    })();
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#loop;
  }
}

/** Every key of `shard`'s range a node holds. */
export async function keysOn(node: ShardBackend, inShard: (k: Buffer) => boolean): Promise<string[]> {
  const out: string[] = [];
  for await (const batch of node.scanKeys(inShard)) for (const k of batch) out.push(k.toString('latin1'));
  return out;
}
