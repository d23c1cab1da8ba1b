/**
 * The payload an embedded node's dump holds (what a live move copies between
 * embedded nodes): "HS" magic, a format version, a type tag, then the data.
 *
 * - string: the bytes.
 * - hash: u32 field count, then per field a chunk for the field and one for the value.
 * - list: u32 count, then a chunk per element, head first.
 * - set: u32 count, then a chunk per member.
 * - zset: u32 count, then per member a chunk and its score as a big-endian double, in order.
 *
 * A chunk is a u32 length and the bytes. Version 1 (strings and hashes) reads
 * the same in version 2, so a node of either reads the other's strings and hashes.
 */
import { ErrorCode, HotshardError } from '../errors.js';
import { Deque } from './memory-deque.js';
import type { Value } from './memory-keyspace.js';
import { SortedSet } from './memory-sorted-set.js';

const DUMP_MAGIC_0 = 0x48;
const DUMP_MAGIC_1 = 0x53;
const DUMP_VERSION = 2;
const TAG_STRING = 0;
const TAG_HASH = 1;
const TAG_LIST = 2;
const TAG_SET = 3;
const TAG_ZSET = 4;
const DUMP_HEADER = 4;

/** Collects chunks, then joins them once. */
class Writer {
  readonly parts: Buffer[] = [];
  u32(n: number): void {
    const b = Buffer.allocUnsafe(4);
    b.writeUInt32BE(n);
    this.parts.push(b);
  }
  chunk(b: Buffer): void {
    this.u32(b.length);
    this.parts.push(b);
  }
  text(s: string): void {
    this.chunk(Buffer.from(s, 'latin1'));
  }
  double(v: number): void {
    const b = Buffer.allocUnsafe(8);
    b.writeDoubleBE(v);
    this.parts.push(b);
  }
}

/** Serializes a value into an embedded node's dump payload. */
export function encodeValue(value: Value): Buffer {
  const w = new Writer();
  const header = Buffer.from([DUMP_MAGIC_0, DUMP_MAGIC_1, DUMP_VERSION, 0]);
  w.parts.push(header);
  if (value instanceof Buffer) {
    header[3] = TAG_STRING;
    w.parts.push(value);
  } else if (value instanceof Map) {
    header[3] = TAG_HASH;
    w.u32(value.size);
    for (const [field, v] of value) {
      w.text(field);
      w.chunk(v);
    }
  } else if (value instanceof Deque) {
    header[3] = TAG_LIST;
    w.u32(value.length);
    for (const v of value.toArray()) w.chunk(v);
  } else if (value instanceof Set) {
    header[3] = TAG_SET;
    w.u32(value.size);
    for (const m of value) w.text(m);
  } else if (value instanceof SortedSet) {
    header[3] = TAG_ZSET;
    w.u32(value.size);
    for (const n of value.entries()) {
      w.text(n.member);
      w.double(n.score);
    }
  }
  return Buffer.concat(w.parts);
}

/** Parses a dump payload (copying it); throws HS_ERR_BAD_REQUEST when it is not one of ours. */
export function decodeValue(payload: Buffer): Value {
  const bad = (why: string): HotshardError =>
    new HotshardError(ErrorCode.BadRequest, `not a memory backend dump payload: ${why}`);
  if (payload.length < DUMP_HEADER || payload[0] !== DUMP_MAGIC_0 || payload[1] !== DUMP_MAGIC_1) {
    throw bad('bad magic');
  }
  if (payload[2] !== 1 && payload[2] !== DUMP_VERSION) throw bad(`unsupported version ${String(payload[2])}`);
  const tag = payload[3]!;
  if (tag === TAG_STRING) return Buffer.from(payload.subarray(DUMP_HEADER));
  if (tag > TAG_ZSET || (payload[2] === 1 && tag !== TAG_HASH)) throw bad(`unknown type tag ${String(tag)}`);
  let pos = DUMP_HEADER;
  const u32 = (): number => {
    if (pos + 4 > payload.length) throw bad('truncated');
    const n = payload.readUInt32BE(pos);
    pos += 4;
    return n;
  };
  const chunk = (): Buffer => {
    const len = u32();
    if (pos + len > payload.length) throw bad('truncated');
    const b = Buffer.from(payload.subarray(pos, pos + len));
    pos += len;
    return b;
  };
  const count = u32();
  let value: Value;
  if (tag === TAG_HASH) {
    const hash = new Map<string, Buffer>();
    for (let i = 0; i < count; i++) hash.set(chunk().toString('latin1'), chunk());
    value = hash;
  } else if (tag === TAG_LIST) {
    const items: Buffer[] = [];
    for (let i = 0; i < count; i++) items.push(chunk());
    value = new Deque(items);
  } else if (tag === TAG_SET) {
    const set = new Set<string>();
    for (let i = 0; i < count; i++) set.add(chunk().toString('latin1'));
    value = set;
  } else {
    const z = new SortedSet();
    for (let i = 0; i < count; i++) {
      const member = chunk().toString('latin1');
      if (pos + 8 > payload.length) throw bad('truncated');
      const score = payload.readDoubleBE(pos);
      pos += 8;
      if (Number.isNaN(score)) throw bad('NaN score');
      z.set(member, score);
    }
    value = z;
  }
  if (pos !== payload.length) throw bad('trailing bytes');
  const size =
    value instanceof Map || value instanceof Set
      ? value.size
      : value instanceof Deque
        ? value.length
        : value.size;
  if (size === 0) throw bad('empty value');
  return value;
}
