/**
 * Inside a load thread (see load-thread.ts): says it is ready, takes one
 * run's options, runs the generator and the write check, and posts each
 * second's figures and then the result.
 */
import { parentPort } from 'node:worker_threads';
import { runLoad } from './generator.js';
import { dueSecond, type FromThread, type ThreadLoadOptions, type DueSecond } from './load-thread.js';
import { verifyWrites, WriteLedger } from './write-ledger.js';

const port = parentPort;
if (port === null) throw new Error('load-thread-entry runs only as a worker thread (see load-thread.ts)');
const post = (m: FromThread): void => port.postMessage(m);

async function run(options: ThreadLoadOptions): Promise<void> {
  const { verifyWrites: verify, othersOf, ...load } = options;
  const ledger = verify ? new WriteLedger() : undefined;
  const others: number[][] = [];
  const report = await runLoad({
    ...load,
    ...(ledger === undefined ? {} : { trackWrites: ledger }),
    onSecond: (stats) => post({ type: 'second', stats }),
    ...(othersOf === undefined
      ? {}
      : {
          onRequest: (_key, _op, _ok, d) => {
            if (d.tenant === othersOf || d.latencyMs === null) return;
            (others[Math.floor(d.intendedMs / 1000)] ??= []).push(d.latencyMs);
          },
        }),
  });
  const check = ledger === undefined ? null : await verifyWrites(load.target, ledger);
  const bySecond: (DueSecond | undefined)[] = Array.from(others, (l) =>
    l === undefined ? undefined : dueSecond(l),
  );
  post({ type: 'done', result: { report, check, others: bySecond } });
}

port.once('message', (options: ThreadLoadOptions) => {
  run(options).catch((err: unknown) => {
    const e = err instanceof Error ? err : new Error(String(err));
    post({ type: 'failed', name: e.name, message: e.message });
  });
});
post({ type: 'ready' });
