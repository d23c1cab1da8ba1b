/**
 * Measured requests of the current second, written down on the hot path and
 * folded into the counters and sketches in batches (RouterTelemetry drains
 * the log when it fills, when the second moves on, and before every read).
 *
 * Why a log: folding one request in touches a latency-histogram bucket and a
 * few scalars for each of its shard, node and tenant, and for a sketched one
 * the Count-Min rows, SpaceSaving tables and HyperLogLog registers of its key
 * — a few dozen cache lines that the request path has evicted since the last
 * measured request a few hundred µs earlier, so one at a time each measured
 * request mostly waited on memory. Folded a batch at a time those lines stay
 * in cache across the batch, and the request path itself only appends nine
 * numbers and the key's bytes to arrays it wrote a moment ago. (Timed inside
 * a proxy under redis-benchmark GET -P 16 at ≈ 230 k requests/s, 3.5 k
 * measured a second: measuring went from ≈ 13 to 5–8 ms of CPU a second;
 * bench/telemetry/timing.ts times it.)
 *
 * Fixed-size typed arrays, allocation-free on both sides. Records keep their
 * order, so the sketches' sampler sees the same sequence as unbatched. Every
 * field is an int32: a float64 read back from a Float64Array and handed to a
 * call V8 did not inline is boxed (an allocation per record), an int32 in
 * Smi range is not. So latency is kept in whole µs (rounded: the histogram's
 * buckets are far wider) and bytes up to 2 GiB per request.
 */

/** Records per batch; a full log is drained before the next append. */
export const LOG_RECORDS = 1024;
/** Key bytes per batch: keys are packed one after another. */
const LOG_KEY_BYTES = 64 * 1024;
/** A key longer than this is not logged: the caller folds that request in at once. */
export const LOG_MAX_KEY_BYTES = 1024;

const FIELDS = 9;
const INT_MAX = 0x7fffffff;

/** What a drain hands each record to. */
export interface MeasureSink {
  fold(
    shard: number,
    node: number,
    tenant: number,
    key: Uint8Array | null,
    isWrite: boolean,
    bytesIn: number,
    bytesOut: number,
    latencyMicros: number,
    outcome: number,
    weight: number,
    increment: boolean,
  ): void;
}

/** A batch of measured requests waiting to be folded in. */
export class MeasureLog {
  /** Records held. */
  length = 0;
  #keyEnd = 0;
  // FIELDS ints a record: shard, node, tenant, key length (-1: keyless),
  // flags (outcome << 2 | increment << 1 | isWrite), bytes in, bytes out, latency (µs), weight.
  readonly #ints = new Int32Array(LOG_RECORDS * FIELDS);
  readonly #keys = new Uint8Array(LOG_KEY_BYTES);
  /** Views of the drain's key buffer, one per length, so a drain allocates nothing. */
  readonly #scratch = new Uint8Array(LOG_MAX_KEY_BYTES);
  readonly #views: Uint8Array[] = [];

  constructor() {
    for (let n = 0; n <= LOG_MAX_KEY_BYTES; n++) this.#views.push(this.#scratch.subarray(0, n));
  }

  /** Whether a record with a key of `keyBytes` bytes fits now (false: drain first). */
  fits(keyBytes: number): boolean {
    return this.length < LOG_RECORDS && this.#keyEnd + keyBytes <= LOG_KEY_BYTES;
  }

  /**
   * Hot path: one measured request (see RouterTelemetry.measure). The caller
   * checked `fits` and that the key is at most LOG_MAX_KEY_BYTES long.
   */
  append(
    shard: number,
    node: number,
    tenant: number,
    key: Uint8Array | null,
    isWrite: boolean,
    bytesIn: number,
    bytesOut: number,
    latencyMicros: number,
    outcome: number,
    weight: number,
    increment: boolean,
  ): void {
    const ints = this.#ints;
    const i = this.length++ * FIELDS;
    ints[i] = shard;
    ints[i + 1] = node;
    ints[i + 2] = tenant;
    if (key === null) ints[i + 3] = -1;
    else {
      ints[i + 3] = key.length;
      this.#keys.set(key, this.#keyEnd);
      this.#keyEnd += key.length;
    }
    ints[i + 4] = (outcome << 2) | (increment ? 2 : 0) | (isWrite ? 1 : 0);
    ints[i + 5] = Math.min(bytesIn, INT_MAX);
    ints[i + 6] = Math.min(bytesOut, INT_MAX);
    ints[i + 7] = Math.min(Math.round(latencyMicros), INT_MAX);
    ints[i + 8] = weight;
  }

  /** Hands every record to `sink` in the order appended, and empties the log. */
  drain(sink: MeasureSink): void {
    const ints = this.#ints;
    const keys = this.#keys;
    const scratch = this.#scratch;
    const views = this.#views;
    let at = 0;
    for (let r = 0; r < this.length; r++) {
      const i = r * FIELDS;
      const len = ints[i + 3]!;
      let key: Uint8Array | null = null;
      if (len >= 0) {
        // A loop, not set(subarray): a view per record would allocate.
        for (let k = 0; k < len; k++) scratch[k] = keys[at + k]!;
        at += len;
        key = views[len]!;
      }
      const flags = ints[i + 4]!;
      sink.fold(
        ints[i]!,
        ints[i + 1]!,
        ints[i + 2]!,
        key,
        (flags & 1) === 1,
        ints[i + 5]!,
        ints[i + 6]!,
        ints[i + 7]!,
        flags >> 2,
        ints[i + 8]!,
        (flags & 2) === 2,
      );
    }
    this.length = 0;
    this.#keyEnd = 0;
  }
}
