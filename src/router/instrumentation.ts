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
import { isShedCode } from '../errors.js';
import type { RoutingTable } from '../keyspace/routing-table.js';
import type { Command } from '../protocol/command.js';
import { RawReply, ReplyError, type Reply } from '../protocol/reply.js';
import { Outcome, type RouterTelemetry } from '../telemetry/router-telemetry.js';
import { DEFAULT_TENANT } from '../telemetry/tenant-table.js';
import type { SplitSampler } from '../rebalance/split-sampler.js';
import { keyToText, type AccessLog } from './access-log.js';
import type { CommandSpec } from './command-table.js';
import { replyTo, type ReplySink } from './reply-to.js';
import type { Session } from './session.js';

const COLON = 0x3a;

/** How a reply ended, for the counters: refusals with a retry-after count as shed. */
function outcomeOf(reply: Reply): Outcome {
  if (reply instanceof ReplyError) return isShedCode(reply.code) ? Outcome.Shed : Outcome.Error;
  if (reply instanceof RawReply && reply.type === 0x2d) return Outcome.Error;
  return Outcome.Ok;
}

/** Reply size on the wire, exact for forwarded replies and close enough for the rest. */
function replyBytes(reply: Reply): number {
  if (reply instanceof RawReply) return reply.length;
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
  /** The sampled access log, if one is kept. */
  readonly accessLog: AccessLog | undefined;
  /** Derive a session's tenant from the key's `tenant:` prefix when it named none. */
  readonly #tenantFromKey: boolean;
  /** Telemetry indexes of each shard of the table in force and of its node, by the shard's place in the table. */
  #shardIds = new Int32Array(0);
  #nodeIds = new Int32Array(0);
  readonly #prefixTenants = new Map<string, number>();
  #prefixEpoch = -1;
  /** The tenant name #tenant last resolved (no allocation: a string it had anyway). */
  #name = '';
  #splits: SplitSampler | undefined;
  #table: RoutingTable | undefined;

  constructor(
    telemetry: RouterTelemetry,
    table: RoutingTable,
    options: { accessLog?: AccessLog | undefined; tenantFromKey?: boolean } = {},
  ) {
    this.telemetry = telemetry;
    this.accessLog = options.accessLog;
    this.#tenantFromKey = options.tenantFromKey ?? false;
    this.setTable(table);
  }

  /** Resolves the telemetry indexes of a (new) routing table's shards. */
  setTable(table: RoutingTable): void {
    this.#shardIds = Int32Array.from(table.shards, (s) => this.telemetry.shardIndex(s.id));
    this.#nodeIds = Int32Array.from(table.shards, (s) => this.telemetry.nodeIndex(s.node));
    this.#table = table;
    this.#splits?.setTable(table);
  }

  /** Where request keys of watched shards are sampled for split points (src/rebalance/split-sampler.ts). */
  get splitSampler(): SplitSampler | undefined {
    return this.#splits;
  }
  set splitSampler(sampler: SplitSampler | undefined) {
    this.#splits = sampler;
    if (this.#table !== undefined) sampler?.setTable(this.#table);
  }

  // The telemetry index of the request's tenant. Cached per session and per
  // key prefix, and re-resolved when the tenant table's epoch moves (a slot
  // changed owner). Leaves the tenant's name in #name for noteOther.
  #tenant(session: Session, key: Buffer): number {
    const tenants = this.telemetry.tenants;
    if (this.#tenantFromKey && !session.tenantNamed) {
      const colon = key.indexOf(COLON);
      if (colon > 0 && colon <= 64) {
        if (this.#prefixEpoch !== tenants.epoch) {
          this.#prefixTenants.clear();
          this.#prefixEpoch = tenants.epoch;
        }
        const name = key.toString('latin1', 0, colon);
        let index = this.#prefixTenants.get(name);
        if (index === undefined) {
          index = tenants.index(name);
          // Bounded: a flood of prefixes past it costs a lookup each, not memory.
          if (this.#prefixTenants.size < 4096) this.#prefixTenants.set(name, index);
        }
        // A prefix that is no declared tenant is the session's own traffic.
        if (index >= 0) {
          this.#name = name;
          return index;
        }
      }
    }
    this.#name = session.tenant;
    if (session.tenantEpoch !== tenants.epoch) {
      const index = tenants.index(session.tenant);
      session.tenantIndex = index < 0 ? tenants.index(DEFAULT_TENANT) : index;
      session.tenantEpoch = tenants.epoch;
    }
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
    // Split sampling: one array read unless the shard is watched (split-sampler.ts).
    const splits = this.#splits;
    if (splits !== undefined) {
      const watch = splits.watching?.[index];
      if (watch !== undefined) splits.recordKey(watch, key);
    }
    const weight = this.telemetry.sample();
    const logged = this.accessLog !== undefined && this.accessLog.sample();
    if (weight === 0 && !logged) return done;
    if (weight > 0 && tenant === this.telemetry.tenants.other)
      this.telemetry.tenants.noteOther(this.#name, weight);
    const measured = new MeasuredKeyed(this, session, spec, cmd, tenant, weight, logged, done);
    return replyTo(measured.send(shard, node), 0);
  }

  /**
   * A multi-key command about to be split: `at` holds each key's shard place
   * in the routing table in force (shardsOfKeys). Counts each key on its own
   * shard, and returns the callback to send it with (as `keyed` does).
   *
   * Commands whose keys are not where the spec's first key and step put them
   * (scripts' declared keys, a transaction's block) come with their keys
   * packed after the name (`step` 1), and with `write` when what they do to
   * their keys is not the spec's flag (EVAL has none: its writes are the
   * script's). A blocking command is measured untimed (`timed` false): its
   * wait for an element is not the node's service time, and while it waits
   * it is not in flight on the node's queue.
   */
  multiKey(
    session: Session,
    spec: CommandSpec,
    cmd: Command,
    at: Int32Array,
    done: ReplyCallback,
    write = spec.write,
    step = spec.step,
    timed = true,
  ): ReplyCallback {
    if (at.length === 0) return done;
    const tenant = this.#tenant(session, cmd.args[1]!);
    for (let k = 0; k < at.length; k++) {
      this.telemetry.count(this.#shardIds[at[k]!]!, this.#nodeIds[at[k]!]!, tenant, write);
    }
    if (this.#splits?.watching != null) this.#splits.recordKeys(at, cmd.args, step);
    const weight = this.telemetry.sample();
    const logged = this.accessLog !== undefined && this.accessLog.sample();
    if (weight === 0 && !logged) return done;
    if (weight > 0 && tenant === this.telemetry.tenants.other)
      this.telemetry.tenants.noteOther(this.#name, weight * at.length);
    // Loops, not Int32Array.from with an arrow: a closure over `this` here
    // would cost every call a context allocation (see `keyed`).
    const shards = new Int32Array(at.length);
    const nodes = new Int32Array(at.length);
    for (let k = 0; k < at.length; k++) {
      shards[k] = this.#shardIds[at[k]!]!;
      nodes[k] = this.#nodeIds[at[k]!]!;
    }
    const measured = new MeasuredMultiKey(this, session, spec, cmd, tenant, weight, logged, done);
    return replyTo(measured.send(shards, nodes, write, step, timed), 0);
  }
}

/**
 * A measured request in flight, from send to reply: what both kinds keep.
 * `settle` takes the reply (see replyTo), records it and hands it on to `done`.
 */
abstract class Measured implements ReplySink {
  readonly started = performance.now();
  /** The tenant table's epoch at send: if it moved, `tenant` may name another tenant now. */
  readonly #epoch: number;

  constructor(
    readonly ins: Instrumentation,
    readonly session: Session,
    readonly spec: CommandSpec,
    readonly cmd: Command,
    readonly tenant: number,
    /** The telemetry's sampling weight (0: only the access log wants it). */
    readonly weight: number,
    readonly logged: boolean,
    readonly done: ReplyCallback,
  ) {
    this.#epoch = ins.telemetry.tenants.epoch;
  }

  /** The tenant index to measure under: none if its slot changed hands while this was in flight. */
  protected get tenantNow(): number {
    return this.#epoch === this.ins.telemetry.tenants.epoch ? this.tenant : -1;
  }

  abstract settle(seq: number, reply: Reply): void;

  /** The access log's line for this request. */
  protected logLine(
    key: Buffer,
    shard: number,
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
    this.ins.accessLog!.write({
      t: Date.now(),
      tenant: this.session.tenant,
      op: this.spec.name,
      key: keyToText(key),
      bytes,
      shard: this.ins.telemetry.shardId(shard),
      latencyMs: Math.round(micros) / 1000,
      ...(error === undefined ? {} : { error }),
    });
  }
}

/** A measured single-key request. */
class MeasuredKeyed extends Measured {
  shard = -1;
  node = -1;
  bytesIn = 0;

  /** It goes to `shard` on `node` now (telemetry indexes). */
  send(shard: number, node: number): this {
    this.shard = shard;
    this.node = node;
    this.bytesIn = requestBytes(this.cmd);
    if (this.weight > 0) this.ins.telemetry.begin(shard, node, this.weight);
    return this;
  }

  settle(_seq: number, reply: Reply): void {
    const micros = (performance.now() - this.started) * 1000;
    const outcome = outcomeOf(reply);
    const { shard, node, weight, bytesIn } = this;
    const telemetry = this.ins.telemetry;
    const key = this.cmd.args[1]!;
    if (weight > 0) {
      telemetry.end(shard, node, weight);
      const bytesOut = replyBytes(reply);
      const { write, increment } = this.spec;
      telemetry.measure(
        shard,
        node,
        this.tenantNow,
        key,
        write,
        bytesIn,
        bytesOut,
        micros,
        outcome,
        weight,
        increment,
      );
    }
    if (this.logged) this.logLine(key, shard, bytesIn + replyBytes(reply), micros, reply, outcome);
    this.done(reply);
  }
}

/**
 * A measured multi-key request: each key is measured on its own shard, with
 * an equal share of the request's bytes.
 */
class MeasuredMultiKey extends Measured {
  shards: Int32Array = NO_INDEXES;
  nodes: Int32Array = NO_INDEXES;
  bytesIn = 0;
  write = false;
  step = 1;
  timed = true;

  /** Its keys go to `shards` on `nodes` now (telemetry indexes, in key order). */
  send(shards: Int32Array, nodes: Int32Array, write: boolean, step: number, timed: boolean): this {
    this.shards = shards;
    this.nodes = nodes;
    this.write = write;
    this.step = step;
    this.timed = timed;
    this.bytesIn = Math.ceil(requestBytes(this.cmd) / shards.length);
    if (this.weight > 0 && timed)
      for (let i = 0; i < shards.length; i++) this.ins.telemetry.begin(shards[i]!, nodes[i]!, this.weight);
    return this;
  }

  settle(_seq: number, reply: Reply): void {
    const micros = (performance.now() - this.started) * 1000;
    const outcome = outcomeOf(reply);
    const { shards, nodes, weight, cmd, bytesIn, write, step, timed } = this;
    const telemetry = this.ins.telemetry;
    const n = shards.length;
    if (weight > 0) {
      const bytesOut = Math.ceil(replyBytes(reply) / n);
      for (let i = 0; i < n; i++) {
        const key = cmd.args[1 + i * step]!;
        if (timed) telemetry.end(shards[i]!, nodes[i]!, weight);
        telemetry.measure(
          shards[i]!,
          nodes[i]!,
          this.tenantNow,
          key,
          write,
          bytesIn,
          bytesOut,
          timed ? micros : -1,
          outcome,
          weight,
        );
      }
    }
    if (this.logged)
      this.logLine(cmd.args[1]!, shards[0]!, bytesIn * n + replyBytes(reply), micros, reply, outcome);
    this.done(reply);
  }
}

const NO_INDEXES = new Int32Array(0);
