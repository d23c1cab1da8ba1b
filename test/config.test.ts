import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, shardCount } from '../src/config.js';
import { ConfigError } from '../src/errors.js';

describe('config', () => {
  it('config - defaults give an embedded cluster on 6380/8080 with 4 shards per node', () => {
    const c = loadConfig();
    expect(c.backend).toBe('memory');
    expect(c.respPort).toBe(6380);
    expect(c.httpPort).toBe(8080);
    expect(shardCount(c)).toBe(16);
  });

  it('config - file < env < flags', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hs-config-'));
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ respPort: 7000, httpPort: 7001, shards: 8 }));
    const c = loadConfig({ file, env: { HOTSHARD_RESP_PORT: '7100' }, flags: { shards: '12' } });
    expect(c.respPort).toBe(7100);
    expect(c.httpPort).toBe(7001);
    expect(c.shards).toBe(12);
  });

  it('config - a bad value names the field, the source and what is accepted', () => {
    expect(() => loadConfig({ flags: { backend: 'mongo' } })).toThrow(ConfigError);
    expect(() => loadConfig({ flags: { backend: 'mongo' } })).toThrow(
      /backend \(from the command line\).*"memory", "redis"/,
    );
    expect(() => loadConfig({ env: { HOTSHARD_RESP_PORT: 'abc' } })).toThrow(
      /respPort \(from HOTSHARD_RESP_PORT\)/,
    );
    expect(() => loadConfig({ flags: { backend: 'redis' } })).toThrow(/redis.*needs at least one node/);
    expect(() => loadConfig({ flags: { backend: 'redis', redis: 'localhost' } })).toThrow(/host:port/);
  });

  it('config - the telemetry sample budget comes from a flag or HOTSHARD_TELEMETRY_SAMPLE_BUDGET and must be a positive integer', () => {
    expect(loadConfig().telemetrySampleBudget).toBe(5000);
    expect(loadConfig({ env: { HOTSHARD_TELEMETRY_SAMPLE_BUDGET: '20000' } }).telemetrySampleBudget).toBe(
      20_000,
    );
    expect(loadConfig({ flags: { telemetrySampleBudget: '1000' } }).telemetrySampleBudget).toBe(1000);
    expect(() => loadConfig({ flags: { telemetrySampleBudget: '0' } })).toThrow(/telemetrySampleBudget/);
  });

  it('config - backendMaxBusyMs: 10 s by default, HOTSHARD_BACKEND_MAX_BUSY_MS sets it, 0 turns the probe off', () => {
    expect(loadConfig().backendMaxBusyMs).toBe(10_000);
    expect(loadConfig({ env: { HOTSHARD_BACKEND_MAX_BUSY_MS: '0' } }).backendMaxBusyMs).toBe(0);
    expect(() => loadConfig({ env: { HOTSHARD_BACKEND_MAX_BUSY_MS: '-1' } })).toThrow(/backendMaxBusyMs/);
  });

  it('config - the detector ticks every 250 ms, watching or quiet, both settable in a file', () => {
    expect(loadConfig().detector).toMatchObject({ tickMs: 250, quietTickMs: 500 });
    const dir = mkdtempSync(join(tmpdir(), 'hs-config-'));
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ detector: { tickMs: 100, quietTickMs: 1000 } }));
    expect(loadConfig({ file }).detector).toMatchObject({ tickMs: 100, quietTickMs: 1000 });
    writeFileSync(file, JSON.stringify({ detector: { quietTickMs: 0 } }));
    expect(() => loadConfig({ file })).toThrow(/quietTickMs/);
  });

  it('config - unknown fields in a file are rejected with the list of known ones', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hs-config-'));
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ respport: 1 }));
    expect(() => loadConfig({ file })).toThrow(/unknown field\(s\) respport; known fields: .*respPort/);
    writeFileSync(file, '{ not json');
    expect(() => loadConfig({ file })).toThrow(/not valid JSON/);
    expect(() => loadConfig({ file: join(dir, 'missing.json') })).toThrow(/cannot read config file/);
  });

  it("config - a typo in a nested section lists that section's fields, and names the file", () => {
    const dir = mkdtempSync(join(tmpdir(), 'hs-config-'));
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ limits: { maxclients: 5 } }));
    const message = errorOf(() => loadConfig({ file }));
    expect(message).toContain(
      `limits (from ${file}): unknown field(s) maxclients; known fields: maxBulkBytes, maxArgs,`,
    );
    expect(message).toMatch(/known fields: [^\n]*maxClients/);
    expect(message).not.toMatch(/respPort/);
    writeFileSync(file, JSON.stringify({ detector: { tickms: 5 } }));
    expect(errorOf(() => loadConfig({ file }))).toMatch(
      /detector \(from .*\): unknown field\(s\) tickms; known fields: tickMs, quietTickMs, windowSeconds, rules$/m,
    );
  });

  it('config - a top-level typo names its source file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hs-config-'));
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ respport: 1 }));
    expect(errorOf(() => loadConfig({ file }))).toContain(`(from ${file}): unknown field(s) respport;`);
    expect(errorOf(() => loadConfig({ flags: { respport: 1 } }))).toContain(
      '(from the command line): unknown field(s) respport;',
    );
  });

  it('config - a bad number echoes the value given, never a secret', () => {
    const message = errorOf(() => loadConfig({ flags: { respPort: 'abc' } }));
    expect(message).toContain('respPort (from the command line): expected a number; got "abc"');
    expect(message).not.toMatch(/NaN/);
    expect(errorOf(() => loadConfig({ env: { HOTSHARD_NODES: '0' } }))).toMatch(
      /nodes \(from HOTSHARD_NODES\): .*>=1; got "0"/,
    );
    expect(errorOf(() => loadConfig({ flags: { backend: 'mongo' } }))).toMatch(/got "mongo"/);
    const secret = errorOf(() => loadConfig({ flags: { password: 12_345_678, adminPassword: [9_876_543] } }));
    expect(secret).toMatch(/^ {2}password \(from the command line\): expected string$/m);
    expect(secret).not.toMatch(/12345678|9876543/);
  });

  it('config - an unknown HOTSHARD_* variable is warned about, with the nearest known name', () => {
    const warnings: string[] = [];
    const c = loadConfig({
      env: { HOTSHARD_RESP_PROT: '7000', HOTSHARD_HTTP_PORT: '7001', HOTSHARD_LAUNCHED: '1', HOME: '/root' },
      warn: (m) => warnings.push(m),
    });
    expect(c.respPort).toBe(6380);
    expect(c.httpPort).toBe(7001);
    expect(warnings).toEqual([
      'HOTSHARD_RESP_PROT is not a setting hotshard reads (ignored); did you mean HOTSHARD_RESP_PORT?',
    ]);
    loadConfig({ env: { HOTSHARD_XYZZY_FOO_BAR: '1' }, warn: (m) => warnings.push(m) });
    expect(warnings[1]).toMatch(
      /^HOTSHARD_XYZZY_FOO_BAR is not a setting hotshard reads \(ignored\); known: HOTSHARD_BACKEND, /,
    );
  });

  it('config - redis nodes parse from a comma list', () => {
    const c = loadConfig({ flags: { backend: 'redis', redis: '127.0.0.1:7001,127.0.0.1:7002' } });
    expect(c.redis).toEqual(['127.0.0.1:7001', '127.0.0.1:7002']);
    expect(shardCount(c)).toBe(8);
  });

  it('config - tenant.declared lists tenants with optional passwords; names are checked, unique, not reserved', () => {
    const c = loadConfig({
      flags: { tenant: { declared: [{ name: 'acme', password: 'pw' }, { name: 'globex' }] } },
    });
    expect(c.tenant).toMatchObject({
      header: 'x-tenant',
      keyPrefix: false,
      maxTracked: 32,
      idleSeconds: 60,
      declared: [{ name: 'acme', password: 'pw' }, { name: 'globex' }],
    });
    expect(loadConfig().tenant.declared).toBeUndefined(); // open: any name is a tenant
    const bad =
      (declared: unknown[]): (() => unknown) =>
      () =>
        loadConfig({ flags: { tenant: { declared } } });
    expect(bad([{ name: 'a b' }])).toThrow(/tenant\.declared\.0\.name.*expected a name matching/);
    expect(bad([{ name: 'other' }])).toThrow(/tenant\.declared\.0\.name.*reserved: other, admin/);
    expect(bad([{ name: 'a' }, { name: 'a' }])).toThrow(/tenant\.declared\.1\.name.*declared twice/);
    expect(bad([{ name: 'default', password: 'x' }])).toThrow(
      /default tenant's password is the top-level password/,
    );
    expect(bad([{ name: 'a', quota: 5 }])).toThrow(ConfigError);
    expect(() => loadConfig({ flags: { tenant: { maxTracked: 0 } } })).toThrow(/tenant\.maxTracked/);
  });
});

function errorOf(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}
