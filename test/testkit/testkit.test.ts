import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  freePort,
  hasBinary,
  requireBinary,
  startRedis,
  startRedisCluster,
} from '../../src/testkit/index.js';

const hasRedis = requireBinary('redis-server', 'testkit redis-server tests');

/** Sends one inline command with redis-cli semantics over a raw socket; returns the first reply line. */
function rawCommand(port: number, payload: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let data = '';
    socket.once('error', reject);
    socket.on('data', (chunk: Buffer) => {
      data += chunk.toString('latin1');
      if (data.includes('\r\n')) {
        socket.destroy();
        resolve(data.slice(0, data.indexOf('\r\n')));
      }
    });
    socket.write(payload);
  });
}

/** True while the process runs; a zombie (killed, not yet reaped by init) counts as gone. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return true; // no procfs: trust kill(0)
  }
}

describe('testkit - freePort', () => {
  it('returns a port that can be bound on 127.0.0.1', async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(0);
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', resolve);
    });
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
});

describe('testkit - binaries', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
    vi.restoreAllMocks();
  });

  it('finds binaries on PATH and not made-up names', () => {
    expect(hasBinary('sh')).toBe(true);
    expect(hasBinary('hotshard-no-such-binary-4711')).toBe(false);
  });

  it('requireBinary skips with one notice line outside CI', () => {
    vi.stubEnv('CI', '');
    const write = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    expect(requireBinary('hotshard-no-such-binary-4712', 'the frobnicator tests')).toBe(false);
    expect(write).toHaveBeenCalledTimes(1);
    expect(String(write.mock.calls[0]?.[0])).toBe(
      '[hotshard] skipping the frobnicator tests: hotshard-no-such-binary-4712 not installed (apt-get install hotshard-no-such-binary-4712)\n',
    );
  });

  it('requireBinary names the Debian package in the notice', () => {
    vi.stubEnv('CI', '');
    vi.stubEnv('PATH', '/nonexistent');
    const write = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    expect(requireBinary('redis-cli')).toBe(false);
    expect(String(write.mock.calls[0]?.[0])).toContain('(apt-get install redis-tools)');
  });

  it('requireBinary throws in CI when the binary is missing', () => {
    vi.stubEnv('CI', 'true');
    expect(() => requireBinary('hotshard-no-such-binary-4713')).toThrow(/must run in CI.*not installed/);
  });

  it('requireBinary returns true when the binary exists, in CI or not', () => {
    vi.stubEnv('CI', 'true');
    expect(requireBinary('sh')).toBe(true);
  });
});

describe.skipIf(!hasRedis)('testkit - redis-server', () => {
  it('starts a server that answers PING and stops it', async () => {
    const redis = await startRedis();
    expect(redis.address).toBe(`127.0.0.1:${redis.port}`);
    expect(await rawCommand(redis.port, 'PING\r\n')).toBe('+PONG');
    expect(isAlive(redis.pid)).toBe(true);
    await redis.stop();
    expect(isAlive(redis.pid)).toBe(false);
    await redis.stop(); // idempotent
    await expect(rawCommand(redis.port, 'PING\r\n')).rejects.toThrow(/ECONNREFUSED/);
  });

  it('runs without persistence', async () => {
    const redis = await startRedis();
    try {
      expect(await rawCommand(redis.port, 'CONFIG GET save\r\n')).toBe('*2');
      const save = spawnSync('redis-cli', ['-p', String(redis.port), 'CONFIG', 'GET', 'save'], {
        encoding: 'utf8',
      });
      if (save.status === 0) expect(save.stdout.trim().split('\n')[1] ?? '').toBe('');
    } finally {
      await redis.stop();
    }
  });

  it('requires the password when one is given', async () => {
    const redis = await startRedis({ password: 's3cret' });
    try {
      expect(redis.password).toBe('s3cret');
      expect(await rawCommand(redis.port, 'PING\r\n')).toMatch(/^-NOAUTH/);
      expect(await rawCommand(redis.port, 'AUTH s3cret\r\n')).toBe('+OK');
    } finally {
      await redis.stop();
    }
  });

  it('passes extra arguments through', async () => {
    const redis = await startRedis({ args: ['--maxmemory', '12345678'] });
    try {
      const reply = await new Promise<string>((resolve, reject) => {
        const socket = connect({ host: '127.0.0.1', port: redis.port });
        let data = '';
        socket.once('error', reject);
        socket.on('data', (c: Buffer) => {
          data += c.toString('latin1');
          if (data.split('\r\n').length >= 5) {
            socket.destroy();
            resolve(data);
          }
        });
        socket.write('CONFIG GET maxmemory\r\n');
      });
      expect(reply).toContain('12345678');
    } finally {
      await redis.stop();
    }
  });

  it('starts a cluster of distinct servers in parallel', async () => {
    const nodes = await startRedisCluster(3);
    try {
      expect(new Set(nodes.map((n) => n.port)).size).toBe(3);
      for (const n of nodes) expect(await rawCommand(n.port, 'PING\r\n')).toBe('+PONG');
    } finally {
      await Promise.all(nodes.map((n) => n.stop()));
    }
  });

  it('kill delivers signals: SIGSTOP stalls, SIGCONT resumes, SIGKILL ends', async () => {
    const redis = await startRedis();
    try {
      redis.kill('SIGSTOP');
      const stalled = rawCommand(redis.port, 'PING\r\n');
      const first = await Promise.race([stalled, new Promise((r) => setTimeout(() => r('timeout'), 200))]);
      expect(first).toBe('timeout');
      redis.kill('SIGCONT');
      expect(await stalled).toBe('+PONG');
      redis.kill();
      await redis.exited;
      expect(isAlive(redis.pid)).toBe(false);
    } finally {
      await redis.stop();
    }
  });

  it('stop ends a stopped (SIGSTOP) server too', async () => {
    const redis = await startRedis();
    redis.kill('SIGSTOP');
    await redis.stop();
    expect(isAlive(redis.pid)).toBe(false);
  });

  it('restarts on the same port after a crash', async () => {
    const first = await startRedis();
    first.kill('SIGKILL');
    await first.exited;
    const second = await startRedis({ port: first.port });
    try {
      expect(second.port).toBe(first.port);
      expect(second.pid).not.toBe(first.pid);
      expect(await rawCommand(second.port, 'PING\r\n')).toBe('+PONG');
    } finally {
      await second.stop();
    }
  });

  it('a fixed port that stays taken fails clearly', async () => {
    // Occupy the port with a listener that never answers.
    const server = createServer((socket) => socket.resume());
    const port = await freePort();
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    try {
      await expect(startRedis({ port, startTimeoutMs: 2_000 })).rejects.toThrow(
        new RegExp(`port ${port} is taken`),
      );
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }, 20_000);

  it('kills servers when the test process exits', async () => {
    // A child node process starts a server and exits without stopping it.
    const script = `
      import { startRedis } from './src/testkit/index.ts';
      const r = await startRedis();
      console.log(r.pid);
    `;
    const out = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: process.cwd(),
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(out.status).toBe(0);
    const pid = Number(out.stdout.trim());
    expect(pid).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 50));
    expect(isAlive(pid)).toBe(false);
  }, 30_000);
});
