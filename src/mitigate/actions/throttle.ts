/**
 * The throttle remedy: a token bucket on one key (policy `throttle:
 * {opsPerSec, burst}`), the first stage of the key's chain. Past the limit a
 * request is answered at once with
 * `-BUSY HS_ERR_THROTTLED retry-after-ms=<n> scope=key ...` (HTTP 429) and
 * costs nothing further; under it, the request goes on to the next stage.
 * Every command on the key counts, reads and writes alike: the limit is on
 * the load the key puts on its node.
 *
 * A policy change rebuilds the key's chain, but the key's bucket outlives
 * the rebuild: tightening the limit of a key being flooded must not hand the
 * flood a fresh burst. A closed bucket is kept only until it would have
 * refilled anyway (after that a new, full bucket is the same thing), so the
 * remedy holds state only for keys throttled recently.
 */
import type { ReplyCallback } from '../../backend/backend.js';
import type { Clock } from '../../clock.js';
import { throttledError, type Reply } from '../../protocol/reply.js';
import type { KeyHandler, KeyRequest } from '../../router/key-policies.js';
import type { KeyPolicy, Remedy, RemedyStage } from '../policy.js';
import { TokenBucket } from '../token-bucket.js';

/** A closed key's bucket, kept until it is full again. */
interface Parked {
  readonly bucket: TokenBucket;
  /** When it will be full, on the clock it runs on. */
  readonly fullAt: number;
}

class ThrottleStage implements RemedyStage {
  admitted = 0;
  throttled = 0;

  constructor(
    readonly bucket: TokenBucket,
    readonly next: KeyHandler,
    /** Hands the bucket back to the remedy, to outlive a rebuild. */
    readonly park: (bucket: TokenBucket) => void,
  ) {}

  run(req: KeyRequest, done: ReplyCallback): void {
    const wait = this.bucket.take();
    if (wait === 0) {
      this.admitted++;
      return this.next.run(req, done);
    }
    this.throttled++;
    done(this.#refused(wait));
  }

  charge(): void {
    if (this.bucket.take() === 0) this.admitted++;
    else this.throttled++;
  }

  refusal(): Reply | undefined {
    const wait = this.bucket.wait();
    if (wait === 0) return undefined;
    this.throttled++;
    return this.#refused(wait);
  }

  #refused(wait: number): Reply {
    const { opsPerSec, burst } = this.bucket.limit;
    // The key is not named: it may be binary, and the client knows which key it sent.
    return throttledError(wait, 'key', `this key is limited to ${opsPerSec} ops/s (burst ${burst})`);
  }

  status(): Record<string, unknown> {
    const { opsPerSec, burst } = this.bucket.limit;
    return {
      opsPerSec,
      burst,
      tokens: this.bucket.tokens(),
      admitted: this.admitted,
      throttled: this.throttled,
    };
  }

  close(): Promise<void> {
    this.park(this.bucket);
    return Promise.resolve();
  }
}

/**
 * The throttle remedy for one router (one per PolicyManager: it keeps the
 * buckets of recently closed keys).
 *
 * @example
 * const policies = new PolicyManager({ router, clock }, [throttleRemedy(), ...]);
 * await policies.set(key, { consistency: 'bounded', throttle: { opsPerSec: 500, burst: 50 } });
 */
export function throttleRemedy(): Remedy<'throttle'> {
  const parked = new Map<string, Parked>();
  const prune = (clock: Clock): void => {
    const now = clock.now();
    for (const [name, p] of parked) if (p.fullAt <= now) parked.delete(name);
  };
  return {
    name: 'throttle',
    build(policy: KeyPolicy, key: Buffer, next: KeyHandler, ctx): RemedyStage {
      const limit = policy.throttle!;
      const name = key.toString('latin1');
      prune(ctx.clock);
      let bucket = parked.get(name)?.bucket;
      parked.delete(name);
      if (bucket === undefined) bucket = new TokenBucket(limit, ctx.clock);
      else bucket.configure(limit);
      return new ThrottleStage(bucket, next, (closed) => {
        const { opsPerSec, burst } = closed.limit;
        const missing = burst - closed.tokens();
        if (missing > 0)
          parked.set(name, {
            bucket: closed,
            fullAt: ctx.clock.now() + Math.ceil((missing * 1000) / opsPerSec),
          });
        prune(ctx.clock);
      });
    },
  };
}
