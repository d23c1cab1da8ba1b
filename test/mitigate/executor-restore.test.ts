/**
 * The executor takes back a log kept over a restart (the config store):
 * records come back in order, actions whose remedy is in place are in force
 * (newest per subject and kind), ones cut short by the restart are failed,
 * and new ids go on after the restored ones.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import type { ActionRecord } from '../../src/mitigate/action.js';
import { Executor } from '../../src/mitigate/executor.js';
import { keyPolicyActions } from '../../src/mitigate/key-actions.js';
import { PolicyManager } from '../../src/mitigate/policies.js';
import { answeringRemedy, testRouter } from './test-remedy.js';

function setup(idPrefix?: string) {
  const clock = new ManualClock();
  const policies = new PolicyManager({ router: testRouter(), clock }, [
    answeringRemedy('cache'),
    answeringRemedy('throttle'),
  ]);
  return {
    clock,
    policies,
    executor: new Executor({ handlers: keyPolicyActions(policies), clock, idPrefix }),
  };
}

/** A log to restore, made by a real executor (the process before the restart). */
async function previousLog(): Promise<ActionRecord[]> {
  const { executor } = setup();
  const req = { subject: { type: 'key', name: 'hot' }, by: 'operator', reason: 'r' } as const;
  await executor.execute({ ...req, kind: 'cache', settings: { maxStaleMs: 50 } }); // a-1, superseded by a-2
  await executor.execute({ ...req, kind: 'cache', settings: { maxStaleMs: 80 } }); // a-2
  await executor.execute({ ...req, kind: 'throttle-key', settings: { opsPerSec: 9 } }); // a-3
  await executor.revert('a-3', 'cooled'); // rolled back
  return executor.list().map((r) => ({ ...r }));
}

describe('executor - restore', () => {
  it('executor - restored actions whose remedy is in place are in force, newest per kind; new ids go on after them', async () => {
    const log = await previousLog();
    const { executor, policies } = setup();
    // The key policies come back first (the config store re-applies them).
    await policies.set(Buffer.from('hot'), {
      consistency: 'bounded',
      cache: { maxStaleMs: 80, staleWhileRevalidate: false, writeThrough: true },
      coalesce: true,
    });
    const changed = executor.restore([...log].reverse());
    expect(changed).toEqual([]);
    expect(executor.list().map((r) => [r.id, r.state])).toEqual([
      ['a-3', 'rolled-back'],
      ['a-2', 'done'],
      ['a-1', 'done'],
    ]);
    expect(executor.activeOn({ type: 'key', name: 'hot' }).map((r) => r.id)).toEqual(['a-2']);
    // Restoring the same records again changes nothing.
    executor.restore(log);
    expect(executor.list()).toHaveLength(3);
    const next = await executor.execute({
      kind: 'cache',
      subject: { type: 'key', name: 'x' },
      settings: {},
      by: 'operator',
      reason: 'r',
    });
    expect(next.id).toBe('a-4');
  });

  it('executor - an action pending or running at the restart comes back failed, and is returned to be saved', () => {
    const { executor, clock } = setup();
    const base = {
      subject: { type: 'key', name: 'k' },
      settings: {},
      by: 'planner',
      reason: 'r',
      hotspot: null,
      prediction: null,
      outcome: 'pending',
      measurement: null,
      detail: null,
      createdAt: 1,
      updatedAt: 1,
      revertedAt: null,
      progress: null,
    } as const;
    const changed = executor.restore([
      { ...base, id: 'a-7', kind: 'cache', state: 'running' },
      { ...base, id: 'a-8', kind: 'cache', state: 'pending', createdAt: 2 },
    ]);
    expect(changed.map((r) => [r.id, r.state, r.detail, r.updatedAt])).toEqual([
      ['a-7', 'failed', 'interrupted: hotshard restarted while it was running', clock.now()],
      ['a-8', 'failed', 'interrupted: hotshard restarted while it was pending', clock.now()],
    ]);
    // Nothing of it is in force: no remedy reports itself.
    expect(executor.activeOn({ type: 'key', name: 'k' })).toEqual([]);
  });

  it('executor - with an id prefix, ids are the prefix and a number, and only restored ids of that prefix move the number', async () => {
    const { executor } = setup('a-7-');
    executor.restore([{ ...(await previousLog())[0]!, id: 'a-3-40' }]);
    const r = await executor.execute({
      kind: 'cache',
      subject: { type: 'key', name: 'x' },
      settings: {},
      by: 'operator',
      reason: 'r',
    });
    expect(r.id).toBe('a-7-1');
  });
});

describe('executor - restore from a shared store', () => {
  it('executor - with interrupt off, a pending or running record is kept as it is (it may be another process’s, alive)', () => {
    const { executor } = setup();
    const record = {
      id: 'a-3-1',
      kind: 'cache',
      subject: { type: 'key', name: 'k' },
      settings: {},
      by: 'planner',
      reason: 'r',
      hotspot: null,
      prediction: null,
      state: 'running',
      outcome: 'pending',
      measurement: null,
      detail: null,
      createdAt: 1,
      updatedAt: 1,
      revertedAt: null,
      progress: null,
    } as const;
    expect(executor.restore([record], { interrupt: false })).toEqual([]);
    expect(executor.get('a-3-1')).toMatchObject({ state: 'running', detail: null });
    expect(executor.activeOn(record.subject)).toEqual([]);
  });
});
