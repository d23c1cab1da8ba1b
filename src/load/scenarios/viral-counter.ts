import { commonTargets, keyName, type ScenarioDefinition, onsetMs } from './scenario.js';

/** A like counter goes viral: one key takes thousands of INCRs per second. */
export const viralCounter: ScenarioDefinition = {
  name: 'viral-counter',
  description:
    'A post goes viral: from the onset one like-counter takes 5,000 INCR/s on top of the normal traffic. Expect a write-hot key.',
  cluster: { nodes: 4, shards: 16, capacity: 5000, tenant: { keyPrefix: true } },
  timing: { durationSeconds: 30, onsetSecond: 10, endSecond: null },
  workload: (t) => ({
    keys: 100_000,
    tenants: [
      { name: 'app', rate: 8000, ops: { get: 90, set: 10 } },
      {
        name: 'likes',
        rate: [
          { fromMs: 0, rate: 0 },
          { fromMs: onsetMs(t), rate: 5000 },
        ],
        keys: 1,
        ops: { incr: 1 },
      },
    ],
  }),
  expected: () => ({ kind: 'hot-key', subject: keyName('likes:counter:', 0) }),
  targets: commonTargets(1000, 3),
};
