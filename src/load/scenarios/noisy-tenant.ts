import { commonTargets, type ScenarioDefinition, onsetMs } from './scenario.js';

/** One tenant floods the cluster while three others keep their usual rate. */
export const noisyTenant: ScenarioDefinition = {
  name: 'noisy-tenant',
  description:
    'Four tenants share the cluster at 2,500 req/s each; from the onset tenant "d" sends 10,000 req/s, spread over all shards. Expect a noisy tenant, not a hot key.',
  cluster: { nodes: 4, shards: 16, capacity: 5000, tenant: { keyPrefix: true } },
  timing: { durationSeconds: 30, onsetSecond: 10, endSecond: null },
  workload: (t) => ({
    keys: 50_000,
    ops: { get: 80, set: 20 },
    tenants: [
      { name: 'a', rate: 2500 },
      { name: 'b', rate: 2500 },
      { name: 'c', rate: 2500 },
      {
        name: 'd',
        rate: [
          { fromMs: 0, rate: 2500 },
          { fromMs: onsetMs(t), rate: 10_000 },
        ],
      },
    ],
  }),
  expected: () => ({ kind: 'noisy-tenant', subject: 'd' }),
  // The flooding tenant is throttled with a retry-after: those refusals are the
  // remedy working, so the failure target counts the other failures only.
  targets: commonTargets(5000, 5).map((t) =>
    t.measure === 'failed-percent'
      ? { ...t, name: 'failed requests, throttled ones aside (%)', measure: 'failed-unshed-percent' as const }
      : t.measure === 'p99-restore-s'
        ? {
            ...t,
            name: "other tenants' p99 back under SLO ≤ 5 s after onset (s)",
            measure: 'others-p99-restore-s' as const,
          }
        : t,
  ),
};
