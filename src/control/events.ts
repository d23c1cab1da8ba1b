/**
 * The control plane's event stream: hotspots raised and cleared, nodes down
 * and up, actions, incidents, and the once-a-second `heat` column. Subscribers are the SSE endpoint, webhooks and the scenario
 * runner. A bounded backlog lets an SSE client that reconnects with
 * Last-Event-ID catch up on what it missed.
 */

/** One published event. */
export interface ControlEvent {
  /** Increasing sequence number, the SSE `id:`. */
  readonly id: number;
  /** `hotspot.raised`, `hotspot.updated`, `hotspot.cleared`, `node.down`, `node.up`, ... */
  readonly type: string;
  /** ms since the epoch. */
  readonly at: number;
  readonly data: unknown;
}

/** Receives events as they are published. */
export type EventListener = (event: ControlEvent) => void;

/** Told when a listener throws: the event it was given and what it threw. */
export type ListenerErrorHandler = (err: unknown, event: ControlEvent) => void;

/** Fan-out of control-plane events with a bounded backlog. */
export class EventBus {
  readonly #listeners = new Set<EventListener>();
  /** Listeners that also want broadcasts (the SSE stream). */
  readonly #broadcastListeners = new Set<EventListener>();
  readonly #backlog: ControlEvent[] = [];
  readonly #backlogSize: number;
  #nextId = 1;
  #onListenerError: ListenerErrorHandler | undefined;

  constructor(backlogSize = 1000, onListenerError?: ListenerErrorHandler) {
    this.#backlogSize = backlogSize;
    this.#onListenerError = onListenerError;
  }

  /** Where listener failures go (ControlErrors in a server); before, they are dropped. */
  set onListenerError(handler: ListenerErrorHandler | undefined) {
    this.#onListenerError = handler;
  }

  /** Publishes an event to every listener; a listener that throws does not stop the others. */
  publish(type: string, data: unknown, at = Date.now()): ControlEvent {
    const event: ControlEvent = { id: this.#nextId++, type, at, data };
    this.#backlog.push(event);
    if (this.#backlog.length > this.#backlogSize) this.#backlog.shift();
    this.#deliver(event);
    return event;
  }

  /**
   * Delivers an event to every listener without keeping it in the backlog:
   * for frequent, self-contained events (the once-a-second `heat` column),
   * which would push the hotspots and incidents a reconnecting client
   * resumes from out of the backlog within minutes. Its id is from the same
   * sequence, so Last-Event-ID stays ordered. Only listeners that asked for
   * broadcasts get it: webhooks, the audit log and the store's followers
   * would otherwise each see 86,400 of them a day.
   */
  broadcast(type: string, data: unknown, at = Date.now()): ControlEvent {
    const event: ControlEvent = { id: this.#nextId++, type, at, data };
    this.#deliver(event, this.#broadcastListeners);
    return event;
  }

  #deliver(event: ControlEvent, listeners: Set<EventListener> = this.#listeners): void {
    for (const listener of listeners) {
      try {
        listener(event);
      } catch (err) {
        // One broken subscriber must not silence the stream for the others;
        // it is reported, not swallowed.
        this.#reportListenerError(err, event);
      }
    }
  }

  #reportListenerError(err: unknown, event: ControlEvent): void {
    try {
      this.#onListenerError?.(err, event);
    } catch {
      // a failing reporter cannot be reported anywhere else
    }
  }

  /** Subscribes (with `broadcasts`, to broadcasts too); returns the unsubscribe function. */
  subscribe(listener: EventListener, options: { readonly broadcasts?: boolean } = {}): () => void {
    this.#listeners.add(listener);
    if (options.broadcasts === true) this.#broadcastListeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
      this.#broadcastListeners.delete(listener);
    };
  }

  /** Events after `id` still in the backlog, oldest first. */
  since(id: number): ControlEvent[] {
    return this.#backlog.filter((e) => e.id > id);
  }

  /** Number of current subscribers. */
  get subscribers(): number {
    return this.#listeners.size;
  }
}
