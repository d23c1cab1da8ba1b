/**
 * A client's own connection to an embedded node: what a Redis connection
 * keeps per client for WATCH and MULTI, kept here for one router session.
 *
 * EXEC runs the queued commands as one step of the node (one turn of its
 * capacity queue, synchronously), so nothing else lands inside the block.
 * WATCH is a version per key: the node's keyspace tells a watcher of every
 * change as it is made (the hook a live move's write watch uses), and any
 * change to a watched key after WATCH marks the transaction dirty, so EXEC
 * answers nil as Redis does. As Redis 7, a watched key that existed at WATCH
 * and has expired by EXEC counts as changed.
 */
import { ErrorCode } from '../errors.js';
import type { Command } from '../protocol/command.js';
import { OK, QUEUED, ReplyError, hsError, type Reply } from '../protocol/reply.js';
import type { DedicatedConnection, DedicatedPurpose, ReplyCallback } from './backend.js';
import {
  memoryCommandNames,
  notServedError,
  runCommand,
  type KeyWatcher,
  type Keyspace,
} from './memory-commands.js';

/** What a dedicated connection needs of its MemoryBackend. */
export interface MemoryDedicatedHost {
  readonly keyspace: Keyspace;
  /** Runs `op` as one command of the node, in its queue order (`ks.now` is set first). */
  submit(op: () => Reply, done: ReplyCallback): void;
  /** Runs a plain data command, as `send` does. */
  send(cmd: Command, done: ReplyCallback): void;
  /** This connection is closed. */
  release(conn: MemoryDedicated): void;
}

const CLOSED = hsError(ErrorCode.ShardUnavailable, 'dedicated connection closed');

/** One session's WATCH and MULTI state on an embedded node. */
export class MemoryDedicated implements DedicatedConnection, KeyWatcher {
  readonly purpose: DedicatedPurpose;
  readonly #host: MemoryDedicatedHost;
  #open = true;
  /** Watched keys, and whether each was live at WATCH (an expiry since then is a change). */
  readonly #watched = new Map<string, boolean>();
  #dirty = false;
  #queued: Command[] | null = null;
  /** A command failed to queue: EXEC aborts, as Redis's EXECABORT. */
  #queueFailed = false;

  constructor(host: MemoryDedicatedHost, purpose: DedicatedPurpose) {
    this.#host = host;
    this.purpose = purpose;
  }

  get open(): boolean {
    return this.#open;
  }

  /** The keyspace tells of a change (null: every key, a flush). */
  written(key: string | null): void {
    if (key === null || this.#watched.has(key)) this.#dirty = true;
  }

  send(cmd: Command, done: ReplyCallback): void {
    if (!this.#open) return done(CLOSED);
    switch (cmd.name) {
      case 'watch':
        if (this.#queued !== null) return done(new ReplyError('ERR WATCH inside MULTI is not allowed'));
        return this.#host.submit(() => this.#watch(cmd.args), done);
      case 'unwatch':
        this.#unwatch();
        return done(OK);
      case 'multi':
        if (this.#queued !== null) return done(new ReplyError('ERR MULTI calls can not be nested'));
        this.#queued = [];
        this.#queueFailed = false;
        return done(OK);
      case 'discard':
        if (this.#queued === null) return done(new ReplyError('ERR DISCARD without MULTI'));
        this.#queued = null;
        this.#unwatch();
        return done(OK);
      case 'exec': {
        const queued = this.#queued;
        if (queued === null) return done(new ReplyError('ERR EXEC without MULTI'));
        this.#queued = null;
        if (this.#queueFailed) {
          this.#unwatch();
          return done(new ReplyError('EXECABORT Transaction discarded because of previous errors.'));
        }
        return this.#host.submit(() => this.#exec(queued), done);
      }
      default:
        if (this.#queued === null) return this.#host.send(cmd, done);
        if (!memoryCommandNames.has(cmd.name)) {
          this.#queueFailed = true;
          return done(notServedError(cmd.name, cmd.args));
        }
        this.#queued.push({ name: cmd.name, args: cmd.args.map((a) => Buffer.from(a)), frame: undefined });
        return done(QUEUED);
    }
  }

  close(): void {
    if (!this.#open) return;
    this.#open = false;
    this.#queued = null;
    this.#unwatch();
    this.#host.release(this);
  }

  #watch(args: readonly Buffer[]): Reply {
    const ks = this.#host.keyspace;
    if (this.#watched.size === 0) ks.watch(this);
    for (let i = 1; i < args.length; i++) {
      const name = args[i]!.toString('latin1');
      if (!this.#watched.has(name)) this.#watched.set(name, ks.get(name) !== undefined);
    }
    return OK;
  }

  #exec(queued: readonly Command[]): Reply {
    const ks = this.#host.keyspace;
    // A key live at WATCH and gone now expired meanwhile; the lazy expiry tells this watcher.
    for (const [name, live] of this.#watched) if (live) ks.get(name);
    const dirty = this.#dirty;
    this.#unwatch();
    if (dirty) return null;
    return queued.map((c) => runCommand(ks, c.name, c.args));
  }

  #unwatch(): void {
    if (this.#watched.size !== 0) this.#host.keyspace.unwatch(this);
    this.#watched.clear();
    this.#dirty = false;
  }
}
