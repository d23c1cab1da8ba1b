/**
 * Shared pieces of the control-plane tests: typed reads of the control API,
 * polling, a server-sent-events client over a real socket, and a strict
 * parser of the Prometheus text format.
 */
import type { Hotspot } from '../../src/detect/hotspot.js';
import type { SkewReport } from '../../src/detect/skew.js';
import type { TestHotshard } from '../../src/testkit/hotshard.js';

/** GET /hotkeys. */
export interface HotKeysBody {
  windowSeconds: number;
  keys: {
    key: string;
    shard: string;
    node: string;
    reads: number;
    writes: number;
    bytes: number;
    error: number;
  }[];
}

/** One row of GET /shards/stats. */
export interface ShardRow {
  shard_id: string;
  node: string;
  status: string;
  reads: number;
  writes: number;
  bytesIn: number;
  bytesOut: number;
  errors: number;
  shed: number;
  p50Ms: number;
  p99Ms: number;
  inflight: number;
}

/** GET /shards/stats. */
export interface ShardStatsBody {
  windowSeconds: number;
  version: number;
  shards: ShardRow[];
}

/** GET /hotspots. */
export interface HotspotsBody {
  active: Hotspot[];
  recent: Hotspot[];
}

/** The JSON error body of a 4xx. */
export interface ErrorBody {
  error: { code: string; message: string };
}

export type { SkewReport };

/** Resolves after `ms`. */
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** GETs a control route in-process and parses the JSON body. */
export async function getJson<T>(t: TestHotshard, url: string): Promise<{ status: number; body: T }> {
  const res = await t.hs.http.inject({ method: 'GET', url });
  return { status: res.statusCode, body: res.json<T>() };
}

/** Polls `probe` every 50 ms until it returns a value; fails naming `what` after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 5000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** Ops per second of a shard row. */
export const ops = (row: { reads: number; writes: number }): number => row.reads + row.writes;

/** Median of numbers (the mean of the middle two for an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** One server-sent event. */
export interface SseEvent {
  id: number;
  event: string;
  data: Record<string, unknown>;
}

/** An open /events stream read with fetch. */
export interface EventStream {
  readonly status: number;
  readonly contentType: string | null;
  /** Events received so far, in order. */
  readonly received: readonly SseEvent[];
  /** Resolves with the first received event (from the start of the stream) that `match` accepts. */
  until(match: (e: SseEvent) => boolean, timeoutMs?: number): Promise<SseEvent>;
  /** Aborts the request, as a client going away does. */
  close(): void;
}

/** Opens GET /events on the real HTTP port, optionally resuming after `lastEventId`. */
export async function openEvents(httpPort: number, lastEventId?: number): Promise<EventStream> {
  const abort = new AbortController();
  const res = await fetch(`http://127.0.0.1:${httpPort}/events`, {
    signal: abort.signal,
    headers: lastEventId === undefined ? {} : { 'last-event-id': String(lastEventId) },
  });
  const received: SseEvent[] = [];
  const waiters = new Set<() => void>();
  let buffered = '';
  let ended = false;
  const pump = async (): Promise<void> => {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
        buffered += decoder.decode(chunk, { stream: true });
        let cut: number;
        while ((cut = buffered.indexOf('\n\n')) >= 0) {
          const frame = buffered.slice(0, cut);
          buffered = buffered.slice(cut + 2);
          const event = parseFrame(frame);
          if (event !== undefined) received.push(event);
        }
        for (const wake of waiters) wake();
      }
    } catch {
      // aborted by close()
    }
    ended = true;
    for (const wake of waiters) wake();
  };
  void pump();
  return {
    status: res.status,
    contentType: res.headers.get('content-type'),
    received,
    until(match, timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const hit = received.find(match);
          if (hit !== undefined) done(() => resolve(hit));
          else if (ended) done(() => reject(new Error('event stream ended before the event arrived')));
        };
        const timer = setTimeout(
          () => done(() => reject(new Error(`no matching event within ${timeoutMs} ms`))),
          timeoutMs,
        );
        const done = (settle: () => void): void => {
          clearTimeout(timer);
          waiters.delete(check);
          settle();
        };
        waiters.add(check);
        check();
      });
    },
    close: () => abort.abort(),
  };
}

/** Parses one SSE frame; comment-only frames (the greeting, keep-alives) give undefined. */
function parseFrame(frame: string): SseEvent | undefined {
  let id: number | undefined;
  let event = 'message';
  const data: string[] = [];
  for (const line of frame.split('\n')) {
    if (line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'id') id = Number(value);
    else if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
  }
  if (id === undefined && data.length === 0) return undefined;
  if (id === undefined || !Number.isInteger(id)) throw new Error(`SSE frame without a numeric id: ${frame}`);
  return { id, event, data: JSON.parse(data.join('\n')) as Record<string, unknown> };
}

/** One sample of the Prometheus text format. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A parsed exposition: metric families (name -> type) and samples. */
export interface Exposition {
  types: Map<string, string>;
  help: Map<string, string>;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const SUFFIXES = ['_bucket', '_sum', '_count', '_total', '_created'];

/**
 * Parses Prometheus text format 0.0.4 strictly: every line is a HELP, a TYPE
 * or a sample; a sample's family was typed before it; no series appears
 * twice. Throws naming the line otherwise.
 */
export function parseExposition(text: string): Exposition {
  const types = new Map<string, string>();
  const help = new Map<string, string>();
  const samples: Sample[] = [];
  const seen = new Set<string>();
  text.split('\n').forEach((line, i) => {
    const fail = (why: string): never => {
      throw new Error(`line ${i + 1}: ${why}: ${JSON.stringify(line)}`);
    };
    if (line === '') return;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (m === null) return; // a plain comment
      const [, kind, name, rest] = m as unknown as [string, string, string, string];
      if (!NAME.test(name)) fail('bad metric name');
      if (kind === 'TYPE') {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest)) fail('bad type');
        if (types.has(name)) fail('family typed twice');
        types.set(name, rest);
      } else help.set(name, rest);
      return;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: -?\d+)?$/.exec(line);
    if (m === null) return fail('not a sample');
    const [, name, labelText, valueText] = m as unknown as [string, string, string | undefined, string];
    const family = types.has(name)
      ? name
      : SUFFIXES.map((s) => (name.endsWith(s) ? name.slice(0, -s.length) : '')).find((f) => types.has(f));
    if (family === undefined) fail('sample before its TYPE');
    const labels = parseLabels(labelText ?? '', fail);
    const value =
      valueText === '+Inf'
        ? Infinity
        : valueText === '-Inf'
          ? -Infinity
          : valueText === 'NaN'
            ? NaN
            : Number(valueText);
    if (Number.isNaN(value) && valueText !== 'NaN') fail('bad value');
    const series = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seen.has(series)) fail('series repeated');
    seen.add(series);
    samples.push({ name, labels, value });
  });
  return { types, help, samples };
}

function parseLabels(text: string, fail: (why: string) => never): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    const eq = text.indexOf('=', i);
    if (eq < 0) fail('label without value');
    const name = text.slice(i, eq);
    if (!LABEL.test(name)) fail(`bad label name ${name}`);
    if (text[eq + 1] !== '"') fail('label value not quoted');
    let value = '';
    let j = eq + 2;
    for (; j < text.length && text[j] !== '"'; j++) {
      if (text[j] === '\\') {
        const next = text[++j];
        if (next === 'n') value += '\n';
        else if (next === '\\' || next === '"') value += next;
        else fail('bad escape in label value');
      } else value += text[j];
    }
    if (j >= text.length) fail('unterminated label value');
    if (name in labels) fail(`label ${name} repeated`);
    labels[name] = value;
    i = j + 1;
    if (text[i] === ',') i++;
    else if (i < text.length) fail('labels not comma separated');
  }
  return labels;
}

/** The samples of one metric. */
export const series = (e: Exposition, name: string): Sample[] => e.samples.filter((s) => s.name === name);
