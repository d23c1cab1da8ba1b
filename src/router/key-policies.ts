/**
 * The key-policy stage of the request pipeline: the few hot keys that have a
 * policy (cache, replicate, aggregate, salt, throttle) are served by that
 * policy's handler instead of the plain route. Every keyed command consults
 * it, and each key of a multi-key command is looked up on its own.
 *
 * Most requests have no policy, so the miss is what must be cheap: a 64 Kbit
 * filter indexed by a hash of the key's bytes answers almost every miss
 * without building the key's string. Only a key whose bit is set (a policy's
 * key, or ~1.5 % of others with 1,000 policies) pays the map lookup.
 *
 * The table is versioned like the routing table: every change bumps
 * `version`, so routers sharing a control plane can follow it by version.
 */
import type { ReplyCallback } from '../backend/backend.js';
import { ErrorCode } from '../errors.js';
import type { Command } from '../protocol/command.js';
import { hsError, type Reply } from '../protocol/reply.js';
import type { CommandSpec } from './command-table.js';
import type { Session } from './session.js';

/** Sends a command along the plain route: the node that owns its key in the routing table in force. */
export type Forward = (cmd: Command, done: ReplyCallback) => void;

/** One single-key command for a key that has a policy. */
export interface KeyRequest {
  readonly session: Session;
  readonly spec: CommandSpec;
  /** A single-key command; a multi-key command reaches a handler as one such command per policy key. */
  readonly cmd: Command;
  /** The key, `cmd.args[spec.firstKey]`. */
  readonly key: Buffer;
  /** The plain route, for what the handler does not serve itself. */
  readonly forward: Forward;
}

/** What a policy does with the commands for its key. */
export interface KeyHandler {
  /** Serves one command; `done` is called exactly once, possibly synchronously, never with a throw. */
  run(req: KeyRequest, done: ReplyCallback): void;
  /**
   * The refusal `run` would answer at once (a throttle out of tokens), taking
   * nothing; undefined when it would go ahead. A multi-key command asks every
   * key's policy first, so it is refused whole or not at all, as from Redis.
   */
  refusal?(): Reply | undefined;
  /**
   * Takes what `run` would take (a throttle's token) for a command the node
   * runs whole (a script, a transaction's block), once `refusal` said it may go.
   */
  charge?(): void;
  /**
   * A write to the key was acknowledged on a path that did not go through
   * `run` (a transaction or a script the node ran whole): drop whatever the
   * handler keeps of the key's value, before the reply reaches the client, as
   * `run` does for a write it serves.
   */
  wrote?(): void;
  /**
   * Calls `go` once the session's reads of the key that could be overtaken by
   * a write it sends now (reads answered over another connection) are
   * answered; at once when there are none.
   */
  afterReads?(session: Session, go: () => void): void;
}

/** A key's policy as the table holds it. */
export interface KeyPolicyEntry<P = unknown> {
  readonly key: Buffer;
  /** What the policy says, as set (shown by GET /policies). */
  readonly policy: P;
  readonly handler: KeyHandler;
  /** The table version that installed it. */
  readonly version: number;
}

const FILTER_BITS = 1 << 16;

// FNV-1a over the key's bytes, folded to the filter's 16 bits. A key's bytes
// are short; this reads each once and allocates nothing.
function filterIndex(key: Buffer): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key[i]!, 0x01000193);
  return (h ^ (h >>> 16)) & (FILTER_BITS - 1);
}

function sameBytes(a: Buffer, b: Buffer): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Per-key overrides of the plain route, versioned. */
export class KeyPolicyTable<P = unknown> {
  readonly #entries = new Map<string, KeyPolicyEntry<P>>();
  // How many policy keys set each filter bit, so a delete clears a bit only when its last key goes.
  readonly #filter = new Uint16Array(FILTER_BITS);
  #version = 0;
  // The entry found last: a hot key's requests find it by comparing bytes,
  // without a string made and hashed per request for the map.
  #last: KeyPolicyEntry<P> | undefined;

  /** Bumped by every set and delete. */
  get version(): number {
    return this.#version;
  }

  /** Number of keys with a policy. */
  get size(): number {
    return this.#entries.size;
  }

  /** The policy of `key`, if it has one. */
  get(key: Buffer): KeyPolicyEntry<P> | undefined {
    if (this.#filter[filterIndex(key)] === 0) return undefined;
    const last = this.#last;
    if (last !== undefined && sameBytes(last.key, key)) return last;
    const entry = this.#entries.get(key.toString('latin1'));
    if (entry !== undefined) this.#last = entry;
    return entry;
  }

  /** Gives `key` a policy, replacing the one it had; returns the entry. */
  set(key: Buffer, policy: P, handler: KeyHandler): KeyPolicyEntry<P> {
    const name = key.toString('latin1');
    if (!this.#entries.has(name)) this.#filter[filterIndex(key)]!++;
    const entry: KeyPolicyEntry<P> = { key: Buffer.from(key), policy, handler, version: ++this.#version };
    this.#entries.set(name, entry);
    this.#last = undefined;
    return entry;
  }

  /** Removes `key`'s policy; false when it had none. */
  delete(key: Buffer): boolean {
    if (!this.#entries.delete(key.toString('latin1'))) return false;
    this.#last = undefined;
    this.#filter[filterIndex(key)]!--;
    this.#version++;
    return true;
  }

  /** Every entry, in the order they were first set. */
  entries(): IterableIterator<KeyPolicyEntry<P>> {
    return this.#entries.values();
  }
}

/** What running a policy needs of the router (an interface: importing router.ts here would be a cycle). */
export interface PolicyHost {
  readonly forward: Forward;
  /** Hears of a handler that threw. */
  onPolicyError(err: unknown, key: Buffer): void;
}

/**
 * Hands one single-key command for a key with a policy to that policy. A
 * handler that throws fails this request with HS_ERR_INTERNAL and is
 * reported; it never takes the router down, and never answers twice.
 */
export function runPolicy(
  host: PolicyHost,
  entry: KeyPolicyEntry,
  session: Session,
  spec: CommandSpec,
  cmd: Command,
  done: ReplyCallback,
): void {
  let answered = false;
  const once: ReplyCallback = (reply) => {
    if (answered) return;
    answered = true;
    done(reply);
  };
  try {
    entry.handler.run({ session, spec, cmd, key: cmd.args[spec.firstKey]!, forward: host.forward }, once);
  } catch (err) {
    host.onPolicyError(err, entry.key);
    once(hsError(ErrorCode.Internal, `the policy of this key failed: ${(err as Error).message}`));
  }
}
