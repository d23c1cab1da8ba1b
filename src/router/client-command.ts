/**
 * CLIENT: the connection's own name and id, and the list of hotshard's
 * client connections (LIST, INFO, KILL) in Redis 7's format and error texts,
 * so tools that parse `CLIENT LIST` (redis-cli, monitoring agents) work.
 * Fields hotshard has no counterpart for (query buffers, output lists,
 * memory) read 0, as for an idle Redis client.
 *
 * Client-side caching is not offered: hotshard does not record which keys
 * each client reads, so it could not send the invalidations (its own cache
 * overlay stays coherent instead, see the key policies). Tracking is
 * therefore always off, and what reports or turns it off answers as Redis
 * does for a client that is not tracking; TRACKING ON is refused by name,
 * as is PAUSE, so a library that relies on them fails at once with the
 * reason rather than on "unknown subcommand". UNBLOCK has the node the
 * client waits on end its wait (src/router/blocking.ts).
 * REPLY is the connection's own (resp-server.ts).
 */
import type { ReplyCallback } from '../backend/backend.js';
import { parseInt64 } from '../backend/memory-commands.js';
import { ErrorCode } from '../errors.js';
import { MapReply, OK, ReplyError, SetReply, SimpleString, hsError, type Reply } from '../protocol/reply.js';
import type { Session } from './session.js';

/** A client connection as CLIENT LIST / KILL see it (the RESP front end registers one per connection). */
export interface ClientHandle {
  readonly session: Session;
  /** The local address the client connected to, `host:port`. */
  readonly laddr: string;
  /** When the client last sent anything (ms since the epoch). */
  readonly lastActivity: number;
  /** Closes the connection now. */
  kill(): void;
}

/** The connected clients by id. */
export type ClientRegistry = Map<number, ClientHandle>;

const text = (b: Buffer | undefined): string => (b === undefined ? '' : b.toString('utf8'));

function wrongArity(sub: string): ReplyError {
  return new ReplyError(`ERR wrong number of arguments for 'client|${sub}' command`);
}

/** Too many arguments for a subcommand whose arity only has a minimum: Redis's addReplySubcommandSyntaxError. */
function subcommandSyntax(args: Buffer[]): ReplyError {
  return new ReplyError(
    `ERR unknown subcommand or wrong number of arguments for '${text(args[1])}'. Try CLIENT HELP.`,
  );
}

/** Redis's CLIENT SETNAME (and HELLO SETNAME) rule: printable ASCII without spaces ('!' to '~'). */
export function validClientName(name: Buffer): boolean {
  for (const c of name) if (c < 0x21 || c > 0x7e) return false;
  return true;
}

/** CLIENT <subcommand> ... for `session`; `clients` are every connected client. */
export function clientCommand(
  session: Session,
  clients: ClientRegistry,
  args: Buffer[],
  now: number,
  done: ReplyCallback,
): void {
  // UNBLOCK of a blocked client is answered by the node it waits on; the rest here.
  if (args.length === 3 || args.length === 4) {
    if (text(args[1]).toLowerCase() === 'unblock') return unblock(clients, args, done);
  }
  done(answer(session, clients, args, now));
}

function answer(session: Session, clients: ClientRegistry, args: Buffer[], now: number): Reply {
  const sub = text(args[1]).toLowerCase();
  const n = args.length;
  switch (sub) {
    case 'setname': {
      if (n !== 3) return wrongArity(sub);
      const name = args[2]!;
      if (!validClientName(name))
        return new ReplyError('ERR Client names cannot contain spaces, newlines or special characters.');
      session.name = name.length === 0 ? null : Buffer.from(name);
      return OK;
    }
    case 'getname':
      return n === 2 ? session.name : wrongArity(sub);
    case 'id':
      return n === 2 ? session.id : wrongArity(sub);
    case 'setinfo':
      return n === 4 ? OK : wrongArity(sub); // lib-name/lib-ver sent on connect; nothing to keep
    case 'no-evict': {
      // hotshard never evicts a client (a slow reader is paused, not cut): nothing to exempt
      if (n !== 3) return wrongArity(sub);
      const mode = text(args[2]).toLowerCase();
      return mode === 'on' || mode === 'off' ? OK : new ReplyError('ERR syntax error');
    }
    case 'info':
      return n === 2 ? clientLine(session, clients.get(session.id), now) : wrongArity(sub);
    case 'list':
      return list(session, clients, args, now);
    case 'kill':
      return kill(session, clients, args);
    case 'reply':
      // A well-formed one is the connection's own (resp-server.ts) and never gets here.
      return n === 3
        ? new ReplyError('ERR CLIENT REPLY is served on RESP connections only')
        : wrongArity(sub);
    case 'help':
      return n === 2 ? HELP : wrongArity(sub);
    case 'tracking':
      return n < 3 ? wrongArity(sub) : tracking(clients, args);
    case 'caching':
      return n === 3
        ? new ReplyError(
            'ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled',
          )
        : wrongArity(sub);
    case 'getredir':
      return n === 2 ? -1 : wrongArity(sub);
    case 'trackinginfo':
      return n === 2
        ? new MapReply(['flags', new SetReply(['off']), 'redirect', -1, 'prefixes', []])
        : wrongArity(sub);
    case 'pause':
      return n < 3 ? wrongArity(sub) : n > 4 ? subcommandSyntax(args) : pause(args);
    case 'unpause':
      return n === 2 ? OK : wrongArity(sub); // nothing is ever paused
    case 'unblock': // a well-formed one is answered by clientCommand
      return n < 3 ? wrongArity(sub) : subcommandSyntax(args);
    default:
      return new ReplyError(`ERR unknown subcommand '${text(args[1])}'. Try CLIENT HELP.`);
  }
}

/** CLIENT HELP: the subcommands hotshard serves, in Redis's format. */
const HELP: Reply = [
  'CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:',
  'GETNAME',
  '    Return the name of the current connection.',
  'GETREDIR',
  '    Return -1: hotshard offers no client-side caching, so nothing is redirected.',
  'ID',
  '    Return the ID of the current connection.',
  'INFO',
  '    Return information about the current client connection.',
  'KILL <ip:port>',
  '    Kill connection made from <ip:port>.',
  'KILL <option> <value> [<option> <value> [...]]',
  '    Kill connections. Options are:',
  '    * ID <client-id>',
  '    * ADDR <ip:port>',
  '    * LADDR <ip:port>',
  '    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)',
  '    * USER <username>',
  '    * SKIPME (YES|NO)',
  'LIST [options ...]',
  '    Return information about client connections. Options:',
  '    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)',
  '    * ID <client-id> [<client-id> ...]',
  'NO-EVICT (ON|OFF)',
  '    Accepted; hotshard evicts no client (a slow reader is paused, not cut).',
  'REPLY (ON|OFF|SKIP)',
  '    Control the replies sent to the current connection.',
  'SETINFO <option> <value>',
  '    Accepted (library name and version).',
  'SETNAME <name>',
  '    Assign the name <name> to the current connection.',
  'TRACKING OFF',
  '    Accepted; TRACKING ON is refused: hotshard offers no client-side caching.',
  'TRACKINGINFO',
  '    Report tracking status for the current connection (always off).',
  'UNBLOCK <clientid> [TIMEOUT|ERROR]',
  '    Unblock the specified blocked client.',
  'UNPAUSE',
  '    Accepted; hotshard pauses no client (PAUSE is refused).',
  'HELP',
  '    Prints this help.',
].map((line) => new SimpleString(line));

/** CLIENT TRACKING ON|OFF [options]: OFF is what tracking already is; ON is refused. */
function tracking(clients: ClientRegistry, args: Buffer[]): Reply {
  // Options are read first, as Redis reads them, so a malformed line fails the same way for ON and OFF.
  for (let i = 3; i < args.length; i++) {
    const opt = text(args[i]).toLowerCase();
    if (opt === 'redirect' || opt === 'prefix') {
      if (++i >= args.length) return new ReplyError('ERR syntax error');
      if (opt === 'redirect') {
        const id = parseInt64(args[i]!);
        if (id === null || typeof id === 'bigint')
          return new ReplyError('ERR value is not an integer or out of range');
        if (!clients.has(id)) return new ReplyError('ERR The client ID you want redirect to does not exist');
      }
    } else if (opt !== 'bcast' && opt !== 'optin' && opt !== 'optout' && opt !== 'noloop') {
      return new ReplyError('ERR syntax error');
    }
  }
  const mode = text(args[2]).toLowerCase();
  if (mode === 'off') return OK;
  if (mode !== 'on') return new ReplyError('ERR syntax error');
  return hsError(
    ErrorCode.NotAllowed,
    "CLIENT TRACKING ON is not supported by hotshard: it does not record the keys each client reads, so it could not send the invalidations; turn the client's local cache off (hotshard's own cache overlay stays coherent)",
  );
}

/** CLIENT PAUSE timeout [WRITE|ALL]: refused once the arguments are valid. */
function pause(args: Buffer[]): Reply {
  const timeout = parseInt64(args[2]!);
  if (timeout === null || typeof timeout === 'bigint')
    return new ReplyError('ERR timeout is not an integer or out of range');
  if (timeout < 0) return new ReplyError('ERR timeout is negative');
  if (args.length === 4 && !['write', 'all'].includes(text(args[3]).toLowerCase()))
    return new ReplyError('ERR CLIENT PAUSE mode must be WRITE or ALL');
  return hsError(
    ErrorCode.NotAllowed,
    "CLIENT PAUSE is not supported by hotshard: it pauses one node's clients, and hotshard's clients reach every node; pause the nodes themselves, or stop sending to hotshard",
  );
}

/**
 * CLIENT UNBLOCK id [TIMEOUT|ERROR]: 0 for a client that is not blocked (or
 * not connected), as Redis answers. A blocked one waits on a node, which ends
 * the wait itself (Blocked.unblock): answering the command here could race an
 * element the node is handing it at that moment, and lose it.
 */
function unblock(clients: ClientRegistry, args: Buffer[], done: ReplyCallback): void {
  // Redis checks the reason before the id.
  const how = args.length === 4 ? text(args[3]).toLowerCase() : 'timeout';
  if (how !== 'timeout' && how !== 'error')
    return done(new ReplyError('ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR'));
  const id = parseInt64(args[2]!);
  if (id === null || typeof id === 'bigint')
    return done(new ReplyError('ERR value is not an integer or out of range'));
  const blocked = clients.get(id)?.session.blocked;
  if (blocked === null || blocked === undefined) return done(0);
  blocked.unblock(how, done);
}

/** CLIENT LIST's flags, of those Redis sets the ones a hotshard client can have, in Redis's order. */
function flags(session: Session): string {
  const f = (session.multi !== null ? 'x' : '') + (session.blocked !== null ? 'b' : '');
  return f === '' ? 'N' : f;
}

/** One CLIENT LIST line, fields in Redis 7.0's order. */
function clientLine(session: Session, handle: ClientHandle | undefined, now: number): string {
  const age = Math.max(0, Math.floor((now - session.createdAt) / 1000));
  const idle = Math.max(0, Math.floor((now - (handle?.lastActivity ?? now)) / 1000));
  return (
    `id=${session.id} addr=${session.remote} laddr=${handle?.laddr ?? ''} fd=-1 ` +
    `name=${session.name?.toString('latin1') ?? ''} age=${age} idle=${idle} flags=${flags(session)} db=0 sub=0 psub=0 ssub=0 ` +
    `multi=${session.multi?.length ?? -1} qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r ` +
    `cmd=${session.lastCommand ?? 'NULL'} user=${session.tenant} redir=-1 resp=${session.proto}\n`
  );
}

/** CLIENT LIST [TYPE normal|master|replica|pubsub] [ID id ...] */
function list(session: Session, clients: ClientRegistry, args: Buffer[], now: number): Reply {
  let ids: Set<number> | undefined;
  let none = false;
  for (let i = 2; i < args.length; i++) {
    const opt = text(args[i]).toLowerCase();
    if (opt === 'type' && i + 1 < args.length) {
      const type = text(args[++i]).toLowerCase();
      if (!['normal', 'master', 'replica', 'slave', 'pubsub'].includes(type))
        return new ReplyError(`ERR Unknown client type '${text(args[i])}'`);
      // Every hotshard client is a normal one.
      if (type !== 'normal') none = true;
    } else if (opt === 'id' && i + 1 < args.length) {
      ids = new Set();
      for (i++; i < args.length; i++) {
        const id = parseInt64(args[i]!);
        if (id === null || typeof id === 'bigint') return new ReplyError('ERR Invalid client ID');
        ids.add(id);
      }
    } else {
      return new ReplyError('ERR syntax error');
    }
  }
  if (none) return '';
  let out = '';
  for (const [id, handle] of clients) {
    if (ids !== undefined && !ids.has(id)) continue;
    out += clientLine(handle.session, handle, now);
  }
  // A caller that is no registered connection (HTTP, tests) still sees itself.
  if (!clients.has(session.id) && (ids === undefined || ids.has(session.id)))
    out += clientLine(session, undefined, now);
  return out;
}

/**
 * CLIENT KILL ip:port (old form: OK or "No such client"), or
 * CLIENT KILL [ID id] [ADDR ip:port] [LADDR ip:port] [TYPE t] [USER tenant] [SKIPME yes|no]
 * (every filter must match; the number killed). The caller itself is closed
 * after its reply, as Redis does.
 */
function kill(session: Session, clients: ClientRegistry, args: Buffer[]): Reply {
  if (args.length === 3) {
    const addr = text(args[2]);
    for (const handle of clients.values()) {
      if (handle.session.remote === addr) {
        close(session, clients, handle);
        return OK;
      }
    }
    return new ReplyError('ERR No such client');
  }
  if (args.length < 4 || args.length % 2 !== 0) return new ReplyError('ERR syntax error');
  let id: number | undefined;
  let addr: string | undefined;
  let laddr: string | undefined;
  let user: string | undefined;
  let normal = true;
  let skipMe = true;
  for (let i = 2; i < args.length; i += 2) {
    const opt = text(args[i]).toLowerCase();
    const value = text(args[i + 1]);
    if (opt === 'id') {
      const v = parseInt64(args[i + 1]!);
      if (v === null || typeof v === 'bigint' || v <= 0)
        return new ReplyError('ERR client-id should be greater than 0');
      id = v;
    } else if (opt === 'addr') addr = value;
    else if (opt === 'laddr') laddr = value;
    else if (opt === 'user') user = value;
    else if (opt === 'type') {
      const type = value.toLowerCase();
      if (!['normal', 'master', 'replica', 'slave', 'pubsub'].includes(type))
        return new ReplyError(`ERR Unknown client type '${value}'`);
      normal = type === 'normal';
    } else if (opt === 'skipme') {
      const v = value.toLowerCase();
      if (v !== 'yes' && v !== 'no') return new ReplyError('ERR syntax error');
      skipMe = v === 'yes';
    } else return new ReplyError('ERR syntax error');
  }
  if (!normal) return 0;
  let killed = 0;
  for (const handle of [...clients.values()]) {
    const s = handle.session;
    if (id !== undefined && s.id !== id) continue;
    if (addr !== undefined && s.remote !== addr) continue;
    if (laddr !== undefined && handle.laddr !== laddr) continue;
    if (user !== undefined && s.tenant !== user) continue;
    if (skipMe && s.id === session.id) continue;
    close(session, clients, handle);
    killed++;
  }
  return killed;
}

// Another client is cut off now (and listed no more, though its socket
// closes a moment later); the caller gets its reply first.
function close(session: Session, clients: ClientRegistry, handle: ClientHandle): void {
  if (handle.session.id === session.id) {
    session.closeAfterReply = true;
    return;
  }
  clients.delete(handle.session.id);
  handle.kill();
}
