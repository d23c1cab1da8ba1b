import { MemoryBackend } from '../../backend/memory.js';
import { commonTargets, type ScenarioDefinition } from './scenario.js';

/** A node dies while the cluster is busy (the split it would interrupt lands with live moves). */
export const nodeFailureDuringSplit: ScenarioDefinition = {
  name: 'node-failure-during-split',
  description:
    'At the onset node n1 fails under load. Requests for its shards must fail fast with HS_ERR_SHARD_UNAVAILABLE, never hang, while the other nodes keep serving. Without replicas, writes acknowledged by n1 are gone with it; the report counts them.',
  cluster: { nodes: 4, shards: 16, capacity: 6000 },
  timing: { durationSeconds: 20, onsetSecond: 8, endSecond: null },
  rate: 8000,
  workload: () => ({ keys: 50_000, ops: { get: 70, set: 30 } }),
  expected: () => ({ kind: 'node-failure', subject: 'n1' }),
  targets: commonTargets(5000, 30, 'range-mitigation').filter((t) => t.measure !== 'detection-ms'),
  atOnset: async (hs) => {
    const [id, backend] = [...hs.router.backends][1]!;
    if (backend instanceof MemoryBackend) {
      await backend.close();
      return `node ${id} failed (embedded node closed)`;
    }
    return `node ${id}: kill its redis-server to run this scenario on Redis nodes`;
  },
};
