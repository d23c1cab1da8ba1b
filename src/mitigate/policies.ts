/**
 * The policy manager: sets, replaces and removes key policies, building each
 * key's chain of remedy stages and installing it in the router's key-policy
 * table.
 *
 * A change never lets a request overtake the old chain's clean-up: while the
 * old stages close (a batch flushing, salted sub-keys folding back, copies
 * being removed), the key's requests are held in order and then run through
 * the new chain (or the plain route). Changes to one key are applied one at a
 * time, in the order they were asked for.
 */
import type { ReplyCallback } from '../backend/backend.js';
import { ErrorCode } from '../errors.js';
import { hsError } from '../protocol/reply.js';
import type { KeyHandler, KeyRequest } from '../router/key-policies.js';
import {
  REMEDY_ORDER,
  type KeyPolicy,
  type MitigationContext,
  type Remedy,
  type RemedyName,
  type RemedyStage,
} from './policy.js';

/** The plain route as the last stage of every chain. */
const PLAIN: KeyHandler = { run: (req, done) => req.forward(req.cmd, done) };

/** One key's installed chain. */
interface Chain {
  readonly policy: KeyPolicy;
  /** Stages in REMEDY_ORDER; the first is the key's handler. */
  readonly stages: readonly { readonly name: RemedyName; readonly stage: RemedyStage }[];
  readonly handler: KeyHandler;
  readonly since: number;
}

/** A key policy as GET /policies shows it. */
export interface PolicyView {
  readonly key: Buffer;
  readonly policy: KeyPolicy;
  /** When it was set, ms since the epoch. */
  readonly since: number;
  /** Each active remedy's status. */
  readonly status: Readonly<Record<string, Record<string, unknown>>>;
}

/** Holds a key's requests, in order, while its chain changes. */
class Holding implements KeyHandler {
  readonly queue: { req: KeyRequest; done: ReplyCallback }[] = [];
  run(req: KeyRequest, done: ReplyCallback): void {
    this.queue.push({ req, done });
  }
}

/** Turns policies into stages and keeps the router's key-policy table in step. */
export class PolicyManager {
  readonly #ctx: MitigationContext;
  readonly #remedies: ReadonlyMap<RemedyName, Remedy>;
  /** Remedies not offered here, with why (remedies.ts PER_ROUTER_REMEDIES on a shared store). */
  readonly #withheld: ReadonlyMap<RemedyName, string>;
  readonly #chains = new Map<string, Chain>();
  /** The change in progress per key; the next one waits for it. */
  readonly #changing = new Map<string, Promise<void>>();

  constructor(
    ctx: MitigationContext,
    remedies: readonly Remedy[],
    withheld: ReadonlyMap<RemedyName, string> = new Map(),
  ) {
    this.#ctx = ctx;
    this.#remedies = new Map(remedies.filter((r) => !withheld.has(r.name)).map((r) => [r.name, r]));
    this.#withheld = withheld;
  }

  /** Why a remedy this process has is not offered here; undefined when it is, or when there is no such remedy. */
  withheld(name: RemedyName): string | undefined {
    return this.#withheld.get(name);
  }

  /** Called with each key's policy once it is in force (undefined: removed); the config store keeps them. */
  readonly onChange = new Set<(key: Buffer, policy: KeyPolicy | undefined) => void>();

  /** Remedies this manager can build (a policy naming another is refused). */
  get remedies(): readonly RemedyName[] {
    return REMEDY_ORDER.filter((n) => this.#remedies.has(n));
  }

  /** Set by clear(): no policy is set after it. */
  #closing = false;

  /** Sets (or replaces) `key`'s policy; resolves once the new chain serves the key. */
  set(key: Buffer, policy: KeyPolicy): Promise<void> {
    if (this.#closing) return Promise.reject(new Error('hotshard is shutting down: no policy is set now'));
    for (const name of REMEDY_ORDER)
      if (policy[name] !== undefined && !this.#remedies.has(name))
        return Promise.reject(
          new Error(
            `remedy '${name}' is not available${this.#withheld.has(name) ? `: ${this.#withheld.get(name)}` : ''}`,
          ),
        );
    return this.#change(key, policy);
  }

  /** Removes `key`'s policy, leaving a plain key; false when it had none. */
  async delete(key: Buffer): Promise<boolean> {
    await this.#changing.get(key.toString('latin1'));
    if (!this.#chains.has(key.toString('latin1'))) return false;
    await this.#change(key, undefined);
    return true;
  }

  /** The policy of `key`, if any. */
  get(key: Buffer): PolicyView | undefined {
    const chain = this.#chains.get(key.toString('latin1'));
    return chain === undefined ? undefined : view(key, chain);
  }

  /** Every key's policy. */
  list(): PolicyView[] {
    return [...this.#chains].map(([name, chain]) => view(Buffer.from(name, 'latin1'), chain));
  }

  /**
   * Removes every policy (shutdown): batches flushed, sub-keys folded, copies
   * removed. Changes already under way finish first, and later ones are
   * refused, so none lands after it (a replica copy nobody knows to hide).
   */
  async clear(): Promise<void> {
    this.#closing = true;
    while (this.#changing.size > 0) await Promise.all([...this.#changing.values()]);
    await Promise.all(
      [...this.#chains.keys()].map((name) => this.#change(Buffer.from(name, 'latin1'), undefined)),
    );
  }

  #change(key: Buffer, policy: KeyPolicy | undefined): Promise<void> {
    const name = key.toString('latin1');
    const before = this.#changing.get(name) ?? Promise.resolve();
    const change = before.then(() => this.#apply(key, name, policy));
    const settled = change.catch(() => {});
    this.#changing.set(name, settled);
    void settled.then(() => {
      if (this.#changing.get(name) === settled) this.#changing.delete(name);
    });
    return change;
  }

  async #apply(key: Buffer, name: string, policy: KeyPolicy | undefined): Promise<void> {
    const table = this.#ctx.router.policies;
    const old = this.#chains.get(name);
    let failure: unknown;
    let holding: Holding | undefined;
    if (old !== undefined) {
      // Requests that arrive while the old stages close wait here, in order.
      holding = new Holding();
      table.set(key, old.policy, holding);
      for (const { stage } of old.stages) {
        try {
          await stage.close();
        } catch (err) {
          failure ??= err;
        }
      }
      this.#chains.delete(name);
    }
    let next: Chain | undefined;
    try {
      if (policy !== undefined) next = this.#build(key, policy);
    } catch (err) {
      failure ??= err;
    }
    if (next === undefined) table.delete(key);
    else {
      this.#chains.set(name, next);
      table.set(key, policy, next.handler);
    }
    for (const listener of this.onChange) {
      try {
        listener(key, next?.policy);
      } catch {
        // a listener's failure is its own to report; the key's held requests must still run
      }
    }
    const target = next?.handler ?? PLAIN;
    for (const held of holding?.queue ?? []) {
      try {
        target.run(held.req, held.done);
      } catch (err) {
        held.done(hsError(ErrorCode.Internal, `the policy of this key failed: ${(err as Error).message}`));
      }
    }
    if (failure !== undefined)
      throw failure instanceof Error
        ? failure
        : new Error(`policy change failed: ${JSON.stringify(failure)}`);
  }

  #build(key: Buffer, policy: KeyPolicy): Chain {
    const names = REMEDY_ORDER.filter((n) => policy[n] !== undefined);
    const stages: { name: RemedyName; stage: RemedyStage }[] = [];
    let next: KeyHandler = PLAIN;
    // Built from the last stage to the first, each handed the one after it.
    for (let i = names.length - 1; i >= 0; i--) {
      const n = names[i]!;
      const stage = this.#remedies.get(n)!.build(policy, key, next, this.#ctx);
      stages.unshift({ name: n, stage });
      next = stage;
    }
    return { policy, stages, handler: next, since: this.#ctx.clock.now() };
  }
}

function view(key: Buffer, chain: Chain): PolicyView {
  return {
    key,
    policy: chain.policy,
    since: chain.since,
    status: Object.fromEntries(chain.stages.map(({ name, stage }) => [name, stage.status()])),
  };
}
