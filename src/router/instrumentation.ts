/**
 * Measures every keyed request on its way through the router: per-shard,
 * per-node and per-tenant counters and latency, the heavy-hitter sketches, and
 * the sampled access log. The router calls `keyed` / `multiKey` only when
 * instrumentation is on; it returns the callback that records the outcome
 * before handing the reply on.
 *
 * Names are resolved to telemetry indexes once per routing table (and once
 * per session for tenants), so the hot path does integer work only.
 *
 * Only requests the telemetry asks to time (all of them below its latency
 * budget, a sample above) or the access log samples read `performance.now()`:
 * the decision is taken before sending, so an untimed request costs no clock
 * read at either end.
 */
import type { ReplyCallback } from '../backend/backend.js';
import type { RoutingTable, ShardInfo } from '../keyspace/routing-table.js';
import type { Command } from '../protocol/command.js';
import { RawReply, ReplyError, type Reply } from '../protocol/reply.js';
import { Outcome, type RouterTelemetry } from '../telemetry/router-telemetry.js';
import { keyToText, type AccessLog } from './access-log.js';
import type { CommandSpec } from './command-table.js';
import type { Session } from './session.js';

/** Telemetry indexes of one shard and its node. */
interface RouteIds {
  readonly shard: number;
  readonly node: number;
}

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
  #routes = new Map<ShardInfo, RouteIds>();
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
    const routes = new Map<ShardInfo, RouteIds>();
    for (const s of table.shards) {
      routes.set(s, { shard: this.telemetry.shardIndex(s.id), node: this.telemetry.nodeIndex(s.node) });
    }
    this.#routes = routes;
  }

  #tenant(session: Session, key: Buffer): number {
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

  /** Wraps the reply callback of a single-key command routed to `shard`. */
  keyed(
    session: Session,
    spec: CommandSpec,
    cmd: Command,
    shard: ShardInfo,
    done: ReplyCallback,
  ): ReplyCallback {
    const ids = this.#routes.get(shard)!;
    const key = cmd.args[1]!;
    const tenant = this.#tenant(session, key);
    const telemetry = this.telemetry;
    const bytesIn = requestBytes(cmd);
    const weight = telemetry.timeRequest();
    const logged = this.#log?.sample() === true;
    const started = weight > 0 || logged ? performance.now() : -1;
    const shardIndex = ids.shard;
    const nodeIndex = ids.node;
    telemetry.begin(shardIndex, nodeIndex);
    return (reply: Reply): void => {
      const micros = started < 0 ? 0 : (performance.now() - started) * 1000;
      telemetry.end(shardIndex, nodeIndex);
      const outcome = outcomeOf(reply);
      const bytesOut = replyBytes(reply);
      telemetry.record(
        shardIndex,
        nodeIndex,
        tenant,
        key,
        spec.write,
        bytesIn,
        bytesOut,
        micros,
        outcome,
        weight,
      );
      if (logged) this.#logRecord(session, spec, key, shard, bytesIn + bytesOut, micros, reply, outcome);
      done(reply);
    };
  }

  /** Wraps the reply callback of a multi-key command: each key counts on its own shard. */
  multiKey(
    session: Session,
    spec: CommandSpec,
    cmd: Command,
    table: RoutingTable,
    done: ReplyCallback,
  ): ReplyCallback {
    const args = cmd.args;
    const keys: Buffer[] = [];
    const ids: RouteIds[] = [];
    for (let i = 1; i < args.length; i += spec.step) {
      keys.push(args[i]!);
      ids.push(this.#routes.get(table.shardFor(args[i]!))!);
    }
    const tenant = this.#tenant(session, keys[0]!);
    const telemetry = this.telemetry;
    const bytesIn = Math.ceil(requestBytes(cmd) / keys.length);
    const weight = telemetry.timeRequest();
    const logged = this.#log?.sample() === true;
    const started = weight > 0 || logged ? performance.now() : -1;
    for (const r of ids) telemetry.begin(r.shard, r.node);
    return (reply: Reply): void => {
      const micros = started < 0 ? 0 : (performance.now() - started) * 1000;
      const outcome = outcomeOf(reply);
      const bytesOut = Math.ceil(replyBytes(reply) / keys.length);
      for (let i = 0; i < keys.length; i++) {
        const r = ids[i]!;
        telemetry.end(r.shard, r.node);
        telemetry.record(
          r.shard,
          r.node,
          tenant,
          keys[i]!,
          spec.write,
          bytesIn,
          bytesOut,
          micros,
          outcome,
          weight,
        );
      }
      if (logged) {
        this.#logRecord(
          session,
          spec,
          keys[0]!,
          table.shardFor(keys[0]!),
          bytesIn + bytesOut,
          micros,
          reply,
          outcome,
        );
      }
      done(reply);
    };
  }

  #logRecord(
    session: Session,
    spec: CommandSpec,
    key: Buffer,
    shard: ShardInfo,
    bytes: number,
    micros: number,
    reply: Reply,
    outcome: Outcome,
  ): void {
    const error =
      outcome === Outcome.Ok
        ? undefined
        : reply instanceof ReplyError
          ? reply.message.split(' ', 1)[0]
          : 'ERR';
    this.#log!.write({
      t: Date.now(),
      tenant: session.tenant,
      op: spec.name,
      key: keyToText(key),
      bytes,
      shard: shard.id,
      latencyMs: Math.round(micros) / 1000,
      ...(error === undefined ? {} : { error }),
    });
  }
}
