/**
 * Measures every keyed request on its way through the router: per-shard,
 * per-node and per-tenant counters and latency, the heavy-hitter sketches, and
 * the sampled access log. The router calls `keyed` / `multiKey` only when
 * instrumentation is on; they return the reply callback to send with.
 *
 * Every request is counted as it is sent (a few array increments). Only the
 * requests the telemetry samples for measuring (all of them below its budget,
 * a weighted sample above; see DEFAULT_SAMPLE_BUDGET) or the access log logs
 * get a wrapping callback that times them and records bytes and outcome; the
 * rest go out with the caller's own callback, so they allocate nothing and
 * read no clock.
 *
 * Names are resolved to telemetry indexes once per routing table (arrays by
 * the shard's place in the table) and once per session for tenants, so the
 * hot path does integer work only.
 */
import type { ReplyCallback } from '../backend/backend.js';
import type { RoutingTable } from '../keyspace/routing-table.js';
import type { Command } from '../protocol/command.js';
import { RawReply, ReplyError, type Reply } from '../protocol/reply.js';
import { Outcome, type RouterTelemetry } from '../telemetry/router-telemetry.js';
import { keyToText, type AccessLog } from './access-log.js';
import type { CommandSpec } from './command-table.js';
import { replyTo, type ReplySink } from './reply-to.js';
import type { Session } from './session.js';

const COLON = 0x3a;

/** How a reply ended, for the counters: refusals with a retry-after count as shed. */
function outcomeOf(reply: Reply): Outcome {
  if (reply instanceof ReplyError) return reply.message.startsWith('BUSY') ? Outcome.Shed : Outcome.Error;
  if (reply instanceof RawReply && reply.bytes[0] === 0x2d) return Outcome.Error;
  return Outcome.Ok;
}

/** Reply size on the wire, exact for forwarded replies and close enough for the rest. */
function replyBytes(reply: Reply): number {
  if (reply instanceof RawReply) return reply.bytes.length;
  if (Buffer.isBuffer(reply)) return reply.length + 8;
  if (Array.isArray(reply)) {
    let n = 4;
    for (const r of reply as Reply[]) n += replyBytes(r);
    return n;
  }
  return 8;
}

/** Request size: the frame when there is one, else the arguments. */
function requestBytes(cmd: Command): number {
  if (cmd.frame !== undefined) return cmd.frame.length;
  let n = 0;
  for (const a of cmd.args) n += a.length + 8;
  return n;
}

/** Records what the router routes. */
export class Instrumentation {
  readonly telemetry: RouterTelemetry;
  readonly #log: AccessLog | undefined;
  /** Derive a session's tenant from the key's `tenant:` prefix when it named none. */
  readonly #tenantFromKey: boolean;
  /** Telemetry indexes of each shard of the table in force and of its node, by the shard's place in the table. */
  #shardIds = new Int32Array(0);
  #nodeIds = new Int32Array(0);
  readonly #prefixTenants = new Map<string, number>();

  constructor(
    telemetry: RouterTelemetry,
    table: RoutingTable,
    options: { accessLog?: AccessLog | undefined; tenantFromKey?: boolean } = {},
  ) {
    this.telemetry = telemetry;
    this.#log = options.accessLog;
    this.#tenantFromKey = options.tenantFromKey ?? false;
    this.setTable(table);
  }

  /** Resolves the telemetry indexes of a (new) routing table's shards. */
  setTable(table: RoutingTable): void {
    this.#shardIds = Int32Array.from(table.shards, (s) => this.telemetry.shardIndex(s.id));
    this.#nodeIds = Int32Array.from(table.shards, (s) => this.telemetry.nodeIndex(s.node));
  }

  #tenant(session: Session, key: Buffer): number {
    if (session.tenantIndex >= 0 && !this.#tenantFromKey) return session.tenantIndex;
    if (this.#tenantFromKey && !session.tenantNamed) {
      const colon = key.indexOf(COLON);
      if (colon > 0 && colon <= 64) {
        const name = key.toString('latin1', 0, colon);
        let index = this.#prefixTenants.get(name);
        if (index === undefined) {
          index = this.telemetry.tenantIndex(name);
          if (this.#prefixTenants.size < 10_000) this.#prefixTenants.set(name, index);
        }
        return index;
      }
    }
    if (session.tenantIndex < 0) session.tenantIndex = this.telemetry.tenantIndex(session.tenant);
    return session.tenantIndex;
  }

  /**
   * A single-key command about to go to the shard at `index` in the routing
   * table in force: counts it, and returns the callback to send it with.
   *
   * A measured request is sent with a callback from `replyTo` (see there
   * why not a closure of its own) that settles a MeasuredKeyed. No closure
   * here: a variable a closure captures lives in a context object that V8
   * allocates when the enclosing function is entered, so a closure in this
   * function would cost every request an allocation, measured or not (with
   * `node --trace-gc` under redis-benchmark -P 16: 158 scavenges per 2 M
   * requests against 132 without telemetry).
   */
  keyed(
    session: Session,
    spec: CommandSpec,
    cmd: Command,
    index: number,
    done: ReplyCallback,
  ): ReplyCallback {
    const key = cmd.args[1]!;
    const shard = this.#shardIds[index]!;
    const node = this.#nodeIds[index]!;
    const tenant = this.#tenant(session, key);
    this.telemetry.count(shard, node, tenant, spec.write);
    const weight = this.telemetry.sample();
    const logged = this.#log !== undefined && this.#log.sample();
    if (weight === 0 && !logged) return done;
    const measured = new MeasuredKeyed(
      this.telemetry,
      this.#log,
      session,
      spec,
      cmd,
      shard,
      node,
      tenant,
      weight,
      logged,
      done,
    );
    return replyTo(measured, 0);
  }

  /**
   * A multi-key command about to be split: `at` holds each key's shard place
   * in the routing table in force (shardsOfKeys). Counts each key on its own
   * shard, and returns the callback to send it with (as `keyed` does).
   */
  multiKey(
    session: Session,
    spec: CommandSpec,
    cmd: Command,
    at: Int32Array,
    done: ReplyCallback,
  ): ReplyCallback {
    const tenant = this.#tenant(session, cmd.args[1]!);
    for (let k = 0; k < at.length; k++) {
      this.telemetry.count(this.#shardIds[at[k]!]!, this.#nodeIds[at[k]!]!, tenant, spec.write);
    }
    const weight = this.telemetry.sample();
    const logged = this.#log !== undefined && this.#log.sample();
    if (weight === 0 && !logged) return done;
    // Loops, not Int32Array.from with an arrow: a closure over `this` here
    // would cost every call a context allocation (see `keyed`).
    const shards = new Int32Array(at.length);
    const nodes = new Int32Array(at.length);
    for (let k = 0; k < at.length; k++) {
      shards[k] = this.#shardIds[at[k]!]!;
      nodes[k] = this.#nodeIds[at[k]!]!;
    }
    const measured = new MeasuredMultiKey(
      this.telemetry,
      this.#log,
      session,
      spec,
      cmd,
      shards,
      nodes,
      tenant,
      weight,
      logged,
      done,
    );
    return replyTo(measured, 0);
  }
}

/** One measured single-key request in flight: its reply goes into the telemetry, then on to `done`. */
class MeasuredKeyed implements ReplySink {
  readonly #bytesIn: number;
  readonly #started = performance.now();

  constructor(
    readonly telemetry: RouterTelemetry,
    readonly log: AccessLog | undefined,
    readonly session: Session,
    readonly spec: CommandSpec,
    readonly cmd: Command,
    readonly shard: number,
    readonly node: number,
    readonly tenant: number,
    readonly weight: number,
    readonly logged: boolean,
    readonly done: ReplyCallback,
  ) {
    this.#bytesIn = requestBytes(cmd);
    if (weight > 0) telemetry.begin(shard, node, weight);
  }

  settle(_seq: number, reply: Reply): void {
    const micros = (performance.now() - this.#started) * 1000;
    const outcome = outcomeOf(reply);
    const { telemetry, shard, node, weight } = this;
    const key = this.cmd.args[1]!;
    if (weight > 0) {
      telemetry.end(shard, node, weight);
      const bytesOut = replyBytes(reply);
      telemetry.measure(
        shard,
        node,
        this.tenant,
        key,
        this.spec.write,
        this.#bytesIn,
        bytesOut,
        micros,
        outcome,
        weight,
      );
    }
    if (this.logged) {
      const bytes = this.#bytesIn + replyBytes(reply);
      logRecord(this.log!, telemetry, this.session, this.spec, key, shard, bytes, micros, reply, outcome);
    }
    this.done(reply);
  }
}

/**
 * One measured multi-key request in flight: each key is measured on its own
 * shard, with an equal share of the request's bytes.
 */
class MeasuredMultiKey implements ReplySink {
  readonly #bytesIn: number;
  readonly #started = performance.now();

  constructor(
    readonly telemetry: RouterTelemetry,
    readonly log: AccessLog | undefined,
    readonly session: Session,
    readonly spec: CommandSpec,
    readonly cmd: Command,
    /** Telemetry indexes of each key's shard and node, in key order. */
    readonly shards: Int32Array,
    readonly nodes: Int32Array,
    readonly tenant: number,
    readonly weight: number,
    readonly logged: boolean,
    readonly done: ReplyCallback,
  ) {
    this.#bytesIn = Math.ceil(requestBytes(cmd) / shards.length);
    if (weight > 0) for (let i = 0; i < shards.length; i++) telemetry.begin(shards[i]!, nodes[i]!, weight);
  }

  settle(_seq: number, reply: Reply): void {
    const micros = (performance.now() - this.#started) * 1000;
    const outcome = outcomeOf(reply);
    const { telemetry, shards, nodes, weight, spec, cmd } = this;
    const n = shards.length;
    if (weight > 0) {
      const bytesOut = Math.ceil(replyBytes(reply) / n);
      for (let i = 0; i < n; i++) {
        const key = cmd.args[1 + i * spec.step]!;
        telemetry.end(shards[i]!, nodes[i]!, weight);
        const bytesIn = this.#bytesIn;
        telemetry.measure(
          shards[i]!,
          nodes[i]!,
          this.tenant,
          key,
          spec.write,
          bytesIn,
          bytesOut,
          micros,
          outcome,
          weight,
        );
      }
    }
    if (this.logged) {
      const bytes = this.#bytesIn * n + replyBytes(reply);
      logRecord(
        this.log!,
        telemetry,
        this.session,
        spec,
        cmd.args[1]!,
        shards[0]!,
        bytes,
        micros,
        reply,
        outcome,
      );
    }
    this.done(reply);
  }
}

function logRecord(
  log: AccessLog,
  telemetry: RouterTelemetry,
  session: Session,
  spec: CommandSpec,
  key: Buffer,
  shard: number,
  bytes: number,
  micros: number,
  reply: Reply,
  outcome: Outcome,
): void {
  const error =
    outcome === Outcome.Ok ? undefined : reply instanceof ReplyError ? reply.message.split(' ', 1)[0] : 'ERR';
  log.write({
    t: Date.now(),
    tenant: session.tenant,
    op: spec.name,
    key: keyToText(key),
    bytes,
    shard: telemetry.shardId(shard),
    latencyMs: Math.round(micros) / 1000,
    ...(error === undefined ? {} : { error }),
  });
}
