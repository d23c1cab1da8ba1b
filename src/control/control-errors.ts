/**
 * Failures of the control loop (detector ticks, event listeners; later the
 * planner and its actions). The loop is advice on top of the data plane: a
 * bug in it must cost a tick, logged and counted
 * (`hotshard_control_errors_total`), never the process or a request.
 */
import type { Logger } from 'pino';

/** Where in the control loop a failure happened (the metric's `where` label). */
export type ControlStage =
  'monitor' | 'event-listener' | 'policy' | 'planner' | 'action' | 'audit' | 'incidents' | 'store';

/** Counts and logs control-loop failures, by stage. */
export class ControlErrors {
  readonly #log: Logger | undefined;
  readonly #counts = new Map<ControlStage, number>();

  constructor(log?: Logger) {
    this.#log = log;
  }

  /** Records one failure: a log line at error level with the error, and the count. */
  record(where: ControlStage, err: unknown, detail?: Record<string, unknown>): void {
    this.#counts.set(where, (this.#counts.get(where) ?? 0) + 1);
    this.#log?.error({ err, where, ...detail }, `control loop: ${where} failed; the data plane goes on`);
  }

  /** Failures so far, by stage. */
  get counts(): ReadonlyMap<ControlStage, number> {
    return this.#counts;
  }
}
