/**
 * The consumer-group commands of an embedded node (XGROUP, XREADGROUP, XINFO;
 * XACK, XPENDING, XCLAIM and XAUTOCLAIM are memory-stream-pel.ts), after
 * Redis 7.0's t_stream.c, checking arguments in its order so a bad call gets
 * its error.
 */
import { OK, ReplyError, SimpleString, type Reply } from '../protocol/reply.js';
import { arityError, is, keyOf, NULL_ARRAY, type Args, type BlockingCall, type Spec } from './memory-args.js';
import type { Keyspace } from './memory-keyspace.js';
import {
  byName,
  consumerFor,
  cstr,
  deliver,
  dropNack,
  formatError,
  longLongArg,
  clampNumber,
  nameReply,
  noGroupForKey,
  pelCommands,
} from './memory-stream-pel.js';
import { ConsumerGroup, Consumer, idReply, INVALID_ENTRIES_READ, MAX_ID, Stream } from './memory-stream.js';
import {
  entryReply,
  INVALID_ID,
  parseId,
  parseRead,
  readStream,
  strictId,
  xinfoStream,
} from './memory-streams.js';

/** XREAD_BLOCKED_DEFAULT_COUNT: what a blocked XREADGROUP without COUNT is served at most. */
const BLOCKED_DEFAULT_COUNT = 1000;
const NO_SUCH_KEY = new ReplyError('ERR no such key');

/** sdstoupper: C's toupper, which leaves all but a-z alone. */
const upper = (b: Buffer): string => b.toString('latin1').replace(/[a-z]/g, (c) => c.toUpperCase());

/** addReplySubcommandSyntaxError. */
const subcommandSyntax = (a: Args): ReplyError =>
  formatError(
    `ERR unknown subcommand or wrong number of arguments for '${cstr(a[1]!.toString('latin1', 0, 128))}'. Try ${upper(a[0]!)} HELP.`,
  );

/** addReplyHelp: the command's lines between Redis's standard head and tail. */
function helpReply(a: Args, lines: readonly string[]): Reply {
  const name = upper(a[0]!);
  return [
    `${name} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:`,
    ...lines,
    'HELP',
    '    Prints this help.',
  ].map((l) => new SimpleString(l));
}

/**
 * A container command's subcommand (XGROUP, XINFO): Redis resolves it and
 * checks its arity before the command runs, so those errors come first.
 */
function subcommand(
  a: Args,
  container: string,
  arities: Readonly<Record<string, number>>,
): string | ReplyError {
  const sub = a[1]!.toString('latin1').toLowerCase();
  const arity = Object.hasOwn(arities, sub) ? arities[sub] : undefined;
  if (arity === undefined) {
    return formatError(
      `ERR unknown subcommand '${cstr(a[1]!.toString('latin1', 0, 128))}'. Try ${upper(a[0]!)} HELP.`,
    );
  }
  const n = a.length;
  if (arity > 0 ? n !== arity : n < -arity) return arityError(`${container}|${sub}`);
  return sub;
}

// ---------------------------------------------------------------------------
// XGROUP

const XGROUP_ARITIES = { create: -5, setid: -5, destroy: 4, createconsumer: 5, delconsumer: 5, help: 2 };

const XGROUP_HELP = [
  'CREATE <key> <groupname> <id|$> [option]',
  '    Create a new consumer group. Options are:',
  '    * MKSTREAM',
  '      Create the empty stream if it does not exist.',
  '    * ENTRIESREAD entries_read',
  "      Set the group's entries_read counter (internal use).",
  'CREATECONSUMER <key> <groupname> <consumer>',
  '    Create a new consumer in the specified group.',
  'DELCONSUMER <key> <groupname> <consumer>',
  '    Remove the specified consumer.',
  'DESTROY <key> <groupname>',
  '    Remove the specified group.',
  'SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]',
  '    Set the current group ID and entries_read counter.',
];

const isDollar = (b: Buffer): boolean => b.length === 1 && b[0] === 0x24;

/**
 * Changed for watchers and trackers without waking blocked readers: Redis
 * signals those only on XADD, a new key and XGROUP DESTROY, so a blocked
 * XREADGROUP stays blocked after XGROUP SETID moves its group back.
 */
function modifiedQuietly(ks: Keyspace, key: string): void {
  const wasReady = ks.ready?.has(key) ?? false;
  ks.modified(key);
  if (!wasReady) ks.ready?.delete(key);
}

function xgroup(ks: Keyspace, a: Args): Reply {
  const sub = subcommand(a, 'xgroup', XGROUP_ARITIES);
  if (sub instanceof ReplyError) return sub;
  if (sub === 'help') return helpReply(a, XGROUP_HELP);
  const argc = a.length;
  let mkStream = false;
  let entriesRead = INVALID_ENTRIES_READ;
  if (sub === 'create' || sub === 'setid') {
    for (let i = 5; i < argc;) {
      if (sub === 'create' && is(a[i], 'mkstream')) {
        mkStream = true;
        i++;
      } else if (is(a[i], 'entriesread') && i + 1 < argc) {
        const n = longLongArg(a[i + 1]!);
        if (n instanceof ReplyError) return n;
        if (n < 0n && n !== -1n) return new ReplyError('ERR value for ENTRIESREAD must be positive or -1');
        entriesRead = clampNumber(n);
        i += 2;
      } else return subcommandSyntax(a);
    }
  }
  const key = keyOf(a, 2);
  const s = readStream(ks, key);
  if (s instanceof ReplyError) return s;
  const name = keyOf(a, 3);
  const g = s?.groups?.get(name);
  if (!mkStream) {
    if (s === undefined) {
      return new ReplyError(
        'ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.',
      );
    }
    if (g === undefined && sub !== 'create' && sub !== 'destroy') return noGroupForKey(key, name);
  }
  switch (sub) {
    case 'create': {
      if (argc > 8) return subcommandSyntax(a);
      let id = 0n;
      if (isDollar(a[4]!)) id = s?.lastId ?? 0n;
      else {
        const parsed = strictId(a[4]!);
        if (parsed instanceof ReplyError) return parsed;
        id = parsed;
      }
      let stream = s;
      if (stream === undefined) {
        stream = new Stream();
        ks.set(key, stream);
      }
      if (stream.groups?.has(name)) return new ReplyError('BUSYGROUP Consumer Group name already exists');
      (stream.groups ??= new Map()).set(name, new ConsumerGroup(id, entriesRead));
      modifiedQuietly(ks, key);
      return OK;
    }
    case 'setid': {
      if (argc !== 5 && argc !== 7) return subcommandSyntax(a);
      let id = 0n;
      if (isDollar(a[4]!)) id = s!.lastId;
      else {
        const parsed = parseId(a[4]!, 0n, false);
        if (parsed === null) return INVALID_ID;
        id = parsed.id;
      }
      g!.lastId = id;
      g!.entriesRead = entriesRead;
      modifiedQuietly(ks, key);
      return OK;
    }
    case 'destroy':
      if (g === undefined) return 0;
      s!.groups!.delete(name);
      // wakes XREADGROUP clients blocked on the group, for their NOGROUP error
      ks.modified(key);
      return 1;
    case 'createconsumer': {
      const consumer = keyOf(a, 4);
      if (g!.consumers.has(consumer)) return 0;
      g!.consumers.set(consumer, new Consumer(consumer, ks.now));
      modifiedQuietly(ks, key);
      return 1;
    }
    default: {
      const c = g!.consumers.get(keyOf(a, 4));
      if (c === undefined) return 0;
      const pending = c.pel.size;
      for (const [id, nack] of c.pel.range(0n, MAX_ID)) dropNack(g!, id, nack);
      g!.consumers.delete(c.name);
      modifiedQuietly(ks, key);
      return pending;
    }
  }
}

// ---------------------------------------------------------------------------
// XREADGROUP

/** XREADGROUP's history read: the consumer's own pending entries after `after`, a deleted one as [id, nil]. */
function history(ks: Keyspace, s: Stream, c: Consumer, after: bigint, count: number): Reply[] {
  const out: Reply[] = [];
  for (const [id, nack] of c.pel.range(after + 1n, MAX_ID, count)) {
    const e = s.entry(id);
    if (e === undefined) {
      out.push([idReply(id), NULL_ARRAY]);
      continue;
    }
    nack.deliveryTime = ks.now;
    nack.deliveryCount++;
    out.push(entryReply(e));
  }
  return out;
}

/** New entries for the group (the `>` ID): those after its last delivered ID. */
function readNew(
  ks: Keyspace,
  s: Stream,
  g: ConsumerGroup,
  c: Consumer,
  count: number,
  noAck: boolean,
): Reply[] {
  const entries = s.range(g.lastId + 1n, MAX_ID, count);
  for (const e of entries) deliver(ks, s, g, c, e, noAck);
  return entries.map(entryReply);
}

/** XREADGROUP as a blocking call: served at once when it can, else (with BLOCK) when a stream of its grows. */
export function parseXreadgroup(a: Args): BlockingCall | ReplyError {
  const r = parseRead(a, true);
  if (r instanceof ReplyError) return r;
  const groupName = r.group!.toString('latin1');
  const consumerName = r.consumer!.toString('latin1');
  const call: BlockingCall = {
    keys: r.keys,
    timeoutMs: Math.max(0, r.timeoutMs),
    timedOut: NULL_ARRAY,
    cannotBlock: NULL_ARRAY,
    serve(ks) {
      /** Per key, the ID whose history is read, or null for `>`. */
      const ids: (bigint | null)[] = [];
      for (let i = 0; i < r.keys.length; i++) {
        const key = r.keys[i]!;
        const s = readStream(ks, key);
        if (s instanceof ReplyError) return s;
        if (s?.groups?.get(groupName) === undefined) {
          return formatError(
            `NOGROUP No such key '${cstr(key)}' or consumer group '${cstr(groupName)}' in XREADGROUP with GROUP option`,
          );
        }
        const arg = r.ids[i]!;
        if (isDollar(arg)) {
          return new ReplyError(
            'ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.',
          );
        }
        if (arg.length === 1 && arg[0] === 0x3e) {
          ids.push(null);
          continue;
        }
        const id = strictId(arg);
        if (id instanceof ReplyError) return id;
        // Redis marks `>` with the largest ID, so that ID given reads as `>` too
        ids.push(id === MAX_ID ? null : id);
      }
      const out: Reply[] = [];
      for (let i = 0; i < r.keys.length; i++) {
        const key = r.keys[i]!;
        const s = ks.get(key) as Stream;
        const g = s.groups!.get(groupName)!;
        const after = ids[i]!;
        if (after === null && (s.length === 0 || s.lastValidId() <= g.lastId)) continue;
        const c = consumerFor(ks, g, consumerName);
        const entries =
          after === null ? readNew(ks, s, g, c, r.count, r.noAck) : history(ks, s, c, after, r.count);
        out.push([Buffer.from(key, 'latin1'), entries]);
        modifiedQuietly(ks, key);
      }
      if (out.length > 0) return out;
      return r.timeoutMs === -1 ? NULL_ARRAY : undefined;
    },
    serveKey(ks, key) {
      const s = ks.get(key);
      // Redis 7.0.15 unblocks XREADGROUP when its stream is deleted or overwritten
      if (!(s instanceof Stream)) return new ReplyError('UNBLOCKED the stream key no longer exists');
      const g = s.groups?.get(groupName);
      if (g === undefined)
        return new ReplyError('NOGROUP the consumer group this client was blocked on no longer exists');
      if (s.lastId <= g.lastId) return undefined;
      const c = consumerFor(ks, g, consumerName);
      const entries = readNew(ks, s, g, c, r.count || BLOCKED_DEFAULT_COUNT, r.noAck);
      modifiedQuietly(ks, key);
      return [[Buffer.from(key, 'latin1'), entries]];
    },
  };
  return call;
}

// ---------------------------------------------------------------------------
// XINFO

const XINFO_ARITIES = { consumers: 4, groups: 3, stream: -3, help: 2 };

const XINFO_HELP = [
  'CONSUMERS <key> <groupname>',
  '    Show consumers of <groupname>.',
  'GROUPS <key>',
  '    Show the stream consumer groups.',
  'STREAM <key> [FULL [COUNT <count>]',
  '    Show information about the stream.',
];

const field = (name: string): Buffer => Buffer.from(name, 'latin1');

/** streamReplyWithCGLag: how many entries the group has yet to read, null when that cannot be known. */
function lag(s: Stream, g: ConsumerGroup): Reply {
  if (s.entriesAdded === 0) return 0;
  if (g.entriesRead !== INVALID_ENTRIES_READ && !s.hasTombstones(g.lastId))
    return s.entriesAdded - g.entriesRead;
  const read = s.estimateEntriesRead(g.lastId);
  return read === INVALID_ENTRIES_READ ? null : s.entriesAdded - read;
}

const entriesReadReply = (g: ConsumerGroup): Reply =>
  g.entriesRead === INVALID_ENTRIES_READ ? null : g.entriesRead;

/** XINFO STREAM FULL's groups: each with its PEL and consumers, `count` pending entries each at most (0: all). */
function fullGroups(s: Stream, count: number): Reply {
  const out: Reply[] = [];
  for (const [name, g] of byName(s.groups ?? new Map<string, ConsumerGroup>())) {
    const consumers: Reply[] = [];
    for (const [cname, c] of byName(g.consumers)) {
      consumers.push([
        field('name'),
        nameReply(cname),
        field('seen-time'),
        c.seenTime,
        field('pel-count'),
        c.pel.size,
        field('pending'),
        c.pel.range(0n, MAX_ID, count).map(([id, n]) => [idReply(id), n.deliveryTime, n.deliveryCount]),
      ]);
    }
    out.push([
      field('name'),
      nameReply(name),
      field('last-delivered-id'),
      idReply(g.lastId),
      field('entries-read'),
      entriesReadReply(g),
      field('lag'),
      lag(s, g),
      field('pel-count'),
      g.pel.size,
      field('pending'),
      g.pel
        .range(0n, MAX_ID, count)
        .map(([id, n]) => [idReply(id), nameReply(n.consumer.name), n.deliveryTime, n.deliveryCount]),
      field('consumers'),
      consumers,
    ]);
  }
  return out;
}

function xinfo(ks: Keyspace, a: Args): Reply {
  const sub = subcommand(a, 'xinfo', XINFO_ARITIES);
  if (sub instanceof ReplyError) return sub;
  if (sub === 'help') return helpReply(a, XINFO_HELP);
  const key = keyOf(a, 2);
  const s = readStream(ks, key);
  if (s instanceof ReplyError) return s;
  if (s === undefined) return NO_SUCH_KEY;
  if (sub === 'consumers') {
    const name = keyOf(a, 3);
    const g = s.groups?.get(name);
    if (g === undefined) return noGroupForKey(key, name);
    return byName(g.consumers).map(([cname, c]) => [
      field('name'),
      nameReply(cname),
      field('pending'),
      c.pel.size,
      field('idle'),
      Math.max(0, ks.now - c.seenTime),
    ]);
  }
  if (sub === 'groups') {
    return byName(s.groups ?? new Map<string, ConsumerGroup>()).map(([name, g]) => [
      field('name'),
      nameReply(name),
      field('consumers'),
      g.consumers.size,
      field('pending'),
      g.pel.size,
      field('last-delivered-id'),
      idReply(g.lastId),
      field('entries-read'),
      entriesReadReply(g),
      field('lag'),
      lag(s, g),
    ]);
  }
  // STREAM [FULL [COUNT n]]
  const opts = a.length - 3;
  if (opts === 0) return xinfoStream(s, false, 0, () => []);
  if ((opts !== 1 && opts !== 3) || !is(a[3], 'full') || (opts === 3 && !is(a[4], 'count'))) {
    return subcommandSyntax(a);
  }
  let count = 10;
  if (opts === 3) {
    const n = longLongArg(a[5]!);
    if (n instanceof ReplyError) return n;
    count = n < 0n ? 0 : clampNumber(n);
  }
  return xinfoStream(s, true, count, () => fullGroups(s, count));
}

export const streamGroupCommands: Readonly<Record<string, Spec>> = {
  xgroup: { arity: -2, run: xgroup },
  xinfo: { arity: -2, run: xinfo },
  ...pelCommands,
};
