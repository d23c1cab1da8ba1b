/** Fitting maxClients to the open-files limit, with the limit and the descriptors in use injected. */
import { execFileSync } from 'node:child_process';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { fitMaxClients, openFileCount, openFilesLimit, RESERVED_FDS } from '../../src/router/open-files.js';

function capture(): { log: pino.Logger; lines: () => Array<Record<string, unknown>> } {
  const out: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      out.push(chunk.toString());
      done();
    },
  });
  return { log: pino(sink), lines: () => out.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('open files', () => {
  it('open files - maxClients that fits is kept, silently', () => {
    const { log, lines } = capture();
    expect(fitMaxClients(100, log, 2, 1024, 20)).toBe(100);
    expect(fitMaxClients(100, log, 0, undefined, 20)).toBe(100); // unlimited or unknown
    expect(lines()).toEqual([]);
  });

  it('open files - maxClients past the limit is lowered to what is left, with a warning naming both', () => {
    const { log, lines } = capture();
    expect(fitMaxClients(10_000, log, 2, 256, 20)).toBe(256 - 22 - RESERVED_FDS);
    const [entry] = lines();
    expect(entry).toMatchObject({
      level: 40,
      maxClients: 256 - 22 - RESERVED_FDS,
      requested: 10_000,
      openFilesLimit: 256,
    });
    expect(String(entry!.msg)).toMatch(/maxClients lowered from 10000 to 202 .*ulimit -n 256/);
  });

  it('open files - a limit that leaves no room for a client stops start-up with the reason', () => {
    const { log } = capture();
    expect(() => fitMaxClients(10, log, 2, 50, 20)).toThrow(ConfigError);
    expect(() => fitMaxClients(10, log, 2, 50, 20)).toThrow(/ulimit -n\) of 50 leaves no room/);
  });

  it.skipIf(process.platform === 'win32')(
    'open files - the limit read is the one a child shell reports',
    () => {
      const shell = execFileSync('/bin/sh', ['-c', 'ulimit -n'], { encoding: 'latin1' }).trim();
      expect(openFilesLimit()).toBe(shell === 'unlimited' ? undefined : Number(shell));
      expect(openFileCount()).toBeGreaterThan(2);
    },
  );
});
