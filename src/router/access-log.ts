/**
 * A sampled access log: one JSON line per sampled request (time, tenant, op,
 * key, bytes, shard, latency). `hotshard replay` turns it back into traffic.
 *
 * Logging never slows the request path: lines are buffered, and when the file
 * cannot keep up they are dropped and counted rather than queued without bound.
 */
import { createWriteStream, type WriteStream } from 'node:fs';

/** One logged request. */
export interface AccessRecord {
  /** ms since the epoch when the reply left the router (file order is the order shards applied requests). */
  readonly t: number;
  readonly tenant: string;
  /** Lower-case command name. */
  readonly op: string;
  /** The (first) key as text; binary keys are `b64:` + base64. */
  readonly key: string;
  /** Request value bytes (SET/MSET values) plus reply bytes where known. */
  readonly bytes: number;
  readonly shard: string;
  /** Latency in ms, 3 decimals. */
  readonly latencyMs: number;
  /** Set when the request failed: the error's first word (e.g. `ERR`, `BUSY`). */
  readonly error?: string;
}

/** Printable ASCII keys are logged as they are; anything else as base64. */
export function keyToText(key: Buffer): string {
  for (let i = 0; i < key.length; i++) {
    const c = key[i]!;
    if (c < 0x20 || c > 0x7e) return 'b64:' + key.toString('base64');
  }
  return key.toString('latin1');
}

/** Inverse of keyToText. */
export function keyFromText(text: string): Buffer {
  return text.startsWith('b64:') ? Buffer.from(text.slice(4), 'base64') : Buffer.from(text, 'latin1');
}

/** Writes sampled requests as JSON lines. */
export class AccessLog {
  readonly #stream: WriteStream;
  readonly #rate: number;
  readonly #random: () => number;
  #dropped = 0;
  #written = 0;
  #blocked = false;

  /**
   * @param file where to append JSON lines
   * @param sampleRate fraction of requests logged (0..1]
   */
  constructor(file: string, sampleRate: number, random: () => number = Math.random) {
    if (!(sampleRate > 0 && sampleRate <= 1))
      throw new RangeError(`sampleRate must be in (0, 1], got ${sampleRate}`);
    this.#rate = sampleRate;
    this.#random = random;
    this.#stream = createWriteStream(file, { flags: 'a', highWaterMark: 1 << 20 });
    this.#stream.on('drain', () => (this.#blocked = false));
    this.#stream.on('error', () => (this.#blocked = true));
  }

  /** True when this request should be logged (decide before building the record). */
  sample(): boolean {
    return this.#rate === 1 || this.#random() < this.#rate;
  }

  /** Appends one record, or drops it when the file is behind. */
  write(record: AccessRecord): void {
    if (this.#blocked) {
      this.#dropped++;
      return;
    }
    this.#written++;
    if (!this.#stream.write(JSON.stringify(record) + '\n')) this.#blocked = true;
  }

  /** Lines written and lines dropped because the file was behind. */
  get counts(): { written: number; dropped: number } {
    return { written: this.#written, dropped: this.#dropped };
  }

  /** Flushes and closes the file. */
  close(): Promise<void> {
    return new Promise((resolve) => this.#stream.end(resolve));
  }
}
