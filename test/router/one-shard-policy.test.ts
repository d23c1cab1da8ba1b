/**
 * A command routed by its key specs (RENAME, SUNION ...) on a key under a
 * mitigation policy is refused with the reason, never run past the policy
 * (a cached copy would go stale); split commands (TOUCH, MGET) go through
 * the policy key by key.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHotshard, type TestHotshard } from '../../src/testkit/hotshard.js';
import { exchange } from './differential.js';

const ADMIN = 'admin-token-0123456789abcdef';

describe('commands by key specs on a key under a policy', () => {
  let t: TestHotshard;
  beforeAll(async () => {
    t = await startTestHotshard({ backend: 'memory', adminToken: ADMIN });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('one-shard policy - RENAME and SUNION of a cached key are refused with the reason; TOUCH and MGET run', async () => {
    await exchange(t.port, [
      ['SET', '{p}:a', 'v'],
      ['SADD', '{p}:s', 'x'],
    ]);
    const put = await t.hs.http.inject({
      method: 'PUT',
      url: `/policies/${encodeURIComponent('{p}:a')}`,
      headers: { authorization: `Bearer ${ADMIN}` },
      payload: {
        consistency: 'bounded',
        cache: { maxStaleMs: 1000, staleWhileRevalidate: false },
        reason: 'test',
      },
    });
    expect(put.statusCode).toBe(200);
    const [rename, sunion, touch, mget, get] = await exchange(t.port, [
      ['RENAME', '{p}:a', '{p}:b'],
      ['SUNION', '{p}:s', '{p}:a'],
      ['TOUCH', '{p}:a', '{p}:s', '{p}:none'],
      ['MGET', '{p}:a', '{p}:none'],
      ['GET', '{p}:a'],
    ]);
    expect(rename).toEqual({
      error:
        'ERR HS_ERR_NOT_ALLOWED RENAME is not supported on a key under a mitigation policy ({p}:a); use its single-key commands until the policy ends',
    });
    expect((sunion as { error: string }).error).toMatch(
      /^ERR HS_ERR_NOT_ALLOWED SUNION is not supported on a key under a mitigation policy/,
    );
    expect(touch).toBe(2);
    expect(mget).toEqual(['v', null]);
    expect(get).toBe('v');
  });
});
