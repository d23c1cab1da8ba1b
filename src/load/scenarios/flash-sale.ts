import { keyName, commonTargets, type ScenarioDefinition, onsetMs } from './scenario.js';

const PRODUCT = 7;

/** A flash sale: everyone reads one product page and orders pour into the tail range. */
export const flashSale: ScenarioDefinition = {
  name: 'flash-sale',
  description:
    'A flash sale: from the onset 35 % of catalog reads hit one product and 3,000 orders/s are inserted with sequential ids. Expect a read-hot key and a write-hot range together.',
  cluster: {
    nodes: 4,
    partitioner: 'range',
    splits: [
      ...Array.from({ length: 14 }, (_, i) => keyName('catalog:key:', Math.round(((i + 1) * 50_000) / 15))),
      'orders:',
    ],
    capacity: 5000,
    tenant: { keyPrefix: true },
  },
  timing: { durationSeconds: 30, onsetSecond: 10, endSecond: null },
  workload: (t) => ({
    keys: 50_000,
    tenants: [
      {
        name: 'catalog',
        rate: 7000,
        ops: { get: 95, set: 5 },
        distribution: { kind: 'celebrity', key: PRODUCT, share: 0.35, fromMs: onsetMs(t) },
      },
      {
        name: 'orders',
        rate: [
          { fromMs: 0, rate: 0 },
          { fromMs: onsetMs(t), rate: 3000 },
        ],
        ops: { set: 1 },
        distribution: { kind: 'sequential' },
      },
    ],
  }),
  // The key is the primary finding; the orders range is expected as well (see the report's hotspots).
  expected: () => ({ kind: 'hot-key', subject: keyName('catalog:key:', PRODUCT) }),
  targets: commonTargets(1000),
};
