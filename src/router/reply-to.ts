/**
 * The one function literal behind the reply callbacks of routed requests.
 *
 * A backend connection calls every request's callback from one call site. V8
 * inlines the callee there only while every callback it has seen was made by
 * the same function literal (closures of one literal count as one target);
 * a second literal turns the site megamorphic, and every reply then goes
 * through the generic Call builtin. So the client connection's callback and
 * the instrumentation's measuring callback are both made here, and differ in
 * the object they settle: `sink.settle` sees a couple of classes, which V8
 * handles as a polymorphic call it can still inline.
 *
 * Measured with `perf record` under redis-benchmark -P 16 GET: a measuring
 * callback of its own literal put 2.3 % of the proxy's cycles into
 * Builtins_Call_ReceiverIsNullOrUndefined (0.05 % with telemetry off).
 */
import type { ReplyCallback } from '../backend/backend.js';
import type { Reply } from '../protocol/reply.js';

/** What a reply is handed to; `seq` is whatever the sink gave `replyTo`. */
export interface ReplySink {
  settle(seq: number, reply: Reply): void;
}

/** The callback that hands a reply to `sink` with `seq`. */
export function replyTo(sink: ReplySink, seq: number): ReplyCallback {
  return (reply) => sink.settle(seq, reply);
}
