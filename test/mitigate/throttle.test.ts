/**
 * The per-key throttle remedy, through the policy manager and a router over
 * embedded nodes: past the key's rate a request is refused at once with
 * HS_ERR_THROTTLED scope=key and an exact retry-after; under it, requests
 * reach the node; other keys are never touched.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { ErrorCode } from '../../src/errors.js';
import { throttleRemedy } from '../../src/mitigate/actions/throttle.js';
import { PolicyManager } from '../../src/mitigate/policies.js';
import { OK, ReplyError, type Reply } from '../../src/protocol/reply.js';
import type { Router } from '../../src/router/router.js';
import { Session } from '../../src/router/session.js';
import { memoryCluster, send } from './cluster.js';

const router = (): Router => memoryCluster({ nodes: ['n0', 'n1'], shards: 4 });

/** What a reply says, in a form easy to compare. */
function shown(reply: Reply): unknown {
  if (reply instanceof ReplyError)
    return { code: reply.code, retryAfterMs: reply.retryAfterMs, scope: reply.scope };
  return Buffer.isBuffer(reply) ? reply.toString() : reply;
}

describe('throttle remedy', () => {
  it('throttle - over the key limit a request is refused at once with scope=key and the exact retry-after; under it, it passes', async () => {
    const r = router();
    const clock = new ManualClock();
    const m = new PolicyManager({ router: r, clock }, [throttleRemedy()]);
    await m.set(Buffer.from('hot'), { consistency: 'bounded', throttle: { opsPerSec: 20, burst: 2 } });

    expect(await send(r, 'SET', 'hot', 'a')).toBe(OK);
    expect(shown(await send(r, 'GET', 'hot'))).toBe('a');
    const refused = await send(r, 'SET', 'hot', 'b');
    expect(shown(refused)).toEqual({ code: ErrorCode.Throttled, retryAfterMs: 50, scope: 'key' });
    expect((refused as ReplyError).message).toMatch(/^BUSY HS_ERR_THROTTLED retry-after-ms=50 scope=key \S/);
    // The refused write never reached the node.
    clock.advance(49);
    expect(shown(await send(r, 'GET', 'hot'))).toEqual({
      code: ErrorCode.Throttled,
      retryAfterMs: 1,
      scope: 'key',
    });
    clock.advance(1);
    expect(shown(await send(r, 'GET', 'hot'))).toBe('a');
    // Other keys are not limited.
    for (let i = 0; i < 10; i++) expect(shown(await send(r, 'GET', 'cold'))).toBe(null);
  });

  it('throttle - each key of a multi-key command is limited on its own', async () => {
    const r = router();
    const clock = new ManualClock();
    const m = new PolicyManager({ router: r, clock }, [throttleRemedy()]);
    await m.set(Buffer.from('hot'), { consistency: 'bounded', throttle: { opsPerSec: 1, burst: 1 } });
    await send(r, 'MSET', 'hot', '1', 'cold', '2');
    const reply = await send(r, 'MGET', 'hot', 'cold');
    // The MSET took hot's only token: MGET's read of hot is refused, and a
    // multi-key command answers with the first error, as Redis Cluster proxies do.
    expect(shown(reply)).toEqual({ code: ErrorCode.Throttled, retryAfterMs: 1000, scope: 'key' });
    clock.advance(1000);
    expect(await send(r, 'MGET', 'hot', 'cold')).toEqual([Buffer.from('1'), Buffer.from('2')]);
  });

  it('throttle - a multi-key write with a throttled key is refused whole: no other key is touched', async () => {
    const r = router();
    const clock = new ManualClock();
    const m = new PolicyManager({ router: r, clock }, [throttleRemedy()]);
    await send(r, 'MSET', 'a', '1', 'b', '2');
    await m.set(Buffer.from('a'), { consistency: 'bounded', throttle: { opsPerSec: 1, burst: 1 } });
    expect(await send(r, 'GET', 'a')).toEqual(Buffer.from('1')); // takes a's only token
    expect(shown(await send(r, 'DEL', 'a', 'b'))).toEqual({
      code: ErrorCode.Throttled,
      retryAfterMs: 1000,
      scope: 'key',
    });
    expect(shown(await send(r, 'MSET', 'b', 'x', 'a', 'y'))).toMatchObject({ code: ErrorCode.Throttled });
    // Neither command ran in part: b is as it was.
    expect(await send(r, 'GET', 'b')).toEqual(Buffer.from('2'));
    clock.advance(1000);
    // Retried once the token is back, the DEL answers what one Redis would have: both deleted.
    expect(await send(r, 'DEL', 'a', 'b')).toBe(2);
  });

  it('throttle - status counts admitted and throttled; removing the policy lifts the limit', async () => {
    const r = router();
    const clock = new ManualClock();
    const m = new PolicyManager({ router: r, clock }, [throttleRemedy()]);
    const key = Buffer.from('k');
    await m.set(key, { consistency: 'bounded', throttle: { opsPerSec: 5, burst: 3 } });
    const outcomes: unknown[] = [];
    for (let i = 0; i < 5; i++) outcomes.push(shown(await send(r, 'INCR', 'k')));
    expect(outcomes.slice(0, 3)).toEqual([1, 2, 3]);
    expect(outcomes.slice(3)).toEqual([
      { code: ErrorCode.Throttled, retryAfterMs: 200, scope: 'key' },
      { code: ErrorCode.Throttled, retryAfterMs: 200, scope: 'key' },
    ]);
    expect(m.get(key)?.status.throttle).toMatchObject({ opsPerSec: 5, burst: 3, admitted: 3, throttled: 2 });
    await m.delete(key);
    for (let i = 0; i < 5; i++) expect(await send(r, 'INCR', 'k')).toBe(4 + i);
  });

  it('throttle - changing the limit keeps the spent credit: tightening gives no fresh burst', async () => {
    const r = router();
    const clock = new ManualClock();
    const m = new PolicyManager({ router: r, clock }, [throttleRemedy()]);
    const key = Buffer.from('k');
    await m.set(key, { consistency: 'bounded', throttle: { opsPerSec: 100, burst: 2 } });
    await send(r, 'GET', 'k');
    await send(r, 'GET', 'k');
    await m.set(key, { consistency: 'bounded', throttle: { opsPerSec: 10, burst: 2 } });
    expect(shown(await send(r, 'GET', 'k'))).toEqual({
      code: ErrorCode.Throttled,
      retryAfterMs: 100,
      scope: 'key',
    });
    // Once it would have refilled, a re-set key starts with a full burst again.
    await m.delete(key);
    clock.advance(200);
    await m.set(key, { consistency: 'bounded', throttle: { opsPerSec: 10, burst: 2 } });
    expect(shown(await send(r, 'GET', 'k'))).toBe(null);
    expect(shown(await send(r, 'GET', 'k'))).toBe(null);
    expect(shown(await send(r, 'GET', 'k'))).toEqual({
      code: ErrorCode.Throttled,
      retryAfterMs: 100,
      scope: 'key',
    });
  });

  it('throttle - a transaction on a throttled key is held to its limit, not refused: it runs while tokens last, then gets the retry-after', async () => {
    const r = router();
    const clock = new ManualClock();
    const m = new PolicyManager({ router: r, clock }, [throttleRemedy()]);
    await m.set(Buffer.from('hot'), { consistency: 'bounded', throttle: { opsPerSec: 10, burst: 2 } });
    const session = new Session(7, 'test', false, 0);
    const block = async (): Promise<Reply> => {
      expect(await send(r, session, 'MULTI')).toBe(OK);
      await send(r, session, 'INCR', 'hot');
      return send(r, session, 'EXEC');
    };
    expect(await block()).toEqual([1]);
    expect(await block()).toEqual([2]);
    // Out of tokens: the block is answered as the key's own commands are, and nothing in it ran.
    expect(shown(await block())).toEqual({ code: ErrorCode.Throttled, retryAfterMs: 100, scope: 'key' });
    clock.advance(100);
    expect(shown(await send(r, 'GET', 'hot'))).toBe('2');
    // The block's token is taken like any command's: the GET took the one that came back.
    expect(shown(await block())).toMatchObject({ code: ErrorCode.Throttled });
  });
});
