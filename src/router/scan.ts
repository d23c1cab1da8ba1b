/**
 * SCAN across every node, KEYS (admin connections only) and RANDOMKEY.
 *
 * A SCAN cursor is one opaque decimal number, as Redis's: the low 10 bits say
 * which node (its place in the router's node order: nodes in order of id at
 * start, nodes added later after them, numbers never reused), the bits above
 * are that node's own cursor. A scan visits the nodes one after the other,
 * each from cursor 0 to its end, so it keeps Redis's guarantee per node: a
 * key present on its node for the whole scan is returned, keys added or
 * removed meanwhile may or may not be. Adding a node does not disturb a scan
 * in progress. A live move during a scan may carry keys from a node not yet
 * visited to one already visited (missed) or the other way (returned twice),
 * as a Redis Cluster resharding does to a cluster-wide scan. MATCH, COUNT
 * and TYPE go to each node as given; COUNT is per call, as on Redis.
 *
 * The copies a replicated key keeps on other nodes are left out, as DBSIZE
 * leaves them out. Cursors belong to the router that made them.
 */
import type { ReplyCallback, ShardBackend } from '../backend/backend.js';
import { ErrorCode } from '../errors.js';
import type { NodeId } from '../keyspace/ids.js';
import type { Command } from '../protocol/command.js';
import { decodeReply } from '../protocol/reply-decoder.js';
import { RawReply, ReplyError, hsError, isErrorReply, type Reply } from '../protocol/reply.js';
import { parseScanCursor } from '../protocol/scan-cursor.js';
import type { CommandSpec } from './command-table.js';
import type { Session } from './session.js';
import type { SingleNodeHost } from './single-node.js';

/** What SCAN reads of the router besides SingleNodeHost. */
export interface ScanHost extends SingleNodeHost {
  /** Node numbers: a node's place is its number in cursors; undefined for a node removed. */
  readonly nodeOrder: readonly (NodeId | undefined)[];
  readonly options: { readonly adminPassword?: string | undefined };
}

const NODE_BITS = 10n;
/** At most this many nodes over a router's life (the cursor's node field). */
export const MAX_NODE_NUMBERS = 1 << Number(NODE_BITS);
const NODE_MASK = (1n << NODE_BITS) - 1n;
const MAX_CURSOR = (1n << 64n) - 1n;
const INVALID_CURSOR = new ReplyError('ERR invalid cursor');
const SCAN = Buffer.from('SCAN');

/** SCAN, KEYS, RANDOMKEY. */
export function runScan(
  host: ScanHost,
  session: Session,
  spec: CommandSpec,
  cmd: Command,
  done: ReplyCallback,
): void {
  // Keys of a range being cut over may be on both nodes or neither: wait, as DBSIZE does.
  if (host.gate !== undefined)
    return host.gate.hold(session, () => host.again(session, cmd.args as Buffer[], cmd.frame, done));
  if (spec.name === 'keys') return keys(host, session, cmd, done);
  if (spec.name === 'randomkey') return randomKey(host, cmd, done);
  return scan(host, cmd, done);
}

function scan(host: ScanHost, cmd: Command, done: ReplyCallback): void {
  const cursor = parseScanCursor(cmd.args[1]!);
  if (cursor === undefined) return done(INVALID_CURSOR);
  let number = Number(cursor & NODE_MASK);
  let nodeCursor = cursor >> NODE_BITS;
  const order = host.nodeOrder;
  if (number >= order.length) return done(INVALID_CURSOR);
  // A node removed since: carry on with the next one.
  while (number < order.length && (order[number] === undefined || !host.backends.has(order[number]!))) {
    number++;
    nodeCursor = 0n;
  }
  if (number >= order.length) return done([Buffer.from('0'), []]);
  const backend = host.backends.get(order[number]!)!;
  const args = [SCAN, Buffer.from(nodeCursor.toString()), ...cmd.args.slice(2)];
  backend.send({ name: 'scan', args, frame: undefined }, (reply) => {
    const value = reply instanceof RawReply ? decodeReply(reply.bytes) : reply;
    if (isErrorReply(value)) return done(value);
    const [next, found] = Array.isArray(value) ? (value as readonly Reply[]) : [];
    if (!Buffer.isBuffer(next) || !Array.isArray(found))
      return done(
        hsError(
          ErrorCode.Backend,
          `node ${backend.node} answered SCAN with something else than a cursor and keys`,
        ),
      );
    const keys = withoutHidden(host, found as Buffer[]);
    const nodeNext = BigInt(next.toString('latin1'));
    if (nodeNext !== 0n) {
      const out = (nodeNext << NODE_BITS) | BigInt(number);
      if (out > MAX_CURSOR)
        return done(
          hsError(ErrorCode.Backend, `node ${backend.node}'s SCAN cursor ${nodeNext} is too large to carry`),
        );
      return done([Buffer.from(out.toString()), keys]);
    }
    let following = number + 1;
    while (
      following < order.length &&
      (order[following] === undefined || !host.backends.has(order[following]!))
    )
      following++;
    // The next node from its cursor 0 is the number alone.
    done([Buffer.from(following >= order.length ? '0' : String(following)), keys]);
  });
}

function keys(host: ScanHost, session: Session, cmd: Command, done: ReplyCallback): void {
  if (!session.admin) {
    host.stats.rejected++;
    return done(
      hsError(
        ErrorCode.NoPermission,
        host.options.adminPassword === undefined
          ? 'KEYS is disabled: it blocks every node while it walks all keys, and no admin password is configured; use SCAN'
          : 'KEYS needs an admin connection (AUTH admin <admin-password>): it blocks every node while it walks all keys; use SCAN',
      ),
    );
  }
  const backends = [...host.backends.values()];
  const lists = new Array<Reply>(backends.length);
  let left = backends.length;
  backends.forEach((backend, i) =>
    backend.send(cmd, (reply) => {
      lists[i] = reply instanceof RawReply ? decodeReply(reply.bytes) : reply;
      if (--left > 0) return;
      const failed = lists.find((l) => isErrorReply(l));
      if (failed !== undefined) return done(failed);
      done(withoutHidden(host, (lists as Buffer[][]).flat()));
    }),
  );
}

/** Nodes in random order until one has a key: cheap when most nodes hold keys. */
function randomKey(host: ScanHost, cmd: Command, done: ReplyCallback): void {
  const backends: ShardBackend[] = [...host.backends.values()];
  for (let i = backends.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [backends[i], backends[j]] = [backends[j]!, backends[i]!];
  }
  let tries = 0;
  const next = (i: number): void => {
    if (i >= backends.length) return done(null);
    backends[i]!.send(cmd, (reply) => {
      const value = reply instanceof RawReply ? decodeReply(reply.bytes) : reply;
      if (isErrorReply(value)) return done(value);
      if (value === null) return next(i + 1);
      // A replica copy drawn: draw again on the same node a few times, then move on.
      if (withoutHidden(host, [value as Buffer]).length === 0) return ++tries < 4 ? next(i) : next(i + 1);
      done(value);
    });
  };
  next(0);
}

function withoutHidden(host: ScanHost, keys: Buffer[]): Buffer[] {
  if (host.hiddenKeys.size === 0) return keys;
  const hidden = new Set<string>();
  for (const names of host.hiddenKeys) for (const name of names()) hidden.add(name.toString('latin1'));
  return keys.filter((k) => !hidden.has(k.toString('latin1')));
}
