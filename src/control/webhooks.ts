/**
 * Webhooks: control-plane events (incidents by default) POSTed as JSON to
 * the URLs in config `webhooks`, signed, retried, and never in anyone's way.
 *
 * Body: `{"text": <Slack-compatible message>, "event", "eventId", "at",
 * "incident": {...}}` (`data` in place of `incident` for other events), so
 * a Slack incoming webhook posts the text and anything else reads the rest.
 *
 * Headers (docs/incidents.md shows how to verify them):
 *   X-Hotshard-Timestamp: <unix seconds of this attempt>
 *   X-Hotshard-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>
 *   X-Hotshard-Delivery:  <id, the same on every retry of one delivery>
 *   X-Hotshard-Event:     incident.opened | incident.updated | incident.resolved | ...
 * The timestamp is inside the signed text: over the body alone, a captured
 * request could be replayed with a fresh timestamp, and a receiver could not
 * tell. Receivers refuse timestamps more than a few minutes old.
 *
 * Never blocking: the bus listener only serialises and queues (bounded per
 * hook: past `maxQueue` the oldest waiting delivery is dropped and counted).
 * Each hook sends one delivery at a time, in event order, each attempt
 * bounded by `timeoutMs`; a hung or failing receiver delays only its own
 * queue. Network errors, timeouts, 429 and 5xx are retried with exponential
 * backoff and jitter up to `maxAttempts`; any other status fails at once.
 */
import { createHmac } from 'node:crypto';
import type { ControlEvent, EventBus } from './events.js';
import { INCIDENT_EVENTS, slackText, type Incident, type IncidentEvent } from './incident.js';

/** One configured receiver (config `webhooks[]`). */
export interface WebhookConfig {
  readonly url: string;
  /** HMAC key of the signature. */
  readonly secret: string;
  /** Event types sent: exact (`incident.opened`) or a prefix with `*` (`incident.*`, `*`). Default the incident events. */
  readonly events?: readonly string[] | undefined;
}

/** How deliveries are made. */
export interface WebhookOptions {
  readonly hooks: readonly WebhookConfig[];
  readonly bus: EventBus;
  /** Per attempt (ms). Default 5 s. */
  readonly timeoutMs?: number | undefined;
  /** Attempts per delivery, the first included. Default 5. */
  readonly maxAttempts?: number | undefined;
  /** Delay before the second attempt (ms); doubles each time, with jitter. Default 500 ms. */
  readonly baseDelayMs?: number | undefined;
  /** Longest delay between attempts (ms). Default 30 s. */
  readonly maxDelayMs?: number | undefined;
  /** Deliveries waiting per hook before the oldest is dropped. Default 1,000. */
  readonly maxQueue?: number | undefined;
  /** Jitter source in [0, 1). Default Math.random. */
  readonly random?: (() => number) | undefined;
  /** Seconds since the epoch for the timestamp header. Default the wall clock. */
  readonly now?: (() => number) | undefined;
  /** Told of each attempt that failed, with the hook's origin (never its full URL: it may hold a secret). */
  readonly onFailure?: ((origin: string, error: string, willRetry: boolean) => void) | undefined;
}

/** How deliveries turned out: `retried` counts attempts that failed and were retried. */
export const DELIVERY_OUTCOMES = ['delivered', 'retried', 'failed', 'dropped'] as const;
/** One of {@link DELIVERY_OUTCOMES}. */
export type DeliveryOutcome = (typeof DELIVERY_OUTCOMES)[number];

interface Delivery {
  readonly id: string;
  readonly event: string;
  readonly body: string;
  attempts: number;
}

interface Hook {
  readonly config: WebhookConfig;
  readonly origin: string;
  readonly queue: Delivery[];
  busy: boolean;
  timer: NodeJS.Timeout | undefined;
  abort: AbortController | undefined;
}

/** The Slack text of an event that is not an incident's. */
function plainText(e: ControlEvent): string {
  const d = e.data as { summary?: unknown; id?: unknown } | null;
  const what = typeof d?.summary === 'string' ? d.summary : typeof d?.id === 'string' ? d.id : '';
  return `[hotshard] ${e.type}${what === '' ? '' : `: ${what}`}`;
}

/** The request body of an event. */
export function webhookBody(e: ControlEvent): string {
  if ((INCIDENT_EVENTS as readonly string[]).includes(e.type)) {
    const incident = e.data as Incident;
    return JSON.stringify({
      text: slackText(e.type as IncidentEvent, incident),
      event: e.type,
      eventId: e.id,
      at: e.at,
      incident,
    });
  }
  return JSON.stringify({ text: plainText(e), event: e.type, eventId: e.id, at: e.at, data: e.data });
}

/** `sha256=<hex>` over `<timestamp>.<body>`: what X-Hotshard-Signature carries. */
export function webhookSignature(secret: string, timestamp: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** Whether a hook's `events` list takes an event type. */
export function wants(events: readonly string[] | undefined, type: string): boolean {
  return (events ?? INCIDENT_EVENTS).some((p) =>
    p.endsWith('*') ? type.startsWith(p.slice(0, -1)) : p === type,
  );
}

/** Sends control-plane events to the configured webhooks; see the file header. */
export class WebhookNotifier {
  readonly #o: WebhookOptions;
  readonly #hooks: Hook[];
  readonly #counts = new Map<DeliveryOutcome, number>(DELIVERY_OUTCOMES.map((o) => [o, 0]));
  readonly #unsubscribe: () => void;
  readonly #idle = new Set<() => void>();
  #closed = false;
  #next = 1;

  constructor(options: WebhookOptions) {
    this.#o = options;
    this.#hooks = options.hooks.map((config) => ({
      config,
      origin: new URL(config.url).origin,
      queue: [],
      busy: false,
      timer: undefined,
      abort: undefined,
    }));
    this.#unsubscribe =
      this.#hooks.length === 0 ? () => undefined : options.bus.subscribe((e) => this.#enqueue(e));
  }

  /** Deliveries by outcome so far. */
  get counts(): ReadonlyMap<DeliveryOutcome, number> {
    return this.#counts;
  }

  /** Deliveries waiting or in flight, all hooks. */
  get queued(): number {
    return this.#hooks.reduce((n, h) => n + h.queue.length, 0);
  }

  /** Resolves once every queue is empty (tests; a graceful stop may wait on it with its own deadline). */
  idle(): Promise<void> {
    if (this.queued === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.add(resolve));
  }

  /**
   * Stops: unsubscribes, gives what is queued up to `graceMs` to go out (an
   * incident resolved just before a shutdown should still be told), then
   * aborts attempts in flight and drops what waits (counted as dropped).
   */
  async close(graceMs = 0): Promise<void> {
    if (this.#closed) return;
    this.#unsubscribe();
    if (graceMs > 0 && this.queued > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.idle(), new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))]);
      clearTimeout(timer);
    }
    if (this.#closed) return;
    this.#closed = true;
    for (const h of this.#hooks) {
      clearTimeout(h.timer);
      h.abort?.abort();
      this.#count('dropped', h.queue.length);
      h.queue.length = 0;
    }
    this.#wakeIdle();
  }

  #count(outcome: DeliveryOutcome, n = 1): void {
    this.#counts.set(outcome, (this.#counts.get(outcome) ?? 0) + n);
  }

  #enqueue(e: ControlEvent): void {
    const targets = this.#hooks.filter((h) => wants(h.config.events, e.type));
    if (targets.length === 0 || this.#closed) return;
    const body = webhookBody(e);
    for (const h of targets) {
      const max = this.#o.maxQueue ?? 1000;
      if (h.queue.length >= max) {
        // The head may be in flight: the oldest one still waiting goes.
        h.queue.splice(h.busy ? 1 : 0, 1);
        this.#count('dropped');
      }
      h.queue.push({ id: `d-${this.#next++}`, event: e.type, body, attempts: 0 });
      this.#pump(h);
    }
  }

  #pump(h: Hook): void {
    if (h.busy || this.#closed) return;
    const d = h.queue[0];
    if (d === undefined) return this.#wakeIdle();
    h.busy = true;
    void this.#attempt(h, d).then((retryIn) => {
      if (this.#closed) return;
      if (retryIn === null) {
        h.queue.shift();
        h.busy = false;
        this.#pump(h);
        return;
      }
      h.timer = setTimeout(() => {
        h.timer = undefined;
        h.busy = false;
        this.#pump(h);
      }, retryIn);
      h.timer.unref();
    });
  }

  /** One attempt; resolves with the delay before the next one, or null when the delivery is over. */
  async #attempt(h: Hook, d: Delivery): Promise<number | null> {
    d.attempts += 1;
    const timestamp = Math.floor(this.#o.now?.() ?? Date.now() / 1000);
    const abort = new AbortController();
    h.abort = abort;
    const timer = setTimeout(() => abort.abort(), this.#o.timeoutMs ?? 5000);
    timer.unref();
    let error: string;
    let retryable: boolean;
    /** What the receiver asked for (Retry-After, seconds), honoured up to maxDelayMs. */
    let retryAfterMs = 0;
    try {
      const res = await fetch(h.config.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'hotshard-webhook',
          'x-hotshard-event': d.event,
          'x-hotshard-delivery': d.id,
          'x-hotshard-timestamp': String(timestamp),
          'x-hotshard-signature': webhookSignature(h.config.secret, timestamp, d.body),
        },
        body: d.body,
        signal: abort.signal,
        redirect: 'error',
      });
      // The body is not read: cancelling it frees the connection at once.
      await res.body?.cancel().catch(() => undefined);
      if (res.ok) {
        this.#count('delivered');
        return null;
      }
      error = `HTTP ${res.status}`;
      retryable = res.status === 429 || res.status >= 500;
      const after = Number(res.headers.get('retry-after'));
      if (Number.isFinite(after) && after > 0) retryAfterMs = after * 1000;
    } catch (err) {
      error = abort.signal.aborted
        ? `no answer within ${this.#o.timeoutMs ?? 5000} ms`
        : String((err as Error).message);
      retryable = true;
    } finally {
      clearTimeout(timer);
      h.abort = undefined;
    }
    // Stopped under it: close counts it as dropped, and it is no failure of the receiver's.
    if (this.#closed) return null;
    const again = retryable && d.attempts < (this.#o.maxAttempts ?? 5);
    this.#count(again ? 'retried' : 'failed');
    this.#o.onFailure?.(h.origin, error, again);
    if (!again) return null;
    const base = this.#o.baseDelayMs ?? 500;
    const max = this.#o.maxDelayMs ?? 30_000;
    const ceiling = Math.min(max, base * 2 ** (d.attempts - 1));
    // Half fixed, half random: receivers that failed together do not retry together.
    const backoff = ceiling / 2 + (this.#o.random ?? Math.random)() * (ceiling / 2);
    return Math.min(max, Math.max(backoff, retryAfterMs));
  }

  #wakeIdle(): void {
    if (this.queued > 0) return;
    for (const wake of this.#idle) wake();
    this.#idle.clear();
  }
}
