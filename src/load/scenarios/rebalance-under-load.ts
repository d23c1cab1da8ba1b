import { scrambleIndex } from '../distributions.js';
import { commonTargets, keyName, type ScenarioDefinition } from './scenario.js';

const KEYS = 100_000;

/** Zipf-skewed steady load: the imbalance a rebalancer must bring to ≤ 1.2. */
export const rebalanceUnderLoad: ScenarioDefinition = {
  name: 'rebalance-under-load',
  description:
    'Steady Zipf(1.2) traffic that leaves some nodes much busier than others: the hottest key is cached, and the rebalancer moves shards until the load the nodes serve has max/mean ≤ 1.2, losing nothing. The skew is there from the start, so what is detected is its hottest key.',
  cluster: { nodes: 4, shards: 16, capacity: 6000 },
  timing: { durationSeconds: 30, onsetSecond: 10, endSecond: null },
  rate: 10_000,
  workload: () => ({ keys: KEYS, ops: { get: 80, set: 20 }, distribution: { kind: 'zipf', theta: 1.2 } }),
  // Zipf rank 0, where the scrambled distribution puts it.
  expected: () => ({ kind: 'hot-key', subject: keyName('key:', scrambleIndex(0, KEYS)) }),
  targets: [
    // Present from the first second: nothing sets in at the onset to be detected after it.
    ...commonTargets(5000, 30).filter((t) => t.measure !== 'detection-ms'),
    {
      name: 'node load max/mean after rebalancing',
      limit: 1.2,
      better: 'lower',
      measure: 'node-imbalance-after',
    },
  ],
};
