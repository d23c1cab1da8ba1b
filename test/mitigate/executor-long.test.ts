/**
 * Long actions (a move runs for minutes): `start` hands the record back at
 * once, progress is readable while it runs, a running action whose kind can
 * stop is cancelled into `cancelled`, one that rolls itself back ends
 * `rolled-back`, and a one-shot action is never kept in force.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { EventBus } from '../../src/control/events.js';
import { ActionEnded, type ActionKindHandler, type ActionSubject } from '../../src/mitigate/action.js';
import { ActionRefused, Executor } from '../../src/mitigate/executor.js';

/** A move-like handler: apply runs until finished or cancelled; each step is observable. */
function longKind() {
  const runs = new Map<string, { copied: number; finish: () => void; stop: (why: string) => void }>();
  const handler: ActionKindHandler = {
    kind: 'move',
    oneShot: true,
    apply(subject) {
      return new Promise<{ progress: Record<string, unknown> }>((resolve, reject) => {
        const run = {
          copied: 0,
          finish: () => resolve({ progress: { phase: 'done', keysCopied: run.copied } }),
          stop: (why: string) =>
            reject(
              new ActionEnded(why === 'target died' ? 'rolled-back' : 'cancelled', why, {
                phase: 'rolled back',
                keysCopied: run.copied,
              }),
            ),
        };
        runs.set(subject.name, run);
      }).finally(() => runs.delete(subject.name));
    },
    revert: () => Promise.reject(new Error('a move is undone by moving back')),
    status: () => null,
    progress: (subject) => {
      const run = runs.get(subject.name);
      return run === undefined ? null : { phase: 'copying', keysCopied: run.copied };
    },
    cancel: (subject, reason) => {
      const run = runs.get(subject.name);
      run?.stop(reason);
      return run !== undefined;
    },
  };
  return { handler, runs };
}

const shard = (name: string): ActionSubject => ({ type: 'shard', name });
const moveReq = (name: string) => ({
  kind: 'move' as const,
  subject: shard(name),
  settings: { node: 'n1' },
  by: 'operator' as const,
  reason: 'rebalance',
});

function setup() {
  const { handler, runs } = longKind();
  const bus = new EventBus();
  const events: string[] = [];
  bus.subscribe((e) => events.push(`${e.type} ${(e.data as { id?: string }).id ?? ''}`));
  const executor = new Executor({ handlers: [handler], bus, clock: new ManualClock() });
  return { executor, runs, events };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('executor: long actions', () => {
  it('start returns the pending record at once; progress is read while it runs and kept after; a one-shot is not in force', async () => {
    const { executor, runs, events } = setup();
    const { record, settled } = executor.start(moveReq('s1'));
    expect(record).toMatchObject({ id: 'a-1', state: 'pending', progress: null });
    await tick();
    expect(record.state).toBe('running');
    expect(executor.get('a-1')).toBe(record);
    expect(executor.running().map((r) => r.id)).toEqual(['a-1']);
    runs.get('s1')!.copied = 500;
    expect(executor.progress('a-1')).toEqual({ phase: 'copying', keysCopied: 500 });
    runs.get('s1')!.copied = 900;
    runs.get('s1')!.finish();
    const done = await settled;
    expect(done.state).toBe('done');
    // The progress it ended with stays on the record.
    expect(executor.progress('a-1')).toEqual({ phase: 'done', keysCopied: 900 });
    expect(executor.activeOn(shard('s1'))).toEqual([]);
    expect(executor.running()).toEqual([]);
    await expect(executor.revert('a-1', 'undo')).rejects.toBeInstanceOf(ActionRefused);
    expect(events).toEqual(['action.pending a-1', 'action.running a-1', 'action.done a-1']);
  });

  it('a running action whose kind can stop is cancelled into `cancelled`; one that rolls itself back ends `rolled-back`', async () => {
    const { executor, runs, events } = setup();
    const a = executor.start(moveReq('s1'));
    const b = executor.start(moveReq('s2'));
    await tick();
    expect(executor.cancel('a-1', 'operator changed their mind').state).toBe('running');
    expect((await a.settled).state).toBe('cancelled');
    expect(a.record.detail).toBe('operator changed their mind');
    runs.get('s2')!.copied = 7;
    runs.get('s2')!.stop('target died');
    expect((await b.settled).state).toBe('rolled-back');
    expect(b.record.progress).toEqual({ phase: 'rolled back', keysCopied: 7 });
    expect(events).toContain('action.cancelling a-1');
    expect(events).toContain('action.cancelled a-1');
    expect(events).toContain('action.rolled-back a-2');
    // Ended actions cannot be cancelled again.
    expect(() => executor.cancel('a-1')).toThrow(ActionRefused);
  });

  it('a second action on the same shard waits its turn, and can be cancelled while it waits', async () => {
    const { executor, runs } = setup();
    const first = executor.start(moveReq('s1'));
    const second = executor.start(moveReq('s1'));
    await tick();
    expect(second.record.state).toBe('pending');
    executor.cancel(second.record.id, 'not needed');
    runs.get('s1')!.finish();
    expect((await first.settled).state).toBe('done');
    expect((await second.settled).state).toBe('cancelled');
  });

  it('a refused request throws at start, before any record exists', () => {
    const { executor } = setup();
    executor.setAutomation({ mode: 'frozen', by: 'operator', reason: 'change freeze' });
    expect(() => executor.start(moveReq('s1'))).toThrow(/frozen/);
    expect(executor.list()).toEqual([]);
  });

  it('cooldown: a follow-up of a done action on the same shard is not held back; one that changed nothing (rolled back) starts no cooldown', async () => {
    const { handler, runs } = longKind();
    const clock = new ManualClock();
    const executor = new Executor({ handlers: [handler], clock, cooldownMs: 10_000 });
    const planner = { ...moveReq('s1'), by: 'planner' as const };
    const first = executor.start(planner);
    await tick();
    runs.get('s1')!.finish();
    const done = await first.settled;
    clock.advance(1_000);
    // Another plan's step on the subject waits out the cooldown...
    expect(executor.refusal(planner)?.reason).toBe('cooldown');
    // ...the same plan's next step does not, and only when it names a done action on this subject.
    expect(executor.refusal({ ...planner, followUp: done.id })).toBeNull();
    expect(executor.refusal({ ...planner, followUp: 'a-99' })?.reason).toBe('cooldown');
    clock.advance(10_000);
    const second = executor.start(planner);
    await tick();
    runs.get('s1')!.stop('target died');
    expect((await second.settled).state).toBe('rolled-back');
    // The rollback left the shard as it was: the cooldown runs from the last real change, long past.
    expect(executor.refusal(planner)).toBeNull();
  });

  it('the per-minute cap is for key-level actions: a move (one-shot, budgeted by the range planner) is not refused by it nor counted in it', async () => {
    const { handler, runs } = longKind();
    const cacheKind: ActionKindHandler = {
      kind: 'cache',
      apply: () => Promise.resolve(),
      revert: () => Promise.resolve(),
      status: () => ({}),
    };
    const executor = new Executor({
      handlers: [handler, cacheKind],
      clock: new ManualClock(),
      maxPlannerActionsPerMinute: 2,
    });
    const cache = (name: string) => ({
      kind: 'cache' as const,
      subject: { type: 'key' as const, name },
      settings: {},
      by: 'planner' as const,
      reason: 'hot',
    });
    await executor.execute(cache('a'));
    await executor.execute(cache('b'));
    expect(executor.refusal(cache('c'))?.reason).toBe('rate-cap');
    const move = executor.start({ ...moveReq('s1'), by: 'planner' });
    await tick();
    runs.get('s1')!.finish();
    expect((await move.settled).state).toBe('done');
    expect(executor.refusal(cache('c'))?.reason).toBe('rate-cap');
  });
});
