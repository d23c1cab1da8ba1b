/**
 * The embedded config store runs the conformance suite in memory and on a
 * file (where close + reopen is a restart), plus what only a file has: the
 * data directory, and opening it where it cannot be.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import {
  EMBEDDED_FILE,
  MIGRATIONS,
  openConfigStore,
  openEmbeddedStore,
  StoreUnavailable,
} from '../../src/store/index.js';
import { runStoreCases } from './store.case.js';

runStoreCases('embedded (memory)', () =>
  Promise.resolve({
    open: (clock) => openEmbeddedStore({ clock }),
    persistent: false,
    shared: false,
    cleanup: () => Promise.resolve(),
  }),
);

runStoreCases('embedded (file)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hs-store-'));
  return Promise.resolve({
    open: (clock) => openEmbeddedStore({ dataDir: join(dir, 'data'), clock }),
    persistent: true,
    shared: true,
    cleanup: () => Promise.resolve(rmSync(dir, { recursive: true, force: true })),
  });
});

describe('embedded store - its file', () => {
  it('embedded store - keeps hotshard.db under the data directory, migrated once however often it is opened', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hs-store-'));
    try {
      for (let i = 0; i < 3; i++) await (await openConfigStore({ dataDir: dir })).close();
      const db = new Database(join(dir, EMBEDDED_FILE), { readonly: true });
      const rows = db.prepare('SELECT version, name FROM schema_migrations ORDER BY version').all();
      db.close();
      expect(rows).toEqual(MIGRATIONS.map((m) => ({ version: m.version, name: m.name })));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('embedded store - a data directory that is a file is a clear error naming it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hs-store-'));
    try {
      const notDir = join(dir, 'file');
      writeFileSync(notDir, 'x');
      const err = await openEmbeddedStore({ dataDir: notDir }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreUnavailable);
      expect((err as Error).message).toContain(notDir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // Node 20's recursive mkdirSync loops forever there; the store must answer instead.
  it.runIf(process.platform === 'linux')(
    'embedded store - a data directory where no directory can be made (/proc) is an error, not a hang',
    async () => {
      const err = await openEmbeddedStore({ dataDir: '/proc/hotshard-store-test/data' }).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(StoreUnavailable);
      expect((err as Error).message).toContain('/proc/hotshard-store-test/data');
    },
  );

  it('embedded store - a database from a newer hotshard is refused, not migrated backwards', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hs-store-'));
    try {
      await (await openEmbeddedStore({ dataDir: dir })).close();
      const db = new Database(join(dir, EMBEDDED_FILE));
      db.prepare('INSERT INTO schema_migrations VALUES (?, ?, ?)').run(MIGRATIONS.length + 1, 'future', 0);
      db.close();
      const err = await openEmbeddedStore({ dataDir: dir }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreUnavailable);
      expect((err as Error).message).toMatch(/newer than this hotshard knows/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('embedded store - a store setting that is neither unset nor a postgres URL is a config error', async () => {
    await expect(openConfigStore({ store: 'mysql://x/y' })).rejects.toThrow(
      /store: "mysql:\/\/x\/y" is not a store/,
    );
  });
});

describe('store journal', () => {
  it('store journal - saves each state, lists the open ones for a restart, and forgets', async () => {
    const { storeJournal } = await import('../../src/store/index.js');
    const store = await openEmbeddedStore();
    try {
      type State = { id: string; phase: string; keys: number };
      const journal = storeJournal<State>(store, (s) => s.phase !== 'done');
      await journal.save({ id: 'm-1', phase: 'copy', keys: 10 });
      await journal.save({ id: 'm-2', phase: 'copy', keys: 0 });
      await journal.save({ id: 'm-1', phase: 'catch-up', keys: 500 });
      await journal.save({ id: 'm-2', phase: 'done', keys: 7 });
      expect(await journal.open()).toEqual([{ id: 'm-1', phase: 'catch-up', keys: 500 }]);
      await journal.forget('m-1');
      expect(await journal.open()).toEqual([]);
    } finally {
      await store.close();
    }
  });
});
