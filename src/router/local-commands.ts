/** Commands the router answers itself: connection handling, COMMAND, INFO, CLIENT. */
import { timingSafeEqual } from 'node:crypto';
import type { ReplyCallback, ShardBackend } from '../backend/backend.js';
import type { NodeId } from '../keyspace/ids.js';
import type { RoutingTable } from '../keyspace/routing-table.js';
import { MapReply, OK, PONG, ReplyError, VerbatimReply, type Reply } from '../protocol/reply.js';
import { VERSION } from '../version.js';
import { parseInt64 } from '../backend/memory-commands.js';
import { clientCommand, validClientName, type ClientRegistry } from './client-command.js';
import { command } from './command-command.js';
import type { CommandSpec } from './command-table.js';
import type { Session } from './session.js';
import type { Tenants } from './tenants.js';

/** INFO lines the server adds, by section (ports and config; the maxclients in force). */
export interface InfoExtras {
  readonly server?: Readonly<Record<string, string | number>>;
  readonly clients?: Readonly<Record<string, string | number>>;
}

/**
 * What local commands may read: the parts of the Router they use, declared
 * here because importing router.ts would be an import cycle.
 */
export interface LocalContext {
  readonly router: {
    readonly options: { readonly password?: string | undefined; readonly adminPassword?: string | undefined };
    readonly stats: Readonly<
      Record<
        'commands' | 'rejected' | 'connectionsReceived' | 'rejectedConnections' | 'connectedClients',
        number
      >
    >;
    readonly startedAt: number;
    readonly table: RoutingTable;
    readonly backends: ReadonlyMap<NodeId, ShardBackend>;
    readonly infoExtras: () => InfoExtras;
    readonly tenants: Tenants;
    readonly clients: ClientRegistry;
    readonly blockedSessions: { readonly size: number };
  };
}

const text = (b: Buffer | undefined): string => (b === undefined ? '' : b.toString('utf8'));

/** Runs a router-local command. */
export function runLocalCommand(
  ctx: LocalContext,
  session: Session,
  spec: CommandSpec,
  args: Buffer[],
  done: ReplyCallback,
): void {
  switch (spec.name) {
    case 'ping':
      return done(args.length === 1 ? PONG : args.length === 2 ? args[1]! : wrongArity('ping'));
    case 'echo':
      return done(args[1]!);
    case 'select':
      return done(select(args[1]!));
    case 'quit':
      session.closeAfterReply = true;
      return done(OK);
    case 'auth':
      return done(auth(ctx, session, args.slice(1)));
    case 'hello':
      return done(hello(ctx, session, args));
    case 'client':
      if (args.length > 1) session.lastCommand = `client|${text(args[1]).toLowerCase().slice(0, 32)}`;
      return clientCommand(session, ctx.router.clients, args, Date.now(), (r) => done(verbatim(args, r)));
    case 'command':
      return done(command(args));
    case 'info':
      return info(ctx, args, (r) => done(typeof r === 'string' ? new VerbatimReply(r) : r));
    default:
      return done(new ReplyError(`ERR internal: '${spec.name}' has no local handler`));
  }
}

/** CLIENT INFO and CLIENT LIST are verbatim strings in RESP3, as on Redis. */
function verbatim(args: Buffer[], reply: Reply): Reply {
  const sub = args.length > 1 ? text(args[1]).toLowerCase() : '';
  return typeof reply === 'string' && (sub === 'info' || sub === 'list') ? new VerbatimReply(reply) : reply;
}

/** SELECT: Redis's errors for what is no index, and 0 the only database served. */
function select(arg: Buffer): Reply {
  const db = parseInt64(arg);
  if (db === null || typeof db === 'bigint')
    return new ReplyError('ERR value is not an integer or out of range');
  if (db === 0) return OK;
  return new ReplyError(
    db < 0 || db > 15
      ? 'ERR DB index is out of range'
      : 'ERR DB index is out of range (hotshard serves database 0 only)',
  );
}

function wrongArity(name: string): ReplyError {
  return new ReplyError(`ERR wrong number of arguments for '${name}' command`);
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * AUTH [username] password. The username names the tenant (see tenants.ts for
 * who may); `admin` with the admin password unlocks FLUSHALL.
 */
function auth(ctx: LocalContext, session: Session, rest: Buffer[]): Reply {
  const { adminPassword } = ctx.router.options;
  if (rest.length > 2) return new ReplyError('ERR syntax error');
  const user = rest.length === 2 ? text(rest[0]) : undefined;
  const pass = text(rest[rest.length - 1]);
  if (user === 'admin' && adminPassword !== undefined) {
    if (!safeEqual(pass, adminPassword))
      return new ReplyError('WRONGPASS invalid username-password pair or user is disabled.');
    session.authenticated = true;
    session.admin = true;
    return OK;
  }
  const tenant = ctx.router.tenants.authenticate(user, pass);
  if (tenant instanceof ReplyError) return tenant;
  session.authenticated = true;
  session.tenant = tenant;
  return OK;
}

/** HELLO [protover [AUTH username password] [SETNAME clientname]] */
function hello(ctx: LocalContext, session: Session, args: Buffer[]): Reply {
  let proto = session.proto;
  let i = 1;
  if (args.length > 1) {
    const v = parseInt64(args[1]!);
    if (v === null || typeof v === 'bigint')
      return new ReplyError('ERR Protocol version is not an integer or out of range');
    if (v !== 2 && v !== 3) return new ReplyError('NOPROTO unsupported protocol version');
    proto = v;
    i = 2;
  }
  for (; i < args.length; i++) {
    const opt = text(args[i]).toLowerCase();
    if (opt === 'auth' && i + 2 < args.length) {
      const r = auth(ctx, session, [args[i + 1]!, args[i + 2]!]);
      if (r instanceof ReplyError) return r;
      i += 2;
    } else if (opt === 'setname' && i + 1 < args.length) {
      if (!validClientName(args[i + 1]!))
        return new ReplyError('ERR Client names cannot contain spaces, newlines or special characters.');
      session.name = Buffer.from(args[i + 1]!);
      i += 1;
    } else {
      return new ReplyError(`ERR Syntax error in HELLO option '${text(args[i])}'`);
    }
  }
  if (!session.authenticated) {
    return new ReplyError(
      'NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time',
    );
  }
  session.proto = proto;
  return new MapReply([
    'server',
    'hotshard',
    'version',
    VERSION,
    'proto',
    proto,
    'id',
    session.id,
    'mode',
    'proxy',
    'role',
    'master',
    'modules',
    [],
  ]);
}

/** A byte count as Redis's bytesToHuman prints it: 512B, 1.50K, 12.25M. */
export function bytesToHuman(n: number): string {
  if (n < 1024) return `${n}B`;
  const units = ['K', 'M', 'G', 'T', 'P'];
  let d = n / 1024;
  let i = 0;
  while (d >= 1024 && i < units.length - 1) {
    d /= 1024;
    i++;
  }
  return `${d.toFixed(2)}${units[i]!}`;
}

/** INFO [section ...]: server, clients, memory, stats, keyspace (keys summed over every node). */
function info(ctx: LocalContext, args: Buffer[], done: ReplyCallback): void {
  const router = ctx.router;
  const wanted = new Set(args.slice(1).map((a) => text(a).toLowerCase()));
  const all = wanted.size === 0 || wanted.has('all') || wanted.has('default') || wanted.has('everything');
  const want = (s: string): boolean => all || wanted.has(s);
  const sections: string[] = [];
  const extras = router.infoExtras();
  const lines = (section: InfoExtras['server']): string[] =>
    Object.entries(section ?? {}).map(([k, v]) => `${k}:${v}`);
  if (want('server')) {
    const uptime = Math.floor((Date.now() - router.startedAt) / 1000);
    sections.push(
      [
        '# Server',
        `hotshard_version:${VERSION}`,
        'redis_version:7.0.0',
        'redis_mode:proxy',
        `process_id:${process.pid}`,
        `uptime_in_seconds:${uptime}`,
        `routing_table_version:${router.table.version}`,
        `shards:${router.table.shards.length}`,
        `nodes:${router.backends.size}`,
        ...lines(extras.server),
      ].join('\r\n'),
    );
  }
  if (want('clients')) {
    // In Redis's order: connected_clients, maxclients, blocked_clients.
    sections.push(
      [
        '# Clients',
        `connected_clients:${router.stats.connectedClients}`,
        ...lines(extras.clients),
        // clients waiting in BLPOP and the like, parked on a node or on a dedicated connection
        `blocked_clients:${router.blockedSessions.size}`,
      ].join('\r\n'),
    );
  }
  if (want('memory')) {
    // The router process's own memory, which with embedded nodes holds their
    // data too; Redis nodes report theirs themselves. used_memory is what V8
    // and the buffers hold, as Redis's counts what its allocator handed out.
    const m = process.memoryUsage();
    const used = m.heapUsed + m.external;
    sections.push(
      [
        '# Memory',
        `used_memory:${used}`,
        `used_memory_human:${bytesToHuman(used)}`,
        `used_memory_rss:${m.rss}`,
        `used_memory_rss_human:${bytesToHuman(m.rss)}`,
      ].join('\r\n'),
    );
  }
  if (want('stats')) {
    sections.push(
      [
        '# Stats',
        `total_connections_received:${router.stats.connectionsReceived}`,
        `total_commands_processed:${router.stats.commands}`,
        `rejected_connections:${router.stats.rejectedConnections}`,
        `rejected_commands:${router.stats.rejected}`,
      ].join('\r\n'),
    );
  }
  // No section asked for exists: an empty bulk string, as Redis answers.
  if (!want('keyspace')) return done(sections.length === 0 ? '' : sections.join('\r\n\r\n') + '\r\n');
  // INFO must answer even with a node down (clients use it as a health check),
  // so a node that cannot count is reported as unreachable, not as zero keys.
  const backends = [...router.backends.values()];
  void Promise.allSettled(backends.map((b) => b.keyspaceStats())).then((results) => {
    let keys = 0;
    let expires = 0;
    // Redis's avg_ttl is a sampled estimate per node, 0 until it has one:
    // weigh each node's by its keys with an expiry, among nodes that have one.
    let ttlSum = 0;
    let ttlWeight = 0;
    const unreachable: string[] = [];
    results.forEach((r, i) => {
      if (r.status === 'rejected') return void unreachable.push(backends[i]!.node);
      keys += r.value.keys;
      expires += r.value.expires;
      if (r.value.avgTtlMs > 0) {
        ttlSum += r.value.avgTtlMs * r.value.expires;
        ttlWeight += r.value.expires;
      }
    });
    const avgTtl = ttlWeight === 0 ? 0 : Math.round(ttlSum / ttlWeight);
    const out = ['# Keyspace'];
    if (keys > 0) out.push(`db0:keys=${keys},expires=${expires},avg_ttl=${avgTtl}`);
    if (unreachable.length > 0) out.push(`unreachable_nodes:${unreachable.join(',')}`);
    sections.push(out.join('\r\n'));
    done(sections.join('\r\n\r\n') + '\r\n');
  });
}
