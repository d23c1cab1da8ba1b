/**
 * Incidents end to end: a real embedded hotshard (nodes with a capacity, so
 * a hot key really queues), real RESP load from two tenants with a
 * celebrity key in one, a real webhook receiver. The incident opens, the
 * planner's cache action shows in it, customers see a notice without
 * internal names, and after the load stops it resolves with a summary.
 */
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Incident, IncidentNotice } from '../../src/control/incident.js';
import { runLoad } from '../../src/load/generator.js';
import { startTestHotshard, type TestHotshard } from '../../src/testkit/hotshard.js';
import { waitFor } from './harness.js';

const ADMIN = 'admin-token-0123456789';
const READ = 'read-token-0123456789a';
const SECRET = 'whsec-0123456789abcdef';
const CELEBRITY = 't0:key:000000000007';

const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;

/** Runs the real `hotshard` CLI; resolves with its exit code and output. */
function hotshard(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const env = { ...process.env };
  delete env.HOTSHARD_ADMIN_TOKEN;
  delete env.HOTSHARD_READ_TOKEN;
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, out, err })));
}

interface Delivery {
  event: string;
  verified: boolean;
  incident: Incident;
}

describe('incidents - a hot key on a real embedded hotshard', () => {
  let t: TestHotshard;
  let hook: Server;
  let hung: Server;
  const deliveries: Delivery[] = [];
  let opened: Incident;
  let resolved: Incident;
  let statusDuring: { status: string; incidents: IncidentNotice[] };
  let statusOther: { incidents: IncidentNotice[] };

  beforeAll(async () => {
    hook = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const ts = String(req.headers['x-hotshard-timestamp']);
        const mac = createHmac('sha256', SECRET).update(`${ts}.${body}`).digest('hex');
        const parsed = JSON.parse(body) as { event: string; incident: Incident };
        deliveries.push({
          event: parsed.event,
          verified: req.headers['x-hotshard-signature'] === `sha256=${mac}`,
          incident: parsed.incident,
        });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
    // A receiver that takes every request and never answers: nothing may wait for it.
    hung = createServer(() => undefined);
    await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve));
    t = await startTestHotshard({
      backend: 'memory',
      nodes: 4,
      shards: 16,
      // 600 ops/s a node: the celebrity's ~600/s plus its node's share of the rest queue there.
      capacity: 600,
      tenant: { keyPrefix: true },
      adminToken: ADMIN,
      readToken: READ,
      detector: { rules: { keyRateFloor: { raise: 300, clear: 200 } } },
      incidents: { resolveAfterMs: 2000, webhookTimeoutMs: 500, webhookMaxAttempts: 2 },
      webhooks: [
        { url: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`, secret: SECRET },
        { url: `http://127.0.0.1:${(hung.address() as AddressInfo).port}/hook`, secret: SECRET },
      ],
    });
    const stop = new AbortController();
    const load = runLoad({
      target: { kind: 'resp', host: '127.0.0.1', port: t.port, connections: 4 },
      workload: {
        keys: 1000,
        tenants: [
          { name: 't0', rate: 900, distribution: { kind: 'celebrity', key: 7, share: 0.67, fromMs: 0 } },
          { name: 't1', rate: 300 },
        ],
      },
      durationMs: 60_000,
      signal: stop.signal,
    });
    const incidents = t.hs.incidents!;
    opened = await waitFor(
      'an incident with the cache action in it',
      () =>
        incidents
          .open()
          .find((i) => i.actions.some((a) => a.kind === 'cache' && a.subject === `key ${CELEBRITY}`)),
      30_000,
    );
    await waitFor(
      'the tenants of the incident',
      () => (incidents.get(opened.id)!.tenants.length >= 2 ? true : undefined),
      10_000,
    );
    statusDuring = (
      await t.hs.http.inject({ method: 'GET', url: '/status', headers: { 'x-tenant': 't1' } })
    ).json();
    statusOther = (await t.hs.http.inject({ method: 'GET', url: '/status?tenant=t9' })).json();
    stop.abort();
    await load;
    resolved = await waitFor(
      'the incident to resolve',
      () => {
        const i = incidents.get(opened.id)!;
        return i.state === 'resolved' ? i : undefined;
      },
      30_000,
    );
    await waitFor(
      'the healthy receiver to hear of the resolution',
      () =>
        deliveries.some((d) => d.event === 'incident.resolved' && d.incident.id === opened.id)
          ? true
          : undefined,
      10_000,
    );
  }, 90_000);

  afterAll(async () => {
    await t?.stop();
    for (const server of [hook, hung]) {
      server?.closeAllConnections();
      await new Promise((resolve) => server?.close(resolve));
    }
  });

  it('incidents - opens on the hot key with its node, the cache action and the tenants with their share', () => {
    const inc = t.hs.incidents!.get(opened.id)!;
    expect(inc.scope.keys).toContain(CELEBRITY);
    const shard = t.hs.router.table.shardFor(Buffer.from(CELEBRITY));
    expect(inc.scope.nodes).toContain(shard.node);
    const t0 = inc.tenants.find((x) => x.tenant === 't0')!;
    const t1 = inc.tenants.find((x) => x.tenant === 't1')!;
    // t0 sends two thirds of its requests to the celebrity, t1 a quarter of its own (one node of four).
    expect(t0.share).toBeGreaterThan(0.5);
    expect(t1.share).toBeGreaterThan(0.05);
    expect(t1.share).toBeLessThan(t0.share);
    // The celebrity's shard: most of t0's requests, a sixteenth of t1's (one shard of sixteen).
    expect(t0.hotShare).toBeGreaterThan(0.5);
    expect(t1.hotShare).toBeLessThan(0.25);
    expect(inc.slos.map((s) => s.slo)).toEqual(['latency', 'availability']);
  });

  it('incidents - customers see a notice with no key, node or tenant in it, on their tenant only', () => {
    expect(statusDuring.status).toBe('degraded');
    const notice = statusDuring.incidents.find((n) => n.id === opened.id)!;
    expect(Object.keys(notice).sort()).toEqual(['id', 'startedAt', 'state', 'text', 'updatedAt']);
    for (const secret of ['t0', 't1', 'key:', ...t.hs.router.backends.keys()])
      expect(notice.text).not.toContain(secret);
    expect(notice.text).toMatch(/subset of keys/);
    expect(statusOther.incidents.find((n) => n.id === opened.id)).toBeUndefined();
  });

  it('incidents - resolves after the load stops, with a summary', () => {
    const s = resolved.summary!;
    expect(s.actions.map((a) => a.kind)).toContain('cache');
    expect(s.detectionLatencyMs).toBeGreaterThanOrEqual(0);
    expect(s.timeToRestoreMs).toBeGreaterThan(s.detectionLatencyMs);
    expect(resolved.resolvedAt! - resolved.restoredAt!).toBeGreaterThanOrEqual(2000);
    expect(resolved.timeline[0]!.text).toMatch(/^opened: /);
    expect(resolved.timeline.at(-1)!.text).toBe('state: resolved');
  });

  it('incidents - the webhook got opened first and resolved last, every delivery signed', () => {
    const mine = deliveries.filter((d) => d.incident.id === opened.id);
    expect(mine[0]!.event).toBe('incident.opened');
    expect(mine.at(-1)!.event).toBe('incident.resolved');
    expect(mine.every((d) => d.verified)).toBe(true);
    expect(mine.at(-1)!.incident.summary).toEqual(resolved.summary);
  });

  it('incidents - /incidents needs a token once tokens are configured; /status does not', async () => {
    const get = (url: string, token?: string) =>
      t.hs.http.inject({
        method: 'GET',
        url,
        headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
      });
    expect((await get('/incidents')).statusCode).toBe(401);
    expect((await get('/incidents', 'wrong-token-0123456789')).statusCode).toBe(401);
    const list = await get('/incidents', READ);
    expect(list.statusCode).toBe(200);
    const body = list.json<{ open: number; incidents: (Incident & { timelineEntries: number })[] }>();
    const entry = body.incidents.find((i) => i.id === opened.id)!;
    expect(entry.state).toBe('resolved');
    expect(entry).not.toHaveProperty('timeline');
    const one = await get(`/incidents/${opened.id}`, ADMIN);
    expect(one.json<{ incident: Incident }>().incident.timeline.length).toBe(entry.timelineEntries);
    expect((await get('/incidents/inc-999', READ)).statusCode).toBe(404);
    expect((await get('/incidents?state=bogus', READ)).statusCode).toBe(400);
    expect((await get('/status')).statusCode).toBe(200);
    expect((await get('/status?tenant=bad%20name')).statusCode).toBe(400);
  });

  it('incidents - the CLI lists incidents, shows one in full and the status page', async () => {
    const url = `http://127.0.0.1:${t.httpPort}`;
    const [list, one, status, refused] = await Promise.all([
      hotshard(['incidents', '--url', url, '--token', READ]),
      hotshard(['incidents', opened.id, '--url', url, '--token', READ]),
      hotshard(['incidents', '--status', '--tenant', 't1', '--url', url]),
      hotshard(['incidents', '--url', url]),
    ]);
    expect(list.err).toBe('');
    expect(list.code).toBe(0);
    expect(list.out).toMatch(new RegExp(`^${opened.id}\\s+\\S+\\s+resolved\\s+`, 'm'));
    expect(one.code).toBe(0);
    expect(one.out).toMatch(/^state\s+resolved$/m);
    expect(one.out).toMatch(/^timeline$/m);
    expect(one.out).toMatch(/^restored after\s+\d+\.\d s from onset$/m);
    expect(one.out).toMatch(/cache/);
    expect(status.code).toBe(0);
    expect(status.out).toMatch(/^status: (operational|degraded)$/m);
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/401 HS_ERR_NOAUTH/);
  }, 30_000);

  it('incidents - /metrics counts open incidents and webhook deliveries', async () => {
    const text = (
      await t.hs.http.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${READ}` } })
    ).body;
    expect(text).toMatch(/^hotshard_incidents_open\{severity="warning"\} 0$/m);
    const delivered = /^hotshard_webhook_deliveries_total\{outcome="delivered"\} (\d+)$/m.exec(text);
    expect(Number(delivered?.[1])).toBeGreaterThanOrEqual(2);
  });
});
