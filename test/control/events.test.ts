/**
 * GET /events over a real socket: a hotspot raised by real load arrives as a
 * server-sent event, a client that reconnects with Last-Event-ID gets what it
 * missed, and streams leave no listener behind.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLoad } from '../../src/load/generator.js';
import { startTestHotshard, type TestHotshard } from '../../src/testkit/hotshard.js';
import { getJson, openEvents, waitFor, type HotspotsBody, type SseEvent } from './harness.js';

const CELEBRITY = 'key:000000000007';

describe('events - hotspots as server-sent events', () => {
  let t: TestHotshard;
  let base = 0;
  beforeAll(async () => {
    t = await startTestHotshard({ backend: 'memory', detector: { rules: { clearTicks: 2 } } });
    // hotshard's own listeners (the incident manager, the audit of planner actions, the config store) are there before any stream.
    base = t.hs.events.subscribers;
  });
  afterAll(async () => {
    // After a client aborts a fetch, undici opens a spare keep-alive connection that never
    // sends a request, and the HTTP server's close waits for it (~4 s, undici's idle timeout).
    t?.hs.http.server.closeAllConnections();
    await t?.stop();
  });

  it('events - a hotspot raised by real load arrives; a reconnect with Last-Event-ID replays what was missed', async () => {
    const first = await openEvents(t.httpPort);
    expect(first.status).toBe(200);
    expect(first.contentType).toBe('text/event-stream');
    await waitFor('the stream to subscribe', () => (t.hs.events.subscribers === base + 1 ? true : undefined));

    const stopLoad = new AbortController();
    const load = runLoad({
      target: { kind: 'resp', host: '127.0.0.1', port: t.port, connections: 2 },
      workload: { keys: 5000, distribution: { kind: 'celebrity', key: 7, share: 0.5, fromMs: 300 } },
      rate: 3000,
      durationMs: 5000,
      signal: stopLoad.signal,
    });
    let raised: SseEvent;
    try {
      raised = await first.until((e) => e.event === 'hotspot.raised' && e.data.kind === 'hot-key', 4000);
    } finally {
      first.close();
      stopLoad.abort();
      await load;
    }
    expect(raised.data).toMatchObject({
      kind: 'hot-key',
      subject: CELEBRITY,
      heat: 'read-hot',
      clearedAt: null,
    });
    const shard = t.hs.router.table.shardFor(Buffer.from(CELEBRITY));
    expect(raised.data).toMatchObject({ shard: shard.id, node: shard.node });
    expect(raised.data.id).toMatch(/^hot-key:key:000000000007@\d+$/);
    expect(raised.data.at).toBeTypeOf('number');
    // Raised within a second of onset, on the share of its shard the key carries.
    const evidence = raised.data.evidence as Record<string, number>;
    expect(evidence.rate).toBeGreaterThan(0);
    expect(evidence.shareOfShard).toBeGreaterThan(0.5);
    expect(raised.data.detectedAt as number).toBeGreaterThanOrEqual(raised.data.onset as number);
    // The aborted client is unsubscribed.
    await waitFor('the stream to unsubscribe', () => (t.hs.events.subscribers === base ? true : undefined));

    // While no one listens, the load has stopped and the hotspot clears.
    await waitFor('the hotspot to clear', async () => {
      const h = (await getJson<HotspotsBody>(t, '/hotspots')).body;
      return h.active.length === 0 ? true : undefined;
    });
    const missed = t.hs.events.since(raised.id);
    expect(missed.map((e) => e.type)).toContain('hotspot.cleared');

    const second = await openEvents(t.httpPort, raised.id);
    try {
      const cleared = await second.until(
        (e) => e.event === 'hotspot.cleared' && e.data.id === raised.data.id,
        2000,
      );
      expect(cleared.data).toMatchObject({ kind: 'hot-key', subject: CELEBRITY });
      expect(cleared.data.clearedAt).toBeTypeOf('number');
      // Exactly the backlog after the given id, in order: nothing seen before is sent again.
      expect(second.received.map((e) => e.id)).toEqual(missed.map((e) => e.id));
      expect(second.received.map((e) => e.event)).toEqual(missed.map((e) => e.type));
      // And the stream is live after the replay.
      const live = t.hs.events.publish('test.ping', { n: 1 });
      const ping = await second.until((e) => e.event === 'test.ping', 2000);
      expect(ping).toEqual({ id: live.id, event: 'test.ping', data: { at: live.at, n: 1 } });
    } finally {
      second.close();
    }
    await waitFor('the stream to unsubscribe', () => (t.hs.events.subscribers === base ? true : undefined));
  });

  it('events - many clients coming and going leave no listener behind', async () => {
    const streams = await Promise.all(Array.from({ length: 8 }, () => openEvents(t.httpPort)));
    await waitFor('8 subscribers', () => (t.hs.events.subscribers === base + 8 ? true : undefined));
    const e = t.hs.events.publish('test.fanout', { n: 2 });
    for (const s of streams) expect((await s.until((x) => x.event === 'test.fanout', 2000)).id).toBe(e.id);
    for (const s of streams) s.close();
    await waitFor('no subscriber', () => (t.hs.events.subscribers === base ? true : undefined));
  });

  it('events - an open stream does not keep hotshard from stopping, and ends cleanly', async () => {
    const own = await startTestHotshard({ backend: 'memory' });
    const ownBase = own.hs.events.subscribers;
    const stream = await openEvents(own.httpPort);
    await waitFor('the stream to subscribe', () =>
      own.hs.events.subscribers === ownBase + 1 ? true : undefined,
    );
    const ended = stream.until(() => false, 3000).catch((err: Error) => err.message);
    const stopped = await Promise.race([
      own.stop().then(() => 'stopped'),
      new Promise((resolve) => setTimeout(() => resolve('still running after 3 s'), 3000)),
    ]);
    expect(stopped).toBe('stopped');
    expect(own.hs.events.subscribers).toBe(0);
    expect(await ended).toBe('event stream ended before the event arrived');
  });
});
