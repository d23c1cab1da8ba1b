/**
 * Tenant quotas and priorities in config (`tenant.declared[].quota`,
 * `.priority`): accepted shapes, defaults, and errors that name the field and
 * what it accepts.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { ConfigError } from '../src/errors.js';
import { DEFAULT_TENANT_PRIORITY, Tenants } from '../src/router/tenants.js';

function errorOf(declared: unknown[]): string {
  try {
    loadConfig({ flags: { tenant: { declared } } });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('config - tenant quotas and priorities', () => {
  it('config - a declared tenant may have a quota (ops/s, burst) and a priority; both are optional', () => {
    const c = loadConfig({
      flags: {
        tenant: {
          declared: [
            { name: 'batch', quota: { opsPerSec: 500, burst: 1000 }, priority: 0 },
            { name: 'web', priority: 5 },
            { name: 'free', quota: { opsPerSec: 0.5 } },
            { name: 'plain' },
          ],
        },
      },
    });
    expect(c.tenant.declared).toEqual([
      { name: 'batch', quota: { opsPerSec: 500, burst: 1000 }, priority: 0 },
      { name: 'web', priority: 5 },
      { name: 'free', quota: { opsPerSec: 0.5 } },
      { name: 'plain' },
    ]);
    const tenants = new Tenants({ declared: c.tenant.declared });
    expect(tenants.priorityOf('batch')).toBe(0);
    expect(tenants.priorityOf('web')).toBe(5);
    expect(tenants.priorityOf('plain')).toBe(DEFAULT_TENANT_PRIORITY);
    expect(tenants.priorityOf('default')).toBe(DEFAULT_TENANT_PRIORITY);
    expect(tenants.priorityOf('undeclared')).toBe(DEFAULT_TENANT_PRIORITY);
    // Burst defaults to one second of the rate, and never under one request.
    expect(tenants.quotas()).toEqual([
      ['batch', { opsPerSec: 500, burst: 1000 }],
      ['free', { opsPerSec: 0.5, burst: 1 }],
    ]);
    expect(new Tenants({ declared: [{ name: 'x', quota: { opsPerSec: 200 } }] }).quotas()).toEqual([
      ['x', { opsPerSec: 200, burst: 200 }],
    ]);
    expect(new Tenants().quotas()).toEqual([]);
  });

  it('config - bad quotas and priorities fail with the field and what is accepted', () => {
    expect(errorOf([{ name: 'a', quota: {} }])).toMatch(/tenant\.declared\.0\.quota\.opsPerSec/);
    expect(errorOf([{ name: 'a', quota: { opsPerSec: 0 } }])).toMatch(
      /tenant\.declared\.0\.quota\.opsPerSec.*positive/,
    );
    expect(errorOf([{ name: 'a', quota: { opsPerSec: -3 } }])).toMatch(/quota\.opsPerSec.*positive/);
    expect(errorOf([{ name: 'a', quota: { opsPerSec: 10, burst: 0.5 } }])).toMatch(
      /tenant\.declared\.0\.quota\.burst.*at least 1/,
    );
    expect(errorOf([{ name: 'a', quota: { opsPerSec: 10, bursts: 5 } }])).toMatch(
      /tenant\.declared\.0\.quota.*unknown field\(s\) bursts; known fields: opsPerSec, burst/,
    );
    expect(errorOf([{ name: 'a', quota: 5 }])).toMatch(/tenant\.declared\.0\.quota/);
    expect(errorOf([{ name: 'a' }, { name: 'b', priority: -1 }])).toMatch(
      /tenant\.declared\.1\.priority.*0 \(lowest\)/,
    );
    expect(errorOf([{ name: 'a', priority: 1.5 }])).toMatch(/tenant\.declared\.0\.priority.*expected int/);
    expect(errorOf([{ name: 'a', priority: 101 }])).toMatch(/tenant\.declared\.0\.priority.*100/);
  });
});
