/**
 * The config store's candidate drivers, side by side: how long one routing
 * version takes to save (compare-and-set on the head, the version row, the
 * shard rows replaced, one transaction) and to read back (the latest
 * version's JSON). This is what chose the drivers for src/store
 * (docs/store.md): the store writes a version per routing change and reads
 * one per start and per watch notice, so both must stay far below a
 * millisecond-scale budget, and the embedded one must need nothing installed.
 *
 *   npm run bench:store -- [--versions N]
 *
 * PostgreSQL rows need 127.0.0.1:5432 (user postgres, trust); pglite rows
 * need `npm install --no-save @electric-sql/pglite@0.3` (skipped otherwise).
 * Prints one JSON line, then a table.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, sql } from 'kysely';
import pg from 'pg';

const argVersions = process.argv.indexOf('--versions');
const VERSIONS = argVersions > 0 ? Number(process.argv[argVersions + 1]) : 500;
const SHARDS = 64;
/** Not a dependency: installed by hand (see the header) when its row is wanted. */
const PGLITE = '@electric-sql/pglite';

function tableJson(version: number): string {
  const shards = Array.from({ length: SHARDS }, (_, i) => ({
    id: `s${i}`,
    start: String(i * 67_108_864),
    end: i === SHARDS - 1 ? null : String((i + 1) * 67_108_864),
    node: `127.0.0.1:${7000 + (i % 8)}`,
    capacity: null,
    status: 'active',
  }));
  return JSON.stringify({ version, partitioner: 'hash', nodes: [], shards });
}

/** One candidate: a schema, a CAS save and a latest read. */
interface Candidate {
  name: string;
  open(): Promise<{
    save(version: number, json: string): Promise<void>;
    latest(): Promise<string>;
    close(): Promise<void>;
  }>;
}

interface BenchTables {
  routing_head: { id: number; version: number };
  routing_versions: {
    version: number;
    partitioner: string;
    table_json: string;
    created_at: number;
    reason: string;
  };
  shards: {
    shard_id: string;
    key_range: string;
    node: string;
    capacity: number | null;
    status: string;
    version: number;
  };
}

const DDL = (blobless: boolean): string[] => [
  'CREATE TABLE routing_head (id integer PRIMARY KEY, version bigint NOT NULL)',
  `CREATE TABLE routing_versions (version bigint PRIMARY KEY, partitioner text NOT NULL, table_json text NOT NULL, created_at bigint NOT NULL, reason text NOT NULL)`,
  `CREATE TABLE shards (shard_id text PRIMARY KEY, key_range text NOT NULL, node text NOT NULL, capacity double precision, status text NOT NULL, version bigint NOT NULL${blobless ? '' : ''})`,
];

function shardRows(json: string): { id: string; range: string; node: string; status: string }[] {
  const t = JSON.parse(json) as {
    shards: { id: string; start: string; end: string | null; node: string; status: string }[];
  };
  return t.shards.map((s) => ({
    id: s.id,
    range: `[${s.start}, ${s.end ?? 'end'})`,
    node: s.node,
    status: s.status,
  }));
}

function rawSqlite(dir: string): Candidate {
  return {
    name: 'better-sqlite3 (raw, file, WAL)',
    open() {
      const db = new Database(join(dir, 'raw.db'));
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      for (const s of DDL(false)) db.exec(s);
      const head = db.prepare('UPDATE routing_head SET version = ? WHERE id = 1 AND version = ?');
      const first = db.prepare(
        'INSERT INTO routing_head (id, version) VALUES (1, ?) ON CONFLICT (id) DO NOTHING',
      );
      const ins = db.prepare('INSERT INTO routing_versions VALUES (?, ?, ?, ?, ?)');
      const del = db.prepare('DELETE FROM shards');
      const shard = db.prepare('INSERT INTO shards VALUES (?, ?, ?, NULL, ?, ?)');
      const latest = db.prepare(
        'SELECT table_json FROM routing_versions WHERE version = (SELECT version FROM routing_head WHERE id = 1)',
      );
      const save = db.transaction((version: number, json: string) => {
        const r = version === 1 ? first.run(version) : head.run(version, version - 1);
        if (r.changes !== 1) throw new Error('conflict');
        ins.run(version, 'hash', json, Date.now(), 'bench');
        del.run();
        for (const s of shardRows(json)) shard.run(s.id, s.range, s.node, s.status, version);
      });
      return Promise.resolve({
        save: (v: number, json: string) => Promise.resolve(save(v, json)),
        latest: () => Promise.resolve((latest.get() as { table_json: string }).table_json),
        close: () => Promise.resolve(db.close()).then(() => {}),
      });
    },
  };
}

async function kyselyOps(db: Kysely<BenchTables>): Promise<{
  save(version: number, json: string): Promise<void>;
  latest(): Promise<string>;
  close(): Promise<void>;
}> {
  for (const s of DDL(false)) await sql.raw(s).execute(db);
  return {
    async save(version, json) {
      await db.transaction().execute(async (tx) => {
        const r =
          version === 1
            ? await sql`INSERT INTO routing_head (id, version) VALUES (1, ${version}) ON CONFLICT (id) DO NOTHING`.execute(
                tx,
              )
            : await sql`UPDATE routing_head SET version = ${version} WHERE id = 1 AND version = ${version - 1}`.execute(
                tx,
              );
        if (Number(r.numAffectedRows) !== 1) throw new Error('conflict');
        await tx
          .insertInto('routing_versions')
          .values({ version, partitioner: 'hash', table_json: json, created_at: Date.now(), reason: 'bench' })
          .execute();
        await tx.deleteFrom('shards').execute();
        await tx
          .insertInto('shards')
          .values(
            shardRows(json).map((s) => ({
              shard_id: s.id,
              key_range: s.range,
              node: s.node,
              capacity: null,
              status: s.status,
              version,
            })),
          )
          .execute();
      });
    },
    async latest() {
      const r = await sql<{
        table_json: string;
      }>`SELECT table_json FROM routing_versions WHERE version = (SELECT version FROM routing_head WHERE id = 1)`.execute(
        db,
      );
      return r.rows[0]!.table_json;
    },
    close: () => db.destroy(),
  };
}

function kyselySqlite(dir: string): Candidate {
  return {
    name: 'kysely 0.28 + better-sqlite3 (file, WAL)',
    async open() {
      const raw = new Database(join(dir, 'kysely.db'));
      raw.pragma('journal_mode = WAL');
      raw.pragma('synchronous = NORMAL');
      return kyselyOps(new Kysely<BenchTables>({ dialect: new SqliteDialect({ database: raw }) }));
    },
  };
}

const PG_ADMIN = 'postgres://postgres@127.0.0.1:5432/postgres';

async function withPgDatabase(name: string): Promise<string> {
  const admin = new pg.Client({ connectionString: PG_ADMIN });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${name}`);
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  return `postgres://postgres@127.0.0.1:5432/${name}`;
}
async function dropPgDatabase(name: string): Promise<void> {
  const admin = new pg.Client({ connectionString: PG_ADMIN });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.end();
}

function rawPg(db: string): Candidate {
  return {
    name: 'pg 8 (raw, Pool)',
    async open() {
      const pool = new pg.Pool({ connectionString: await withPgDatabase(db), max: 4 });
      for (const s of DDL(false)) await pool.query(s);
      return {
        async save(version, json) {
          const c = await pool.connect();
          try {
            await c.query('BEGIN');
            const r =
              version === 1
                ? await c.query(
                    'INSERT INTO routing_head (id, version) VALUES (1, $1) ON CONFLICT (id) DO NOTHING',
                    [version],
                  )
                : await c.query('UPDATE routing_head SET version = $1 WHERE id = 1 AND version = $2', [
                    version,
                    version - 1,
                  ]);
            if (r.rowCount !== 1) throw new Error('conflict');
            await c.query('INSERT INTO routing_versions VALUES ($1, $2, $3, $4, $5)', [
              version,
              'hash',
              json,
              Date.now(),
              'bench',
            ]);
            await c.query('DELETE FROM shards');
            const rows = shardRows(json);
            const params: unknown[] = [];
            const values = rows.map((s, i) => {
              params.push(s.id, s.range, s.node, s.status, version);
              const b = i * 5;
              return `($${b + 1}, $${b + 2}, $${b + 3}, NULL, $${b + 4}, $${b + 5})`;
            });
            await c.query(`INSERT INTO shards VALUES ${values.join(', ')}`, params);
            await c.query('COMMIT');
          } catch (err) {
            await c.query('ROLLBACK');
            throw err;
          } finally {
            c.release();
          }
        },
        async latest() {
          const r = await pool.query<{ table_json: string }>(
            'SELECT table_json FROM routing_versions WHERE version = (SELECT version FROM routing_head WHERE id = 1)',
          );
          return r.rows[0]!.table_json;
        },
        async close() {
          await pool.end();
          await dropPgDatabase(db);
        },
      };
    },
  };
}

function kyselyPg(db: string): Candidate {
  return {
    name: 'kysely 0.28 + pg 8 (Pool)',
    async open() {
      const pool = new pg.Pool({ connectionString: await withPgDatabase(db), max: 4 });
      const ops = await kyselyOps(new Kysely<BenchTables>({ dialect: new PostgresDialect({ pool }) }));
      return {
        ...ops,
        close: async () => {
          await ops.close();
          await dropPgDatabase(db);
        },
      };
    },
  };
}

function pglite(dir: string): Candidate {
  return {
    name: 'pglite 0.3 (WASM, file)',
    async open() {
      const mod = (await import(PGLITE)) as {
        PGlite: new (dir: string) => {
          exec(q: string): Promise<unknown>;
          query<T>(q: string, p?: unknown[]): Promise<{ rows: T[]; affectedRows?: number }>;
          transaction<T>(
            f: (tx: { query(q: string, p?: unknown[]): Promise<{ affectedRows?: number }> }) => Promise<T>,
          ): Promise<T>;
          close(): Promise<void>;
        };
      };
      const t0 = performance.now();
      const db = new mod.PGlite(join(dir, 'pglite'));
      for (const s of DDL(false)) await db.exec(s);
      openMs.set('pglite', performance.now() - t0);
      return {
        async save(version, json) {
          await db.transaction(async (tx) => {
            const r =
              version === 1
                ? await tx.query(
                    'INSERT INTO routing_head (id, version) VALUES (1, $1) ON CONFLICT (id) DO NOTHING',
                    [version],
                  )
                : await tx.query('UPDATE routing_head SET version = $1 WHERE id = 1 AND version = $2', [
                    version,
                    version - 1,
                  ]);
            if (r.affectedRows !== 1) throw new Error('conflict');
            await tx.query('INSERT INTO routing_versions VALUES ($1, $2, $3, $4, $5)', [
              version,
              'hash',
              json,
              Date.now(),
              'bench',
            ]);
            await tx.query('DELETE FROM shards');
            for (const s of shardRows(json))
              await tx.query('INSERT INTO shards VALUES ($1, $2, $3, NULL, $4, $5)', [
                s.id,
                s.range,
                s.node,
                s.status,
                version,
              ]);
          });
        },
        async latest() {
          const r = await db.query<{ table_json: string }>(
            'SELECT table_json FROM routing_versions WHERE version = (SELECT version FROM routing_head WHERE id = 1)',
          );
          return r.rows[0]!.table_json;
        },
        close: () => db.close(),
      };
    },
  };
}

const openMs = new Map<string, number>();

async function measure(c: Candidate): Promise<Record<string, unknown>> {
  const t0 = performance.now();
  const store = await c.open();
  const opened = performance.now() - t0;
  const writes: number[] = [];
  const reads: number[] = [];
  for (let v = 1; v <= VERSIONS; v++) {
    const json = tableJson(v);
    const w = performance.now();
    await store.save(v, json);
    writes.push(performance.now() - w);
    const r = performance.now();
    const back = await store.latest();
    reads.push(performance.now() - r);
    if (back.length !== json.length) throw new Error(`${c.name}: read back a different version`);
  }
  await store.close();
  const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const p99 = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.99)]!;
  return {
    candidate: c.name,
    openMs: +opened.toFixed(1),
    writeMedianUs: Math.round(med(writes) * 1000),
    writeP99Us: Math.round(p99(writes) * 1000),
    readMedianUs: Math.round(med(reads) * 1000),
    readP99Us: Math.round(p99(reads) * 1000),
  };
}

async function pgReachable(): Promise<boolean> {
  const c = new pg.Client({ connectionString: PG_ADMIN, connectionTimeoutMillis: 2000 });
  try {
    await c.connect();
    await c.end();
    return true;
  } catch {
    return false;
  }
}

async function hasPglite(): Promise<boolean> {
  try {
    await import(PGLITE);
    return true;
  } catch {
    return false;
  }
}

const dir = mkdtempSync(join(tmpdir(), 'hs-store-bench-'));
const tag = `hs_bench_${process.pid}`;
const candidates: Candidate[] = [rawSqlite(dir), kyselySqlite(dir)];
if (await pgReachable()) candidates.push(rawPg(`${tag}_raw`), kyselyPg(`${tag}_kysely`));
else console.error('PostgreSQL unreachable at 127.0.0.1:5432: pg rows skipped');
if (await hasPglite()) candidates.push(pglite(dir));
else console.error('@electric-sql/pglite not installed: its row skipped');
const results: Record<string, unknown>[] = [];
try {
  for (const c of candidates) results.push(await measure(c));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log(JSON.stringify({ bench: 'store', versions: VERSIONS, shards: SHARDS, results }));
console.table(results);
