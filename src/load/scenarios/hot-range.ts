import { commonTargets, keyName, type ScenarioDefinition, onsetMs } from './scenario.js';

/** Time-ordered inserts on range partitioning all land in the tail range. */
export const appKeys = 100_000;
/** Range splits: 15 shards over the app's keys, one shard for the tail where new ids arrive. */
export const rangeSplits = (tail: string): string[] => [
  ...Array.from({ length: 14 }, (_, i) => keyName('app:key:', Math.round(((i + 1) * appKeys) / 15))),
  tail,
];

/** 4 embedded nodes of 5,000 ops/s over the range table above, tenants named by their key prefix. */
export const rangeCluster: ScenarioDefinition['cluster'] = {
  nodes: 4,
  partitioner: 'range',
  splits: rangeSplits('ingest:'),
  capacity: 5000,
  tenant: { keyPrefix: true },
};

/** The steady application traffic beside the incident: 6,000 requests/s over its keys, 30 % writes. */
export const appTenant = { name: 'app', rate: 6000, ops: { get: 70, set: 30 } } as const;

/** Sequential ids (orders, events, time-series) hammer the last range. */
export const hotRange: ScenarioDefinition = {
  name: 'hot-range',
  description:
    'Time-ordered inserts on range partitioning: from the onset 4,000 new ids/s all fall into the tail range, many keys but one shard. Expect a write-hot range.',
  cluster: rangeCluster,
  timing: { durationSeconds: 30, onsetSecond: 10, endSecond: null },
  workload: (t) => ({
    keys: appKeys,
    tenants: [
      appTenant,
      {
        name: 'ingest',
        rate: [
          { fromMs: 0, rate: 0 },
          { fromMs: onsetMs(t), rate: 4000 },
        ],
        ops: { set: 1 },
        distribution: { kind: 'sequential' },
      },
    ],
  }),
  expected: (hs) => ({ kind: 'hot-range', subject: hs.router.table.shardFor(Buffer.from('ingest:key:')).id }),
  targets: commonTargets(5000, 30),
};
