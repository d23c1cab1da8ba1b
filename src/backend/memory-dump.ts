/**
 * The payload an embedded node's dump holds (what a live move copies between
 * embedded nodes): "HS" magic, a format version, a type tag, then the data.
 *
 * - string: the bytes.
 * - hash: u32 field count, then per field a chunk for the field and one for the value.
 * - list: u32 count, then a chunk per element, head first.
 * - set: u32 count, then a chunk per member.
 * - zset: u32 count, then per member a chunk and its score as a big-endian double, in order.
 * - stream (version 3): its nodes as Redis keeps them (u32 count; per node u32
 *   entries, each an ID, a deleted flag byte, u32 count and chunks of fields
 *   and values), then the last ID, the largest deleted ID, entries added (u64),
 *   and its groups (u32 count; per group a name chunk, last ID, entries read
 *   (i64, -1 unknown), u32 consumers each a name chunk and seen time (double),
 *   u32 pending entries each an ID, consumer name chunk, delivery time (double)
 *   and delivery count (u32)). An ID is 16 bytes, ms then seq, big-endian.
 *
 * A chunk is a u32 length and the bytes. Version 1 (strings and hashes) reads
 * the same in version 2, so a node of either reads the other's strings and hashes;
 * version 3 (streams) reads the older ones.
 */
import { ErrorCode, HotshardError } from '../errors.js';
import { Deque } from './memory-deque.js';
import type { Value } from './memory-keyspace.js';
import { SortedSet } from './memory-sorted-set.js';
import { Stream, type GroupSnapshot, type StreamSnapshot } from './memory-stream.js';

const DUMP_MAGIC_0 = 0x48;
const DUMP_MAGIC_1 = 0x53;
const DUMP_VERSION = 3;
const TAG_STRING = 0;
const TAG_HASH = 1;
const TAG_LIST = 2;
const TAG_SET = 3;
const TAG_ZSET = 4;
const TAG_STREAM = 5;
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
  /** A 128-bit stream ID or other unsigned value below 2^128. */
  u128(v: bigint): void {
    const b = Buffer.allocUnsafe(16);
    b.writeBigUInt64BE(v >> 64n);
    b.writeBigUInt64BE(v & 0xffffffffffffffffn, 8);
    this.parts.push(b);
  }
  i64(v: number): void {
    const b = Buffer.allocUnsafe(8);
    b.writeBigInt64BE(BigInt(v));
    this.parts.push(b);
  }
}

function writeStream(w: Writer, snap: StreamSnapshot): void {
  w.u32(snap.nodes.length);
  for (const entries of snap.nodes) {
    w.u32(entries.length);
    for (const e of entries) {
      w.u128(e.id);
      w.parts.push(Buffer.from([e.deleted ? 1 : 0]));
      w.u32(e.fields.length);
      for (const f of e.fields) w.chunk(f);
    }
  }
  w.u128(snap.lastId);
  w.u128(snap.maxDeletedId);
  w.i64(snap.entriesAdded);
  w.u32(snap.groups.length);
  for (const g of snap.groups) {
    w.text(g.name);
    w.u128(g.lastId);
    w.i64(g.entriesRead);
    w.u32(g.consumers.length);
    for (const c of g.consumers) {
      w.text(c.name);
      w.double(c.seenTime);
    }
    w.u32(g.pending.length);
    for (const p of g.pending) {
      w.u128(p.id);
      w.text(p.consumer);
      w.double(p.time);
      w.u32(p.count);
    }
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
  } else if (value instanceof Stream) {
    header[3] = TAG_STREAM;
    writeStream(w, value.snapshot());
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
  const version = payload[2]!;
  if (version < 1 || version > DUMP_VERSION) throw bad(`unsupported version ${String(version)}`);
  const tag = payload[3]!;
  if (tag === TAG_STRING) return Buffer.from(payload.subarray(DUMP_HEADER));
  const newest = version === 1 ? TAG_HASH : version === 2 ? TAG_ZSET : TAG_STREAM;
  if (tag > newest || (version === 1 && tag !== TAG_HASH)) throw bad(`unknown type tag ${String(tag)}`);
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
  const need = (n: number): number => {
    if (pos + n > payload.length) throw bad('truncated');
    const at = pos;
    pos += n;
    return at;
  };
  const u128 = (): bigint => {
    const at = need(16);
    return (payload.readBigUInt64BE(at) << 64n) | payload.readBigUInt64BE(at + 8);
  };
  const i64 = (): number => Number(payload.readBigInt64BE(need(8)));
  const double = (): number => payload.readDoubleBE(need(8));
  if (tag === TAG_STREAM) {
    const nodes: { id: bigint; fields: Buffer[]; deleted: boolean }[][] = [];
    let prev = -1n;
    for (let n = u32(); n > 0; n--) {
      const entries: { id: bigint; fields: Buffer[]; deleted: boolean }[] = [];
      for (let e = u32(); e > 0; e--) {
        const id = u128();
        if (id <= prev) throw bad('stream IDs out of order');
        prev = id;
        const deleted = payload[need(1)] === 1;
        const fields: Buffer[] = [];
        for (let f = u32(); f > 0; f--) fields.push(chunk());
        if (fields.length === 0 || fields.length % 2 !== 0) throw bad('odd stream entry');
        entries.push({ id, fields, deleted });
      }
      nodes.push(entries);
    }
    const lastId = u128();
    const maxDeletedId = u128();
    const entriesAdded = i64();
    const groups: GroupSnapshot[] = [];
    for (let g = u32(); g > 0; g--) {
      const name = chunk().toString('latin1');
      const groupLast = u128();
      const entriesRead = i64();
      const consumers: { name: string; seenTime: number }[] = [];
      for (let c = u32(); c > 0; c--)
        consumers.push({ name: chunk().toString('latin1'), seenTime: double() });
      const pending: { id: bigint; consumer: string; time: number; count: number }[] = [];
      for (let p = u32(); p > 0; p--) {
        pending.push({ id: u128(), consumer: chunk().toString('latin1'), time: double(), count: u32() });
      }
      groups.push({ name, lastId: groupLast, entriesRead, consumers, pending });
    }
    if (pos !== payload.length) throw bad('trailing bytes');
    const stream = new Stream();
    stream.restore({ nodes, lastId, maxDeletedId, entriesAdded, groups });
    return stream;
  }
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
