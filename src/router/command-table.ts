/**
 * The commands hotshard serves, with Redis's arity and key-position metadata.
 * The router uses it to validate and route; `COMMAND` and `COMMAND DOCS`
 * report it so redis-cli can show hints.
 */

/** How the router serves a command. */
export const Route = {
  /** Answered by the router itself (PING, HELLO, INFO ...). */
  Local: 'local',
  /** One key at args[1]: goes to that key's node unchanged. */
  Key: 'key',
  /** Several keys: split by node, reassembled in order. */
  MultiKey: 'multi-key',
  /** Sent to every node, replies combined (DBSIZE, FLUSHALL). */
  AllNodes: 'all-nodes',
  /** Known Redis command hotshard refuses on purpose, with the reason. */
  Refused: 'refused',
  /**
   * Served by a module of its own (by name): transactions (transaction.ts),
   * scripts (scripts.ts), blocking commands (blocking.ts), SCAN / KEYS (scan.ts).
   */
  Special: 'special',
} as const;
/** How the router serves a command. */
export type Route = (typeof Route)[keyof typeof Route];

/** How replies from several nodes are combined. */
export type Merge = 'mget' | 'sum' | 'all-ok';

/** One command's metadata. */
export interface CommandSpec {
  readonly name: string;
  /** Redis convention: n > 0 exactly n args (name included), n < 0 at least -n. */
  readonly arity: number;
  readonly flags: readonly string[];
  readonly firstKey: number;
  readonly lastKey: number;
  readonly step: number;
  readonly route: Route;
  readonly group: string;
  readonly summary: string;
  readonly since: string;
  /** Multi-key and all-node commands: how sub-replies combine. */
  readonly merge?: Merge;
  /** The reply is a map in RESP3 (HGETALL); RESP2 nodes send a flat array. */
  readonly mapReply?: boolean;
  /** For refused commands: why, in one sentence. */
  readonly refusal?: string;
  /** Allowed before AUTH (precomputed from flags; checked on every request). */
  readonly noauth: boolean;
  /** Changes data (precomputed from flags; telemetry splits reads from writes). */
  readonly write: boolean;
}

type SpecInput = Omit<CommandSpec, 'name' | 'firstKey' | 'lastKey' | 'step' | 'since' | 'noauth' | 'write'> &
  Partial<Pick<CommandSpec, 'firstKey' | 'lastKey' | 'step' | 'since'>>;

const specs = new Map<string, CommandSpec>();

// Every spec is one object literal with every field, in one order: specs
// built by spreading their inputs had a hidden class per combination of
// optional fields and field order, so under a mix of commands the loads the
// router makes on every request (route, noauth, write, arity) went megamorphic.
function def(name: string, spec: SpecInput): void {
  const keyed = spec.route === Route.Key || spec.route === Route.MultiKey;
  specs.set(name, {
    name,
    arity: spec.arity,
    flags: spec.flags,
    firstKey: spec.firstKey ?? (keyed ? 1 : 0),
    lastKey: spec.lastKey ?? (spec.route === Route.Key ? 1 : spec.route === Route.MultiKey ? -1 : 0),
    step: spec.step ?? (keyed ? 1 : 0),
    route: spec.route,
    group: spec.group,
    summary: spec.summary,
    since: spec.since ?? '1.0.0',
    merge: spec.merge,
    mapReply: spec.mapReply,
    refusal: spec.refusal,
    noauth: spec.flags.includes('noauth'),
    write: spec.flags.includes('write'),
  });
}

const read = ['readonly', 'fast'];
const write = ['write', 'denyoom'];
const str = 'string';
const hash = 'hash';
const gen = 'generic';
const conn = 'connection';
const srv = 'server';

// Router-local
def('ping', {
  arity: -1,
  flags: ['fast'],
  route: Route.Local,
  group: conn,
  summary: "Returns the server's liveliness response.",
});
def('echo', {
  arity: 2,
  flags: ['fast'],
  route: Route.Local,
  group: conn,
  summary: 'Returns the given string.',
});
def('hello', {
  arity: -1,
  flags: ['noauth', 'fast'],
  route: Route.Local,
  group: conn,
  summary: 'Handshakes with the proxy (RESP2 or RESP3).',
  since: '6.0.0',
});
def('auth', {
  arity: -2,
  flags: ['noauth', 'fast'],
  route: Route.Local,
  group: conn,
  summary: 'Authenticates the connection.',
});
def('select', {
  arity: 2,
  flags: ['fast'],
  route: Route.Local,
  group: conn,
  summary: 'Selects database 0 (the only one).',
});
def('quit', {
  arity: -1,
  flags: ['noauth', 'fast'],
  route: Route.Local,
  group: conn,
  summary: 'Closes the connection.',
});
def('command', {
  arity: -1,
  flags: ['loading', 'stale'],
  route: Route.Local,
  group: srv,
  summary: 'Returns detailed information about the commands.',
  since: '2.8.13',
});
def('info', {
  arity: -1,
  flags: ['loading', 'stale'],
  route: Route.Local,
  group: srv,
  summary: 'Returns information and statistics about the proxy and its shards.',
});
def('client', {
  arity: -2,
  flags: ['noscript', 'loading', 'stale'],
  route: Route.Local,
  group: conn,
  summary: 'CLIENT SETNAME, GETNAME, ID.',
  since: '2.4.0',
});
def('dbsize', {
  arity: 1,
  flags: ['readonly', 'fast'],
  route: Route.AllNodes,
  merge: 'sum',
  group: srv,
  summary: 'Returns the number of keys over all shards.',
});
def('flushall', {
  arity: -1,
  flags: ['write', 'admin'],
  route: Route.AllNodes,
  merge: 'all-ok',
  group: srv,
  summary: 'Removes every key on every shard (admin connections only).',
});

// Strings
def('get', {
  arity: 2,
  flags: read,
  route: Route.Key,
  group: str,
  summary: 'Returns the string value of a key.',
});
def('set', {
  arity: -3,
  flags: write,
  route: Route.Key,
  group: str,
  summary: 'Sets the string value of a key, with expiry and conditions.',
});
def('setnx', {
  arity: 3,
  flags: [...write, 'fast'],
  route: Route.Key,
  group: str,
  summary: 'Sets a key only when it does not exist.',
});
def('setex', {
  arity: 4,
  flags: write,
  route: Route.Key,
  group: str,
  summary: 'Sets a key with an expiry in seconds.',
  since: '2.0.0',
});
def('psetex', {
  arity: 4,
  flags: write,
  route: Route.Key,
  group: str,
  summary: 'Sets a key with an expiry in milliseconds.',
  since: '2.6.0',
});
def('getset', {
  arity: 3,
  flags: [...write, 'fast'],
  route: Route.Key,
  group: str,
  summary: 'Sets a key and returns its old value.',
});
def('getdel', {
  arity: 2,
  flags: ['write', 'fast'],
  route: Route.Key,
  group: str,
  summary: "Returns a key's value and deletes it.",
  since: '6.2.0',
});
def('incr', {
  arity: 2,
  flags: [...write, 'fast'],
  route: Route.Key,
  group: str,
  summary: 'Increments an integer by one.',
});
def('incrby', {
  arity: 3,
  flags: [...write, 'fast'],
  route: Route.Key,
  group: str,
  summary: 'Increments an integer by a number.',
});
def('decr', {
  arity: 2,
  flags: [...write, 'fast'],
  route: Route.Key,
  group: str,
  summary: 'Decrements an integer by one.',
});
def('decrby', {
  arity: 3,
  flags: [...write, 'fast'],
  route: Route.Key,
  group: str,
  summary: 'Decrements an integer by a number.',
});
def('incrbyfloat', {
  arity: 3,
  flags: [...write, 'fast'],
  route: Route.Key,
  group: str,
  summary: 'Increments a float by a number.',
  since: '2.6.0',
});
def('append', {
  arity: 3,
  flags: [...write, 'fast'],
  route: Route.Key,
  group: str,
  summary: 'Appends to a string.',
  since: '2.0.0',
});
def('strlen', {
  arity: 2,
  flags: read,
  route: Route.Key,
  group: str,
  summary: 'Returns the length of a string.',
  since: '2.2.0',
});
def('mget', {
  arity: -2,
  flags: read,
  route: Route.MultiKey,
  merge: 'mget',
  group: str,
  summary: 'Returns the values of several keys, across shards.',
});
def('mset', {
  arity: -3,
  flags: write,
  route: Route.MultiKey,
  merge: 'all-ok',
  step: 2,
  group: str,
  summary: 'Sets several keys, across shards (atomic per shard only).',
  since: '1.0.1',
});

// Keys
def('del', {
  arity: -2,
  flags: ['write'],
  route: Route.MultiKey,
  merge: 'sum',
  group: gen,
  summary: 'Deletes keys, across shards.',
});
def('unlink', {
  arity: -2,
  flags: ['write', 'fast'],
  route: Route.MultiKey,
  merge: 'sum',
  group: gen,
  summary: 'Deletes keys asynchronously, across shards.',
  since: '4.0.0',
});
def('exists', {
  arity: -2,
  flags: read,
  route: Route.MultiKey,
  merge: 'sum',
  group: gen,
  summary: 'Counts how many of the keys exist, across shards.',
});
def('type', { arity: 2, flags: read, route: Route.Key, group: gen, summary: 'Returns the type of a key.' });
def('expire', {
  arity: -3,
  flags: ['write', 'fast'],
  route: Route.Key,
  group: gen,
  summary: "Sets a key's time to live in seconds.",
});
def('pexpire', {
  arity: -3,
  flags: ['write', 'fast'],
  route: Route.Key,
  group: gen,
  summary: "Sets a key's time to live in milliseconds.",
  since: '2.6.0',
});
def('ttl', {
  arity: 2,
  flags: read,
  route: Route.Key,
  group: gen,
  summary: "Returns a key's time to live in seconds.",
});
def('pttl', {
  arity: 2,
  flags: read,
  route: Route.Key,
  group: gen,
  summary: "Returns a key's time to live in milliseconds.",
  since: '2.6.0',
});
def('persist', {
  arity: 2,
  flags: ['write', 'fast'],
  route: Route.Key,
  group: gen,
  summary: "Removes a key's expiry.",
  since: '2.2.0',
});

// Hashes
def('hget', {
  arity: 3,
  flags: read,
  route: Route.Key,
  group: hash,
  summary: 'Returns the value of a field.',
  since: '2.0.0',
});
def('hset', {
  arity: -4,
  flags: [...write, 'fast'],
  route: Route.Key,
  group: hash,
  summary: 'Sets fields of a hash.',
  since: '2.0.0',
});
def('hdel', {
  arity: -3,
  flags: ['write', 'fast'],
  route: Route.Key,
  group: hash,
  summary: 'Deletes fields of a hash.',
  since: '2.0.0',
});
def('hgetall', {
  arity: 2,
  flags: ['readonly'],
  route: Route.Key,
  mapReply: true,
  group: hash,
  summary: 'Returns all fields and values of a hash.',
  since: '2.0.0',
});
def('hincrby', {
  arity: 4,
  flags: [...write, 'fast'],
  route: Route.Key,
  group: hash,
  summary: 'Increments an integer field of a hash.',
  since: '2.0.0',
});
def('hmget', {
  arity: -3,
  flags: read,
  route: Route.Key,
  group: hash,
  summary: 'Returns the values of several fields.',
  since: '2.0.0',
});

// Transactions, scripts, blocking commands, SCAN: Route.Special (see each module).
const tx = 'transactions';
for (const [name, arity, summary] of [
  ['multi', 1, 'Starts a transaction (its keys must live on one node).'],
  ['exec', 1, 'Runs the queued transaction on its node.'],
  ['discard', 1, 'Discards the queued transaction.'],
  ['unwatch', 1, 'Forgets the watched keys.'],
] as const) {
  def(name, {
    arity,
    flags: ['noscript', 'loading', 'stale', 'fast', 'allow_busy'],
    route: Route.Special,
    group: tx,
    summary,
    since: '2.0.0',
  });
}
def('watch', {
  arity: -2,
  flags: ['noscript', 'loading', 'stale', 'fast', 'allow_busy'],
  firstKey: 1,
  lastKey: -1,
  step: 1,
  route: Route.Special,
  group: tx,
  summary: 'Watches keys of one node for an optimistic transaction.',
  since: '2.2.0',
});
const scripting = 'scripting';
for (const [name, flags, since] of [
  ['eval', ['noscript', 'stale', 'skip_monitor', 'may_replicate', 'no_mandatory_keys'], '2.6.0'],
  ['evalsha', ['noscript', 'stale', 'skip_monitor', 'may_replicate', 'no_mandatory_keys'], '2.6.0'],
  ['eval_ro', ['noscript', 'stale', 'skip_monitor', 'no_mandatory_keys', 'readonly'], '7.0.0'],
  ['evalsha_ro', ['noscript', 'stale', 'skip_monitor', 'no_mandatory_keys', 'readonly'], '7.0.0'],
  ['fcall', ['noscript', 'stale', 'skip_monitor', 'may_replicate', 'no_mandatory_keys'], '7.0.0'],
  ['fcall_ro', ['noscript', 'stale', 'skip_monitor', 'no_mandatory_keys', 'readonly'], '7.0.0'],
] as const) {
  def(name, {
    arity: -3,
    flags: [...flags, 'movablekeys'],
    route: Route.Special,
    group: scripting,
    summary: 'Runs a script on the node of its declared keys (Redis nodes).',
    since,
  });
}
def('script', {
  arity: -2,
  flags: ['noscript'],
  route: Route.Special,
  group: scripting,
  summary: 'SCRIPT LOAD / EXISTS / FLUSH / KILL on every node.',
  since: '2.6.0',
});
def('function', {
  arity: -2,
  flags: ['noscript'],
  route: Route.Special,
  group: scripting,
  summary: 'FUNCTION LOAD / DELETE / FLUSH / RESTORE / KILL on every node; LIST, DUMP, STATS from one.',
  since: '7.0.0',
});
// Blocking commands: a dedicated node connection each, from a bounded pool.
for (const [name, arity, firstKey, lastKey, group, since] of [
  ['blpop', -3, 1, -2, 'list', '2.0.0'],
  ['brpop', -3, 1, -2, 'list', '2.0.0'],
  ['blmove', 6, 1, 2, 'list', '6.2.0'],
  ['brpoplpush', 4, 1, 2, 'list', '2.2.0'],
  ['blmpop', -5, 0, 0, 'list', '7.0.0'],
  ['bzpopmin', -3, 1, -2, 'sorted-set', '5.0.0'],
  ['bzpopmax', -3, 1, -2, 'sorted-set', '5.0.0'],
  ['bzmpop', -5, 0, 0, 'sorted-set', '7.0.0'],
] as const) {
  def(name, {
    arity,
    flags: firstKey === 0 ? ['write', 'blocking', 'movablekeys'] : ['write', 'blocking'],
    firstKey,
    lastKey,
    step: firstKey === 0 ? 0 : 1,
    route: Route.Special,
    group,
    summary: 'Blocking pop on a dedicated node connection (keys on one node).',
    since,
  });
}
def('xread', {
  arity: -4,
  flags: ['readonly', 'blocking', 'movablekeys'],
  route: Route.Special,
  group: 'stream',
  summary: 'Reads streams of one node; with BLOCK on a dedicated node connection.',
  since: '5.0.0',
});
def('xreadgroup', {
  arity: -7,
  flags: ['write', 'blocking', 'movablekeys'],
  route: Route.Special,
  group: 'stream',
  summary: 'Reads streams of one node as a consumer group; with BLOCK on a dedicated node connection.',
  since: '5.0.0',
});
def('scan', {
  arity: -2,
  flags: ['readonly'],
  route: Route.Special,
  group: gen,
  summary: 'Iterates the keys of every node (the cursor carries the node).',
  since: '2.8.0',
});
def('keys', {
  arity: 2,
  flags: ['readonly'],
  route: Route.Special,
  group: gen,
  summary: 'Returns the keys matching a pattern on every node (admin connections only).',
});
def('randomkey', {
  arity: 1,
  flags: ['readonly'],
  route: Route.Special,
  group: gen,
  summary: 'Returns a random key of a random node.',
});

// Known Redis commands refused on purpose: a clear reason beats "unknown command".
for (const name of ['wait', 'waitaof']) {
  def(name, {
    arity: -3,
    flags: [],
    route: Route.Refused,
    group: gen,
    summary: 'Not supported by hotshard.',
    refusal: "it counts the replicas of one node, and a client's writes may have gone to several",
  });
}
for (const name of ['subscribe', 'psubscribe', 'publish', 'ssubscribe', 'monitor', 'sync', 'psync']) {
  def(name, {
    arity: -1,
    flags: [],
    route: Route.Refused,
    group: 'pubsub',
    summary: 'Not supported by hotshard.',
    refusal: 'hotshard proxies keys, not channels or replication streams',
  });
}

/** Looks up a command by lower-case name. */
export function commandSpec(name: string): CommandSpec | undefined {
  return specs.get(name);
}

/** Every command hotshard knows, in definition order. */
export function allCommandSpecs(): IterableIterator<CommandSpec> {
  return specs.values();
}

/** True when `argc` (name included) satisfies the spec's arity. */
export function arityOk(spec: CommandSpec, argc: number): boolean {
  return spec.arity > 0 ? argc === spec.arity : argc >= -spec.arity;
}
