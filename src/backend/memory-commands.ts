/**
 * The keyspace of one embedded node and the Redis commands it runs.
 *
 * Semantics and error texts follow redis-server 7.0 (t_string.c, t_hash.c,
 * expire.c, db.c, util.c) closely enough that test/backend/backend.case.ts
 * passes unchanged against both this store and a real Redis. Where this file
 * looks odd (SET accepting `EX 1 EX 2`, EXPIRE parsing its flags before its
 * number, INCRBYFLOAT computing in 80-bit long double), it is copying Redis.
 *
 * One file on purpose, over the usual size: it is one table of command
 * semantics, and splitting it by command family would scatter the shared
 * argument parsing that keeps the error texts identical.
 */
import { MapReply, OK, PONG, ReplyError, SimpleString, type Reply } from '../protocol/reply.js';

/** A stored value: a string, or a hash of field (latin1-decoded bytes) to value. */
export type Value = Buffer | Map<string, Buffer>;

/** Told of changes to the keys it tracks (see {@link Keyspace.track}). */
export interface KeyWatcher {
  /** `key` changed (null: every key, the keyspace was cleared); told synchronously, inside the change. */
  written(key: string | null): void;
}

/** Told of each change of the keys it tracks (an invalidation feed). */
export interface KeyTracker {
  /** Tracked keys that changed, each once, or null for every key (the keyspace was cleared). */
  changed(keys: string[] | null): void;
}

/** Redis's default tracking-table-max-keys: past it the oldest tracked key is reported changed and forgotten. */
export const DEFAULT_MAX_TRACKED_KEYS = 1_000_000;

/**
 * Keys and expiries of one node. Keys are the key bytes decoded as latin1,
 * which maps every byte sequence to a distinct string.
 *
 * Like Redis, expiries live in their own map beside the data (db->expires), a
 * key is expired once `now > expiresAt`, and expired keys go lazily on access
 * or actively through {@link Keyspace.activeExpireCycle}.
 *
 * Like Redis's client-side caching (tracking.c), a key read for a tracker is
 * remembered until its next change, which is queued for that tracker and
 * handed over by {@link Keyspace.deliverChanges}. Every change passes through
 * set, setExpiresAt, persist, #remove, clear or (a hash changed in place)
 * modified; each checks only the size of the tracking table, empty unless a
 * cache tracks keys, so the write path pays one comparison for it.
 */
export class Keyspace {
  readonly #data = new Map<string, Value>();
  readonly #expires = new Map<string, number>();
  #cursor: IterableIterator<[string, number]> | undefined;
  #expired = 0;
  /** Per tracked key, the trackers that read it since its last change. */
  readonly #tracked = new Map<string, KeyTracker[]>();
  readonly #trackers = new Set<KeyTracker>();
  /** Told of every change (a live move's dirty tracking); null while none, so writes pay one comparison. */
  #watchers: Set<KeyWatcher> | null = null;
  /** Changes not delivered yet, per tracker (null: everything). */
  #changes: Map<KeyTracker, string[] | null> | null = null;
  /** The time a whole command sees, like Redis's commandTimeSnapshot(); set before each command. */
  now = 0;

  constructor(
    readonly maxValueBytes: number,
    readonly maxTrackedKeys = DEFAULT_MAX_TRACKED_KEYS,
  ) {}

  /** How many keys have been removed because their time to live ran out. */
  get expiredKeys(): number {
    return this.#expired;
  }

  /** The live value of a key, removing it first when it has expired. */
  get(key: string): Value | undefined {
    if (this.#expires.size !== 0) {
      const when = this.#expires.get(key);
      if (when !== undefined && this.now > when) {
        this.#remove(key);
        this.#expired++;
        return undefined;
      }
    }
    return this.#data.get(key);
  }

  /** Stores a value; drops the key's expiry unless `keepTtl`. */
  set(key: string, value: Value, keepTtl = false): void {
    this.#data.set(key, value);
    if (!keepTtl) this.#expires.delete(key);
    if (this.#tracked.size !== 0 || this.#watchers !== null) this.#changed(key);
  }

  /** Says that the value of `key` was changed in place (a hash field written or removed). */
  modified(key: string): void {
    if (this.#tracked.size !== 0 || this.#watchers !== null) this.#changed(key);
  }

  /** Deletes a live key; false when there was none. */
  delete(key: string): boolean {
    if (this.get(key) === undefined) return false;
    this.#remove(key);
    return true;
  }

  /** Absolute expiry (ms since epoch) of a key, or undefined when it has none. */
  expiresAt(key: string): number | undefined {
    return this.#expires.get(key);
  }

  /** Sets the absolute expiry of an existing key. */
  setExpiresAt(key: string, when: number): void {
    this.#expires.set(key, when);
    if (this.#tracked.size !== 0 || this.#watchers !== null) this.#changed(key);
  }

  /** Removes a key's expiry; true when it had one. */
  persist(key: string): boolean {
    if (!this.#expires.delete(key)) return false;
    if (this.#tracked.size !== 0 || this.#watchers !== null) this.#changed(key);
    return true;
  }

  /**
   * Keys held, in O(1): like Redis's DBSIZE (the size of its key dict), a key
   * past its TTL counts until a lookup or active expiry reclaims it.
   */
  size(): number {
    return this.#data.size;
  }

  /**
   * Keys with an expiry, in O(1), counted as Redis's INFO keyspace `expires`
   * (the size of db->expires): every write goes through set / setExpiresAt /
   * persist / #remove / clear, which keep `#expires` in step with the keys.
   */
  expiresCount(): number {
    return this.#expires.size;
  }

  /** A snapshot of the stored key names (may include keys that expire meanwhile). */
  keyNames(): string[] {
    return Array.from(this.#data.keys());
  }

  /** Removes every key. */
  clear(): void {
    this.#data.clear();
    this.#expires.clear();
    this.#cursor = undefined;
    if (this.#watchers !== null) for (const w of this.#watchers) w.written(null);
    if (this.#trackers.size === 0) return;
    // As Redis: a flush tells every tracking client, whatever it read.
    this.#tracked.clear();
    const changes = (this.#changes ??= new Map<KeyTracker, string[] | null>());
    for (const tracker of this.#trackers) changes.set(tracker, null);
  }

  /** Tells `watcher` of every change from now on, until {@link unwatch}. */
  watch(watcher: KeyWatcher): void {
    (this.#watchers ??= new Set()).add(watcher);
  }

  /** Stops telling `watcher`. */
  unwatch(watcher: KeyWatcher): void {
    if (this.#watchers?.delete(watcher) === true && this.#watchers.size === 0) this.#watchers = null;
  }

  /** Starts queueing changes for `tracker` (of the keys it then tracks, and flushes). */
  addTracker(tracker: KeyTracker): void {
    this.#trackers.add(tracker);
  }

  /** Forgets `tracker`: its keys and its undelivered changes. O(tracked keys). */
  removeTracker(tracker: KeyTracker): void {
    if (!this.#trackers.delete(tracker)) return;
    for (const [key, who] of this.#tracked) {
      const at = who.indexOf(tracker);
      if (at === -1) continue;
      if (who.length === 1) this.#tracked.delete(key);
      else who.splice(at, 1);
    }
    this.#changes?.delete(tracker);
    if (this.#changes?.size === 0) this.#changes = null;
  }

  /** Remembers that `tracker` read `keys`: their next change is queued for it. */
  track(tracker: KeyTracker, keys: readonly string[]): void {
    if (!this.#trackers.has(tracker)) return;
    for (const key of keys) {
      const who = this.#tracked.get(key);
      if (who === undefined) this.#tracked.set(key, [tracker]);
      else if (!who.includes(tracker)) who.push(tracker);
    }
    // Bounded as Redis bounds its tracking table: the oldest key is reported
    // changed (its reader must forget it) rather than kept for ever.
    while (this.#tracked.size > this.maxTrackedKeys) {
      this.#changed(this.#tracked.keys().next().value!);
    }
  }

  /** Whether changes wait for {@link deliverChanges}. */
  get hasChanges(): boolean {
    return this.#changes !== null;
  }

  /** Hands each tracker the changes queued for it since the last call. */
  deliverChanges(): void {
    const changes = this.#changes;
    if (changes === null) return;
    this.#changes = null;
    for (const [tracker, keys] of changes) tracker.changed(keys);
  }

  /** Queues a change of `key` for whoever tracks it, who then no longer does. */
  #changed(key: string): void {
    if (this.#watchers !== null) for (const w of this.#watchers) w.written(key);
    const who = this.#tracked.get(key);
    if (who === undefined) return;
    this.#tracked.delete(key);
    const changes = (this.#changes ??= new Map<KeyTracker, string[] | null>());
    for (const tracker of who) {
      if (!changes.has(tracker)) changes.set(tracker, [key]);
      else changes.get(tracker)?.push(key); // undefined-safe: null means "everything" already
    }
  }

  /**
   * One pass of active expiry, after Redis's activeExpireCycle: look at keys
   * with a TTL 20 at a time, continuing from where the last pass stopped, and
   * keep going while more than a quarter of a round had expired. Work is
   * bounded by a key budget rather than a time budget so tests are exact.
   * Returns how many keys were removed.
   */
  activeExpireCycle(budget = 10_000): number {
    let removed = 0;
    let examined = 0;
    const limit = Math.min(budget, this.#expires.size);
    while (examined < limit) {
      let roundExpired = 0;
      let round = 0;
      for (; round < 20 && examined < limit; round++, examined++) {
        let next = this.#cursor?.next();
        if (next === undefined || next.done === true) {
          this.#cursor = this.#expires.entries();
          next = this.#cursor.next();
          if (next.done === true) break;
        }
        const [key, when] = next.value;
        if (this.now > when) {
          this.#remove(key);
          roundExpired++;
        }
      }
      removed += roundExpired;
      if (roundExpired * 4 <= round) break;
    }
    this.#expired += removed;
    return removed;
  }

  #remove(key: string): void {
    this.#data.delete(key);
    this.#expires.delete(key);
    if (this.#tracked.size !== 0 || this.#watchers !== null) this.#changed(key);
  }
}

// ---------------------------------------------------------------------------
// Replies shared by many commands (the exact texts of Redis 7.0).

const WRONGTYPE = new ReplyError('WRONGTYPE Operation against a key holding the wrong kind of value');
const NOT_INTEGER = new ReplyError('ERR value is not an integer or out of range');
const NOT_FLOAT = new ReplyError('ERR value is not a valid float');
const HASH_NOT_INTEGER = new ReplyError('ERR hash value is not an integer');
const SYNTAX = new ReplyError('ERR syntax error');
const OVERFLOW = new ReplyError('ERR increment or decrement would overflow');
const DECR_OVERFLOW = new ReplyError('ERR decrement would overflow');
const NAN_OR_INF = new ReplyError('ERR increment would produce NaN or Infinity');
const TOO_BIG = new ReplyError('ERR string exceeds maximum allowed size (proto-max-bulk-len)');
const TYPE_STRING = new SimpleString('string');
const TYPE_HASH = new SimpleString('hash');
const TYPE_NONE = new SimpleString('none');

const arityError = (name: string): ReplyError =>
  new ReplyError(`ERR wrong number of arguments for '${name}' command`);
const expireTimeError = (name: string): ReplyError =>
  new ReplyError(`ERR invalid expire time in '${name}' command`);

/** Redis's reply to a command it does not know, quoting at most ~128 bytes of arguments. */
export function unknownCommandError(args: readonly Buffer[]): ReplyError {
  let quoted = '';
  for (let i = 1; i < args.length && quoted.length < 128; i++) {
    quoted += `'${args[i]!.toString('latin1', 0, 128 - quoted.length)}' `;
  }
  const name = args[0]?.toString('latin1', 0, 128) ?? '';
  const text = `ERR unknown command '${name}', with args beginning with: ${quoted}`;
  // addReplyErrorFormat turns CR and LF into spaces so the error stays one line
  return new ReplyError(Buffer.from(text.replace(/[\r\n]/g, ' '), 'latin1').toString('utf8'));
}

// ---------------------------------------------------------------------------
// Signed 64-bit integers, as Redis's string2ll and overflow checks see them.

const I64_MAX = 9223372036854775807n;
const I64_MIN = -9223372036854775808n;
const SAFE_MAX = BigInt(Number.MAX_SAFE_INTEGER);
const SAFE_MIN = -SAFE_MAX;

/** An integer reply: a number when exact, else a bigint. */
const intReply = (v: bigint): number | bigint => (v >= SAFE_MIN && v <= SAFE_MAX ? Number(v) : v);

/**
 * Parses like Redis's string2ll: optional '-', no '+', no leading zeros or
 * spaces, at most 20 characters, within int64. Null when it is not one.
 */
export function parseInt64(b: Buffer): number | bigint | null {
  const len = b.length;
  if (len === 0 || len > 20) return null;
  if (len === 1 && b[0] === 0x30) return 0;
  const start = b[0] === 0x2d ? 1 : 0;
  if (start === len) return null;
  const first = b[start]!;
  if (first < 0x31 || first > 0x39) return null;
  let n = 0;
  for (let i = start; i < len; i++) {
    const d = b[i]! - 0x30;
    if (d < 0 || d > 9) return null;
    n = n * 10 + d;
  }
  if (len - start <= 15) return start === 1 ? -n : n;
  const v = BigInt(b.toString('latin1'));
  return v > I64_MAX || v < I64_MIN ? null : intReply(v);
}

/** a + b in int64, or null when it would overflow. */
function addInt64(a: number | bigint, b: number | bigint): number | bigint | null {
  if (typeof a === 'number' && typeof b === 'number') {
    const r = a + b;
    if (Number.isSafeInteger(r)) return r;
  }
  const r = BigInt(a) + BigInt(b);
  return r > I64_MAX || r < I64_MIN ? null : intReply(r);
}

// ---------------------------------------------------------------------------
// Commands.

type Args = readonly Buffer[];
type Run = (ks: Keyspace, a: Args) => Reply;
interface Spec {
  /** Redis arity: n means exactly n arguments with the name, -n at least n. */
  readonly arity: number;
  readonly run: Run;
}

const keyOf = (a: Args, i: number): string => a[i]!.toString('latin1');
/** Stored values are copies: arguments may be views into a socket chunk. */
const copy = (b: Buffer): Buffer => Buffer.from(b);

/** The string at `key`, null when absent, WRONGTYPE when it is a hash. */
function readString(ks: Keyspace, key: string): Buffer | null | ReplyError {
  const v = ks.get(key);
  if (v === undefined) return null;
  return v instanceof Map ? WRONGTYPE : v;
}

/** The hash at `key`, undefined when absent, WRONGTYPE when it is a string. */
function readHash(ks: Keyspace, key: string): Map<string, Buffer> | undefined | ReplyError {
  const v = ks.get(key);
  if (v === undefined || v instanceof Map) return v;
  return WRONGTYPE;
}

// SET flags, as in t_string.c
const NX = 1;
const XX = 2;
const GET = 4;
const KEEPTTL = 8;
const EX = 16;
const PX = 32;
const EXAT = 64;
const PXAT = 128;

/** Parses SET's options exactly as parseExtendedStringArgumentsOrReply does. */
function parseSetOptions(a: Args): { flags: number; expire: Buffer | undefined } | ReplyError {
  let flags = 0;
  let expire: Buffer | undefined;
  for (let j = 3; j < a.length; j++) {
    const opt = a[j]!.toString('latin1').toLowerCase();
    const next = a[j + 1];
    const timed = flags & (KEEPTTL | EX | PX | EXAT | PXAT);
    if (opt === 'nx' && !(flags & XX)) flags |= NX;
    else if (opt === 'xx' && !(flags & NX)) flags |= XX;
    else if (opt === 'get') flags |= GET;
    else if (opt === 'keepttl' && !(timed & ~KEEPTTL)) flags |= KEEPTTL;
    else if (
      next !== undefined &&
      ((opt === 'ex' && !(timed & ~EX)) ||
        (opt === 'px' && !(timed & ~PX)) ||
        (opt === 'exat' && !(timed & ~EXAT)) ||
        (opt === 'pxat' && !(timed & ~PXAT)))
    ) {
      flags |= opt === 'ex' ? EX : opt === 'px' ? PX : opt === 'exat' ? EXAT : PXAT;
      expire = next;
      j++;
    } else return SYNTAX;
  }
  return { flags, expire };
}

/** setGenericCommand: the shared body of SET, SETNX, SETEX and PSETEX. */
function setGeneric(
  ks: Keyspace,
  name: string,
  flags: number,
  key: string,
  value: Buffer,
  expire: Buffer | undefined,
  ok: Reply = OK,
  abort: Reply = null,
): Reply {
  let when: number | undefined;
  if (expire !== undefined) {
    const parsed = parseInt64(expire);
    if (parsed === null) return NOT_INTEGER;
    let ms = BigInt(parsed);
    const seconds = (flags & (EX | EXAT)) !== 0;
    if (ms <= 0n || (seconds && ms > I64_MAX / 1000n)) return expireTimeError(name);
    if (seconds) ms *= 1000n;
    if (flags & (EX | PX)) {
      const now = BigInt(ks.now);
      if (ms > I64_MAX - now) return expireTimeError(name);
      ms += now;
    }
    when = Number(ms);
  }
  let old: Reply = null;
  if (flags & GET) {
    const v = readString(ks, key);
    if (v instanceof ReplyError) return v;
    old = v;
  }
  const found = ks.get(key) !== undefined;
  if ((flags & NX && found) || (flags & XX && !found)) return flags & GET ? old : abort;
  if (value.length > ks.maxValueBytes) return TOO_BIG;
  ks.set(key, copy(value), (flags & KEEPTTL) !== 0);
  if (when !== undefined) ks.setExpiresAt(key, when);
  return flags & GET ? old : ok;
}

/** expireGenericCommand: EXPIRE and PEXPIRE with NX | XX | GT | LT. */
function expireGeneric(ks: Keyspace, a: Args, name: string, unit: bigint): Reply {
  let nx = false,
    xx = false,
    gt = false,
    lt = false;
  for (let j = 3; j < a.length; j++) {
    const opt = a[j]!.toString('latin1');
    switch (opt.toLowerCase()) {
      case 'nx':
        nx = true;
        break;
      case 'xx':
        xx = true;
        break;
      case 'gt':
        gt = true;
        break;
      case 'lt':
        lt = true;
        break;
      default:
        return new ReplyError(`ERR Unsupported option ${opt}`);
    }
  }
  if (nx && (xx || gt || lt))
    return new ReplyError('ERR NX and XX, GT or LT options at the same time are not compatible');
  if (gt && lt) return new ReplyError('ERR GT and LT options at the same time are not compatible');
  const parsed = parseInt64(a[2]!);
  if (parsed === null) return NOT_INTEGER;
  let when = BigInt(parsed);
  if (when > I64_MAX / unit || when < I64_MIN / unit) return expireTimeError(name);
  when *= unit;
  const now = BigInt(ks.now);
  if (when > I64_MAX - now) return expireTimeError(name);
  when += now;
  const key = keyOf(a, 1);
  if (ks.get(key) === undefined) return 0;
  const current = ks.expiresAt(key);
  if (nx && current !== undefined) return 0;
  if (xx && current === undefined) return 0;
  if (gt && (current === undefined || when <= BigInt(current))) return 0;
  if (lt && current !== undefined && when >= BigInt(current)) return 0;
  if (when <= now) ks.delete(key);
  else ks.setExpiresAt(key, Number(when));
  return 1;
}

function ttlGeneric(ks: Keyspace, a: Args, ms: boolean): Reply {
  const key = keyOf(a, 1);
  if (ks.get(key) === undefined) return -2;
  const when = ks.expiresAt(key);
  if (when === undefined) return -1;
  const ttl = Math.max(0, when - ks.now);
  return ms ? ttl : Math.floor((ttl + 500) / 1000);
}

function incrDecr(ks: Keyspace, key: string, incr: number | bigint): Reply {
  const cur = readString(ks, key);
  if (cur instanceof ReplyError) return cur;
  const value = cur === null ? 0 : parseInt64(cur);
  if (value === null) return NOT_INTEGER;
  const result = addInt64(value, incr);
  if (result === null) return OVERFLOW;
  ks.set(key, Buffer.from(String(result), 'latin1'), true);
  return result;
}

function incrBy(ks: Keyspace, a: Args, negate: boolean): Reply {
  const incr = parseInt64(a[2]!);
  if (incr === null) return NOT_INTEGER;
  if (!negate) return incrDecr(ks, keyOf(a, 1), incr);
  if (incr === I64_MIN) return DECR_OVERFLOW;
  return incrDecr(ks, keyOf(a, 1), typeof incr === 'number' ? -incr : intReply(-incr));
}

function deleteMany(ks: Keyspace, a: Args): Reply {
  let n = 0;
  for (let i = 1; i < a.length; i++) if (ks.delete(keyOf(a, i))) n++;
  return n;
}

const COMMANDS = new Map<string, Spec>(
  Object.entries({
    ping: {
      arity: -1,
      run: (_ks, a) => (a.length > 2 ? arityError('ping') : a.length === 2 ? copy(a[1]!) : PONG),
    },
    get: { arity: 2, run: (ks, a) => readString(ks, keyOf(a, 1)) },
    set: {
      arity: -3,
      run(ks, a) {
        if (a.length === 3) return setGeneric(ks, 'set', 0, keyOf(a, 1), a[2]!, undefined);
        const opts = parseSetOptions(a);
        if (opts instanceof ReplyError) return opts;
        return setGeneric(ks, 'set', opts.flags, keyOf(a, 1), a[2]!, opts.expire);
      },
    },
    setnx: { arity: 3, run: (ks, a) => setGeneric(ks, 'setnx', NX, keyOf(a, 1), a[2]!, undefined, 1, 0) },
    setex: { arity: 4, run: (ks, a) => setGeneric(ks, 'setex', EX, keyOf(a, 1), a[3]!, a[2]) },
    psetex: { arity: 4, run: (ks, a) => setGeneric(ks, 'psetex', PX, keyOf(a, 1), a[3]!, a[2]) },
    getset: {
      arity: 3,
      run(ks, a) {
        const key = keyOf(a, 1);
        const old = readString(ks, key);
        if (old instanceof ReplyError) return old;
        if (a[2]!.length > ks.maxValueBytes) return TOO_BIG;
        ks.set(key, copy(a[2]!));
        return old;
      },
    },
    getdel: {
      arity: 2,
      run(ks, a) {
        const key = keyOf(a, 1);
        const old = readString(ks, key);
        if (old instanceof Buffer) ks.delete(key);
        return old;
      },
    },
    mget: {
      arity: -2,
      run(ks, a) {
        const out: Reply[] = new Array<Reply>(a.length - 1);
        for (let i = 1; i < a.length; i++) {
          const v = ks.get(keyOf(a, i));
          out[i - 1] = v instanceof Buffer ? v : null;
        }
        return out;
      },
    },
    mset: {
      arity: -3,
      run(ks, a) {
        if (a.length % 2 === 0) return arityError('mset');
        for (let i = 2; i < a.length; i += 2) if (a[i]!.length > ks.maxValueBytes) return TOO_BIG;
        for (let i = 1; i < a.length; i += 2) ks.set(keyOf(a, i), copy(a[i + 1]!));
        return OK;
      },
    },
    del: { arity: -2, run: deleteMany },
    unlink: { arity: -2, run: deleteMany },
    exists: {
      arity: -2,
      run(ks, a) {
        let n = 0;
        for (let i = 1; i < a.length; i++) if (ks.get(keyOf(a, i)) !== undefined) n++;
        return n;
      },
    },
    type: {
      arity: 2,
      run(ks, a) {
        const v = ks.get(keyOf(a, 1));
        return v === undefined ? TYPE_NONE : v instanceof Map ? TYPE_HASH : TYPE_STRING;
      },
    },
    expire: { arity: -3, run: (ks, a) => expireGeneric(ks, a, 'expire', 1000n) },
    pexpire: { arity: -3, run: (ks, a) => expireGeneric(ks, a, 'pexpire', 1n) },
    ttl: { arity: 2, run: (ks, a) => ttlGeneric(ks, a, false) },
    pttl: { arity: 2, run: (ks, a) => ttlGeneric(ks, a, true) },
    persist: {
      arity: 2,
      run(ks, a) {
        const key = keyOf(a, 1);
        return ks.get(key) !== undefined && ks.persist(key) ? 1 : 0;
      },
    },
    incr: { arity: 2, run: (ks, a) => incrDecr(ks, keyOf(a, 1), 1) },
    decr: { arity: 2, run: (ks, a) => incrDecr(ks, keyOf(a, 1), -1) },
    incrby: { arity: 3, run: (ks, a) => incrBy(ks, a, false) },
    decrby: { arity: 3, run: (ks, a) => incrBy(ks, a, true) },
    incrbyfloat: {
      arity: 3,
      run(ks, a) {
        const key = keyOf(a, 1);
        const cur = readString(ks, key);
        if (cur instanceof ReplyError) return cur;
        const value = cur === null ? LD_ZERO : parseLongDouble(cur);
        const incr = parseLongDouble(a[2]!);
        if (value === null || incr === null) return NOT_FLOAT;
        const sum = addLongDouble(value, incr);
        if (sum === null) return NAN_OR_INF;
        const out = Buffer.from(formatLongDouble(sum), 'latin1');
        ks.set(key, out, true);
        return out;
      },
    },
    append: {
      arity: 3,
      run(ks, a) {
        const key = keyOf(a, 1);
        const cur = readString(ks, key);
        if (cur instanceof ReplyError) return cur;
        const len = (cur?.length ?? 0) + a[2]!.length;
        if (len > ks.maxValueBytes) return TOO_BIG;
        ks.set(key, cur === null ? copy(a[2]!) : Buffer.concat([cur, a[2]!], len), true);
        return len;
      },
    },
    strlen: {
      arity: 2,
      run(ks, a) {
        const cur = readString(ks, keyOf(a, 1));
        return cur instanceof ReplyError ? cur : (cur?.length ?? 0);
      },
    },
    hget: {
      arity: 3,
      run(ks, a) {
        const h = readHash(ks, keyOf(a, 1));
        return h instanceof ReplyError ? h : (h?.get(keyOf(a, 2)) ?? null);
      },
    },
    hset: {
      arity: -4,
      run(ks, a) {
        if (a.length % 2 === 1) return arityError('hset');
        const key = keyOf(a, 1);
        let h = readHash(ks, key);
        if (h instanceof ReplyError) return h;
        for (let i = 3; i < a.length; i += 2) if (a[i]!.length > ks.maxValueBytes) return TOO_BIG;
        if (h === undefined) {
          h = new Map();
          ks.set(key, h);
        }
        let created = 0;
        for (let i = 2; i < a.length; i += 2) {
          const field = keyOf(a, i);
          if (!h.has(field)) created++;
          h.set(field, copy(a[i + 1]!));
        }
        ks.modified(key);
        return created;
      },
    },
    hdel: {
      arity: -3,
      run(ks, a) {
        const key = keyOf(a, 1);
        const h = readHash(ks, key);
        if (h === undefined || h instanceof ReplyError) return h ?? 0;
        let n = 0;
        for (let i = 2; i < a.length; i++) if (h.delete(keyOf(a, i))) n++;
        if (h.size === 0) ks.delete(key);
        else if (n > 0) ks.modified(key);
        return n;
      },
    },
    hgetall: {
      arity: 2,
      run(ks, a) {
        const h = readHash(ks, keyOf(a, 1));
        if (h instanceof ReplyError) return h;
        const entries: Reply[] = [];
        if (h !== undefined) for (const [f, v] of h) entries.push(Buffer.from(f, 'latin1'), v);
        return new MapReply(entries);
      },
    },
    hmget: {
      arity: -3,
      run(ks, a) {
        const h = readHash(ks, keyOf(a, 1));
        if (h instanceof ReplyError) return h;
        const out: Reply[] = [];
        for (let i = 2; i < a.length; i++) out.push(h?.get(keyOf(a, i)) ?? null);
        return out;
      },
    },
    hincrby: {
      arity: 4,
      run(ks, a) {
        const incr = parseInt64(a[3]!);
        if (incr === null) return NOT_INTEGER;
        const key = keyOf(a, 1);
        let h = readHash(ks, key);
        if (h instanceof ReplyError) return h;
        if (h === undefined) {
          h = new Map();
          ks.set(key, h);
        }
        const field = keyOf(a, 2);
        const cur = h.get(field);
        const value = cur === undefined ? 0 : parseInt64(cur);
        if (value === null) return HASH_NOT_INTEGER;
        const result = addInt64(value, incr);
        if (result === null) return OVERFLOW;
        h.set(field, Buffer.from(String(result), 'latin1'));
        ks.modified(key);
        return result;
      },
    },
    dbsize: { arity: 1, run: (ks) => ks.size() },
    flushall: {
      arity: -1,
      run(ks, a) {
        if (a.length > 2) return SYNTAX;
        const mode = a[1]?.toString('latin1').toLowerCase();
        if (mode !== undefined && mode !== 'sync' && mode !== 'async') return SYNTAX;
        ks.clear();
        return OK;
      },
    },
  } satisfies Record<string, Spec>),
);

/** The data commands the memory backend runs (lower-case names). */
export const memoryCommandNames: ReadonlySet<string> = new Set(COMMANDS.keys());

/**
 * Runs one command against the keyspace. `ks.now` must already hold the
 * command's time. Never throws for bad input: errors are replies.
 */
export function runCommand(ks: Keyspace, name: string, args: readonly Buffer[]): Reply {
  const spec = COMMANDS.get(name);
  if (spec === undefined) return unknownCommandError(args);
  const n = args.length;
  if (spec.arity > 0 ? n !== spec.arity : n < -spec.arity) return arityError(name);
  return spec.run(ks, args);
}

// ---------------------------------------------------------------------------
// INCRBYFLOAT in x87 80-bit long double, as Redis computes it: strtold, add,
// then "%.17Lf" with trailing zeros removed. Doubles would print 0.1 + 0.2 as
// 0.30000000000000004 where Redis prints 0.3, so values are m * 2^e with a
// 64-bit significand, rounded half-to-even with exact BigInt arithmetic.

interface LongDouble {
  readonly neg: boolean;
  /** Significand, < 2^64; 0 for zero. */
  readonly m: bigint;
  readonly e: number;
}

const LD_ZERO: LongDouble = { neg: false, m: 0n, e: 0 };
const TWO63 = 1n << 63n;
const TWO64 = 1n << 64n;
/** Exponent of the smallest subnormal (2^-16445). */
const LD_MIN_E = -16445;
/** Every finite long double is below 2^16384. */
const LD_MAX_BITS = 16384;
/** Redis's MAX_LONG_DOUBLE_CHARS: longer inputs are refused. */
const MAX_LD_CHARS = 5 * 1024;

const DECIMAL = /^([+-]?)(?:(\d+)(?:\.(\d*))?|\.(\d+))(?:[eE]([+-]?\d+))?$/;
const HEX = /^([+-]?)0[xX](?:([0-9a-fA-F]+)(?:\.([0-9a-fA-F]*))?|\.([0-9a-fA-F]+))(?:[pP]([+-]?\d+))?$/;
const INFINITE = /^[+-]?(?:inf|infinity)$/i;

const bitLength = (n: bigint): number => (n === 0n ? 0 : n.toString(2).length);
const clampExponent = (s: string | undefined): number =>
  s === undefined ? 0 : Math.max(-1e7, Math.min(1e7, Number(s)));

/** Rounds num/den * 2^e2 (num, den > 0) to a long double; null when it overflows. */
function roundLongDouble(neg: boolean, num: bigint, den: bigint, e2: number): LongDouble | null {
  if (num === 0n) return { neg, m: 0n, e: 0 };
  let e = Math.max(bitLength(num) - bitLength(den) + e2 - 64, LD_MIN_E);
  for (;;) {
    const s = e2 - e;
    const n = s >= 0 ? num << BigInt(s) : num;
    const d = s >= 0 ? den : den << BigInt(-s);
    let q = n / d;
    if (q >= TWO64) {
      e++;
      continue;
    }
    if (q < TWO63 && e > LD_MIN_E) {
      e--;
      continue;
    }
    const r2 = (n - q * d) * 2n;
    if (r2 > d || (r2 === d && (q & 1n) === 1n)) q++;
    if (q === TWO64) {
      q = TWO63;
      e++;
    }
    return bitLength(q) + e > LD_MAX_BITS ? null : { neg, m: q, e };
  }
}

/**
 * Parses like Redis's string2ld (strtold, then refusing leading space, trailing
 * bytes, NaN, overflow and underflow to zero). Infinity is a valid input; null
 * means "not a valid float". An infinite value is returned with e = Infinity.
 */
function parseLongDouble(b: Buffer): LongDouble | null {
  if (b.length === 0 || b.length >= MAX_LD_CHARS) return null;
  const s = b.toString('latin1');
  if (INFINITE.test(s)) return { neg: s[0] === '-', m: 0n, e: Infinity };
  let m = DECIMAL.exec(s);
  if (m !== null) {
    const frac = m[3] ?? m[4] ?? '';
    const digits = ((m[2] ?? '') + frac).replace(/^0+/, '');
    const neg = m[1] === '-';
    if (digits === '') return { neg, m: 0n, e: 0 };
    const p10 = clampExponent(m[5]) - frac.length;
    const magnitude = digits.length + p10; // the value is below 10^magnitude
    if (magnitude > 4934 || magnitude < -4952) return null;
    const r =
      p10 >= 0
        ? roundLongDouble(neg, BigInt(digits) * 10n ** BigInt(p10), 1n, 0)
        : roundLongDouble(neg, BigInt(digits), 10n ** BigInt(-p10), 0);
    return r === null || r.m === 0n ? null : r;
  }
  m = HEX.exec(s);
  if (m !== null) {
    const frac = m[3] ?? m[4] ?? '';
    const digits = ((m[2] ?? '') + frac).replace(/^0+/, '');
    const neg = m[1] === '-';
    if (digits === '') return { neg, m: 0n, e: 0 };
    const e2 = clampExponent(m[5]) - 4 * frac.length;
    const bits = digits.length * 4 + e2;
    if (bits > LD_MAX_BITS + 4 || bits < LD_MIN_E - 4) return null;
    const r = roundLongDouble(neg, BigInt(`0x${digits}`), 1n, e2);
    return r === null || r.m === 0n ? null : r;
  }
  return null;
}

/** a + b rounded to long double; null when the sum is infinite or NaN. */
function addLongDouble(a: LongDouble, b: LongDouble): LongDouble | null {
  if (!Number.isFinite(a.e) || !Number.isFinite(b.e)) return null;
  const e0 = Math.min(a.e, b.e);
  const av = (a.m << BigInt(a.e - e0)) * (a.neg ? -1n : 1n);
  const bv = (b.m << BigInt(b.e - e0)) * (b.neg ? -1n : 1n);
  const sum = av + bv;
  if (sum === 0n) return { neg: a.neg && b.neg, m: 0n, e: 0 };
  return roundLongDouble(sum < 0n, sum < 0n ? -sum : sum, 1n, e0);
}

/** "%.17Lf" (round half to even), trailing zeros and a bare "." removed, "-0" as "0". */
function formatLongDouble(x: LongDouble): string {
  const scale = 10n ** 17n;
  let n: bigint;
  if (x.e >= 0) n = (x.m << BigInt(x.e)) * scale;
  else {
    const num = x.m * scale;
    const den = 1n << BigInt(-x.e);
    n = num / den;
    const r2 = (num - n * den) * 2n;
    if (r2 > den || (r2 === den && (n & 1n) === 1n)) n++;
  }
  const digits = n.toString().padStart(18, '0');
  const frac = digits.slice(-17).replace(/0+$/, '');
  const body = frac === '' ? digits.slice(0, -17) : `${digits.slice(0, -17)}.${frac}`;
  return x.neg && body !== '0' ? `-${body}` : body;
}
