/**
 * The policy manager: a policy becomes a chain of stages in the fixed order,
 * and a change holds the key's requests until the old stages have closed, so
 * nothing overtakes a flush or a fold-back.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { PolicyManager } from '../../src/mitigate/policies.js';
import type { KeyPolicy, Remedy, RemedyName } from '../../src/mitigate/policy.js';
import type { Router } from '../../src/router/router.js';
import { memoryCluster, send } from './cluster.js';

const router = (): Router => memoryCluster({ nodes: ['n0', 'n1'], shards: 4 });

/** A remedy that tags what passes through it and whose close waits for the test to release it. */
function tagging(name: RemedyName, log: string[], gates: (() => void)[]): Remedy {
  return {
    name,
    build(_policy, key, next) {
      return {
        run(req, done) {
          log.push(`${name}:${req.cmd.args.map(String).join(' ')}`);
          next.run(req, done);
        },
        status: () => ({ key: key.toString() }),
        close: () =>
          new Promise<void>((resolve) => {
            log.push(`${name}:close`);
            gates.push(resolve);
          }),
      };
    },
  };
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await new Promise((r) => setImmediate(r));
  if (!cond()) throw new Error('condition never held');
}

const bounded = (extra: Partial<KeyPolicy>): KeyPolicy => ({ consistency: 'bounded', ...extra });

describe('policy manager', () => {
  it('builds the stages in the fixed order, whatever order the policy lists them in', async () => {
    const r = router();
    const log: string[] = [];
    const gates: (() => void)[] = [];
    const m = new PolicyManager({ router: r, clock: new ManualClock() }, [
      tagging('cache', log, gates),
      tagging('throttle', log, gates),
    ]);
    await m.set(
      Buffer.from('k'),
      bounded({
        cache: { maxStaleMs: 10, staleWhileRevalidate: false },
        throttle: { opsPerSec: 1, burst: 1 },
      }),
    );
    await send(r, 'set', 'k', '1');
    expect(log).toEqual(['throttle:set k 1', 'cache:set k 1']);
    expect(m.get(Buffer.from('k'))?.status).toEqual({ throttle: { key: 'k' }, cache: { key: 'k' } });
    expect(m.remedies).toEqual(['throttle', 'cache']);
    await expect(m.set(Buffer.from('k'), bounded({ salt: { buckets: 2 } }))).rejects.toThrow(/salt/);
  });

  it('holds the key’s requests while the old stages close, then runs them in order through the new chain', async () => {
    const r = router();
    const log: string[] = [];
    const gates: (() => void)[] = [];
    const m = new PolicyManager({ router: r, clock: new ManualClock() }, [
      tagging('aggregate', log, gates),
      tagging('cache', log, gates),
    ]);
    const key = Buffer.from('c');
    await m.set(key, bounded({ aggregate: { flushMs: 2, mode: 'sync' } }));
    const change = m.set(key, bounded({ cache: { maxStaleMs: 10, staleWhileRevalidate: false } }));
    await until(() => gates.length === 1);
    const held = [send(r, 'incr', 'c'), send(r, 'incr', 'c'), send(r, 'get', 'c')];
    const other = await send(r, 'incr', 'other');
    expect(other).toBe(1); // other keys are not held
    expect(log).toEqual(['aggregate:close']);
    gates.shift()!();
    await change;
    expect(await Promise.all(held)).toEqual([1, 2, Buffer.from('2')]);
    expect(log).toEqual(['aggregate:close', 'cache:incr c', 'cache:incr c', 'cache:get c']);
    const removal = m.delete(key);
    await until(() => gates.length === 1);
    const late = send(r, 'incr', 'c');
    gates.shift()!();
    expect(await removal).toBe(true);
    expect(await late).toBe(3);
    expect(r.policies.size).toBe(0);
    expect(await m.delete(key)).toBe(false);
  });

  it('clear() lets a change under way finish, removes every policy, and refuses any later one', async () => {
    const r = router();
    const log: string[] = [];
    const gates: (() => void)[] = [];
    const m = new PolicyManager({ router: r, clock: new ManualClock() }, [tagging('cache', log, gates)]);
    const cache = bounded({ cache: { maxStaleMs: 10, staleWhileRevalidate: false } });
    await m.set(Buffer.from('a'), cache);
    const replacing = m.set(Buffer.from('a'), cache); // closes the old stage first: waits on its gate
    await until(() => gates.length === 1);
    const clearing = m.clear();
    gates.shift()!();
    await replacing;
    await until(() => gates.length === 1);
    gates.shift()!();
    await clearing;
    expect(r.policies.size).toBe(0);
    expect(m.list()).toEqual([]);
    await expect(m.set(Buffer.from('b'), cache)).rejects.toThrow(/shutting down/);
    expect(r.policies.size).toBe(0);
  });
});
