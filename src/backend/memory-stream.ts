/**
 * The stream value of an embedded node, after Redis 7.0's t_stream.c.
 *
 * Redis keeps a stream as a radix tree of listpack nodes, each holding up to
 * stream-node-max-entries (100) entries or stream-node-max-bytes (4096) of
 * listpack. Deleting an entry only flags it; a node goes when its last live
 * entry does. That layout is visible: approximate trimming (`MAXLEN ~`)
 * removes whole nodes only, and XINFO STREAM counts them. So this keeps the
 * same nodes, with each node's listpack size computed from Redis's encoding
 * rules rather than stored, and answers every range from them.
 *
 * An ID is one bigint, ms * 2^64 + seq, so IDs compare as numbers.
 */
export const SEQ_BITS = 64n;
const SEQ_MASK = (1n << SEQ_BITS) - 1n;
/** The largest ID, 18446744073709551615-18446744073709551615. */
export const MAX_ID = (1n << 128n) - 1n;
/** stream-node-max-entries and stream-node-max-bytes, Redis's defaults. */
const NODE_MAX_ENTRIES = 100;
const NODE_MAX_BYTES = 4096;
/** An entry's fields and values may not total more than a listpack holds (STREAM_LISTPACK_MAX_SIZE). */
export const MAX_ENTRY_BYTES = 2 ** 30;

export const idOf = (ms: bigint, seq: bigint): bigint => (ms << SEQ_BITS) | seq;
export const msOf = (id: bigint): bigint => id >> SEQ_BITS;
export const seqOf = (id: bigint): bigint => id & SEQ_MASK;
/** "ms-seq", as Redis prints an ID. */
export const formatId = (id: bigint): string => `${id >> SEQ_BITS}-${id & SEQ_MASK}`;
export const idReply = (id: bigint): Buffer => Buffer.from(formatId(id), 'latin1');

// ---------------------------------------------------------------------------
// Listpack sizes (listpack.c): what decides where Redis starts a new node.

/** Bytes of an integer element: its encoding plus a one-byte backlen. */
function intBytes(v: bigint): number {
  if (v >= 0n && v <= 127n) return 2;
  if (v >= -4096n && v <= 4095n) return 3;
  if (v >= -32768n && v <= 32767n) return 4;
  if (v >= -8388608n && v <= 8388607n) return 5;
  if (v >= -2147483648n && v <= 2147483647n) return 6;
  return 10;
}

/** Bytes of a string element, stored as an integer when it reads as one (lpStringToInt64). */
function elementBytes(b: Buffer): number {
  if (b.length <= 20) {
    const n = canonicalInt(b);
    if (n !== null) return intBytes(n);
  }
  const len = b.length;
  const enc = len < 64 ? 1 + len : len < 4096 ? 2 + len : 5 + len;
  const back = enc <= 127 ? 1 : enc < 16383 ? 2 : enc < 2097151 ? 3 : enc < 268435455 ? 4 : 5;
  return enc + back;
}

/** The int64 a string is in canonical form (string2ll's rules: no '+', no leading zeros, not "-0"), else null. */
function canonicalInt(b: Buffer): bigint | null {
  const t = b.toString('latin1');
  if (!/^(?:0|-?[1-9][0-9]*)$/.test(t)) return null;
  const v = BigInt(t);
  return v >= -(1n << 63n) && v < 1n << 63n ? v : null;
}

/** An int64 as lpAppendInteger stores a uint64 difference. */
const asInt64 = (v: bigint): bigint => BigInt.asIntN(64, v);

/** One entry; `fields` alternates field and value. A deleted entry stays in its node, flagged. */
export interface StreamEntry {
  readonly id: bigint;
  readonly fields: readonly Buffer[];
  deleted: boolean;
  /** Its listpack bytes (flags, ID deltas, fields unless the master's, values, lp-count). */
  readonly bytes: number;
}

/** One listpack node: a master entry (the first entry's ID and field names), then entries in ID order. */
export class StreamNode {
  readonly entries: StreamEntry[] = [];
  live = 0;
  deleted = 0;
  /** Bytes of everything but the two counters: listpack header and end, master fields, entries. */
  #fixed: number;

  constructor(
    readonly masterId: bigint,
    readonly masterFields: readonly Buffer[],
  ) {
    // header (6) and end (1), num-fields, the field names, the master's 0 terminator
    this.#fixed = 7 + intBytes(BigInt(masterFields.length)) + 2;
    for (const f of masterFields) this.#fixed += elementBytes(f);
  }

  /** lpBytes of this node's listpack. */
  get bytes(): number {
    return this.#fixed + intBytes(BigInt(this.live)) + intBytes(BigInt(this.deleted));
  }

  get first(): bigint {
    return this.entries[0]!.id;
  }

  get last(): bigint {
    return this.entries[this.entries.length - 1]!.id;
  }

  /** Appends an entry (the caller chose this node); its fields are stored as given. */
  append(id: bigint, fields: readonly Buffer[]): void {
    const n = fields.length / 2;
    let same = n === this.masterFields.length;
    for (let i = 0; same && i < n; i++) same = fields[2 * i]!.equals(this.masterFields[i]!);
    let bytes =
      2 +
      intBytes(asInt64(msOf(id) - msOf(this.masterId))) +
      intBytes(asInt64(seqOf(id) - seqOf(this.masterId)));
    let pieces = 3 + n;
    if (!same) {
      bytes += intBytes(BigInt(n));
      pieces += n + 1;
    }
    for (let i = 0; i < n; i++) {
      if (!same) bytes += elementBytes(fields[2 * i]!);
      bytes += elementBytes(fields[2 * i + 1]!);
    }
    bytes += intBytes(BigInt(pieces));
    // After XSETID lowered the last ID, deleted entries may sit above the new
    // one. Redis keeps them in the listpack, skipped by every scan; they leave
    // this list (still counted in the node's size) so it stays in ID order.
    while (this.entries.length > 0 && this.entries[this.entries.length - 1]!.id >= id) this.entries.pop();
    this.entries.push({ id, fields, deleted: false, bytes });
    this.#fixed += bytes;
    this.live++;
  }

  /** Index of the first entry with an ID >= `id` (entries.length when none). */
  lowerBound(id: bigint): number {
    let lo = 0;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.entries[mid]!.id < id) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** What a trim removes: MAXLEN keeps the newest `maxlen`, MINID drops what is below `minid`. */
export interface TrimSpec {
  readonly strategy: 'maxlen' | 'minid';
  readonly maxlen: number;
  readonly minid: bigint;
  /** `~`: only whole nodes go. */
  readonly approx: boolean;
  /** At most this many entries removed (0: no limit). */
  readonly limit: number;
}

/** A pending entry of a group: who has it, since when, how often delivered. */
export interface Nack {
  deliveryTime: number;
  deliveryCount: number;
  consumer: Consumer;
}

/** A map of ID to T iterated in ID order (Redis's PELs are radix trees keyed by ID). */
export class IdMap<T> {
  readonly #values = new Map<bigint, T>();
  #ids: bigint[] = [];

  get size(): number {
    return this.#values.size;
  }

  get(id: bigint): T | undefined {
    return this.#values.get(id);
  }

  set(id: bigint, value: T): void {
    if (!this.#values.has(id)) {
      const ids = this.#ids;
      if (ids.length === 0 || ids[ids.length - 1]! < id) ids.push(id);
      else ids.splice(this.#lowerBound(id), 0, id);
    }
    this.#values.set(id, value);
  }

  delete(id: bigint): boolean {
    if (!this.#values.delete(id)) return false;
    this.#ids.splice(this.#lowerBound(id), 1);
    return true;
  }

  /** Entries with start <= id <= end in ID order, at most `count` (0: all). */
  range(start: bigint, end: bigint, count = 0): [bigint, T][] {
    const out: [bigint, T][] = [];
    for (let i = this.#lowerBound(start); i < this.#ids.length; i++) {
      const id = this.#ids[i]!;
      if (id > end || (count > 0 && out.length === count)) break;
      out.push([id, this.#values.get(id)!]);
    }
    return out;
  }

  first(): bigint | undefined {
    return this.#ids[0];
  }

  last(): bigint | undefined {
    return this.#ids[this.#ids.length - 1];
  }

  #lowerBound(id: bigint): number {
    let lo = 0;
    let hi = this.#ids.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#ids[mid]! < id) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** A consumer of a group: its pending entries and when it was last seen. */
export class Consumer {
  readonly pel = new IdMap<Nack>();
  constructor(
    readonly name: string,
    public seenTime: number,
  ) {}
}

/** SCG_INVALID_ENTRIES_READ: the group's read counter is not known. */
export const INVALID_ENTRIES_READ = -1;

/** A consumer group: its last delivered ID, read counter, pending entries and consumers. */
export class ConsumerGroup {
  readonly pel = new IdMap<Nack>();
  readonly consumers = new Map<string, Consumer>();
  constructor(
    public lastId: bigint,
    public entriesRead: number,
  ) {}
}

/** A stream: its nodes in ID order, and the counters Redis keeps beside them. */
export class Stream {
  readonly nodes: StreamNode[] = [];
  /** Live entries. */
  length = 0;
  lastId = 0n;
  /** The first live entry's ID (0 when empty). */
  firstId = 0n;
  maxDeletedId = 0n;
  entriesAdded = 0;
  /** Consumer groups by name (latin1), created on first use as Redis does. */
  groups: Map<string, ConsumerGroup> | null = null;

  /**
   * Appends an entry with `id` (already checked to be above lastId). Starts a
   * new node as streamAppendItem does: when the tail's listpack would reach
   * 4096 bytes or already holds 100 entries, live and deleted.
   */
  append(id: bigint, fields: readonly Buffer[]): void {
    let node = this.nodes[this.nodes.length - 1];
    if (node !== undefined) {
      let total = 0;
      for (const f of fields) total += f.length;
      if (node.bytes + total >= NODE_MAX_BYTES || node.live + node.deleted >= NODE_MAX_ENTRIES)
        node = undefined;
    }
    if (node === undefined) {
      const masterFields: Buffer[] = [];
      for (let i = 0; i < fields.length; i += 2) masterFields.push(fields[i]!);
      node = new StreamNode(id, masterFields);
      this.nodes.push(node);
    }
    node.append(id, fields);
    this.length++;
    this.entriesAdded++;
    this.lastId = id;
    if (this.length === 1) this.firstId = id;
  }

  /** The ID the next `XADD *` gets at wall-clock `nowMs` (streamNextID), or null when IDs are exhausted. */
  nextId(nowMs: number): bigint | null {
    const ms = BigInt(Math.max(0, Math.trunc(nowMs)));
    if (ms > msOf(this.lastId)) return idOf(ms, 0n);
    if (seqOf(this.lastId) === SEQ_MASK) {
      return msOf(this.lastId) === SEQ_MASK ? null : idOf(msOf(this.lastId) + 1n, 0n);
    }
    return this.lastId + 1n;
  }

  /** Index of the node that may hold `id`: the last whose master ID is <= id (0 when none). */
  #nodeFor(id: bigint): number {
    let lo = 0;
    let hi = this.nodes.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.nodes[mid]!.masterId <= id) lo = mid + 1;
      else hi = mid;
    }
    return Math.max(0, lo - 1);
  }

  /** The live entry with `id`, if any. */
  entry(id: bigint): StreamEntry | undefined {
    const node = this.nodes[this.#nodeFor(id)];
    if (node === undefined) return undefined;
    const e = node.entries[node.lowerBound(id)];
    return e !== undefined && e.id === id && !e.deleted ? e : undefined;
  }

  /**
   * Live entries with start <= id <= end, at most `count` (0: all), in ID
   * order or, with `rev`, from `end` down.
   */
  range(start: bigint, end: bigint, count = 0, rev = false): StreamEntry[] {
    const out: StreamEntry[] = [];
    if (start > end || this.length === 0) return out;
    if (!rev) {
      for (let n = this.#nodeFor(start); n < this.nodes.length; n++) {
        const node = this.nodes[n]!;
        for (let i = node.lowerBound(start); i < node.entries.length; i++) {
          const e = node.entries[i]!;
          if (e.id > end) return out;
          if (e.deleted) continue;
          out.push(e);
          if (out.length === count) return out;
        }
      }
      return out;
    }
    for (let n = this.#nodeFor(end); n >= 0; n--) {
      const node = this.nodes[n]!;
      let i = node.lowerBound(end);
      if (i === node.entries.length || node.entries[i]!.id > end) i--;
      for (; i >= 0; i--) {
        const e = node.entries[i]!;
        if (e.id < start) return out;
        if (e.deleted) continue;
        out.push(e);
        if (out.length === count) return out;
      }
    }
    return out;
  }

  /** The last live entry's ID (streamLastValidID), 0 when empty. */
  lastValidId(): bigint {
    return this.range(0n, MAX_ID, 1, true)[0]?.id ?? 0n;
  }

  /** Flags the entry with `id` deleted (XDEL); false when there is no live one. */
  delete(id: bigint): boolean {
    const at = this.#nodeFor(id);
    const node = this.nodes[at];
    if (node === undefined) return false;
    const e = node.entries[node.lowerBound(id)];
    if (e === undefined || e.id !== id || e.deleted) return false;
    if (node.live === 1) this.nodes.splice(at, 1);
    else {
      e.deleted = true;
      node.live--;
      node.deleted++;
    }
    this.length--;
    return true;
  }

  /** Sets firstId after entries went, as XDEL and trimming do. */
  refreshFirstId(): void {
    this.firstId = this.length === 0 ? 0n : this.range(0n, MAX_ID, 1)[0]!.id;
  }

  /** Trims as streamTrim does; returns how many entries went. */
  trim(spec: TrimSpec): number {
    let removed = 0;
    while (this.nodes.length > 0) {
      if (spec.strategy === 'maxlen' && this.length <= spec.maxlen) break;
      const node = this.nodes[0]!;
      const entries = node.live;
      if (spec.limit !== 0 && removed + entries > spec.limit) break;
      const whole =
        spec.strategy === 'maxlen' ? this.length - entries >= spec.maxlen : node.last < spec.minid;
      if (whole) {
        this.nodes.shift();
        this.length -= entries;
        removed += entries;
        continue;
      }
      if (spec.approx) break;
      // within the node: flag entries until the stream is short enough or the IDs reach minid
      for (const e of node.entries) {
        const stop = spec.strategy === 'maxlen' ? this.length <= spec.maxlen : e.id >= spec.minid;
        if (stop) break;
        if (e.deleted) continue;
        e.deleted = true;
        node.live--;
        node.deleted++;
        this.length--;
        removed++;
      }
      break;
    }
    this.refreshFirstId();
    return removed;
  }

  /**
   * Whether start <= maxDeletedId <= end with a live entry after it
   * (streamRangeHasTombstones): a read counter cannot be carried past a deleted entry.
   */
  hasTombstones(start: bigint, end = MAX_ID): boolean {
    if (this.length === 0 || this.maxDeletedId === 0n) return false;
    if (this.firstId > this.maxDeletedId) return false;
    return start <= this.maxDeletedId && this.maxDeletedId <= end;
  }

  /** streamEstimateDistanceFromFirstEverEntry: the read counter of `id`, or INVALID_ENTRIES_READ. */
  estimateEntriesRead(id: bigint): number {
    if (this.entriesAdded === 0) return 0;
    if (this.length === 0 && id <= this.lastId) return this.entriesAdded;
    if (id === this.lastId) return this.entriesAdded;
    if (id > this.lastId) return INVALID_ENTRIES_READ;
    if (this.maxDeletedId === 0n || this.maxDeletedId < this.firstId) {
      if (id < this.firstId) return this.entriesAdded - this.length;
      if (id === this.firstId) return this.entriesAdded - this.length + 1;
    }
    return INVALID_ENTRIES_READ;
  }

  /** A copy sharing nothing mutable (COPY). */
  clone(): Stream {
    const s = new Stream();
    s.restore(this.snapshot());
    return s;
  }

  /** Everything that makes this stream, in a plain form (dumps and COPY). */
  snapshot(): StreamSnapshot {
    const groups: GroupSnapshot[] = [];
    for (const [name, g] of this.groups ?? []) {
      groups.push({
        name,
        lastId: g.lastId,
        entriesRead: g.entriesRead,
        consumers: [...g.consumers.values()].map((c) => ({ name: c.name, seenTime: c.seenTime })),
        pending: g.pel.range(0n, MAX_ID).map(([id, n]) => ({
          id,
          consumer: n.consumer.name,
          time: n.deliveryTime,
          count: n.deliveryCount,
        })),
      });
    }
    return {
      nodes: this.nodes.map((n) =>
        n.entries.map((e) => ({ id: e.id, fields: e.fields, deleted: e.deleted })),
      ),
      lastId: this.lastId,
      maxDeletedId: this.maxDeletedId,
      entriesAdded: this.entriesAdded,
      groups,
    };
  }

  /** Rebuilds this (empty) stream from a snapshot, node for node. */
  restore(snap: StreamSnapshot): void {
    for (const entries of snap.nodes) {
      if (entries.length === 0) continue;
      const first = entries[0]!;
      const masterFields: Buffer[] = [];
      for (let i = 0; i < first.fields.length; i += 2) masterFields.push(first.fields[i]!);
      const node = new StreamNode(first.id, masterFields);
      for (const e of entries) {
        node.append(
          e.id,
          e.fields.map((f) => Buffer.from(f)),
        );
        if (e.deleted) {
          node.entries[node.entries.length - 1]!.deleted = true;
          node.live--;
          node.deleted++;
        }
      }
      if (node.live === 0) continue;
      this.nodes.push(node);
      this.length += node.live;
    }
    this.lastId = snap.lastId;
    this.maxDeletedId = snap.maxDeletedId;
    this.entriesAdded = snap.entriesAdded;
    this.refreshFirstId();
    if (snap.groups.length > 0) this.groups = new Map();
    for (const g of snap.groups) {
      const group = new ConsumerGroup(g.lastId, g.entriesRead);
      for (const c of g.consumers) group.consumers.set(c.name, new Consumer(c.name, c.seenTime));
      for (const p of g.pending) {
        let consumer = group.consumers.get(p.consumer);
        if (consumer === undefined)
          group.consumers.set(p.consumer, (consumer = new Consumer(p.consumer, p.time)));
        const nack: Nack = { deliveryTime: p.time, deliveryCount: p.count, consumer };
        group.pel.set(p.id, nack);
        consumer.pel.set(p.id, nack);
      }
      this.groups!.set(g.name, group);
    }
  }
}

export interface GroupSnapshot {
  readonly name: string;
  readonly lastId: bigint;
  readonly entriesRead: number;
  readonly consumers: readonly { readonly name: string; readonly seenTime: number }[];
  readonly pending: readonly {
    readonly id: bigint;
    readonly consumer: string;
    readonly time: number;
    readonly count: number;
  }[];
}

export interface StreamSnapshot {
  readonly nodes: readonly (readonly {
    readonly id: bigint;
    readonly fields: readonly Buffer[];
    readonly deleted: boolean;
  }[])[];
  readonly lastId: bigint;
  readonly maxDeletedId: bigint;
  readonly entriesAdded: number;
  readonly groups: readonly GroupSnapshot[];
}
