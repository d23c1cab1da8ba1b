// @ts-check
/**
 * Talking to hotshard's HTTP API: the control token, JSON requests, and the
 * /events stream.
 *
 * The token is kept in sessionStorage: entered once, it lasts as long as the
 * tab, and is never written to a URL. EventSource cannot send an
 * Authorization header, so /events is read with fetch() and a streamed body
 * instead (the SSE framing is a few lines): the stream is authorized exactly
 * like every other request, and no token ends up in an access log, the
 * browser history or a Referer header, as a `?token=` would.
 *
 * Requests carry no browser credentials (`credentials: 'omit'`): the token is
 * the only credential, and a 401 whose WWW-Authenticate offers Basic would
 * otherwise open the browser's login dialog (and hang the request until it is
 * answered) instead of reaching the page, which asks for the token itself.
 */

const TOKEN_KEY = 'hotshard.token';

/** The token this tab uses, or '' for none. */
export function token() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) ?? '';
  } catch {
    return '';
  }
}

/** Keeps (or, with '', forgets) the token for this tab. */
export function setToken(value) {
  if (value === '') sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, value);
}

/** An HTTP error answered by hotshard: its status and its `{error: {code, message}}`. */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} code
   * @param {string} message
   */
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** @param {Record<string, string>} [extra] */
function headers(extra) {
  /** @type {Record<string, string>} */
  const h = { accept: 'application/json', ...extra };
  const t = token();
  if (t !== '') h.authorization = `Bearer ${t}`;
  return h;
}

/**
 * Sends a request and resolves with the JSON answer; rejects with ApiError on
 * a 4xx/5xx (with hotshard's code and message) or a TypeError when nothing answers.
 *
 * @param {string} method
 * @param {string} path
 * @param {unknown} [body]
 * @returns {Promise<any>}
 */
export async function request(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: headers(body === undefined ? {} : { 'content-type': 'application/json' }),
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    cache: 'no-store',
    credentials: 'omit',
  });
  const text = await res.text();
  /** @type {any} */
  let json = null;
  try {
    json = text === '' ? null : JSON.parse(text);
  } catch {
    json = null;
  }
  if (!res.ok) {
    const err = json?.error;
    throw new ApiError(res.status, err?.code ?? `HTTP ${res.status}`, err?.message ?? text.slice(0, 200));
  }
  return json;
}

/** @param {string} path */
export const get = (path) => request('GET', path);

/**
 * Follows /events until `signal` aborts, reconnecting with Last-Event-ID so no
 * event is missed across a reconnect (the server keeps a backlog).
 *
 * @param {(type: string, data: any) => void} onEvent
 * @param {(state: 'live' | 'reconnecting' | 'refused', detail?: string) => void} onState
 * @param {AbortSignal} signal
 */
export async function followEvents(onEvent, onState, signal) {
  let lastId = '';
  let backoff = 500;
  while (!signal.aborted) {
    try {
      const res = await fetch('/events', {
        headers: headers({
          accept: 'text/event-stream',
          ...(lastId === '' ? {} : { 'last-event-id': lastId }),
        }),
        cache: 'no-store',
        credentials: 'omit',
        signal,
      });
      if (!res.ok || res.body === null) {
        onState('refused', `HTTP ${res.status}`);
        // A refused stream (no token yet) is asked again when the token changes.
        return;
      }
      onState('live');
      backoff = 500;
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let end;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const frame = buf.slice(0, end);
          buf = buf.slice(end + 2);
          let type = 'message';
          let data = '';
          for (const line of frame.split('\n')) {
            if (line.startsWith('id: ')) lastId = line.slice(4);
            else if (line.startsWith('event: ')) type = line.slice(7);
            else if (line.startsWith('data: ')) data += line.slice(6);
          }
          if (data === '') continue;
          try {
            onEvent(type, JSON.parse(data));
          } catch (err) {
            console.warn('event handler failed', type, err);
          }
        }
      }
    } catch (err) {
      if (signal.aborted) return;
      console.warn('event stream dropped', err);
    }
    onState('reconnecting');
    await new Promise((r) => setTimeout(r, backoff));
    backoff = Math.min(backoff * 2, 10_000);
  }
}
