/**
 * Hands one planner tick's outputs to the executor: applies with
 * `by: 'planner'`, reverts, verdicts recorded on their actions. The monitor
 * calls it after the detector each tick.
 *
 * Refusals are the executor doing its job (mode, cooldown, cap,
 * do-not-touch): the planner asks again after its own cooldown, so they
 * are reported as such and are no error. Anything else (an action kind's
 * apply or revert failing) goes to `onError`, for ControlErrors 'action'.
 */
import { ActionRefused, type Executor } from './executor.js';
import type { PlannerOutput } from './planner-io.js';

/** What happened to each output. */
export interface PlanResult {
  readonly output: PlannerOutput;
  /** `done`: taken (for an apply, the record may still have failed: see its state); `refused`: the executor said no. */
  readonly result: 'done' | 'refused' | 'failed';
  readonly detail: string | null;
}

/**
 * Submits `outputs`, each as soon as it is called for: the executor orders
 * the actions on one subject itself, and every apply's record exists once
 * this returns its promise, so the next tick sees it. Resolves once each has
 * been taken or refused.
 * @example void submitPlan(planner.tick(), executor, (err) => controlErrors.record('action', err));
 */
export function submitPlan(
  outputs: readonly PlannerOutput[],
  executor: Executor,
  onError: (err: unknown, output: PlannerOutput) => void = () => {},
): Promise<PlanResult[]> {
  return Promise.all(outputs.map((output) => submitOne(output, executor, onError)));
}

async function submitOne(
  output: PlannerOutput,
  executor: Executor,
  onError: (err: unknown, output: PlannerOutput) => void,
): Promise<PlanResult> {
  try {
    if (output.type === 'apply') {
      const r = await executor.execute({ ...output, by: 'planner' });
      return { output, result: r.state === 'failed' ? 'failed' : 'done', detail: r.detail };
    }
    if (output.type === 'revert') await executor.revert(output.actionId, output.reason, 'planner');
    else executor.recordMeasurement(output.actionId, output.measurement, output.outcome);
    return { output, result: 'done', detail: null };
  } catch (err) {
    if (err instanceof ActionRefused) return { output, result: 'refused', detail: err.message };
    onError(err, output);
    return { output, result: 'failed', detail: err instanceof Error ? err.message : String(err) };
  }
}
