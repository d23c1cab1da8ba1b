import { MemoryBackend } from '../../backend/memory.js';
import type { ControlEvent } from '../../control/events.js';
import type { Hotshard } from '../../hotshard.js';
import type { ActionRecord } from '../../mitigate/action.js';
import { appKeys, appTenant, rangeCluster } from './hot-range.js';
import { commonTargets, onsetMs, type ScenarioDefinition } from './scenario.js';

/** The node an operator adds at the onset, and that dies while a split's hotter half is copied onto it. */
const FRESH = 'n4';

/**
 * Kills the fresh node once a move onto it has copied something: the move
 * must roll back with no request failing, and the planner must then move the
 * half to a node that answers.
 */
function killFreshNodeMidCopy(hs: Hotshard): void {
  let killed = false;
  const unsubscribe = hs.events.subscribe((e: ControlEvent) => {
    const a = e.data as Partial<ActionRecord>;
    if (killed || e.type !== 'action.running' || a.kind !== 'move' || a.settings?.['node'] !== FRESH) return;
    killed = true;
    unsubscribe();
    const id = a.id!;
    const poll = setInterval(() => {
      const p = hs.executor.progress(id);
      const state = hs.executor.get(id)?.state;
      if (state !== 'running' || (typeof p?.['keysCopied'] === 'number' && p['keysCopied'] > 0)) {
        clearInterval(poll);
        const backend = hs.router.backends.get(FRESH as never);
        if (backend instanceof MemoryBackend) void backend.close();
      }
    }, 2);
    poll.unref();
  });
}

/** A hot range is split and its half moved onto a node that dies mid-copy: rollback, then another node. */
export const nodeFailureDuringSplit: ScenarioDefinition = {
  name: 'node-failure-during-split',
  description:
    `At the onset a batch tenant pours 4,000 requests/s over 2,000 keys of one range, and an operator adds node ${FRESH}. ` +
    `The planner splits the hot range at its load-based point and moves the hotter half to ${FRESH}, the least-loaded node; ` +
    `${FRESH} dies during the copy. The move must roll back with no request failed and no write lost, and the half must land on a node that answers.`,
  // The batch tenant's keys ("batch:key:...") sort between the app's last split and "ingest:".
  cluster: rangeCluster,
  timing: { durationSeconds: 40, onsetSecond: 8, endSecond: null },
  workload: (t) => ({
    keys: appKeys,
    tenants: [
      appTenant,
      {
        name: 'batch',
        keys: 2000,
        rate: [
          { fromMs: 0, rate: 0 },
          { fromMs: onsetMs(t), rate: 4000 },
        ],
        ops: { get: 50, set: 50 },
        distribution: { kind: 'uniform' },
      },
    ],
  }),
  expected: (hs) => ({ kind: 'hot-range', subject: hs.router.table.shardFor(Buffer.from('batch:key:')).id }),
  targets: commonTargets(5000, 30),
  atOnset: async (hs) => {
    killFreshNodeMidCopy(hs);
    const added = await hs.operations.addNode(FRESH, { who: 'operator', reason: 'scale out' });
    return `operator added node ${added.node}; it dies once a move onto it has copied something`;
  },
};
