import { commonTargets, type ScenarioDefinition } from './scenario.js';

/** Zipf-skewed steady load: the imbalance a rebalancer must bring to ≤ 1.2. */
export const rebalanceUnderLoad: ScenarioDefinition = {
  name: 'rebalance-under-load',
  description:
    'Steady Zipf(1.2) traffic that leaves some nodes much busier than others; from the onset the rebalancer should move ranges until node load max/mean ≤ 1.2, losing nothing. Until live moves exist this measures the unbalanced load.',
  cluster: { nodes: 4, shards: 16, capacity: 6000 },
  timing: { durationSeconds: 30, onsetSecond: 10, endSecond: null },
  rate: 10_000,
  workload: () => ({ keys: 100_000, ops: { get: 80, set: 20 }, distribution: { kind: 'zipf', theta: 1.2 } }),
  expected: (hs) => ({
    kind: 'hot-node',
    subject: hs.router.table.shardFor(Buffer.from('key:000000000000')).node,
  }),
  targets: [
    ...commonTargets(5000, 30),
    {
      name: 'node load max/mean after rebalancing',
      limit: 1.2,
      better: 'lower',
      measure: 'node-imbalance-after',
    },
  ],
};
