/**
 * SCAN, KEYS and RANDOMKEY on an embedded node.
 *
 * A JavaScript Map has no stable position to resume from (Redis's reverse-
 * binary cursor walks hash buckets), so a scan started at cursor 0 takes a
 * snapshot of the key names and the cursor is the snapshot's number and a
 * position in it. That gives Redis's guarantee and a little more: every key
 * present from the start to the end of the scan is returned exactly once;
 * keys added meanwhile are not returned; keys deleted meanwhile are skipped.
 * A snapshot costs one array of names, so at most MAX_SCANS are kept (the
 * oldest goes first); resuming a forgotten one is a clear error.
 */
import { ErrorCode } from '../errors.js';
import { KeyPatterns } from '../mitigate/key-patterns.js';
import { ReplyError, SimpleString, hsError, type Reply } from '../protocol/reply.js';
import { parseScanCursor } from '../protocol/scan-cursor.js';
import { runCommand, type Keyspace } from './memory-commands.js';

/** Commands this module answers, by lower-case name. */
export const SCAN_COMMANDS: ReadonlySet<string> = new Set(['scan', 'keys', 'randomkey']);

const MAX_SCANS = 256;
/** Positions take the low 32 bits of a cursor, the snapshot number the bits above (kept under 2^53). */
const POSITION_SPAN = 2 ** 32;
const MAX_SNAPSHOT_ID = 2 ** 20;
const TYPE = Buffer.from('type');
const SYNTAX = new ReplyError('ERR syntax error');
const NOT_INTEGER = new ReplyError('ERR value is not an integer or out of range');
const INVALID_CURSOR = new ReplyError('ERR invalid cursor');

/** The scans in progress on one node. */
export class MemoryScans {
  readonly #snapshots = new Map<number, string[]>();
  #nextId = 1;

  /** Runs SCAN, KEYS or RANDOMKEY; `ks.now` must hold the command's time. */
  run(ks: Keyspace, name: string, args: readonly Buffer[]): Reply {
    if (name === 'keys') {
      if (args.length !== 2) return arity(name);
      const match = matcher(args[1]!);
      if (match instanceof ReplyError) return match;
      return ks
        .keyNames()
        .filter((k) => ks.get(k) !== undefined && match(k))
        .map((k) => Buffer.from(k, 'latin1'));
    }
    if (name === 'randomkey') {
      if (args.length !== 1) return arity(name);
      const names = ks.keyNames();
      // Expired keys are dropped as they are met, so this ends.
      while (names.length > 0) {
        const i = Math.floor(Math.random() * names.length);
        const k = names[i]!;
        if (ks.get(k) !== undefined) return Buffer.from(k, 'latin1');
        names[i] = names[names.length - 1]!;
        names.pop();
      }
      return null;
    }
    return this.#scan(ks, args);
  }

  #scan(ks: Keyspace, args: readonly Buffer[]): Reply {
    if (args.length < 2) return arity('scan');
    const parsed = parseScanCursor(args[1]!);
    if (parsed === undefined) return INVALID_CURSOR;
    const cursor = Number(parsed);
    let count = 10;
    let match: ((k: string) => boolean) | undefined;
    let type: string | undefined;
    for (let i = 2; i < args.length; i += 2) {
      const option = args[i]!.toString('latin1').toLowerCase();
      const value = args[i + 1];
      if (value === undefined) return SYNTAX;
      if (option === 'count') {
        const n = /^-?\d{1,18}$/.test(value.toString('latin1')) ? Number(value.toString('latin1')) : NaN;
        if (Number.isNaN(n)) return NOT_INTEGER;
        if (n < 1) return SYNTAX;
        count = n;
      } else if (option === 'match') {
        const m = matcher(value);
        if (m instanceof ReplyError) return m;
        match = m;
      } else if (option === 'type') {
        type = value.toString('latin1').toLowerCase();
      } else return SYNTAX;
    }
    let id: number;
    let pos: number;
    let names: string[] | undefined;
    if (cursor === 0) {
      id = this.#nextId;
      this.#nextId = (this.#nextId % MAX_SNAPSHOT_ID) + 1;
      names = ks.keyNames();
      this.#snapshots.delete(id);
      this.#snapshots.set(id, names);
      if (this.#snapshots.size > MAX_SCANS) this.#snapshots.delete(this.#snapshots.keys().next().value!);
      pos = 0;
    } else {
      id = Math.floor(cursor / POSITION_SPAN);
      pos = cursor % POSITION_SPAN;
      names = this.#snapshots.get(id);
      if (names === undefined)
        return hsError(
          ErrorCode.BadRequest,
          `SCAN cursor ${parsed} is unknown or expired on this embedded node (at most ${MAX_SCANS} scans are kept); start again from 0`,
        );
    }
    const keys: Buffer[] = [];
    const end = Math.min(names.length, pos + count);
    for (; pos < end; pos++) {
      const k = names[pos]!;
      if (ks.get(k) === undefined) continue;
      if (match !== undefined && !match(k)) continue;
      const key = Buffer.from(k, 'latin1');
      if (type !== undefined && !sameType(ks, key, type)) continue;
      keys.push(key);
    }
    if (pos >= names.length) {
      this.#snapshots.delete(id);
      return [Buffer.from('0'), keys];
    }
    return [Buffer.from(String(id * POSITION_SPAN + pos)), keys];
  }
}

function sameType(ks: Keyspace, key: Buffer, type: string): boolean {
  const reply = runCommand(ks, 'type', [TYPE, key]);
  return reply instanceof SimpleString && reply.value === type;
}

function matcher(pattern: Buffer): ((k: string) => boolean) | ReplyError {
  const text = pattern.toString('latin1');
  if (text === '*') return () => true;
  try {
    const patterns = new KeyPatterns([text]);
    return (k) => patterns.matches(k);
  } catch (err) {
    return hsError(ErrorCode.BadRequest, `invalid pattern: ${(err as Error).message}`);
  }
}

const arity = (name: string): ReplyError =>
  new ReplyError(`ERR wrong number of arguments for '${name}' command`);
