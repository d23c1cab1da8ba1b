/**
 * Webhooks against real HTTP receivers on loopback: the signature verifies,
 * failed attempts are retried with the same delivery id, a receiver that
 * never answers blocks neither the bus nor the other receivers, and the
 * queue stays bounded.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { EventBus } from '../../src/control/events.js';
import { WebhookNotifier, webhookSignature, wants } from '../../src/control/webhooks.js';
import { loadConfig } from '../../src/config.js';

const SECRET = 'whsec-0123456789abcdef';

interface Received {
  headers: IncomingMessage['headers'];
  body: string;
}

/** A receiver that answers each request with what `answer` says (a status, or 'hang'). */
async function receiver(answer: (n: number) => number | 'hang'): Promise<{
  url: string;
  got: Received[];
  server: Server;
  hung: ServerResponse[];
}> {
  const got: Received[] = [];
  const hung: ServerResponse[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      const a = answer(got.length);
      if (a === 'hang') return void hung.push(res);
      res.writeHead(a, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/hook`, got, server, hung };
}

/** What a receiver does to check a delivery (docs/incidents.md shows the same). */
function verify(r: Received, secret: string, nowSeconds: number): boolean {
  const ts = Number(r.headers['x-hotshard-timestamp']);
  if (!Number.isInteger(ts) || Math.abs(nowSeconds - ts) > 300) return false;
  const expected = Buffer.from(
    `sha256=${createHmac('sha256', secret).update(`${ts}.${r.body}`).digest('hex')}`,
  );
  const given = Buffer.from(String(r.headers['x-hotshard-signature']));
  return given.length === expected.length && timingSafeEqual(given, expected);
}

const incident = {
  id: 'inc-1',
  state: 'investigating',
  severity: 'warning',
  title: 'hot-key "k" on n0',
  customerText: 'Elevated latency',
  timeline: [],
  tenants: [],
  actions: [],
  summary: null,
};

const closers: (() => unknown)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

function track(r: { server: Server; hung: ServerResponse[] }): void {
  closers.push(
    () =>
      new Promise<void>((resolve) => {
        for (const res of r.hung) res.destroy();
        r.server.closeAllConnections();
        r.server.close(() => resolve());
      }),
  );
}

describe('webhooks', () => {
  it('webhooks - a delivery carries the Slack text and the incident, and its signature verifies', async () => {
    const r = await receiver(() => 200);
    track(r);
    const bus = new EventBus();
    const hooks = new WebhookNotifier({ bus, hooks: [{ url: r.url, secret: SECRET }] });
    closers.push(() => hooks.close());
    bus.publish('incident.opened', incident, 1_700_000_000_000);
    bus.publish('hotspot.raised', { id: 'x', summary: 'not sent by default' });
    await hooks.idle();
    expect(r.got).toHaveLength(1);
    const [d] = r.got;
    expect(verify(d!, SECRET, Math.floor(Date.now() / 1000))).toBe(true);
    expect(verify(d!, 'another-secret-of-16+', Math.floor(Date.now() / 1000))).toBe(false);
    expect(
      verify({ ...d!, body: d!.body.replace('inc-1', 'inc-2') }, SECRET, Math.floor(Date.now() / 1000)),
    ).toBe(false);
    expect(d!.headers['content-type']).toBe('application/json');
    expect(d!.headers['x-hotshard-event']).toBe('incident.opened');
    const body = JSON.parse(d!.body) as { text: string; event: string; incident: { id: string } };
    expect(body.event).toBe('incident.opened');
    expect(body.incident.id).toBe('inc-1');
    expect(body.text).toMatch(
      /^:rotating_light: \*inc-1\* opened \(warning, investigating\): hot-key "k" on n0/,
    );
    expect(hooks.counts.get('delivered')).toBe(1);
  });

  it('webhooks - failed attempts are retried with backoff under one delivery id until one succeeds', async () => {
    const r = await receiver((n) => (n <= 2 ? 503 : 200));
    track(r);
    const bus = new EventBus();
    const failures: string[] = [];
    const hooks = new WebhookNotifier({
      bus,
      hooks: [{ url: r.url, secret: SECRET }],
      baseDelayMs: 20,
      random: () => 0.5,
      onFailure: (origin, error, willRetry) => failures.push(`${origin} ${error} ${willRetry}`),
    });
    closers.push(() => hooks.close());
    bus.publish('incident.updated', incident);
    await hooks.idle();
    expect(r.got).toHaveLength(3);
    expect(new Set(r.got.map((g) => g.headers['x-hotshard-delivery'])).size).toBe(1);
    for (const g of r.got) expect(verify(g, SECRET, Math.floor(Date.now() / 1000))).toBe(true);
    expect(failures).toEqual([
      `${new URL(r.url).origin} HTTP 503 true`,
      `${new URL(r.url).origin} HTTP 503 true`,
    ]);
    expect(Object.fromEntries(hooks.counts)).toEqual({ delivered: 1, retried: 2, failed: 0, dropped: 0 });
  });

  it('webhooks - a 4xx is not retried; attempts stop at maxAttempts', async () => {
    const bad = await receiver(() => 400);
    const down = await receiver(() => 500);
    track(bad);
    track(down);
    const bus = new EventBus();
    const hooks = new WebhookNotifier({
      bus,
      hooks: [
        { url: bad.url, secret: SECRET },
        { url: down.url, secret: SECRET },
      ],
      baseDelayMs: 5,
      maxAttempts: 3,
    });
    closers.push(() => hooks.close());
    bus.publish('incident.resolved', incident);
    await hooks.idle();
    expect(bad.got).toHaveLength(1);
    expect(down.got).toHaveLength(3);
    expect(Object.fromEntries(hooks.counts)).toEqual({ delivered: 0, retried: 2, failed: 2, dropped: 0 });
  });

  it('webhooks - a receiver that never answers blocks neither the bus nor another receiver; its queue stays bounded', async () => {
    const hung = await receiver(() => 'hang');
    const fine = await receiver(() => 200);
    track(hung);
    track(fine);
    const bus = new EventBus();
    const hooks = new WebhookNotifier({
      bus,
      hooks: [
        { url: hung.url, secret: SECRET },
        { url: fine.url, secret: SECRET, events: ['incident.*'] },
      ],
      timeoutMs: 300,
      maxAttempts: 2,
      baseDelayMs: 10,
      maxQueue: 3,
    });
    closers.push(() => hooks.close());
    // Publishing only queues: ten events pass while the first attempt hangs.
    for (let i = 0; i < 10; i++) bus.publish('incident.updated', { ...incident, id: `inc-${i}` });
    await new Promise<void>((resolve, reject) => {
      const deadline = setTimeout(() => reject(new Error('the healthy receiver got nothing')), 10_000);
      const poll = setInterval(() => {
        if (fine.got.length === 3) {
          clearTimeout(deadline);
          clearInterval(poll);
          resolve();
        }
      }, 10);
    });
    // Bounded: each queue kept 3 of the 10 (the one in flight and the newest).
    expect(fine.got.map((g) => (JSON.parse(g.body) as { incident: { id: string } }).incident.id)).toEqual([
      'inc-0',
      'inc-8',
      'inc-9',
    ]);
    expect(hooks.counts.get('dropped')).toBe(14);
    await hooks.idle();
    // The hung one: each of its 3 deliveries timed out twice and gave up.
    expect(hung.got).toHaveLength(6);
    expect(hooks.counts.get('failed')).toBe(3);
    expect(hooks.counts.get('delivered')).toBe(3);
  });

  it('webhooks - close aborts an attempt in flight and drops what waits', async () => {
    const hung = await receiver(() => 'hang');
    track(hung);
    const bus = new EventBus();
    const hooks = new WebhookNotifier({ bus, hooks: [{ url: hung.url, secret: SECRET }], timeoutMs: 60_000 });
    bus.publish('incident.opened', incident);
    bus.publish('incident.updated', incident);
    while (hung.got.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    await hooks.close();
    await hooks.idle();
    expect(hooks.queued).toBe(0);
    expect(hooks.counts.get('dropped')).toBe(2);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(hooks.counts.get('failed')).toBe(0);
    bus.publish('incident.resolved', incident);
    expect(hooks.queued).toBe(0);
  });

  it('webhooks - a Retry-After is honoured; close with a grace period lets the queue go out first', async () => {
    const times: number[] = [];
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        times.push(Date.now());
        if (times.length === 1) res.writeHead(503, { 'retry-after': '1' }).end();
        else res.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    track({ server, hung: [] });
    const bus = new EventBus();
    const hooks = new WebhookNotifier({
      bus,
      hooks: [{ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, secret: SECRET }],
      baseDelayMs: 10,
    });
    bus.publish('incident.resolved', incident);
    // Closing now would drop it; with 10 s of grace it is delivered after the receiver's second.
    await hooks.close(10_000);
    expect(times).toHaveLength(2);
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(990);
    expect(hooks.counts.get('delivered')).toBe(1);
    expect(hooks.counts.get('dropped')).toBe(0);
  });

  it('webhooks - event patterns and the signature helper', () => {
    expect(wants(undefined, 'incident.opened')).toBe(true);
    expect(wants(undefined, 'hotspot.raised')).toBe(false);
    expect(wants(['hotspot.*'], 'hotspot.cleared')).toBe(true);
    expect(wants(['*'], 'node.down')).toBe(true);
    expect(webhookSignature('k', 1, 'b')).toBe(
      `sha256=${createHmac('sha256', 'k').update('1.b').digest('hex')}`,
    );
  });

  it('webhooks - config validates url, secret and events and never echoes the secret', () => {
    const bad = (webhooks: unknown): string => {
      try {
        loadConfig({ flags: { webhooks } });
        return 'accepted';
      } catch (err) {
        return (err as Error).message;
      }
    };
    expect(bad([{ url: 'ftp://x/y', secret: SECRET }])).toMatch(/webhooks\.0\.url.*http/);
    expect(bad([{ url: 'https://x/y', secret: 'short-secret' }])).toMatch(
      /webhooks\.0\.secret.*16 characters/,
    );
    expect(bad([{ url: 'https://x/y', secret: 'short-secret' }])).not.toContain('short-secret');
    expect(bad([{ url: 'https://x/y', secret: SECRET, events: ['Incident opened'] }])).toMatch(
      /webhooks\.0\.events\.0/,
    );
    expect(bad([{ url: 'https://x/y', secret: SECRET, extra: 1 }])).toMatch(/unknown field/);
    expect(loadConfig({ flags: { webhooks: [{ url: 'https://x/y', secret: SECRET }] } }).webhooks).toEqual([
      { url: 'https://x/y', secret: SECRET },
    ]);
  });
});
