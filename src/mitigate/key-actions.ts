/**
 * The action kinds of the key remedies, over the policy manager. Each kind
 * owns one part of a key's policy: applying merges that part in (keeping the
 * parts other actions put there), reverting takes it out, and a policy left
 * with no remedy is removed so the key goes back to the plain route.
 *
 *   cache        → policy.cache (+ coalesce)
 *   replicate    → policy.replicas, consistency strong
 *   aggregate    → policy.aggregate
 *   salt         → policy.salt
 *   throttle-key → policy.throttle
 *   policy       → the whole policy (an operator's PUT /policies/{key})
 *
 * Settings are checked here, with messages an operator can act on, whoever
 * asked: the planner's settings are no more trusted than an HTTP body.
 */
import { z } from 'zod';
import type { ActionKind, ActionKindHandler, ActionSubject } from './action.js';
import type { PolicyManager } from './policies.js';
import { REMEDY_ORDER, type KeyPolicy, type RemedyName } from './policy.js';

/**
 * The key bytes of a subject name written as `keyText` prints keys
 * (`\\` is a backslash, `\xNN` a byte, anything else itself).
 */
export function keyFromText(text: string): Buffer {
  if (!text.includes('\\')) return Buffer.from(text, 'latin1');
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5c && text[i + 1] === '\\') {
      out.push(0x5c);
      i++;
    } else if (c === 0x5c && text[i + 1] === 'x' && /^[0-9a-fA-F]{2}$/.test(text.slice(i + 2, i + 4))) {
      out.push(parseInt(text.slice(i + 2, i + 4), 16));
      i += 3;
    } else out.push(c & 0xff);
  }
  return Buffer.from(out);
}

const nonNegInt = z.number().int().min(0);
const posInt = z.number().int().positive();

/** Cache settings: the staleness ceiling (default 1,000 ms), stale-while-revalidate, and coalescing (default on). */
const cacheSettings = z
  .object({
    maxStaleMs: nonNegInt.default(1000),
    staleWhileRevalidate: z.boolean().default(false),
    writeThrough: z.boolean().default(true),
    coalesce: z.boolean().default(true),
  })
  .strict();
const replicateSettings = z.object({ count: posInt.default(2) }).strict();
const aggregateSettings = z
  .object({ flushMs: posInt.default(2), mode: z.enum(['sync', 'async']).default('sync') })
  .strict();
const saltSettings = z.object({ buckets: z.number().int().min(2).default(4) }).strict();
const throttleSettings = z
  .object({ opsPerSec: z.number().positive(), burst: posInt.optional() })
  .strict()
  .transform((t) => ({ opsPerSec: t.opsPerSec, burst: t.burst ?? Math.max(1, Math.ceil(t.opsPerSec)) }));

/** A key policy as data: the JSON an operator PUTs (unknown fields refused). */
export const keyPolicySchema = z
  .object({
    consistency: z.enum(['bounded', 'strong']).default('bounded'),
    throttle: z.object({ opsPerSec: z.number().positive(), burst: posInt }).strict().optional(),
    aggregate: z
      .object({ flushMs: posInt, mode: z.enum(['sync', 'async']) })
      .strict()
      .optional(),
    salt: z
      .object({ buckets: z.number().int().min(2) })
      .strict()
      .optional(),
    replicas: z.object({ count: posInt }).strict().optional(),
    cache: z
      .object({
        maxStaleMs: nonNegInt,
        staleWhileRevalidate: z.boolean(),
        writeThrough: z.boolean().optional(),
      })
      .strict()
      .optional(),
    coalesce: z.boolean().optional(),
  })
  .strict();

function parse<T>(schema: z.ZodType<T>, kind: string, settings: unknown): T {
  const result = schema.safeParse(settings);
  if (result.success) return result.data;
  const issues = result.error.issues.map((i) => `${i.path.join('.') || '(settings)'}: ${i.message}`);
  throw new Error(`bad settings for ${kind}: ${issues.join('; ')}`);
}

function keyOf(kind: ActionKind, subject: ActionSubject): Buffer {
  if (subject.type !== 'key') throw new Error(`${kind} acts on keys, not on a ${subject.type}`);
  return keyFromText(subject.name);
}

/** True when the policy asks for at least one remedy. */
export function hasRemedy(policy: KeyPolicy): boolean {
  return REMEDY_ORDER.some((n) => policy[n] !== undefined);
}

/** Sets `policy` on `key`, or removes the key's policy when it asks for no remedy. */
async function install(policies: PolicyManager, key: Buffer, policy: KeyPolicy): Promise<void> {
  if (hasRemedy(policy)) await policies.set(key, policy);
  else await policies.delete(key);
}

/** One part of a key policy as an action kind. */
function partHandler(
  kind: ActionKind,
  remedy: RemedyName,
  policies: PolicyManager,
  merge: (policy: KeyPolicy, settings: unknown) => KeyPolicy,
  remove: (policy: KeyPolicy) => KeyPolicy,
): ActionKindHandler {
  return {
    kind,
    async apply(subject, settings) {
      const key = keyOf(kind, subject);
      const current = policies.get(key)?.policy ?? { consistency: 'bounded' };
      await install(policies, key, merge(current, settings));
    },
    async revert(subject) {
      const key = keyOf(kind, subject);
      const current = policies.get(key)?.policy;
      if (current === undefined) return;
      await install(policies, key, remove(current));
    },
    status(subject) {
      const view = policies.get(keyOf(kind, subject));
      if (view?.policy[remedy] === undefined) return null;
      return { settings: view.policy[remedy], ...view.status[remedy] };
    },
  };
}

function without(policy: KeyPolicy, ...fields: (keyof KeyPolicy)[]): KeyPolicy {
  const copy: Record<string, unknown> = { ...policy };
  for (const f of fields) delete copy[f];
  return copy as unknown as KeyPolicy;
}

/**
 * The action kinds of the key remedies, acting through `policies`: one per
 * remedy the manager can build (so the executor refuses a kind whose remedy
 * this process lacks, before anything is tried), and `policy`.
 */
export function keyPolicyActions(policies: PolicyManager): ActionKindHandler[] {
  const parts: [ActionKind, RemedyName][] = [
    ['cache', 'cache'],
    ['replicate', 'replicas'],
    ['aggregate', 'aggregate'],
    ['salt', 'salt'],
    ['throttle-key', 'throttle'],
  ];
  const available = new Set(
    parts.filter(([, remedy]) => policies.remedies.includes(remedy)).map(([kind]) => kind),
  );
  return all(policies).filter((h) => h.kind === 'policy' || available.has(h.kind));
}

function all(policies: PolicyManager): ActionKindHandler[] {
  return [
    partHandler(
      'cache',
      'cache',
      policies,
      (p, s) => {
        const { coalesce, ...cache } = parse(cacheSettings, 'cache', s);
        return { ...p, cache, coalesce };
      },
      (p) => without(p, 'cache', 'coalesce'),
    ),
    partHandler(
      'replicate',
      'replicas',
      policies,
      (p, s) => ({ ...p, consistency: 'strong', replicas: parse(replicateSettings, 'replicate', s) }),
      (p) => without(p, 'replicas'),
    ),
    partHandler(
      'aggregate',
      'aggregate',
      policies,
      (p, s) => ({ ...p, aggregate: parse(aggregateSettings, 'aggregate', s) }),
      (p) => without(p, 'aggregate'),
    ),
    partHandler(
      'salt',
      'salt',
      policies,
      (p, s) => ({ ...p, salt: parse(saltSettings, 'salt', s) }),
      (p) => without(p, 'salt'),
    ),
    partHandler(
      'throttle-key',
      'throttle',
      policies,
      (p, s) => ({ ...p, throttle: parse(throttleSettings, 'throttle-key', s) }),
      (p) => without(p, 'throttle'),
    ),
    {
      kind: 'policy',
      async apply(subject, settings) {
        const policy = parse(keyPolicySchema, 'policy', settings) as KeyPolicy;
        await install(policies, keyOf('policy', subject), policy);
      },
      async revert(subject) {
        await policies.delete(keyOf('policy', subject));
      },
      status(subject) {
        const view = policies.get(keyOf('policy', subject));
        return view === undefined ? null : { policy: view.policy, status: view.status };
      },
    },
  ];
}
