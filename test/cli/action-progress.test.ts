/**
 * The progress display of `hotshard shards move` and `nodes drain`: the bar's
 * text for each phase, and following an action over real HTTP until it ends
 * (a line per phase off a terminal; one rewritten line on one).
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import {
  followAction,
  formatActionProgress,
  formatBytes,
  formatEta,
  type FollowedAction,
} from '../../src/cli/action-progress.js';

const progress = (
  over: Partial<NonNullable<FollowedAction['progress']>> = {},
): FollowedAction['progress'] => ({
  phase: 'copy',
  keysCopied: 500_000,
  keysTotal: 1_000_000,
  bytesCopied: 52_428_800,
  keysPerSec: 125_000,
  etaSeconds: 4,
  ...over,
});

describe('action progress', () => {
  it('action progress - the bar fills with keys copied of the total and shows phase, bytes, rate and ETA', () => {
    expect(formatActionProgress({ id: 'a-3', state: 'running', progress: progress() })).toBe(
      'a-3 [############------------]  50 %  running copy  500,000/1,000,000 keys  50.0 MB  125,000 keys/s  ETA 4 s',
    );
    expect(
      formatActionProgress({
        id: 'a-3',
        state: 'running',
        progress: progress({ phase: 'cutover', keysTotal: null, etaSeconds: null, held: 120, holdP99Ms: 3 }),
      }),
    ).toBe(
      'a-3 [           ?            ]      running cutover  500,000 keys  50.0 MB  125,000 keys/s  ETA ?  held 120 (p99 3 ms)',
    );
    expect(
      formatActionProgress({ id: 'a-3', state: 'done', progress: progress({ phase: 'cleanup' }) }),
    ).toMatch(/^a-3 \[#{24}\] 100 % {2}done cleanup .* keys\/s$/);
    expect(
      formatActionProgress({ id: 'a-9', state: 'failed', detail: 'target n2 down', progress: null }),
    ).toBe('a-9 failed: target n2 down');
    expect([formatBytes(0), formatBytes(1023), formatBytes(1536), formatBytes(10 * 1024 ** 3)]).toEqual([
      '0 B',
      '1023 B',
      '1.5 KB',
      '10.0 GB',
    ]);
    expect([formatEta(59.4), formatEta(185), formatEta(3720), formatEta(null)]).toEqual([
      'ETA 59 s',
      'ETA 3 m 05 s',
      'ETA 1 h 02 m',
      'ETA ?',
    ]);
  });

  let server: FastifyInstance | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  /** A server whose GET /actions/a-1 walks through `steps`, one per request, then stays at the last. */
  async function serve(steps: FollowedAction[]): Promise<{ url: string; requests: () => number }> {
    let n = 0;
    server = Fastify();
    server.get('/actions/:id', (req) => {
      expect((req.params as { id: string }).id).toBe('a-1');
      return { action: steps[Math.min(n++, steps.length - 1)] };
    });
    await server.listen({ host: '127.0.0.1', port: 0 });
    return {
      url: `http://127.0.0.1:${(server.server.address() as { port: number }).port}`,
      requests: () => n,
    };
  }

  const steps: FollowedAction[] = [
    { id: 'a-1', state: 'pending', progress: null },
    { id: 'a-1', state: 'running', progress: progress({ keysCopied: 100 }) },
    { id: 'a-1', state: 'running', progress: progress({ keysCopied: 200 }) },
    { id: 'a-1', state: 'running', progress: progress({ phase: 'verify' }) },
    { id: 'a-1', state: 'done', progress: progress({ phase: 'cleanup', keysCopied: 1_000_000 }) },
  ];

  it('action progress - off a terminal, a line per phase change until the action ends', async () => {
    const { url, requests } = await serve(steps);
    let written = '';
    const slept: number[] = [];
    const end = await followAction({ url }, 'a-1', {
      pollMs: 250,
      out: { write: (t: string) => (written += t) },
      quietLineMs: 60_000,
      sleep: (ms) => Promise.resolve(void slept.push(ms)),
    });
    expect(end.state).toBe('done');
    expect(requests()).toBe(5);
    expect(slept).toEqual([250, 250, 250, 250]);
    const lines = written.trimEnd().split('\n');
    expect(lines.map((l) => /^a-1 (?:.*? )?(pending|running \w+|done \w+)/.exec(l)?.[1])).toEqual([
      'pending',
      'running copy',
      'running verify',
      'done cleanup',
    ]);
  });

  it('action progress - on a terminal, one line rewritten in place, ended by a newline', async () => {
    const { url } = await serve(steps);
    let written = '';
    await followAction({ url }, 'a-1', {
      pollMs: 1,
      out: { write: (t: string) => (written += t), isTTY: true },
      sleep: () => Promise.resolve(),
    });
    expect(written.split('\r\x1b[2K')).toHaveLength(6);
    expect(written.endsWith('\n')).toBe(true);
    expect(written.slice(0, -1)).not.toContain('\n');
  });

  it('action progress - an action that disappears is a failure with the server’s code, not a hang', async () => {
    server = Fastify();
    server.get('/actions/:id', (_req, res) =>
      res.code(404).send({ error: { code: 'HS_ERR_NOT_FOUND', message: "no action 'a-1'" } }),
    );
    await server.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${(server.server.address() as { port: number }).port}`;
    await expect(
      followAction({ url }, 'a-1', { pollMs: 1, out: { write: () => true }, sleep: () => Promise.resolve() }),
    ).rejects.toThrow(/404 HS_ERR_NOT_FOUND: no action 'a-1'/);
  });
});
