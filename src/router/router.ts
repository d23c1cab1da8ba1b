/**
 * The request pipeline: validate a command, route its key through the routing
 * table to a node, and hand the node's reply back. Multi-key commands are split
 * by node and reassembled in order; router-local commands are answered here.
 *
 * This runs once per request; keep it free of allocation beyond the Command
 * object and the reply callback.
 */
import type { ShardBackend, ReplyCallback } from '../backend/backend.js';
import { systemClock, type Clock } from '../clock.js';
import type { NodeId } from '../keyspace/ids.js';
import type { RoutingTable } from '../keyspace/routing-table.js';
import type { Command } from '../protocol/command.js';
import { ReplyError, SimpleString, hsError, type Reply } from '../protocol/reply.js';
import { ErrorCode, HotshardError } from '../errors.js';
import { Admission } from './admission.js';
import type { ClientRegistry } from './client-command.js';
import { interruptMoved, releaseBlocked, runBlocking, type BlockingHost } from './blocking.js';
import { Route, arityOk, lookupCommand, type CommandSpec } from './command-table.js';
import { toResp3 } from './resp3.js';
import { DedicatedPool } from './dedicated-pool.js';
import { runLocalCommand, type InfoExtras, type LocalContext } from './local-commands.js';
import type { Instrumentation } from './instrumentation.js';
import { KeyPolicyTable, runPolicy, type Forward } from './key-policies.js';
import {
  dispatchAllNodes,
  dispatchMultiKey,
  dispatchWithPolicies,
  shardsOfKeys,
  type HiddenKeys,
} from './multi-key.js';
import { dispatchByKeySpecs } from './one-shard.js';
import { runScan, type ScanHost } from './scan.js';
import { runScript, runScriptAdmin } from './scripts.js';
import type { Session } from './session.js';
import { Tenants } from './tenants.js';
import { TRANSACTION_CONTROL, queueCommand, runTransactionCommand, unwatch } from './transaction.js';
import type { RangeGate } from '../rebalance/range-gate.js';

/** What the router needs to know about its deployment. */
export interface RouterOptions {
  /** Required for every command except AUTH/HELLO/QUIT when set. */
  readonly password?: string | undefined;
  /** `AUTH admin <adminPassword>` unlocks FLUSHALL; unset disables FLUSHALL. */
  readonly adminPassword?: string | undefined;
  /** Which tenants exist and their passwords; default: open, with `password` as the shared one. */
  readonly tenants?: Tenants | undefined;
  /** Time for the admission stage's rate limits; default the wall clock. */
  readonly clock?: Clock | undefined;
  /** A session that named no tenant is its key's `tenant:` prefix's (config tenant.keyPrefix). */
  readonly tenantFromKey?: boolean | undefined;
  /** Dedicated node connections (WATCH, blocking commands) per node at most; default 64. */
  readonly dedicatedPerNode?: number | undefined;
}

/** Counters INFO reports. */
export interface RouterStats {
  commands: number;
  rejected: number;
  connectionsReceived: number;
  /** Clients refused at maxClients (Redis's rejected_connections). */
  rejectedConnections: number;
  connectedClients: number;
}

/** Routes commands to shard backends. */
export class Router {
  #table: RoutingTable;
  readonly #backends: Map<NodeId, ShardBackend>;
  /** A live move's cutover holding its range's requests; undefined otherwise (the hot path checks only this). */
  #gate: RangeGate | undefined;
  readonly options: RouterOptions;
  /** Who may be a tenant, and with which password. */
  readonly tenants: Tenants;
  readonly stats: RouterStats = {
    commands: 0,
    rejected: 0,
    connectionsReceived: 0,
    rejectedConnections: 0,
    connectedClients: 0,
  };
  readonly startedAt = Date.now();
  /** The connected RESP clients (CLIENT LIST / KILL); the front end keeps it current. */
  readonly clients: ClientRegistry = new Map();
  readonly #local: LocalContext;
  #instrumentation: Instrumentation | undefined;
  /** Extra INFO lines supplied by the server (ports, config, the maxclients in force). */
  infoExtras: () => InfoExtras = () => ({});
  /** Tenant quotas, node limits and shedding, checked before a keyed command is routed. */
  readonly admission: Admission;
  /** Per-key overrides of the plain route (the mitigations of hot keys). */
  readonly policies = new KeyPolicyTable();
  /** Called with each routing table installed (the config store saves it). */
  readonly onTable = new Set<(table: RoutingTable) => void>();
  /** Called when a FLUSHALL through this router is acknowledged (caches drop everything). */
  readonly onFlushAll = new Set<() => void>();
  /** Keys the policies keep on the nodes for themselves (a replicated key's copies), left out of DBSIZE. */
  readonly hiddenKeys = new Set<HiddenKeys>();
  /** Hears of a key policy's handler that threw (the request got an error; the control plane counts it). */
  onPolicyError: (err: unknown, key: Buffer) => void = () => {};
  /** Sends a single-key command to the node that owns its key now (what a policy falls back on). */
  readonly forward: Forward = (cmd, done) => {
    const table = this.#table;
    const at = table.indexFor(cmd.args[1]!);
    if (this.#gate !== undefined && this.#gate.mustHold(undefined, table, at))
      return this.#gate.hold(undefined, () => this.forward(cmd, done));
    this.#backends.get(table.shards[at]!.node)!.send(cmd, done);
  };

  /** Dedicated node connections of WATCH and blocking commands, bounded per node. */
  readonly dedicated: DedicatedPool;
  /** Sessions waiting in a blocking command now. */
  readonly blockedSessions = new Set<Session>();
  /** Node numbers of SCAN cursors: ids in order at start, nodes added later after them (scan.ts). */
  readonly #nodeOrder: (NodeId | undefined)[];
  /** What transactions, scripts, blocking commands and SCAN see of the router. */
  readonly #host: BlockingHost & ScanHost;

  constructor(table: RoutingTable, backends: ReadonlyMap<NodeId, ShardBackend>, options: RouterOptions = {}) {
    this.#table = table;
    this.#backends = new Map(backends);
    this.dedicated = new DedicatedPool(options.dedicatedPerNode);
    this.#nodeOrder = [...backends.keys()].sort();
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const router = this;
    this.#host = {
      get table() {
        return router.#table;
      },
      backends: this.#backends,
      get gate() {
        return router.#gate;
      },
      policies: this.policies,
      get admission() {
        return router.admission;
      },
      dedicated: this.dedicated,
      hiddenKeys: this.hiddenKeys,
      stats: this.stats,
      get instrumentation() {
        return router.#instrumentation;
      },
      blockedSessions: this.blockedSessions,
      nodeOrder: this.#nodeOrder,
      options,
      again: (session, args, frame, done) => this.#again(session, args, frame, done),
    };
    this.options = options;
    this.tenants = options.tenants ?? new Tenants({ password: options.password });
    this.admission = new Admission({
      clock: options.clock ?? systemClock,
      tenants: this.tenants,
      tenantFromKey: options.tenantFromKey,
    });
    checkBackends(table, backends);
    this.#local = { router: this };
  }

  /** The routing table in force. */
  get table(): RoutingTable {
    return this.#table;
  }

  /**
   * Installs a newer routing table (a split or a move); older versions are
   * ignored. Throws HS_ERR_ROUTING, keeping the table in force, when a shard
   * would land on a node this router has no backend for.
   */
  setTable(table: RoutingTable): boolean {
    if (table.version <= this.#table.version) return false;
    checkBackends(table, this.#backends);
    this.#instrumentation?.setTable(table);
    this.#table = table;
    if (this.blockedSessions.size !== 0) interruptMoved(this.#host, table);
    for (const listener of this.onTable) listener(table);
    return true;
  }

  /**
   * Holds every new request that touches `gate.shard` until {@link openGate}
   * (a live move's cutover, src/rebalance/move.ts). One gate at a time:
   * throws HS_ERR_ROUTING while another is in place.
   */
  closeGate(gate: RangeGate): void {
    if (this.#gate !== undefined)
      throw new HotshardError(ErrorCode.Routing, `shard ${this.#gate.shard} is already being cut over`);
    this.#gate = gate;
  }

  /** Takes `gate` away and runs what it held onto the table in force; how long each request waited (ms). */
  openGate(gate: RangeGate): number[] {
    if (this.#gate === gate) this.#gate = undefined;
    return gate.release();
  }

  /** Adds a node that tables may then place shards on (POST /nodes). Throws HS_ERR_ROUTING when it is known. */
  addBackend(node: NodeId, backend: ShardBackend): void {
    if (this.#backends.has(node))
      throw new HotshardError(ErrorCode.Routing, `node ${node} already has a backend`);
    if (backend.node !== node)
      throw new HotshardError(ErrorCode.Routing, `backend of node ${backend.node} given as node ${node}`);
    this.#backends.set(node, backend);
    if (!this.#nodeOrder.includes(node)) this.#nodeOrder.push(node);
  }

  /**
   * Forgets a node the table in force places no shard on (DELETE /nodes/{id},
   * after its shards moved away); returns its backend for the caller to close.
   * Throws HS_ERR_ROUTING when it still holds a shard or is unknown.
   */
  removeBackend(node: NodeId): ShardBackend {
    const backend = this.#backends.get(node);
    if (backend === undefined) throw new HotshardError(ErrorCode.Routing, `node ${node} has no backend`);
    const held = this.#table.shardsOn(node).map((s) => s.id);
    if (held.length > 0)
      throw new HotshardError(
        ErrorCode.Routing,
        `node ${node} still holds shards ${held.join(', ')}; move them first`,
      );
    this.#backends.delete(node);
    this.dedicated.closeIdle(node);
    return backend;
  }

  /** Turns measurement on (telemetry, access log) or off (undefined). */
  instrument(instrumentation: Instrumentation | undefined): void {
    this.#instrumentation = instrumentation;
    instrumentation?.setTable(this.#table);
  }

  /** The instrumentation in force, if any. */
  get instrumentation(): Instrumentation | undefined {
    return this.#instrumentation;
  }

  /** The backend of every node. */
  get backends(): ReadonlyMap<NodeId, ShardBackend> {
    return this.#backends;
  }

  /**
   * The client has gone: its WATCH pin and blocked command give their node
   * connections back (a blocked one is closed), and nothing it sent runs.
   */
  sessionClosed(session: Session): void {
    session.gone = true;
    session.held = null;
    session.multi = null;
    unwatch(this.#host, session);
    releaseBlocked(session);
  }

  /**
   * Runs one command for a session. `done` is called exactly once, possibly
   * synchronously.
   */
  dispatch(session: Session, args: Buffer[], frame: Buffer | undefined, done: ReplyCallback): void {
    this.stats.commands++;
    // One of its requests must finish first (a blocked BLPOP, a WATCH being set up).
    if (session.held !== null) {
      session.held.push(() => this.#again(session, args, frame, done));
      return;
    }
    // A session with a request held by a cutover waits whole: its EXEC held
    // there must not find the commands sent after it queued into its block.
    const gate = this.#gate;
    if (gate !== undefined && gate.mustHoldAny(session, this.#table, NO_SHARDS))
      return gate.hold(session, () => this.#again(session, args, frame, done));
    const first = args[0];
    if (first === undefined) return done(new ReplyError('ERR empty command'));
    const spec = lookupCommand(first);
    if (spec === undefined) {
      this.stats.rejected++;
      if (session.multi !== null) session.multiFailed = true;
      return done(unknownCommand(args));
    }
    if (!session.authenticated && !spec.noauth) {
      this.stats.rejected++;
      return done(new ReplyError('NOAUTH Authentication required.'));
    }
    if (!arityOk(spec, args.length)) {
      this.stats.rejected++;
      if (session.multi !== null) session.multiFailed = true;
      return done(new ReplyError(`ERR wrong number of arguments for '${spec.name}' command`));
    }
    session.lastCommand = spec.name; // a pointer store: CLIENT LIST's cmd=
    if (session.multi !== null && !TRANSACTION_CONTROL.has(spec.name))
      return queueCommand(this.#host, session, spec, args, frame, done);
    const reply = session.proto === 3 && spec.route !== Route.Local ? resp3(spec, args, done) : done;
    const cmd: Command = { name: spec.name, args, frame };
    switch (spec.route) {
      case Route.Key: {
        const table = this.#table;
        const key = args[1]!;
        const at = table.indexFor(key);
        if (this.#gate !== undefined && this.#gate.mustHold(session, table, at))
          return this.#gate.hold(session, () => this.#again(session, args, frame, done));
        const ins = this.#instrumentation;
        const measured = ins === undefined ? reply : ins.keyed(session, spec, cmd, at, reply);
        if (this.admission.engaged) {
          const refused = this.admission.admit(session, key, table.shards[at]!.node);
          if (refused !== undefined) return measured(refused);
        }
        if (this.policies.size !== 0) {
          const entry = this.policies.get(key);
          if (entry !== undefined) return runPolicy(this, entry, session, spec, cmd, measured);
        }
        return this.#backends.get(table.shards[at]!.node)!.send(cmd, measured);
      }
      case Route.MultiKey: {
        // Refused before anything is counted: telemetry would record keys of a command that never ran.
        if (spec.step === 2 && (args.length - 1) % 2 !== 0) {
          this.stats.rejected++;
          return done(new ReplyError(`ERR wrong number of arguments for '${spec.name}' command`));
        }
        const table = this.#table;
        const at = shardsOfKeys(table, spec, cmd);
        if (this.#gate !== undefined && this.#gate.mustHoldAny(session, table, at))
          return this.#gate.hold(session, () => this.#again(session, args, frame, done));
        const ins = this.#instrumentation;
        const measured = ins === undefined ? reply : ins.multiKey(session, spec, cmd, at, reply);
        if (this.admission.engaged) {
          const refused = this.admission.admitShards(session, args[1]!, table, at);
          if (refused !== undefined) return measured(refused);
        }
        if (this.policies.size !== 0 && anyPolicy(this.policies, spec, args))
          return dispatchWithPolicies(this, session, spec, cmd, measured);
        return dispatchMultiKey(this, spec, cmd, table, at, measured);
      }
      case Route.OneShard:
      case Route.Gather:
        return dispatchByKeySpecs(this, this.#gate, session, spec, cmd, reply, done);
      case Route.AllNodes: {
        if (this.#gate !== undefined)
          return this.#gate.hold(session, () => this.#again(session, args, frame, done));
        // FLUSHDB is FLUSHALL: database 0 is the only one.
        const flush = spec.name === 'flushall' || spec.name === 'flushdb';
        if (flush && !session.admin) {
          this.stats.rejected++;
          const name = spec.name.toUpperCase();
          return done(
            hsError(
              ErrorCode.NoPermission,
              this.options.adminPassword === undefined
                ? `${name} is disabled: no admin password is configured`
                : `${name} needs an admin connection (AUTH admin <admin-password>)`,
            ),
          );
        }
        if (flush && this.onFlushAll.size !== 0) {
          return dispatchAllNodes(this, spec, cmd, (r) => {
            for (const flushed of this.onFlushAll) flushed();
            reply(r);
          });
        }
        return dispatchAllNodes(this, spec, cmd, reply);
      }
      case Route.Local:
        if (spec.name === 'reset') return done(this.#reset(session));
        return runLocalCommand(this.#local, session, spec, args, done);
      case Route.Special:
        return this.#special(session, spec, cmd, reply);
      case Route.Refused:
        this.stats.rejected++;
        return done(
          hsError(
            ErrorCode.NotAllowed,
            `${spec.name.toUpperCase()} is not supported by hotshard: ${spec.refusal ?? ''}`,
          ),
        );
    }
  }

  /**
   * RESET: the session as a new connection's, as Redis's
   * clearClientConnectionState: MULTI discarded, keys unwatched, RESP2, no
   * name, the default user (so AUTH again where a password is set). CLIENT
   * REPLY is the RESP connection's own and is reset there (resp-server.ts).
   */
  #reset(session: Session): Reply {
    session.multi = null;
    session.multiFailed = false;
    unwatch(this.#host, session);
    session.proto = 2;
    session.name = null;
    session.tenant = 'default';
    session.admin = false;
    session.authenticated = this.options.password === undefined;
    return RESET;
  }

  /** A request a cutover held, run again now that it is over; counted once. */
  #again(session: Session, args: Buffer[], frame: Buffer | undefined, done: ReplyCallback): void {
    this.stats.commands--;
    this.dispatch(session, args, frame, done);
  }

  /** Transactions, scripts, blocking commands, SCAN: each module by name. */
  #special(session: Session, spec: CommandSpec, cmd: Command, done: ReplyCallback): void {
    const host = this.#host;
    switch (spec.name) {
      case 'multi':
      case 'exec':
      case 'discard':
      case 'watch':
      case 'unwatch':
        return runTransactionCommand(host, session, spec, cmd.args as Buffer[], cmd.frame, done);
      case 'eval':
      case 'evalsha':
      case 'eval_ro':
      case 'evalsha_ro':
      case 'fcall':
      case 'fcall_ro':
        return runScript(host, session, spec, cmd, done);
      case 'script':
      case 'function':
        return runScriptAdmin(host, session, spec, cmd, done);
      case 'scan':
      case 'keys':
      case 'randomkey':
        return runScan(host, session, spec, cmd, done);
      default:
        return runBlocking(host, session, spec, cmd, done);
    }
  }
}

const NO_SHARDS = new Int32Array(0);
const RESET = new SimpleString('RESET');

function anyPolicy(policies: KeyPolicyTable, spec: CommandSpec, args: readonly Buffer[]): boolean {
  for (let i = spec.firstKey; i < args.length; i += spec.step)
    if (policies.get(args[i]!) !== undefined) return true;
  return false;
}

/** Throws HS_ERR_ROUTING when `table` places a shard on a node without a backend. */
function checkBackends(table: RoutingTable, backends: ReadonlyMap<NodeId, ShardBackend>): void {
  for (const s of table.shards) {
    if (!backends.has(s.node))
      throw new HotshardError(
        ErrorCode.Routing,
        `routing table v${table.version} places shard ${s.id} on node ${s.node}, which has no backend`,
      );
  }
}

/** Redis's own wording, so clients and humans recognise it. */
function unknownCommand(args: Buffer[]): ReplyError {
  const name = args[0]!.toString('utf8', 0, 128);
  const rest = args
    .slice(1, 9)
    .map((a) => `'${a.toString('utf8', 0, 128)}' `)
    .join('');
  return new ReplyError(`ERR unknown command '${name}', with args beginning with: ${rest}`);
}

/** Turns a node's RESP2 reply into what a RESP3 client expects (resp3.ts). */
function resp3(spec: CommandSpec, args: readonly Buffer[], done: ReplyCallback): ReplyCallback {
  return (reply: Reply) => done(toResp3(spec.name, args, reply));
}
