/**
 * A load run on its own thread, for runs that share a process with the
 * hotshard they measure (scenarios on embedded nodes).
 *
 * Why a thread: on one thread, the generator's garbage (a request, a reply
 * and a ledger entry per write) and the embedded nodes' share one heap, and
 * V8 then runs a full mark-compact every 2-3 s at 17,500 req/s. Each one
 * stops the router for 10-35 ms, and that second's p99 reads 20-70 ms,
 * over the SLO, in a scenario whose mitigation had worked (noisy-tenant
 * missed its restore target on every seed). Apart — a heap each — neither
 * side ran a mark-compact in 30 s. The generator's own pauses, if any,
 * still count against latency: it measures from the intended send time.
 *
 * The thread runs the generator and the write check (the ledger stays where
 * the writes were recorded), and sends each second's figures back as they
 * come.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { LoadOptions, LoadReport, SecondStats } from './generator.js';
import type { WriteCheck } from './write-ledger.js';

/** What a thread's run is given: the generator's options less the callbacks, which cannot cross threads. */
export type ThreadLoadOptions = Omit<LoadOptions, 'signal' | 'trackWrites' | 'onSecond' | 'onRequest'> & {
  /** Record acknowledged writes and read them back once the load is done. */
  readonly verifyWrites: boolean;
  /**
   * Also measure, per second the requests were due in, the latency of every
   * tenant but this one (the one a noisy-tenant scenario floods).
   */
  readonly othersOf?: string;
};

/** One second's latency of the requests that were due in it: how many were answered or failed after sending, and their p99 in ms. */
export interface DueSecond {
  readonly ops: number;
  readonly p99: number;
}

/** What a thread's run measured. */
export interface ThreadLoadResult {
  readonly report: LoadReport;
  /** null unless `verifyWrites`. */
  readonly check: WriteCheck | null;
  /** Indexed by second; empty unless `othersOf`. */
  readonly others: readonly (DueSecond | undefined)[];
}

/** Messages from the thread. */
export type FromThread =
  | { readonly type: 'ready' }
  | { readonly type: 'second'; readonly stats: SecondStats }
  | { readonly type: 'done'; readonly result: ThreadLoadResult }
  | { readonly type: 'failed'; readonly name: string; readonly message: string };

/** p99 of `latencies` (sorted in place), as the scenario report reads it. */
export function dueSecond(latencies: number[]): DueSecond {
  latencies.sort((a, b) => a - b);
  const n = latencies.length;
  return { ops: n, p99: n === 0 ? 0 : latencies[Math.min(n - 1, Math.floor(0.99 * n))]! };
}

/**
 * A thread that runs the entry beside this module: the compiled one, or,
 * when this module runs from its TypeScript source (tests, tsx), the source
 * through tsx's require hook, since Node 20 does not carry loader hooks
 * (`--import tsx`) into worker threads.
 */
function startWorker(): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./load-thread-entry.js', import.meta.url));
  const tsx = createRequire(import.meta.url).resolve('tsx/cjs/api');
  const source = fileURLToPath(new URL('./load-thread-entry.ts', import.meta.url));
  return new Worker(`require(${JSON.stringify(tsx)}).register(); require(${JSON.stringify(source)});`, {
    eval: true,
  });
}

/**
 * A started load thread: {@link open} waits until it has loaded, so that the
 * run can begin at a chosen moment; {@link run} once; {@link close} always.
 *
 * @example
 * const thread = await LoadThread.open();
 * try { const { report } = await thread.run({ target, workload, durationMs: 10_000, verifyWrites: true }); }
 * finally { await thread.close(); }
 */
export class LoadThread {
  readonly #worker: Worker;
  #onMessage: ((m: FromThread) => void) | null = null;
  #onEnd: ((err: Error) => void) | null = null;
  #ended: Error | null = null;
  #ran = false;

  private constructor(worker: Worker) {
    this.#worker = worker;
    worker.on('message', (m: FromThread) => this.#onMessage?.(m));
    const end = (err: Error): void => {
      this.#ended ??= err;
      this.#onEnd?.(err);
    };
    worker.on('error', end);
    worker.on('exit', (code) => end(new Error(`load thread exited (code ${code}) before its run finished`)));
  }

  static async open(): Promise<LoadThread> {
    const thread = new LoadThread(startWorker());
    await thread.#next((m, resolve) => {
      if (m.type === 'ready') resolve(undefined);
    });
    return thread;
  }

  /** Runs the load; `onSecond` gets each second's figures as the generator closes it. */
  async run(options: ThreadLoadOptions, onSecond?: (s: SecondStats) => void): Promise<ThreadLoadResult> {
    if (this.#ran) throw new Error('a load thread runs one load; open another');
    this.#ran = true;
    const done = this.#next<ThreadLoadResult>((m, resolve, reject) => {
      if (m.type === 'second') onSecond?.(m.stats);
      else if (m.type === 'done') resolve(m.result);
      else if (m.type === 'failed') {
        const err = new Error(m.message);
        err.name = m.name;
        reject(err);
      }
    });
    this.#worker.postMessage(options);
    return done;
  }

  async close(): Promise<void> {
    this.#onMessage = null;
    this.#onEnd = null;
    await this.#worker.terminate();
  }

  #next<T>(handle: (m: FromThread, resolve: (v: T) => void, reject: (e: Error) => void) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.#ended !== null) return reject(this.#ended);
      this.#onMessage = (m) => handle(m, resolve, reject);
      this.#onEnd = reject;
    });
  }
}
