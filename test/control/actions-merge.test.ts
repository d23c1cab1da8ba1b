/**
 * /actions with a ShardOperations that has long operations (a second
 * implementation of the seam, as the move engine will be): GET /actions
 * lists them with the executor's actions newest first and filters both by
 * state and kind; GET /actions/{id} finds them, with their progress as the
 * status; audit entries for cancel and limits come from the audited wrapper.
 */
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { AuditLog } from '../../src/control/audit.js';
import { auditedOperations } from '../../src/control/audited-operations.js';
import { registerMitigationApi } from '../../src/control/mitigation-api.js';
import type { OperationAction, ShardOperations } from '../../src/control/operations.js';
import { Executor } from '../../src/mitigate/executor.js';
import { PolicyManager } from '../../src/mitigate/policies.js';
import { systemClock } from '../../src/clock.js';
import { testRouter } from '../mitigate/test-remedy.js';

function longAction(id: string, state: OperationAction['state'], createdAt: number): OperationAction {
  return {
    id,
    kind: 'move',
    subject: { type: 'shard', name: 's1' },
    state,
    progress: { phase: 'copy', keysCopied: 10, bytesCopied: 100, keysPerSec: 5, etaSeconds: 2 },
    settings: { node: 'n1' },
    limits: {},
    by: 'operator',
    reason: null,
    detail: null,
    createdAt,
    updatedAt: createdAt,
  };
}

/** Long operations held in a list: cancel marks one cancelled, setLimits records the limits. */
function listedOperations(actions: OperationAction[]): ShardOperations {
  const refuse = (): Promise<never> => Promise.reject(new Error('not in this test'));
  const find = (id: string): OperationAction => actions.find((a) => a.id === id)!;
  return {
    split: refuse,
    move: refuse,
    merge: refuse,
    throttle: refuse,
    addNode: refuse,
    drainNode: refuse,
    cancel: (id) => {
      const i = actions.findIndex((a) => a.id === id);
      actions[i] = { ...find(id), state: 'cancelled' };
      return Promise.resolve({ action: actions[i] });
    },
    setLimits: (id, limits) => Promise.resolve({ action: { ...find(id), limits } }),
    action: (id) => actions.find((a) => a.id === id),
    actions: () => [...actions].reverse(),
  };
}

describe('actions api with long operations', () => {
  it('actions api - long operations are listed, filtered and found beside the executor’s actions; cancel and limits are audited', async () => {
    const executor = new Executor({
      handlers: [
        {
          kind: 'shed',
          apply: () => Promise.resolve(),
          revert: () => Promise.resolve(),
          status: () => ({ on: true }),
        },
      ],
    });
    const shed = await executor.execute({
      kind: 'shed',
      subject: { type: 'node', name: 'n0' },
      settings: {},
      by: 'operator',
      reason: 'x',
    });
    const now = Date.now();
    const actions = [longAction('m-1', 'done', now - 60_000), longAction('m-2', 'running', now + 1000)];
    const audit = new AuditLog();
    const app = Fastify();
    const router = testRouter();
    registerMitigationApi(app, {
      executor,
      policies: new PolicyManager({ router, clock: systemClock }, []),
      audit,
      operations: auditedOperations(listedOperations(actions), audit),
    });
    const ids = async (url: string): Promise<string[]> =>
      (await app.inject({ url })).json<{ actions: { id: string }[] }>().actions.map((a) => a.id);
    expect(await ids('/actions')).toEqual(['m-2', shed.id, 'm-1']);
    expect(await ids('/actions?state=running')).toEqual(['m-2']);
    expect(await ids('/actions?kind=move')).toEqual(['m-2', 'm-1']);
    expect(await ids('/actions?kind=shed&limit=1')).toEqual([shed.id]);
    expect(await ids('/actions?limit=2')).toEqual(['m-2', shed.id]);

    const one = (await app.inject({ url: '/actions/m-2' })).json<{
      action: OperationAction;
      status: unknown;
    }>();
    expect(one.action.kind).toBe('move');
    expect(one.status).toEqual(actions[1]!.progress);
    expect((await app.inject({ url: '/actions/m-9' })).statusCode).toBe(404);

    // No auth hook on this bare app: the admin check is http-auth's, tested with the server.
    const cancel = await app.inject({
      method: 'POST',
      url: '/actions/m-2:cancel',
      payload: { reason: 'wrong node' },
    });
    expect(cancel.statusCode).toBe(200);
    expect(cancel.json<{ action: OperationAction }>().action.state).toBe('cancelled');
    const limit = await app.inject({
      method: 'PATCH',
      url: '/actions/m-1',
      payload: { maxBytesPerSec: 1e6 },
    });
    expect(limit.json<{ action: OperationAction }>().action.limits).toEqual({ maxBytesPerSec: 1e6 });
    expect(audit.list().map((e) => [e.verb, e.target, e.reason, e.details])).toEqual([
      ['action.limits', 'action:m-1', null, { maxBytesPerSec: 1e6 }],
      ['action.cancel', 'action:m-2', 'wrong node', { state: 'cancelled' }],
    ]);
    await app.close();
  });
});
