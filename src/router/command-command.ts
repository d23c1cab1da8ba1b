/**
 * COMMAND: hotshard's command table in Redis 7's shapes, so clients and
 * tools that ask the server what it knows (ioredis, redis-cli's hints,
 * cluster-aware clients finding keys) get Redis's answers. INFO and DOCS
 * describe each command; GETKEYS and GETKEYSANDFLAGS find keys by the same
 * key specs the router routes by (src/router/key-specs.ts); LIST filters as
 * Redis does. Error texts are Redis's (test/router/redis-compat.test.ts).
 */
import { globMatch } from '../backend/memory-scan-fields.js';
import { MapReply, ReplyError, SetReply, SimpleString, type Reply } from '../protocol/reply.js';
import {
  allCommandSpecs,
  arityOk,
  commandSpec,
  keysOf,
  redisLegacyKeys,
  type CommandSpec,
} from './command-table.js';
import { keyPositions } from './key-specs.js';

const text = (b: Buffer | undefined): string => (b === undefined ? '' : b.toString('utf8'));

const SYNTAX = new ReplyError('ERR syntax error');

/** COMMAND [COUNT | INFO names... | DOCS [names...] | LIST [FILTERBY ...] | GETKEYS ... | GETKEYSANDFLAGS ... | HELP] */
export function command(args: Buffer[]): Reply {
  const sub = text(args[1]).toLowerCase();
  const n = args.length;
  switch (sub) {
    case '':
      return [...allCommandSpecs()].map(commandInfo);
    case 'count':
      return n === 2 ? [...allCommandSpecs()].length : wrongArity(sub);
    case 'info':
      return args.slice(2).map((a) => {
        const s = commandSpec(text(a).toLowerCase());
        return s === undefined ? null : commandInfo(s);
      });
    case 'docs': {
      const named =
        n > 2
          ? args.slice(2).flatMap((a) => {
              const s = commandSpec(text(a).toLowerCase());
              return s === undefined ? [] : [s];
            })
          : [...allCommandSpecs()];
      return new MapReply(named.flatMap((s) => [s.name, commandDocs(s)]));
    }
    case 'list':
      return list(args);
    case 'getkeys':
    case 'getkeysandflags':
      return n < 4 ? wrongArity(sub) : getKeys(args.slice(2), sub === 'getkeysandflags');
    case 'help':
      return n === 2 ? HELP : wrongArity(sub);
    default:
      return new ReplyError(`ERR unknown subcommand '${text(args[1])}'. Try COMMAND HELP.`);
  }
}

function wrongArity(sub: string): ReplyError {
  return new ReplyError(`ERR wrong number of arguments for 'command|${sub}' command`);
}

const HELP: Reply = [
  'COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:',
  '(no subcommand)',
  '    Return details about all Redis commands.',
  'COUNT',
  '    Return the total number of commands in this Redis server.',
  'LIST',
  '    Return a list of all commands in this Redis server.',
  'INFO [<command-name> ...]',
  '    Return details about multiple Redis commands.',
  '    If no command names are given, documentation details for all',
  '    commands are returned.',
  'DOCS [<command-name> ...]',
  '    Return documentation details about multiple Redis commands.',
  '    If no command names are given, documentation details for all',
  '    commands are returned.',
  'GETKEYS <full-command>',
  '    Return the keys from a full Redis command.',
  'GETKEYSANDFLAGS <full-command>',
  '    Return the keys and the access flags from a full Redis command.',
  'HELP',
  '    Prints this help.',
].map((line) => new SimpleString(line));

/** Every command and subcommand by full name (`config|get`), as COMMAND LIST walks them. */
function* everyName(): Generator<CommandSpec> {
  for (const spec of allCommandSpecs()) {
    yield spec;
    if (spec.subcommands !== undefined) yield* spec.subcommands.values();
  }
}

/** COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN pattern] */
function list(args: Buffer[]): Reply {
  if (args.length === 2) return [...everyName()].map((s) => s.name);
  if (args.length !== 5 || text(args[2]).toLowerCase() !== 'filterby') return SYNTAX;
  const arg = args[4]!;
  switch (text(args[3]).toLowerCase()) {
    case 'module':
      return []; // hotshard loads no modules
    case 'aclcat': {
      const category = `@${text(arg).toLowerCase()}`;
      return [...everyName()].filter((s) => s.acl.includes(category)).map((s) => s.name);
    }
    case 'pattern': {
      // Redis matches without case; names are lower-case.
      const pattern = Buffer.from(text(arg).toLowerCase());
      return [...everyName()].filter((s) => globMatch(pattern, Buffer.from(s.name))).map((s) => s.name);
    }
    default:
      return SYNTAX;
  }
}

/**
 * COMMAND GETKEYS / GETKEYSANDFLAGS <command> <args...>, with Redis's checks
 * in its order: a known command (a container's subcommand), one with keys,
 * the right number of arguments, keys that can be found.
 */
function getKeys(cmd: Buffer[], withFlags: boolean): Reply {
  const base = commandSpec(text(cmd[0]).toLowerCase());
  let spec = base;
  if (base?.subcommands !== undefined && cmd.length > 1)
    spec = base.subcommands.get(text(cmd[1]).toLowerCase());
  if (spec === undefined) return new ReplyError('ERR Invalid command specified');
  const sorting = spec.name === 'sort' || spec.name === 'sort_ro';
  if (spec.keySpecs.length === 0 && !sorting) return new ReplyError('ERR The command has no key arguments');
  if (!arityOk(spec, cmd.length))
    return new ReplyError('ERR Invalid number of arguments specified for command');
  const positions = spec.name === 'migrate' ? migrateKeys(cmd) : keysOf(base!, cmd);
  if (positions.length === 0)
    return spec.flags.includes('no_mandatory_keys')
      ? []
      : new ReplyError('ERR Invalid arguments specified for command');
  if (!withFlags) return positions.map((i) => cmd[i]!);
  const flags = keyFlags(spec, cmd, positions, sorting);
  return positions.map((i) => [cmd[i]!, new SetReply(flags.get(i)!.map((f) => new SimpleString(f)))]);
}

/**
 * MIGRATE's keys as Redis's migrateGetKeys finds them (its key specs are
 * incomplete, so Redis uses its own code): the key at 3, or with the KEYS
 * option (and an empty key at 3) the arguments after KEYS.
 */
function migrateKeys(cmd: Buffer[]): readonly number[] {
  const skip: Record<string, number> = { copy: 0, replace: 0, auth: 1, auth2: 2 };
  for (let i = 6; i < cmd.length; i++) {
    const word = text(cmd[i]).toLowerCase();
    if (word === 'keys') {
      if (cmd[3]!.length > 0) return [];
      return Array.from({ length: cmd.length - i - 1 }, (_, k) => i + 1 + k);
    }
    i += skip[word] ?? 0;
  }
  return [3];
}

const RW_ACCESS_UPDATE = ['RW', 'access', 'update'];

/**
 * SET's and BITFIELD's key flags depend on their arguments (their specs say
 * variable_flags), as Redis's setGetKeys and bitfieldGetKeys decide them: SET
 * with GET reads, without it overwrites; BITFIELD with only GETs is read-only.
 */
function variableFlags(spec: CommandSpec, cmd: Buffer[]): readonly string[] | undefined {
  if (spec.name === 'set')
    return cmd.slice(3).some((a) => text(a).toLowerCase() === 'get') ? RW_ACCESS_UPDATE : ['OW', 'update'];
  if (spec.name !== 'bitfield') return undefined;
  for (let i = 2; i < cmd.length; i++) {
    const left = cmd.length - i - 1;
    const word = text(cmd[i]).toLowerCase();
    if (word === 'get' && left >= 2) i += 2;
    else if (word === 'overflow' && left >= 1) i += 1;
    else return RW_ACCESS_UPDATE; // SET, INCRBY, or a syntax error: not read-only
  }
  return ['RO', 'access'];
}

/** Each key's flags: those of the key spec that found it, or of Redis's own code where it finds the keys. */
function keyFlags(
  spec: CommandSpec,
  cmd: Buffer[],
  positions: readonly number[],
  sorting: boolean,
): Map<number, readonly string[]> {
  const out = new Map<number, readonly string[]>();
  const variable = variableFlags(spec, cmd);
  if (variable !== undefined || spec.name === 'migrate') {
    for (const i of positions) out.set(i, variable ?? ['RW', 'access', 'delete']);
    return out;
  }
  if (sorting) {
    // sortGetKeys: the sorted key is read, STORE's destination overwritten.
    for (const i of positions) out.set(i, i === 1 ? ['RO', 'access'] : ['OW', 'update']);
    return out;
  }
  for (const k of spec.keySpecs) for (const i of keyPositions([k], cmd)) if (!out.has(i)) out.set(i, k.flags);
  for (const i of positions) if (!out.has(i)) out.set(i, []);
  return out;
}

/** COMMAND INFO's ten fields, as Redis 7: ..., ACL categories, tips, key specs, subcommands. */
function commandInfo(spec: CommandSpec): Reply {
  const simple = (xs: readonly string[]): SimpleString[] => xs.map((x) => new SimpleString(x));
  const keySpecs = spec.keySpecs.map(
    (k) =>
      new MapReply([
        'flags',
        simple(k.flags),
        'begin_search',
        k.begin[0] === 'index'
          ? new MapReply(['type', 'index', 'spec', new MapReply(['index', k.begin[1]])])
          : k.begin[0] === 'keyword'
            ? new MapReply([
                'type',
                'keyword',
                'spec',
                new MapReply(['keyword', k.begin[1].toUpperCase(), 'startfrom', k.begin[2]]),
              ])
            : new MapReply(['type', 'unknown', 'spec', new MapReply([])]),
        'find_keys',
        k.find[0] === 'range'
          ? new MapReply([
              'type',
              'range',
              'spec',
              new MapReply(['lastkey', k.find[1], 'keystep', k.find[2], 'limit', k.find[3]]),
            ])
          : k.find[0] === 'keynum'
            ? new MapReply([
                'type',
                'keynum',
                'spec',
                new MapReply(['keynumidx', k.find[1], 'firstkey', k.find[2], 'keystep', k.find[3]]),
              ])
            : new MapReply(['type', 'unknown', 'spec', new MapReply([])]),
      ]),
  );
  const [first, last, step] = redisLegacyKeys(spec);
  return [
    spec.name,
    spec.arity,
    simple(spec.flags),
    first,
    last,
    step,
    simple(spec.acl),
    [],
    keySpecs,
    spec.subcommands === undefined ? [] : [...spec.subcommands.values()].map(commandInfo),
  ];
}

function commandDocs(spec: CommandSpec): Reply {
  return new MapReply(['summary', spec.summary, 'since', spec.since, 'group', spec.group]);
}
