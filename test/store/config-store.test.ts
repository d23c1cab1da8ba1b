/** The `store` setting: from a flag, a file or HOTSHARD_STORE, checked at start with the field named. */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';

describe('config - store', () => {
  it('config - store is unset by default (the embedded store) and takes a postgres URL from the flag or HOTSHARD_STORE', () => {
    expect(loadConfig({}).store).toBeUndefined();
    expect(loadConfig({ flags: { store: 'postgres://postgres@127.0.0.1:5432/hs' } }).store).toBe(
      'postgres://postgres@127.0.0.1:5432/hs',
    );
    expect(loadConfig({ env: { HOTSHARD_STORE: 'postgresql://u:p@db.internal/hotshard' } }).store).toBe(
      'postgresql://u:p@db.internal/hotshard',
    );
  });

  it('config - a store that is not a usable postgres URL fails start-up naming the field, its source and the form', () => {
    expect(() => loadConfig({ flags: { store: 'mysql://x/y' } })).toThrow(
      /store \(from the command line\): "mysql:\/\/x\/y" is not a PostgreSQL URL; accepted: postgres:\/\//,
    );
    expect(() => loadConfig({ env: { HOTSHARD_STORE: 'postgres://127.0.0.1:5432' } })).toThrow(
      /store \(from HOTSHARD_STORE\): the URL names no database/,
    );
  });
});
