import { commonTargets, keyName, type ScenarioDefinition, onsetMs } from './scenario.js';

const CELEBRITY = 42;

/** One profile goes viral: 40 % of all reads land on one key. */
export const celebrityRead: ScenarioDefinition = {
  name: 'celebrity-read',
  description:
    'A celebrity posts: from the onset 40 % of all requests read one key, whose node saturates while the others idle. Expect a read-hot key.',
  cluster: { nodes: 4, shards: 16, capacity: 5000 },
  timing: { durationSeconds: 30, onsetSecond: 10, endSecond: null },
  rate: 10_000,
  workload: (t) => ({
    keys: 100_000,
    ops: { get: 90, set: 10 },
    distribution: {
      kind: 'celebrity',
      key: CELEBRITY,
      share: 0.4,
      fromMs: onsetMs(t),
      toMs: t.endSecond === null ? null : t.endSecond * 1000,
    },
  }),
  expected: () => ({ kind: 'hot-key', subject: keyName('key:', CELEBRITY) }),
  targets: commonTargets(1000, 3),
};
