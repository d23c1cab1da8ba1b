/**
 * Hot-key read replicas (issue 13 §2.3): for a read-hot key whose policy is
 * `strong` (never stale), copies of the key on other nodes; reads are spread
 * round-robin over the key and its copies, writes go to all of them.
 *
 * Why reads are never stale: every write of the key runs alone (a per-key
 * queue), first on the key, then on every copy in the read set, and the client
 * is answered only once all of them have answered. A read sent after that
 * answer finds the write on whichever copy it lands. A copy whose reply to a
 * write differs from the key's, or that fails, leaves the read set at once
 * and is re-copied from the key (DUMP/RESTORE through the backend API) inside
 * the same queue, so no write can slip between the copy and its rejoining.
 *
 * Reads are in fact linearizable, not merely never older than an answered
 * write, because each node runs what it is sent in the order sent (one Redis
 * connection; the embedded node's FIFO) and the write goes to every copy in
 * the same turn, the moment the key has answered it: a read that sees the
 * write on the key is answered after the key answered the write, so any read
 * sent after it reaches a copy behind the write; a read that sees it on a
 * copy was sent after that turn, so later reads find it everywhere.
 *
 * A client pipelining a write and then a read of the key expects, as from one
 * Redis, the read to see the write: a read from a session with a write of
 * this key still queued waits behind it in the queue (a read only waits for
 * its turn to be sent, never for its reply). Reads of other sessions go at
 * once: they are concurrent with any unanswered write, so either value is
 * right.
 *
 * Copy names: `{hs\0replica:<fnv32 of key, hex>:<probe>}<key>`. The braces
 * make the name's own hash tag decide its shard, whatever tag the key has; the
 * probe is counted up until each copy lands on a node holding neither the key
 * nor another copy. The NUL byte keeps a real client's key from being one in
 * practice; DBSIZE leaves them out (Router.hiddenKeys); EXISTS and TYPE name
 * the key itself, so they never see them.
 *
 * Limits: a copy carries the key's TTL as read when copied (and a relative
 * EXPIRE lands on it a round trip later), so it may outlive the key by that
 * much; a write that meets the difference gets a differing reply, which puts
 * the copy back in step. Only this router's writes are replicated: a write
 * that bypasses it (another router, a client on the node) reaches the key
 * alone.
 */
import type { KeyDump, ReplyCallback, ShardBackend } from '../../backend/backend.js';
import { ErrorCode, isShedCode } from '../../errors.js';
import type { NodeId } from '../../keyspace/ids.js';
import { makeCommand, type Command } from '../../protocol/command.js';
import { decodeReply } from '../../protocol/reply-decoder.js';
import { RawReply, ReplyError, isErrorReply, type Reply } from '../../protocol/reply.js';
import type { KeyHandler, KeyRequest } from '../../router/key-policies.js';
import type { HiddenKeys } from '../../router/multi-key.js';
import type { Router } from '../../router/router.js';
import type { Session } from '../../router/session.js';
import type { KeyPolicy, MitigationContext, Remedy, RemedyStage } from '../policy.js';

/** Options of the replicas remedy. */
export interface ReplicasOptions {
  /** Wait before re-trying to repair a copy whose node failed; default 1000 ms. */
  readonly retryMs?: number;
  /** Probes tried per copy before settling for fewer copies; default 4096. */
  readonly maxProbes?: number;
}

/** Where a copy stands: `building` and `repairing` copies take writes and reads only once back in the set. */
export type CopyState = 'building' | 'in-set' | 'repairing';

interface Copy {
  readonly name: Buffer;
  state: CopyState;
  reads: number;
  repairs: number;
  /** Why it last left the read set. */
  lastFailure: string | null;
  retry: ReturnType<typeof setTimeout> | undefined;
}

/** One unit of the key's queue: runs alone; calls `finish` when the next may start. */
type Task = (finish: () => void) => void;

/** Where a copy of `key` with `probe` lives: the tag is the copy's own, whatever tag the key has. */
export function copyName(key: Buffer, probe: number): Buffer {
  return Buffer.concat([Buffer.from(`{hs\0replica:${fnv32(key).toString(16)}:${probe}}`, 'latin1'), key]);
}

function fnv32(key: Buffer): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key[i]!, 0x01000193);
  return h >>> 0;
}

/**
 * The replicas remedy: a stage per key keeping `policy.replicas.count` copies.
 *
 * @example
 * const manager = new PolicyManager(ctx, [replicasRemedy()]);
 * await manager.set(Buffer.from('celebrity'), { consistency: 'strong', replicas: { count: 2 } });
 */
export function replicasRemedy(options: ReplicasOptions = {}): Remedy<'replicas'> {
  const retryMs = options.retryMs ?? 1_000;
  const maxProbes = options.maxProbes ?? 4_096;
  return {
    name: 'replicas',
    build: (policy, key, next, ctx) => new ReplicaStage(policy, key, next, ctx, retryMs, maxProbes),
  };
}

/** The replicas remedy with default options. */
export const replicas: Remedy<'replicas'> = replicasRemedy();

const claims = new WeakMap<Router, Set<string>>();

/** The copy names the live stages of `router` use, so a closed stage's late clean-up never deletes a newer copy. */
function claimedNames(router: Router): Set<string> {
  let names = claims.get(router);
  if (names === undefined) claims.set(router, (names = new Set()));
  return names;
}

class ReplicaStage implements RemedyStage {
  readonly #key: Buffer;
  readonly #next: KeyHandler;
  readonly #ctx: MitigationContext;
  readonly #retryMs: number;
  readonly #wanted: number;
  readonly #copies: Copy[] = [];
  /** Primary then the copies in the read set, rebuilt when the set changes. */
  #readSet: (Copy | null)[] = [null];
  #turn = 0;
  #primaryReads = 0;
  #writes = 0;
  readonly #queue: Task[] = [];
  #busy = false;
  #closed = false;
  /** Writes queued or running per session: a read of such a session waits its turn. */
  readonly #pending = new Map<Session, number>();
  readonly #hidden: HiddenKeys;
  /** Copy names in use by the live stages of this router. */
  readonly #claimed: Set<string>;
  /** What DBSIZE leaves out: every copy, then (after close) those whose DEL failed. */
  #hiddenNames: readonly Buffer[];

  constructor(
    policy: KeyPolicy,
    key: Buffer,
    next: KeyHandler,
    ctx: MitigationContext,
    retryMs: number,
    maxProbes: number,
  ) {
    this.#key = Buffer.from(key);
    this.#next = next;
    this.#ctx = ctx;
    this.#retryMs = retryMs;
    this.#wanted = Math.max(0, Math.floor(policy.replicas?.count ?? 0));
    for (const name of this.#placeCopies(maxProbes))
      this.#copies.push({
        name,
        state: 'building',
        reads: 0,
        repairs: 0,
        lastFailure: null,
        retry: undefined,
      });
    this.#claimed = claimedNames(ctx.router);
    for (const copy of this.#copies) this.#claimed.add(copy.name.toString('latin1'));
    this.#hiddenNames = this.#copies.map((c) => c.name);
    this.#hidden = () =>
      this.#closed
        ? this.#hiddenNames.filter((n) => !this.#claimed.has(n.toString('latin1')))
        : this.#hiddenNames;
    ctx.router.hiddenKeys.add(this.#hidden);
    for (const copy of this.#copies) this.#recopy(copy);
  }

  run(req: KeyRequest, done: ReplyCallback): void {
    if (req.spec.write) {
      this.#pending.set(req.session, (this.#pending.get(req.session) ?? 0) + 1);
      this.#enqueue((finish) => this.#write(req, done, finish));
    } else if (this.#pending.has(req.session)) {
      this.#enqueue((finish) => {
        this.#read(req, done);
        finish();
      });
    } else this.#read(req, done);
  }

  status(): Record<string, unknown> {
    const table = this.#ctx.router.table;
    return {
      wanted: this.#wanted,
      primary: { node: this.#nodeOf(this.#key), reads: this.#primaryReads },
      copies: this.#copies.map((c) => ({
        name: c.name.toString('latin1'),
        node: table.shards[table.indexFor(c.name)]!.node,
        state: c.state,
        reads: c.reads,
        repairs: c.repairs,
        lastFailure: c.lastFailure,
      })),
      writes: this.#writes,
      queued: this.#queue.length,
    };
  }

  close(): Promise<void> {
    // Reads go to the key alone from now on; the queue drains, then the copies go.
    this.#closed = true;
    this.#setChanged();
    return new Promise((resolve) => {
      this.#enqueue((finish) => {
        for (const copy of this.#copies) {
          clearTimeout(copy.retry);
          this.#claimed.delete(copy.name.toString('latin1'));
        }
        this.#sweep(
          this.#copies.map((c) => c.name),
          () => {
            finish();
            resolve();
          },
        );
      });
    });
  }

  /**
   * Deletes the copies through the data path, so a read already on its way to
   * a copy is answered before the copy goes. `first` is told after the first
   * round; a copy whose node failed stays hidden from DBSIZE and is deleted
   * again every retryMs until its node takes the DEL.
   */
  #sweep(names: readonly Buffer[], first?: () => void, waitMs = this.#retryMs): void {
    // A later stage of the key has the same copy names: those are its own now.
    const mine = names.filter((n) => !this.#claimed.has(n.toString('latin1')));
    const failed: Buffer[] = [];
    let left = mine.length + 1;
    const deleted = (name: Buffer | null, reply: Reply): void => {
      if (name !== null && isErrorReply(reply)) failed.push(name);
      if (--left !== 0) return;
      this.#hiddenNames = failed;
      if (failed.length === 0) this.#ctx.router.hiddenKeys.delete(this.#hidden);
      else {
        const next = Math.min(waitMs * 2, this.#retryMs * 64);
        setTimeout(() => this.#sweep(failed, undefined, next), waitMs).unref?.();
      }
      first?.();
    };
    for (const name of mine)
      this.#backendOf(name).send(makeCommand('del', name), (reply) => deleted(name, reply));
    deleted(null, null);
  }

  // Copy names, one per node other than the key's; fewer when there are not enough nodes.
  #placeCopies(maxProbes: number): Buffer[] {
    const used = new Set<NodeId>([this.#nodeOf(this.#key)]);
    const names: Buffer[] = [];
    const nodes = new Set(this.#ctx.router.table.shards.map((s) => s.node)).size;
    for (let probe = 0; names.length < this.#wanted && used.size < nodes && probe < maxProbes; probe++) {
      const name = copyName(this.#key, probe);
      const node = this.#nodeOf(name);
      if (used.has(node)) continue;
      used.add(node);
      names.push(name);
    }
    return names;
  }

  #nodeOf(name: Buffer): NodeId {
    const table = this.#ctx.router.table;
    return table.shards[table.indexFor(name)]!.node;
  }

  #backendOf(name: Buffer): ShardBackend {
    return this.#ctx.router.backends.get(this.#nodeOf(name))!;
  }

  #enqueue(task: Task): void {
    this.#queue.push(task);
    this.#pump();
  }

  #pump(): void {
    while (!this.#busy && this.#queue.length > 0) {
      const task = this.#queue.shift()!;
      this.#busy = true;
      let sync = true;
      let finishedSync = false;
      task(() => {
        this.#busy = false;
        if (sync) finishedSync = true;
        else this.#pump();
      });
      sync = false;
      if (!finishedSync) return;
    }
  }

  #read(req: KeyRequest, done: ReplyCallback): void {
    const set = this.#readSet;
    const copy = set[this.#turn++ % set.length]!;
    if (copy === null) {
      this.#primaryReads++;
      return this.#next.run(req, done);
    }
    copy.reads++;
    req.forward(rename(req.cmd, req.spec.firstKey, copy.name), (reply) => {
      if (!routerFailure(reply)) return done(reply);
      // The key answers instead (it is never older). A failed read says nothing
      // of the copy's value (an overloaded node refuses without reading), so
      // the copy stays in the set unless its node is down.
      if (this.#backendOf(copy.name).status !== 'up') this.#leave(copy, reply);
      this.#primaryReads++;
      this.#next.run(req, done);
    });
  }

  #write(req: KeyRequest, done: ReplyCallback, finish: () => void): void {
    this.#writes++;
    this.#next.run(req, (primary) => {
      const answer = (): void => {
        const left = (this.#pending.get(req.session) ?? 1) - 1;
        if (left === 0) this.#pending.delete(req.session);
        else this.#pending.set(req.session, left);
        // Answered before the next task starts: nothing runs on the key between the write and its answer.
        done(primary);
        finish();
      };
      // Taken now: a copy may have left the set while the key was writing.
      const targets = this.#copies.filter((c) => c.state === 'in-set');
      if (targets.length === 0 || refused(primary)) return answer();
      if (routerFailure(primary)) {
        // Whether the key took the write is unknown: every copy is re-copied from it.
        for (const copy of targets) this.#leave(copy, primary);
        return answer();
      }
      const want = plain(primary);
      let left = targets.length;
      for (const copy of targets) {
        req.forward(rename(req.cmd, req.spec.firstKey, copy.name), (reply) => {
          if (!same(plain(reply), want)) this.#leave(copy, reply);
          if (--left === 0) answer();
        });
      }
    });
  }

  /** Takes a copy out of the read set and starts its repair. */
  #leave(copy: Copy, why: Reply): void {
    if (copy.state !== 'in-set') return;
    copy.state = 'repairing';
    copy.lastFailure = why instanceof ReplyError ? why.message : `reply differed from the key's`;
    this.#setChanged();
    this.#recopy(copy);
  }

  /**
   * Makes `copy` the key's value again, then lets it join the read set. First
   * the copy is deleted through the data path, outside the key's queue (no
   * write or read of the key goes to a copy outside the set): it comes after
   * any read still on its way to the copy, and a node that does not answer
   * holds up this copy alone, not the key's writes. Then, in the queue, so no
   * write of the key runs in between, the key is dumped and restored onto it.
   */
  #recopy(copy: Copy): void {
    if (this.#closed) return;
    const target = this.#backendOf(copy.name);
    if (target.status !== 'up') return this.#retry(copy, `node ${target.node} is down`);
    target.send(makeCommand('del', copy.name), (cleared) => {
      if (isErrorReply(cleared)) return this.#retry(copy, describe(cleared));
      this.#enqueue((finish) => {
        if (this.#closed) return finish();
        const restore = async (): Promise<void> => {
          const dump: KeyDump | null = await this.#backendOf(this.#key).dump(this.#key);
          // A write that reached the copy after its DEL (a timed-out one, late) makes this refuse: tried again.
          if (dump !== null && !(await this.#backendOf(copy.name).restoreIfAbsent(copy.name, dump)))
            throw new Error('the copy was written while it was being repaired');
        };
        restore().then(
          () => {
            if (copy.state === 'repairing') copy.repairs++;
            copy.state = 'in-set';
            this.#setChanged();
            finish();
          },
          (err: unknown) => {
            finish();
            this.#retry(copy, (err as Error).message);
          },
        );
      });
    });
  }

  #retry(copy: Copy, why: string): void {
    copy.state = 'repairing';
    copy.lastFailure = why;
    if (this.#closed || copy.retry !== undefined) return;
    copy.retry = setTimeout(() => {
      copy.retry = undefined;
      this.#recopy(copy);
    }, this.#retryMs);
    copy.retry.unref?.();
  }

  #setChanged(): void {
    this.#readSet = this.#closed ? [null] : [null, ...this.#copies.filter((c) => c.state === 'in-set')];
  }
}

/** The command with its key replaced by a copy's name. */
function rename(cmd: Command, at: number, name: Buffer): Command {
  const args = cmd.args.slice();
  args[at] = name;
  return { name: cmd.name, args, frame: undefined };
}

/** Codes that say the node did not give its answer to the command, not what the command does. */
const NO_ANSWER: ReadonlySet<string | undefined> = new Set([
  ErrorCode.ShardUnavailable,
  ErrorCode.BackendTimeout,
  ErrorCode.ShuttingDown,
  ErrorCode.NodeOverloaded,
  ErrorCode.Throttled,
  ErrorCode.Backend,
  ErrorCode.Internal,
]);

/**
 * An error hotshard raised because a node could not answer (down, stalled,
 * shutting down, overloaded), as opposed to the node's answer to the command
 * (WRONGTYPE and the like, which the key and its copies give alike).
 */
function routerFailure(reply: Reply): boolean {
  return reply instanceof ReplyError && NO_ANSWER.has(reply.code);
}

/**
 * The command was refused without running (over capacity, throttled): the
 * key is unchanged, so the copies are too, with nothing sent to them.
 */
function refused(reply: Reply): boolean {
  return reply instanceof ReplyError && isShedCode(reply.code);
}

function describe(reply: Reply): string {
  const r = plain(reply);
  return r instanceof ReplyError ? r.message : 'unexpected reply';
}

/** A reply as a value to compare: raw Redis bytes decoded. */
function plain(reply: Reply): Reply {
  return reply instanceof RawReply ? decodeReply(reply.bytes) : reply;
}

function same(a: Reply, b: Reply): boolean {
  if (a === b) return true;
  if (Buffer.isBuffer(a) || Buffer.isBuffer(b))
    return Buffer.isBuffer(a) && Buffer.isBuffer(b) && a.equals(b);
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x: Reply, i) => same(x, (b as readonly Reply[])[i]!));
  }
  if (typeof a === 'object' && typeof b === 'object' && a !== null && b !== null)
    return a.constructor === b.constructor && JSON.stringify(a) === JSON.stringify(b);
  return false;
}
