/**
 * Writes the compatibility matrix of docs/commands.md (between its
 * `<!-- matrix -->` markers) from the command table: every command, how
 * hotshard serves it, and whether twemproxy does, as twemproxy's own
 * notes/redis.md says. test/router/commands-doc.test.ts fails when the page
 * and the table disagree.
 *
 *   node --import tsx scripts/gen-commands-doc.ts
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { format, resolveConfig } from 'prettier';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { memoryCommandNames } from '../src/backend/memory-commands.js';
import { Route, allCommandSpecs, type CommandSpec } from '../src/router/command-table.js';
import { REDIS_VERSION } from '../src/router/redis-commands.generated.js';

const DOC = fileURLToPath(new URL('../docs/commands.md', import.meta.url));
const BEGIN = '<!-- matrix:begin (scripts/gen-commands-doc.ts writes this part) -->';
const END = '<!-- matrix:end -->';

/**
 * twemproxy's answers, from its notes/redis.md (twitter/twemproxy, commit
 * 01d48dae): "Yes" and "No" as listed there; "Yes*" for EVAL/EVALSHA, which
 * need every key on one server. A command it does not list is shown as such.
 */
const TWEMPROXY_YES = `del exists expire expireat persist pexpire pexpireat pttl ttl type
  append bitcount decr decrby get getbit getrange getset incr incrby incrbyfloat mget psetex set setbit setex
  setnx setrange strlen hdel hexists hget hgetall hincrby hincrbyfloat hkeys hlen hmget hmset hset hsetnx hvals
  lindex linsert llen lpop lpush lpushx lrange lrem lset ltrim rpop rpush rpushx sadd scard sismember smembers
  spop srandmember srem zadd zcard zcount zincrby zrange zrangebyscore zrank zrem zremrangebyrank
  zremrangebyscore zrevrange zrevrangebyscore zrevrank zscore`;
const TWEMPROXY_ONE_SERVER = 'eval evalsha';
const TWEMPROXY_NO = `dump keys migrate move object randomkey rename renamenx restore sort bitop mset msetnx
  blpop brpop brpoplpush rpoplpush sdiff sdiffstore sinter sinterstore smove sunion sunionstore zinterstore
  zunionstore psubscribe publish punsubscribe subscribe unsubscribe discard exec multi unwatch watch script
  auth echo ping quit select bgrewriteaof bgsave client config dbsize debug flushall flushdb info lastsave
  monitor save shutdown slaveof slowlog sync time`;

const words = (s: string): Set<string> => new Set(s.split(/\s+/).filter((w) => w !== ''));
const yes = words(TWEMPROXY_YES);
const oneServer = words(TWEMPROXY_ONE_SERVER);
const no = words(TWEMPROXY_NO);

function twemproxy(name: string): string {
  if (yes.has(name)) return 'yes';
  if (oneServer.has(name)) return 'keys on one server';
  if (no.has(name)) return 'no';
  return 'not listed';
}

function hotshard(spec: CommandSpec): string {
  switch (spec.route) {
    case Route.Key:
      return "to the key's node";
    case Route.MultiKey:
      return 'split by node, merged in key order';
    case Route.Gather:
      return 'one node: forwarded; several: computed in the router';
    case Route.OneShard:
      return spec.subcommands !== undefined
        ? "the subcommand's key's node"
        : 'keys on one shard: forwarded; across shards: refused (HS_ERR_CROSS_SHARD)';
    case Route.AllNodes:
      return spec.name === 'dbsize' ? 'every node, summed' : 'every node (admin connections only)';
    case Route.Local:
      return 'answered by the router';
    case Route.Refused:
      return `refused: ${spec.refusal ?? ''}`;
    case Route.Special:
      return SPECIAL[spec.name] ?? 'see the prose above';
  }
}

/** How each Route.Special command is served (the prose above the matrix says more). */
const SCRIPT_RULE = "the declared keys' node (Redis nodes); across nodes: refused";
const POP_RULE =
  'keys on one node: a dedicated node connection from a bounded pool (embedded: parked in the node)';
const SPECIAL: Readonly<Record<string, string>> = {
  multi: "queued by the router; EXEC runs the block on its keys' node (keys on one node)",
  exec: 'runs the queued block on one node, contiguously; across nodes: refused (HS_ERR_CROSS_SHARD)',
  discard: 'answered by the router',
  watch: "pins a dedicated connection of the keys' node (keys on one node)",
  unwatch: 'releases the WATCH connection',
  ...Object.fromEntries(
    ['eval', 'evalsha', 'eval_ro', 'evalsha_ro', 'fcall', 'fcall_ro'].map((n) => [n, SCRIPT_RULE]),
  ),
  script: 'every node (EXISTS: AND of the nodes)',
  function: 'every node (LIST, DUMP, STATS: one node)',
  scan: 'every node in turn; the cursor carries the node',
  keys: 'every node (admin connections only)',
  randomkey: 'a random node',
  ...Object.fromEntries(
    ['blpop', 'brpop', 'brpoplpush', 'blmove', 'blmpop', 'bzpopmin', 'bzpopmax', 'bzmpop'].map((n) => [
      n,
      POP_RULE,
    ]),
  ),
  xread: 'keys on one node; BLOCK on a dedicated node connection from a bounded pool',
  xreadgroup: 'keys on one node; BLOCK on a dedicated node connection from a bounded pool',
};

/** Special-route commands the router itself serves over embedded nodes (SCAN walks them, MULTI queues for them). */
const EMBEDDED_BY_ROUTER = new Set([
  'scan',
  'keys',
  'randomkey',
  'multi',
  'exec',
  'discard',
  'watch',
  'unwatch',
]);

/** Whether embedded nodes (`--backend memory`) serve the command: the node's own command table decides. */
function embedded(spec: CommandSpec): string {
  if (spec.route === Route.Refused) return '—';
  if (spec.route === Route.Local || EMBEDDED_BY_ROUTER.has(spec.name) || memoryCommandNames.has(spec.name))
    return 'yes';
  return 'no: Redis nodes';
}

/** The generated part of docs/commands.md. */
export function commandMatrix(): string {
  const byGroup = new Map<string, CommandSpec[]>();
  for (const spec of allCommandSpecs()) {
    if (spec.learned) continue;
    const list = byGroup.get(spec.group) ?? [];
    list.push(spec);
    byGroup.set(spec.group, list);
  }
  const out = [
    BEGIN,
    '',
    `Generated from the command table (Redis ${REDIS_VERSION}'s COMMAND INFO plus hotshard's own rules).`,
    "embedded column: whether embedded nodes (`--backend memory`, the demo's) serve it too.",
    'twemproxy column: twemproxy\'s notes/redis.md; "not listed" means that page does not mention the command.',
    '',
  ];
  for (const group of [...byGroup.keys()].sort()) {
    out.push(
      `### ${group}`,
      '',
      '| command | hotshard | embedded | twemproxy |',
      '| --- | --- | --- | --- |',
    );
    const specs = byGroup.get(group)!.sort((a, b) => a.name.localeCompare(b.name));
    for (const s of specs)
      out.push(`| ${s.name.toUpperCase()} | ${hotshard(s)} | ${embedded(s)} | ${twemproxy(s.name)} |`);
    out.push('');
  }
  out.push(END);
  return out.join('\n');
}

/** docs/commands.md with its matrix replaced by `matrix`. */
export function withMatrix(page: string, matrix: string): string {
  const b = page.indexOf(BEGIN);
  const e = page.indexOf(END);
  if (b === -1 || e === -1) return `${page.trimEnd()}\n\n## Compatibility matrix\n\n${matrix}\n`;
  return page.slice(0, b) + matrix + page.slice(e + END.length);
}

/** The page as it is on disk. */
export function readDoc(): string {
  return readFileSync(DOC, 'utf8');
}

/** The page as the script writes it: the matrix in place, formatted as the repository's prettier does. */
export async function generatedDoc(): Promise<string> {
  const options = (await resolveConfig(DOC)) ?? {};
  return format(withMatrix(readDoc(), commandMatrix()), { ...options, filepath: DOC });
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  writeFileSync(DOC, await generatedDoc());
  console.log(`wrote the matrix of ${DOC}`);
}
