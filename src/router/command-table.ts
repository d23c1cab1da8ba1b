/**
 * The commands hotshard serves, with Redis's arity, flags, key specs and
 * groups. Redis's own metadata comes from redis-commands.generated.ts (made by
 * scripts/gen-redis-commands.ts from redis-server 7.0's COMMAND INFO and
 * COMMAND DOCS) and, at connect, from each Redis backend's COMMAND INFO
 * (`learnCommands`), so a newer Redis's or Valkey's commands route without a
 * release. The router's own list — what it answers itself, gathers across
 * shards, sends to every node or refuses — always wins over what it learns.
 * The router uses the table to validate and route; `COMMAND` and
 * `COMMAND DOCS` report it so redis-cli can show hints.
 */
import { NO_KEYS, keyPositions, sortKeys, type KeySpec, type RedisCommandInfo } from './key-specs.js';
import { REDIS_COMMANDS } from './redis-commands.generated.js';

/** How the router serves a command. */
export const Route = {
  /** Answered by the router itself (PING, HELLO, INFO ...). */
  Local: 'local',
  /** One key at args[1]: goes to that key's node unchanged. */
  Key: 'key',
  /** Several keys every `step` from args[1]: split by node, reassembled in order. */
  MultiKey: 'multi-key',
  /** Keys found by the key specs, all on one shard: forwarded unchanged; across shards refused. */
  OneShard: 'one-shard',
  /** A multi-key read computed in the router from per-shard reads when its keys span shards (SUNION). */
  Gather: 'gather',
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
  /** For refused commands: why, in one sentence. */
  readonly refusal?: string;
  /** Allowed before AUTH (precomputed from flags; checked on every request). */
  readonly noauth: boolean;
  /** Changes data (precomputed from flags; telemetry splits reads from writes). */
  readonly write: boolean;
  /**
   * A counter's increment (INCR, INCRBY, DECR, DECRBY: what aggregation
   * batches): telemetry counts these per key, so the planner knows a counter
   * from a list or a hash that is written as often.
   */
  readonly increment: boolean;
  /** Redis's ACL categories (COMMAND INFO). */
  readonly acl: readonly string[];
  /** Redis's key specs: where the keys are (see key-specs.ts). */
  readonly keySpecs: readonly KeySpec[];
  /** A container's subcommands by lower-case name (XINFO STREAM, OBJECT ENCODING); undefined otherwise. */
  readonly subcommands: ReadonlyMap<string, CommandSpec> | undefined;
  /** May block the connection it runs on (XREAD BLOCK): such a form is refused, not forwarded. */
  readonly blocking: boolean;
  /** Learned from a backend's COMMAND INFO at connect, not in the checked-in table. */
  readonly learned: boolean;
}

type SpecInput = Omit<
  CommandSpec,
  | 'name'
  | 'firstKey'
  | 'lastKey'
  | 'step'
  | 'since'
  | 'noauth'
  | 'write'
  | 'increment'
  | 'acl'
  | 'keySpecs'
  | 'subcommands'
  | 'blocking'
  | 'learned'
> &
  Partial<
    Pick<
      CommandSpec,
      'firstKey' | 'lastKey' | 'step' | 'since' | 'acl' | 'keySpecs' | 'subcommands' | 'learned'
    >
  >;

const specs = new Map<string, CommandSpec>();

/** The commands aggregation batches (src/mitigate/actions/aggregate.ts). */
const INCREMENTS: ReadonlySet<string> = new Set(['incr', 'incrby', 'decr', 'decrby']);

// Every spec is one object literal with every field, in one order: specs
// built by spreading their inputs had a hidden class per combination of
// optional fields and field order, so under a mix of commands the loads the
// router makes on every request (route, noauth, write, arity) went megamorphic.
function make(name: string, spec: SpecInput): CommandSpec {
  const keyed = spec.route === Route.Key || spec.route === Route.MultiKey;
  return {
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
    refusal: spec.refusal,
    noauth: spec.flags.includes('noauth'),
    write: spec.flags.includes('write'),
    increment: INCREMENTS.has(name),
    acl: spec.acl ?? [],
    keySpecs: spec.keySpecs ?? [],
    subcommands: spec.subcommands,
    blocking: spec.flags.includes('blocking'),
    learned: spec.learned ?? false,
  };
}

/** Redis's metadata of the commands of the checked-in table, by name. */
const redisInfo = new Map<string, RedisCommandInfo>(REDIS_COMMANDS.map((c) => [c.name, c]));

/** What the router decides about a command, whatever Redis says of it. */
interface Own {
  readonly route: Route;
  readonly merge?: Merge;
  readonly refusal?: string;
  /** Replaces Redis's summary where hotshard's behaviour differs. */
  readonly summary?: string;
  /** Redis's flags, overridden (commands Redis does not have, or differs on). */
  readonly flags?: readonly string[];
  readonly arity?: number;
  readonly step?: number;
}

/** The router's own list: what it answers itself, gathers, sends everywhere or refuses. Wins over Redis's. */
const OWN = new Map<string, Own>();
const own = (names: string[], o: Own): void => names.forEach((n) => OWN.set(n, o));

own(['ping', 'echo', 'command', 'info'], { route: Route.Local });
own(['hello', 'auth', 'quit'], { route: Route.Local, flags: ['noauth', 'fast'] });
own(['reset'], {
  route: Route.Local,
  flags: ['noauth', 'fast'],
  summary:
    "Resets the connection's state, as a new connection's (MULTI, WATCH, AUTH, name, protocol, CLIENT REPLY).",
});
own(['select'], { route: Route.Local, summary: 'Selects database 0 (the only one).' });
own(['client'], { route: Route.Local, summary: 'CLIENT SETNAME, GETNAME, ID, SETINFO, INFO, LIST, KILL.' });
own(['dbsize'], {
  route: Route.AllNodes,
  merge: 'sum',
  summary: 'Returns the number of keys over all shards.',
});
// FLUSHDB too: database 0 is the only one, so it is FLUSHALL.
own(['flushall', 'flushdb'], {
  route: Route.AllNodes,
  merge: 'all-ok',
  summary: 'Removes every key on every shard (admin connections only).',
});
own(['mget'], {
  route: Route.MultiKey,
  merge: 'mget',
  summary: 'Returns the values of several keys, across shards.',
});
own(['mset'], {
  route: Route.MultiKey,
  merge: 'all-ok',
  step: 2,
  summary: 'Sets several keys, across shards (atomic per shard only).',
});
own(['del', 'unlink', 'exists', 'touch'], { route: Route.MultiKey, merge: 'sum' });
own(['sinter', 'sunion', 'sdiff', 'sintercard', 'pfcount', 'zunion', 'zinter', 'zdiff'], {
  route: Route.Gather,
});

// Transactions, scripts, blocking commands and SCAN run whole on one node or visit every node.
own(['multi', 'exec', 'discard', 'watch', 'unwatch'], { route: Route.Special });
own(['eval', 'evalsha', 'eval_ro', 'evalsha_ro', 'fcall', 'fcall_ro'], {
  route: Route.Special,
  summary: 'Runs a script on the node of its declared keys (Redis nodes).',
});
own(['script'], { route: Route.Special, summary: 'SCRIPT LOAD / EXISTS / FLUSH / KILL on every node.' });
own(['function'], {
  route: Route.Special,
  summary: 'FUNCTION LOAD / DELETE / FLUSH / RESTORE / KILL on every node; LIST, DUMP, STATS from one.',
});
own(
  [
    'blpop',
    'brpop',
    'brpoplpush',
    'blmove',
    'blmpop',
    'bzpopmin',
    'bzpopmax',
    'bzmpop',
    'xread',
    'xreadgroup',
  ],
  {
    route: Route.Special,
  },
);
own(['scan'], {
  route: Route.Special,
  summary: 'Iterates the keys of every node (the cursor carries the node).',
});
own(['keys'], {
  route: Route.Special,
  summary: 'Returns the keys matching a pattern on every node (admin connections only).',
});
own(['randomkey'], { route: Route.Special, summary: 'Returns a random key of a random node.' });

// Known Redis commands refused on purpose: a clear reason beats "unknown command".
own(
  [
    'subscribe',
    'psubscribe',
    'ssubscribe',
    'unsubscribe',
    'punsubscribe',
    'sunsubscribe',
    'publish',
    'spublish',
    'pubsub',
    'monitor',
    'sync',
    'psync',
    'replconf',
  ],
  { route: Route.Refused, refusal: 'hotshard proxies keys, not channels or replication streams' },
);
own(['migrate'], {
  route: Route.Refused,
  refusal: 'it moves keys off a node behind the routing table; move shards with the control API',
});
own(['move', 'swapdb'], { route: Route.Refused, refusal: 'hotshard serves database 0 only' });
own(['wait', 'waitaof'], {
  route: Route.Refused,
  refusal: "it counts the replicas of one node, and a client's writes may have gone to several",
});

/** The refusal of a keyless command the router does not answer itself. */
const KEYLESS = 'it names no key, so there is no one node to send it to';

/** True when a command's only key is args[1] (the fast, Route.Key path). */
function singleKeyAt1(info: RedisCommandInfo): boolean {
  if (info.flags.includes('movablekeys') || info.keySpecs.length !== 1) return false;
  const [k] = info.keySpecs;
  return (
    info.firstKey === 1 &&
    info.lastKey === 1 &&
    k!.begin[0] === 'index' &&
    k!.begin[1] === 1 &&
    k!.find[0] === 'range' &&
    k!.find[1] === 0
  );
}

/** How a command hotshard has no rule of its own for is served, from Redis's metadata. */
function routeOf(info: RedisCommandInfo): Route {
  if (info.subcommands.length > 0)
    return info.subcommands.some((s) => s.keySpecs.length > 0) ? Route.OneShard : Route.Refused;
  if (info.keySpecs.length === 0) return Route.Refused;
  return singleKeyAt1(info) ? Route.Key : Route.OneShard;
}

function fromRedis(info: RedisCommandInfo, learned: boolean, o: Own | undefined): CommandSpec {
  const route = o?.route ?? routeOf(info);
  const subcommands =
    route === Route.OneShard && info.subcommands.length > 0
      ? new Map(
          info.subcommands.map((s) => {
            const sub = s.name.slice(s.name.indexOf('|') + 1);
            return [sub, fromRedis(s, learned, undefined)] as const;
          }),
        )
      : undefined;
  return make(info.name, {
    arity: o?.arity ?? info.arity,
    flags: o?.flags ?? info.flags,
    route,
    group: info.group === '' ? 'generic' : info.group,
    summary: o?.summary ?? info.summary,
    since: info.since === '' ? undefined : info.since,
    merge: o?.merge,
    refusal: o?.refusal ?? (route === Route.Refused ? KEYLESS : undefined),
    // Route.Key and Route.MultiKey read first/step on the hot path; Redis's
    // legacy triple is what they mean (MSET: 1, -1, 2). Routes by key specs
    // hand telemetry their keys packed (step 1); COMMAND INFO reports
    // Redis's triple (redisLegacyKeys).
    firstKey: route === Route.Key || route === Route.MultiKey ? Math.max(1, info.firstKey) : info.firstKey,
    lastKey: route === Route.Key ? 1 : info.lastKey,
    step:
      o?.step ??
      (route === Route.Key || route === Route.MultiKey
        ? Math.max(1, info.step)
        : route === Route.OneShard || route === Route.Gather
          ? 1
          : info.step),
    acl: info.acl,
    keySpecs: info.keySpecs,
    subcommands,
    learned,
  });
}

for (const info of REDIS_COMMANDS) specs.set(info.name, fromRedis(info, false, OWN.get(info.name)));
// The router's own commands Redis 7.0 lacks keep a spec of their own.
for (const [name, o] of OWN) {
  if (specs.has(name)) continue;
  specs.set(
    name,
    make(name, {
      arity: o.arity ?? -1,
      flags: o.flags ?? [],
      route: o.route,
      group: 'generic',
      summary: o.summary ?? 'Not supported by hotshard.',
      refusal: o.refusal,
    }),
  );
}

/**
 * Adds the commands a backend's `COMMAND INFO` names that the table lacks (a
 * newer Redis or Valkey), routed by their key specs as the checked-in ones
 * are; the router's own list and the checked-in table win. Returns the names
 * added.
 */
export function learnCommands(infos: readonly RedisCommandInfo[]): string[] {
  const added: string[] = [];
  for (const info of infos) {
    if (specs.has(info.name) || OWN.has(info.name) || !/^[a-z][a-z0-9_.-]{0,31}$/.test(info.name)) continue;
    redisInfo.set(info.name, info);
    specs.set(info.name, fromRedis({ ...info, group: info.group || 'generic' }, true, undefined));
    added.push(info.name);
  }
  // A spelling looked up before now was cached as unknown.
  if (added.length > 0) {
    for (const [raw, spec] of spellings) if (spec === null) spellings.delete(raw);
    recentNames.fill(undefined);
  }
  return added;
}

/** Redis's legacy first key, last key and step of a command (COMMAND INFO), where they differ from the spec's. */
export function redisLegacyKeys(spec: CommandSpec): readonly [number, number, number] {
  const info = redisInfo.get(spec.name);
  return info === undefined
    ? [spec.firstKey, spec.lastKey, spec.step]
    : [info.firstKey, info.lastKey, info.step];
}

/**
 * The argument indexes of a command's keys, by its key specs (a container's:
 * its subcommand's); NO_KEYS when there are none or they cannot be found.
 */
export function keysOf(spec: CommandSpec, args: readonly Buffer[]): readonly number[] {
  if (spec.subcommands !== undefined) {
    const sub = args[1];
    if (sub === undefined || sub.length > 64) return NO_KEYS;
    const s = spec.subcommands.get(sub.toString('latin1').toLowerCase());
    return s === undefined ? NO_KEYS : keyPositions(s.keySpecs, args);
  }
  if (spec.name === 'sort' || spec.name === 'sort_ro') return sortKeys(args);
  return keyPositions(spec.keySpecs, args);
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

// Command names arrive in any case; caching each spelling seen avoids
// lower-casing on every request (clients send one spelling consistently).
const spellings = new Map<string, CommandSpec | null>();

// In front of `spellings`, the spellings seen last by their bytes: a hit is a
// short loop over a few bytes, where a miss here makes a string of the name
// (a call into C++) and hashes it, on every request.
const RECENT_SLOTS = 256;
const recentNames: Array<Buffer | undefined> = new Array<Buffer | undefined>(RECENT_SLOTS).fill(undefined);
const recentSpecs: Array<CommandSpec | null> = new Array<CommandSpec | null>(RECENT_SLOTS).fill(null);

/** The spec of a command name as sent (any case); undefined when unknown. */
export function lookupCommand(nameBuf: Buffer): CommandSpec | undefined {
  const length = nameBuf.length;
  if (length > 32) return undefined;
  let h = length;
  for (let i = 0; i < length; i++) h = (h * 31 + nameBuf[i]!) | 0;
  const slot = h & (RECENT_SLOTS - 1);
  const seen = recentNames[slot];
  if (seen !== undefined && seen.length === length) {
    let i = 0;
    while (i < length && seen[i] === nameBuf[i]) i++;
    if (i === length) return recentSpecs[slot] ?? undefined;
  }
  const raw = nameBuf.toString('latin1');
  let spec = spellings.get(raw);
  if (spec === undefined) {
    spec = specs.get(raw.toLowerCase()) ?? null;
    if (spellings.size < 4096) spellings.set(raw, spec);
  }
  // A copy: the name is a view into a client's read, which must not be pinned.
  recentNames[slot] = Buffer.from(nameBuf);
  recentSpecs[slot] = spec;
  return spec ?? undefined;
}
