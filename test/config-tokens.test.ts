/** Config of the control API: the admin and read-only tokens and the automation mode. */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';

describe('config tokens', () => {
  it('config - tokens and automation come from flags or HOTSHARD_* variables; automation defaults to auto', () => {
    expect(loadConfig({}).automation).toBe('auto');
    expect(loadConfig({}).adminToken).toBeUndefined();
    const c = loadConfig({
      env: {
        HOTSHARD_ADMIN_TOKEN: 'env-admin-token-123456',
        HOTSHARD_READ_TOKEN: 'env-read-token-1234567',
        HOTSHARD_AUTOMATION: 'dry-run',
      },
      warn: (m) => {
        throw new Error(m);
      },
    });
    expect(c).toMatchObject({
      adminToken: 'env-admin-token-123456',
      readToken: 'env-read-token-1234567',
      automation: 'dry-run',
    });
    expect(loadConfig({ flags: { automation: 'frozen' } }).automation).toBe('frozen');
  });

  it('config - a short or spaced token, a token reused as read-only, or an unknown mode fails naming the field, without echoing the secret', () => {
    expect(() => loadConfig({ flags: { adminToken: 'short' } })).toThrow(
      /adminToken \(from the command line\): must be at least 16 characters/,
    );
    expect(() => loadConfig({ flags: { adminToken: 'short' } })).not.toThrow(/"short"/);
    expect(() => loadConfig({ flags: { readToken: 'has a space in it!!' } })).toThrow(
      /readToken.*printable ASCII/,
    );
    expect(() =>
      loadConfig({ flags: { adminToken: 'same-token-0123456789', readToken: 'same-token-0123456789' } }),
    ).toThrow(/readToken.*must differ from the admin token/);
    expect(() => loadConfig({ env: { HOTSHARD_AUTOMATION: 'yolo' } })).toThrow(
      /automation \(from HOTSHARD_AUTOMATION\).*"auto", "dry-run", "manual", "frozen"/,
    );
  });
});
