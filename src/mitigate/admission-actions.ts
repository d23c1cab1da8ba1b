/**
 * The action kinds of admission, over the router's admission stage
 * (`router.admission`, src/router/admission.ts):
 *
 *   quota-tenant  a noisy tenant held to a quota   (subject: tenant)
 *   shed          a saturated node refuses tenants below a priority (subject: node)
 *
 * Reverting restores what was in force before the first action on the
 * subject (a tenant's configured quota, say), not nothing: the planner's
 * quota must not outlive it, nor wipe out the operator's.
 *
 * Wire with `admissionActions(router.admission)` beside `keyPolicyActions`.
 */
import { z } from 'zod';
import { nodeId, type NodeId } from '../keyspace/ids.js';
import type { ActionKindHandler, ActionSubject } from './action.js';

/** A limit in force. */
export interface LimitInForce {
  readonly opsPerSec: number;
  readonly burst: number;
}

/** What these actions need of the admission stage. */
export interface AdmissionControls {
  setTenantQuota(tenant: string, limit: { opsPerSec: number; burst?: number | undefined } | null): void;
  tenantQuota(tenant: string): LimitInForce | undefined;
  setShedding(node: NodeId, belowPriority: number | null): void;
  shedding(node: NodeId): number | undefined;
}

const quotaSettings = z
  .object({ opsPerSec: z.number().positive(), burst: z.number().int().positive().optional() })
  .strict();
const shedSettings = z.object({ belowPriority: z.number().int().min(1) }).strict();

function parse<T>(schema: z.ZodType<T>, kind: string, settings: unknown): T {
  const result = schema.safeParse(settings);
  if (result.success) return result.data;
  const issues = result.error.issues.map((i) => `${i.path.join('.') || '(settings)'}: ${i.message}`);
  throw new Error(`bad settings for ${kind}: ${issues.join('; ')}`);
}

function expect(kind: string, subject: ActionSubject, type: ActionSubject['type']): string {
  if (subject.type !== type) throw new Error(`${kind} acts on a ${type}, not on a ${subject.type}`);
  return subject.name;
}

/** Runs a synchronous change as the handler contract wants it: a rejection, never a throw. */
function settle(change: () => void): Promise<void> {
  try {
    change();
    return Promise.resolve();
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}

/** The quota-tenant and shed action kinds over `admission`. */
export function admissionActions(admission: AdmissionControls): ActionKindHandler[] {
  // What was in force before the first action on each subject, restored by the revert.
  const quotaBefore = new Map<string, LimitInForce | undefined>();
  const shedBefore = new Map<string, number | undefined>();
  return [
    {
      kind: 'quota-tenant',
      apply: (subject, settings) =>
        settle(() => {
          const tenant = expect('quota-tenant', subject, 'tenant');
          const limit = parse(quotaSettings, 'quota-tenant', settings);
          if (!quotaBefore.has(tenant)) quotaBefore.set(tenant, admission.tenantQuota(tenant));
          admission.setTenantQuota(tenant, limit);
        }),
      revert: (subject) =>
        settle(() => {
          const tenant = expect('quota-tenant', subject, 'tenant');
          if (!quotaBefore.has(tenant)) return;
          admission.setTenantQuota(tenant, quotaBefore.get(tenant) ?? null);
          quotaBefore.delete(tenant);
        }),
      status(subject) {
        const quota = admission.tenantQuota(subject.name);
        return quota === undefined ? null : { ...quota };
      },
    },
    {
      kind: 'shed',
      apply: (subject, settings) =>
        settle(() => {
          const node = nodeId(expect('shed', subject, 'node'));
          const { belowPriority } = parse(shedSettings, 'shed', settings);
          if (!shedBefore.has(node)) shedBefore.set(node, admission.shedding(node));
          admission.setShedding(node, belowPriority);
        }),
      revert: (subject) =>
        settle(() => {
          const node = nodeId(expect('shed', subject, 'node'));
          if (!shedBefore.has(node)) return;
          admission.setShedding(node, shedBefore.get(node) ?? null);
          shedBefore.delete(node);
        }),
      status(subject) {
        const level = admission.shedding(nodeId(subject.name));
        return level === undefined ? null : { belowPriority: level };
      },
    },
  ];
}
